"""Flows: a helper's logic written once, as a generator that yields the commands it needs.

Use this when an operation takes more than one command, or waits, or calls user
code between commands (a cache fill, a lock acquire with backoff): write it as
a *flow*, a generator that yields effects -- :class:`Command`, :class:`Pipeline`,
:class:`Eval`, :class:`Sleep`, :class:`Call`, :class:`Merge`, :class:`Locked` -- and receives
each effect's result. The flow never touches a socket, a clock it did not get,
a thread or an event loop, so the same flow runs under the sync runner
(:mod:`valkey_redis._run`, blocking calls) and the async one
(:mod:`valkey_redis.aio._run`, awaits). That is the "one source of truth".

Not for: single commands on the hit path. A face may send a lone ``GET`` itself
and hand the reply to a plain function of the core: a generator costs about a
microsecond, which a cache hit notices and a fill does not.

How it fails: an effect that raises (a server error, a cancelled task, the
loader's exception) is thrown *into* the flow at its ``yield``, so the flow's
``try/finally`` runs -- and may yield more effects, such as releasing a lock --
before the error leaves. A flow that does not catch it lets it propagate
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from redis.client import NEVER_DECODE

from valkey_redis.core.scripts import Script

__all__ = [
    "Call",
    "Command",
    "Effect",
    "Eval",
    "Flow",
    "Locked",
    "Merge",
    "Outcome",
    "Pipeline",
    "Sleep",
    "resume",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Command:
    """One command, e.g. ``Command(("GET", key), raw=True)``; the result is its reply.

    Attributes:
        args: the command and its arguments.
        raw: keep the reply as bytes even on a ``decode_responses=True`` client.
        once: send it outside the client's retry loop, so a lost reply raises
            instead of being answered by a re-sent command that finds the server
            changed (a compare-and-delete that says 0, an XREADGROUP that says
            nothing). It is routed by ``key`` (default: ``args[1]``).
        key: the key that routes a ``once`` command on a cluster.
    """

    args: tuple[Any, ...]
    raw: bool = False
    once: bool = False
    key: str | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The redis-py options of ``execute_command`` (bytes replies when ``raw``)."""
        return _RAW if self.raw else _DECODED


# Passed as **options: the reply stays bytes even on a decode_responses=True client,
# so the caller decodes it (bad UTF-8 is then a miss, not a crash).
_RAW: dict[str, Any] = {NEVER_DECODE: []}
_DECODED: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Several commands in one round trip (no MULTI); the result is the list of replies.

    On a cluster the runner uses a cluster pipeline: every command must name its
    key first, and commands of one slot go to one node.
    """

    commands: Sequence[Command]
    transaction: bool = False  # MULTI/EXEC around them (keys of one slot)


@dataclass(frozen=True, slots=True)
class Eval:
    """Run a Lua script from ``scripts/`` on ``keys`` with ``args``; the result is its reply.

    Attributes:
        once: send it outside the client's retry loop, so a lost reply raises
            instead of running the script twice (rate limiters count every run).
    """

    script: Script
    keys: Sequence[str]
    args: Sequence[Any] = ()
    once: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` (``time.sleep`` or ``asyncio.sleep``); the result is None."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Call:
    """Call user code (a loader): the result is its return value, awaited if awaitable."""

    func: Callable[[], Any]


@dataclass(frozen=True, slots=True)
class Merge:
    """Run ``flow`` once for every concurrent caller of ``name`` in this process.

    ``flight`` is the face's single-flight (``SingleFlight`` for threads,
    ``TaskFlight`` for tasks): one caller runs ``flow``; the others wait up to
    ``timeout`` seconds and get its result or its exception. A merged caller that
    waited too long gets :class:`~valkey_redis.cache.stampede.WaitTimeoutError`
    thrown at its ``yield``.
    """

    flight: Any = field(repr=False)
    name: str
    flow: Flow[Any] | Command = field(repr=False)  # a Command: one shared command
    timeout: float


@dataclass(frozen=True, slots=True)
class Locked:
    """Run ``flow`` holding ``lock``: the face's ``threading.Lock`` or ``asyncio.Lock``."""

    lock: Any = field(repr=False)
    flow: Flow[Any] = field(repr=False)


Effect: TypeAlias = Command | Pipeline | Eval | Sleep | Call | Merge | Locked
#: A generator yielding effects, receiving their results, returning ``T``.
Flow: TypeAlias = Generator[Effect, Any, T]


#: What an effect came to: ``(result, None)``, or ``(None, error)`` to throw into the flow.
Outcome: TypeAlias = tuple[Any, BaseException | None]


def resume(flow: Flow[T], result: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Advance ``flow`` with the last effect's ``result`` (or throw its ``error`` in).

    Returns:
        ``(True, value)`` when the flow returned ``value``; ``(False, effect)`` for
        the next effect to perform.

    Raises:
        BaseException: whatever the flow raised (an uncaught ``error`` included).
    """
    try:
        effect = flow.send(result) if error is None else flow.throw(error)
    except StopIteration as done:
        return True, done.value
    return False, effect
