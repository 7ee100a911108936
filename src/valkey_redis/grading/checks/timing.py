"""Checks of the waits in exercises 4 and 6, on a virtual clock: bounded time, bounded tries.

The learner's module gets a :class:`~valkey_redis.grading.clock.VirtualClock`:
``time.sleep`` advances virtual time at once and the holder's lock expires (or
the value appears) at a chosen virtual moment. So "returns within one short
sleep after the timeout", "sleeps at most 0.1 s at a time" and "at most 200
tries per second" are exact, whatever the machine's load, and take no real time.
A loop that never sleeps is stopped after its first few commands. Each command
takes virtual time too (:data:`COST`), so a loop that counts its tries instead of
reading the clock overshoots; the wall clock steps back during a wait, so a
deadline from ``time.time()`` instead of ``time.monotonic()`` overshoots too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from valkey_redis.grading.clock import BusyLoop, EndlessWait, VirtualClock
from valkey_redis.grading.context import Ctx, Failure, Named, show
from valkey_redis.grading.races import interrupted
from valkey_redis.grading.runner import check

LOCK = "lock:jobs"
THEIRS = "their-token-9a2e"
REPORT, REPORT_LOCK = "report", "lock:report"
#: The longest single sleep a "short sleep" may be, and the virtual slack after a deadline.
MAX_SLEEP = 0.1
RATE = 200
#: Virtual seconds each of the learner's commands takes (a server 20 ms away), and the
#: slack that allows for the few commands around a deadline.
COST = 0.02
SLACK = 3 * COST


def _clock() -> VirtualClock:
    return VirtualClock(command_cost=COST)


def _on_clock(ctx: Ctx, clock: VirtualClock, call: Callable[[], Any]) -> Any:
    """Run ``call`` with the virtual clock in the learner's module and the rate watched."""
    with clock.installed(ctx.module):
        clock.watch(ctx.probe)
        try:
            return call()
        except BusyLoop as busy:
            ctx.note = "the grader's virtual clock only moves when your code sleeps"
            ctx.fail(
                f"at most {RATE} tries per second: a short time.sleep between tries",
                f"{busy.commands} commands in {busy.seconds:.3f} s: a busy loop hammers the server",
            )
        except EndlessWait as endless:
            ctx.fail(
                "the wait to end at its deadline",
                f"{endless} (virtual clock): a loop without a deadline waits forever",
            )
        finally:
            ctx.probe.after_step = None


def _sleeps_short(ctx: Ctx, clock: VirtualClock) -> None:
    longest = max(clock.sleeps, default=0.0)
    ctx.expect(
        longest <= MAX_SLEEP,
        f"short sleeps between tries (at most {MAX_SLEEP} s each)",
        f"a time.sleep({longest:g})",
    )


def _held(ctx: Ctx, key: str, token: str = THEIRS) -> None:
    ctx.raw.set(key, token, px=60_000)
    ctx.given(f"{key} is held by someone else (PTTL 60 000 ms)")


# --- acquire_lock_blocking ---------------------------------------------------------


def _blocking_call(ctx: Ctx, timeout: float) -> Callable[[], Any]:
    return lambda: ctx.call("acquire_lock_blocking", "jobs", 10_000, timeout)


@check(4, "acquire_lock_blocking", "acquire_lock_blocking gives up after the timeout")
def _blocking_gives_up(ctx: Ctx) -> None:
    for timeout in (0.3, 1.0, 0.05):
        ctx.reset()
        _held(ctx, LOCK)
        clock = _clock()
        clock.at(timeout / 2, functools.partial(clock.jump_wall, -5.0))
        ctx.given("half way through, the wall clock (time.time) steps back 5 s (NTP)")
        got = _on_clock(ctx, clock, _blocking_call(ctx, timeout))
        took = clock.elapsed
        ctx.expect(got is None, f"None after {timeout} s", got)
        ctx.expect(
            timeout - 1e-6 <= took <= timeout + MAX_SLEEP + SLACK,
            f"to give up after {timeout} s, within one short sleep "
            f"(by {timeout + MAX_SLEEP + SLACK:g} s, your commands taking {COST:g} s each)",
            f"it returned after {took:.3f} s (virtual clock)",
        )
        tries = len(ctx.probe.steps)
        ctx.expect(
            tries >= 2, f"several tries during the {timeout} s", f"{tries} tries: {ctx.probe.steps}"
        )
        _sleeps_short(ctx, clock)
        ctx.expect(ctx.get(LOCK) == THEIRS, "their lock untouched", f"{LOCK} = {ctx.get(LOCK)!r}")


@check(4, "acquire_lock_blocking", "acquire_lock_blocking takes the lock soon after it is freed")
def _blocking_soon(ctx: Ctx) -> None:
    _held(ctx, LOCK)
    clock = _clock()
    clock.at(0.25, lambda: ctx.raw.delete(LOCK))
    ctx.given("the holder releases it 0.25 s later")
    token = _on_clock(ctx, clock, lambda: ctx.call("acquire_lock_blocking", "jobs", 10_000, 2.0))
    ctx.expect(isinstance(token, str), "a token once the lock is free", token)
    ctx.expect(ctx.get(LOCK) == token, "the lock holding your token", f"{LOCK} = {ctx.get(LOCK)!r}")
    ctx.expect(
        clock.elapsed <= 0.25 + MAX_SLEEP + SLACK,
        f"the lock within one short sleep of its release (by {0.25 + MAX_SLEEP + SLACK:g} s)",
        f"it took {clock.elapsed:.3f} s (virtual clock)",
    )
    _sleeps_short(ctx, clock)


# --- get_or_compute ----------------------------------------------------------------


