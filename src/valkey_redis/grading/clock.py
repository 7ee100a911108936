"""A virtual clock for the learner's module: timing checks that do not depend on the machine.

Use :class:`VirtualClock` in checks of code that sleeps or reads the clock
(blocking acquire, a stampede waiter): ``with clock.installed(ctx.module):``
replaces, in the learner's module only, the ``time`` module and any of
``sleep``/``monotonic``/``time``/``perf_counter`` (and their ``_ns`` twins)
imported from it. ``sleep(s)`` then advances virtual time by ``s`` at once, so
"returns within the timeout", "sleeps between tries" and "at most N tries per
second" are exact on a loaded machine and take no real time.

``clock.at(seconds, action)`` runs ``action`` when virtual time reaches
``seconds`` (say, the holder's lock expiring); ``clock.watch(probe)`` stops
the learner once it sends more commands than ``max_rate`` per virtual second
allows (a busy loop never advances virtual time), raising :class:`BusyLoop`;
sleeping past ``horizon`` virtual seconds raises :class:`EndlessWait`. With
``command_cost``, each watched command also takes that long (a slow server):
a loop that counts its tries instead of reading the clock overshoots. And
``clock.jump_wall(s)`` steps the wall clock (``time.time``) alone, as NTP does,
leaving the monotonic clock alone.

Not for: code that waits in other ways (``threading.Event.wait``, ``asyncio``);
the stubs say to use the ``time`` module.

How it fails: :class:`BusyLoop` (a ``BaseException``, so ``except Exception``
cannot swallow it) stops a loop that never sleeps; :meth:`VirtualClock.sleep`
raises ``ValueError`` for a negative duration, as ``time.sleep`` does.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time as real_time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from valkey_redis.grading.harness import Probe

__all__ = ["BusyLoop", "EndlessWait", "VirtualClock"]

_FUNCS = (
    "sleep",
    "monotonic",
    "time",
    "perf_counter",
    "monotonic_ns",
    "time_ns",
    "perf_counter_ns",
)


class BusyLoop(BaseException):
    """The learner sent more commands than the virtual time they let pass allows."""

    def __init__(self, commands: int, seconds: float) -> None:
        super().__init__(f"{commands} commands in {seconds:.3f} s")
        self.commands = commands
        self.seconds = seconds


class EndlessWait(BaseException):
    """The learner slept past the clock's horizon: a wait with no deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"still waiting after {seconds:.0f} s")
        self.seconds = seconds


class _TimeModule:
    """Stands in for ``time`` inside the learner's module; the rest delegates."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        fake = self._clock.functions().get(name)
        return fake if fake is not None else getattr(real_time, name)


class VirtualClock:
    """Virtual time starting at ``start`` s (monotonic), advanced only by ``sleep``."""

    def __init__(
        self,
        start: float = 1_000.0,
        *,
        max_rate: float = 200.0,
        slack: int = 10,
        horizon: float = 600.0,
        command_cost: float = 0.0,
    ) -> None:
        self.start = start
        self.command_cost = command_cost
        #: Virtual seconds spent sleeping (the command rate is judged against these).
        self.slept = 0.0
        self.horizon = horizon
        self.now = start
        self.max_rate = max_rate
        self.slack = slack
        self.sleeps: list[float] = []
        #: (virtual start, length) of each sleep.
        self.naps: list[tuple[float, float]] = []
        self._epoch = real_time.time()
        self._events: list[tuple[float, Callable[[], object]]] = []
        self._lock = threading.Lock()

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the start."""
        return self.now - self.start

    def at(self, seconds: float, action: Callable[[], object]) -> None:
        """Run ``action`` once virtual time reaches ``start + seconds``."""
        self._events.append((self.start + seconds, action))
        self._events.sort(key=lambda event: event[0])

    def sleep(self, seconds: float) -> None:
        """Advance virtual time at once (and let other threads run)."""
        if seconds < 0:
            msg = "sleep length must be non-negative"
            raise ValueError(msg)
        with self._lock:
            self.sleeps.append(seconds)
            self.naps.append((self.now, seconds))
            self.slept += seconds
        self._advance(seconds)
        if self.elapsed > self.horizon:
            raise EndlessWait(self.elapsed)
        real_time.sleep(0)

    def _advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
            due = [event for event in self._events if event[0] <= self.now]
            self._events = [event for event in self._events if event[0] > self.now]
        for _, action in due:
            action()

    def slept_after(self, seconds: float) -> float:
        """Virtual seconds spent sleeping after ``start + seconds`` (a deadline)."""
        mark = self.start + seconds
        return sum(max(0.0, begin + length - max(begin, mark)) for begin, length in self.naps)

    def jump_wall(self, seconds: float) -> None:
        """Step the wall clock (``time.time``) by ``seconds``; monotonic time is unmoved."""
        self._epoch += seconds

    def monotonic(self) -> float:
        """Virtual monotonic time."""
        return self.now

    def time(self) -> float:
        """Virtual wall-clock time (the real time at the start, plus virtual seconds)."""
        return self._epoch + self.elapsed

    def functions(self) -> dict[str, Callable[..., Any]]:
        """The fakes, by the name of the ``time`` function each replaces."""
        return {
            "sleep": self.sleep,
            "monotonic": self.monotonic,
            "perf_counter": self.monotonic,
            "time": self.time,
            "monotonic_ns": lambda: int(self.monotonic() * 1e9),
            "perf_counter_ns": lambda: int(self.monotonic() * 1e9),
            "time_ns": lambda: int(self.time() * 1e9),
        }

    def watch(self, probe: Probe) -> None:
        """Raise :class:`BusyLoop` in the learner's code once it sends commands too fast.

        A hook already on the probe (a race of :mod:`~valkey_redis.grading.races`)
        still runs first.
        """
        previous = probe.after_step

        def hook(step: int) -> None:
            if previous is not None:
                previous(step)
            if self.command_cost:
                self._advance(self.command_cost)
            if step > self.max_rate * self.slept + self.slack:
                raise BusyLoop(step, self.slept)

        probe.after_step = hook

    @contextlib.contextmanager
    def installed(self, module: ModuleType) -> Iterator[VirtualClock]:
        """Swap the clock into ``module``'s globals; restore them afterwards."""
        fakes = self.functions()
        real = {getattr(real_time, name): name for name in _FUNCS}
        originals = {name: getattr(real_time, name) for name in _FUNCS}
        namespace = vars(module)
        # A function-local `import time` gets the real module: its functions answer
        # with the fake only when called from the learner's own code.
        for name in _FUNCS:
            setattr(real_time, name, _dispatch(fakes[name], originals[name], namespace))
        saved: dict[str, Any] = {}
        for name, value in list(vars(module).items()):
            if value is real_time:
                saved[name] = value
                setattr(module, name, _TimeModule(self))
            elif callable(value) and not isinstance(value, type):
                with contextlib.suppress(TypeError):  # unhashable callables are not ours
                    if value in real:
                        saved[name] = value
                        setattr(module, name, fakes[real[value]])
        try:
            yield self
        finally:
            for name, value in saved.items():
                setattr(module, name, value)
            for name, value in originals.items():
                setattr(real_time, name, value)


def _dispatch(
    fake: Callable[..., Any], original: Callable[..., Any], namespace: dict[str, Any]
) -> Callable[..., Any]:
    """``fake`` when called from code whose globals are ``namespace``, else ``original``."""

    def call(*args: Any) -> Any:
        if sys._getframe(1).f_globals is namespace:  # who is asking: the learner?
            return fake(*args)
        return original(*args)

    return call