def _compute(fail: bool = False) -> Named:
    def compute() -> str:
        if fail:
            msg = "report query failed"
            raise RuntimeError(msg)
        return "fresh"

    return Named("compute", compute)


@check(6, "get_or_compute", "get_or_compute waits for the value, polling with short sleeps")
def _waits_for_value(ctx: Ctx) -> None:
    _held(ctx, REPORT_LOCK)
    clock = _clock()
    clock.at(0.3, lambda: ctx.raw.set(REPORT, "theirs", ex=100))
    ctx.given(f"the holder stores {REPORT} = 'theirs' 0.3 s later")
    compute = _compute()
    got = _on_clock(ctx, clock, lambda: ctx.call("get_or_compute", REPORT, compute, 100, wait=5.0))
    ctx.expect(
        got == "theirs" and not compute.calls,
        "'theirs', without computing",
        f"{got!r}, compute called {len(compute.calls)} times",
    )
    ctx.expect(
        clock.elapsed <= 0.3 + MAX_SLEEP + SLACK,
        f"the value within one short sleep of its arrival (by {0.3 + MAX_SLEEP + SLACK:g} s)",
        f"it took {clock.elapsed:.3f} s (virtual clock)",
    )
    _sleeps_short(ctx, clock)


@check(6, "get_or_compute", "get_or_compute takes over soon after the holder's lock expires")
def _takes_over_soon(ctx: Ctx) -> None:
    _held(ctx, REPORT_LOCK)
    clock = _clock()
    clock.at(0.2, lambda: ctx.raw.delete(REPORT_LOCK))
    ctx.given(f"the holder died: {REPORT_LOCK} expires 0.2 s later, no value ever comes")
    compute = _compute()
    taken: list[float] = []

    def look(_step: int) -> None:
        # When the lock became yours: the commands after it (compute, SET, release) are free.
        if not taken and ctx.get(REPORT_LOCK) not in {None, THEIRS}:
            taken.append(clock.elapsed)

    ctx.probe.after_step = look
    got = _on_clock(ctx, clock, lambda: ctx.call("get_or_compute", REPORT, compute, 100, wait=5.0))
    ctx.expect(
        got == "fresh" and len(compute.calls) == 1,
        "'fresh', computed once by you",
        f"{got!r}, compute called {len(compute.calls)} times",
    )
    took = taken[0] if taken else clock.elapsed
    ctx.expect(
        took <= 0.2 + MAX_SLEEP + SLACK,
        f"to take over within one short sleep (by {0.2 + MAX_SLEEP + SLACK:g} s)",
        f"your lock taken at {took:.3f} s (virtual clock)",
    )


@check(6, "get_or_compute", "get_or_compute stops waiting after wait seconds")
def _stops_waiting(ctx: Ctx) -> None:
    for wait in (0.5, 1.0):
        ctx.reset()
        _held(ctx, REPORT_LOCK)
        ctx.given("no value ever comes, and the lock never expires")
        clock = _clock()
        outcome: list[Any] = []
        _on_clock(ctx, clock, _give_up(ctx, outcome, wait))
        # What it does once it gave up (compute, SET) is free; sleeping on is not.
        late = clock.slept_after(wait)
        ctx.expect(
            late <= MAX_SLEEP + 1e-9,
            f"to return or raise within one short sleep after wait={wait} s "
            f"(at most {MAX_SLEEP} s asleep after it)",
            f"{late:.3f} s asleep after the deadline (virtual clock), then "
            f"{show(outcome[0] if outcome else None)}",
        )
        _sleeps_short(ctx, clock)
        bare = ctx.keys_without_ttl()
        ctx.expect(not bare, "every key you wrote with a TTL", f"{bare} without a TTL")
    # What it writes after giving up must keep its TTL through a crash or an expiry too.
    interrupted(
        ctx,
        setup=lambda: _held(ctx, REPORT_LOCK),
        mine=lambda: _on_clock(ctx, _clock(), _give_up(ctx, [], 0.05)),
    )


def _give_up(ctx: Ctx, outcome: list[Any], wait: float) -> Callable[[], None]:
    def call() -> None:
        try:
            outcome.append(ctx.call("get_or_compute", REPORT, _compute(), 100, wait=wait))
        except Failure:
            raise  # a return value of the wrong type (None for a str, say)
        except ValueError as exc:
            if "non-negative" not in str(exc):
                raise
            ctx.fail(
                "a sleep that never goes below 0 (min(0.05, left) is negative past the deadline)",
                f"time.sleep raised {exc!r}: clamp it, and stop at the deadline",
            )
        except Exception as exc:  # noqa: BLE001 - raising after `wait` is allowed
            outcome.append(exc)

    return call


@check(6, "get_or_compute", "get_or_compute releases its lock at once when compute raises")
def _compute_raises(ctx: Ctx) -> None:
    ctx.given("compute raises RuntimeError('report query failed')")
    try:
        ctx.call("get_or_compute", REPORT, _compute(fail=True), 100, lock_ttl_ms=30_000)
    except RuntimeError:
        pass
    else:
        ctx.fail("the RuntimeError to propagate", "get_or_compute returned normally")
    left = ctx.get(REPORT_LOCK)
    ctx.expect(
        left is None,
        f"{REPORT_LOCK} released (in a finally block): others should not wait 30 s",
        f"{REPORT_LOCK} = {left!r}, PTTL {ctx.pttl(REPORT_LOCK)} ms",
    )
    ctx.expect(
        ctx.get(REPORT) is None, f"nothing cached at {REPORT}", f"{REPORT} = {ctx.get(REPORT)!r}"
    )
