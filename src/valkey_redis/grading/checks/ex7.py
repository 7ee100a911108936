"""Checks of exercise 7, task CircuitBreaker: states, probe, slow calls, threads.

The learner's breaker gets the grader's :class:`Clock`, so "30 s later" is one
assignment, and every check is exact and instant (but for one short wait in
the probe race, see :func:`_probe_race`).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import redis

from valkey_redis.grading.context import Ctx, in_threads, show
from valkey_redis.grading.runner import check

E = 7
T = "CircuitBreaker"


class Clock:
    """A clock the grader moves by hand: ``clock.now += 30``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        #: When set, each read waits (up to ``meet_timeout`` s) for a second reader.
        self.meet: threading.Barrier | None = None
        self.meet_timeout = 0.5

    def __call__(self) -> float:
        meet = self.meet
        if meet is not None:
            try:
                meet.wait(self.meet_timeout)
            except threading.BrokenBarrierError:
                self.meet = None  # nobody came: reads are serialised, stop waiting
        return self.now

    def __repr__(self) -> str:
        return "clock"


def make(ctx: Ctx, threshold: int = 3, reset: float = 30.0, slow: float = 1.0) -> tuple[Any, Clock]:
    """The learner's breaker on the grader's clock, described in the report."""
    clock = Clock()
    cls = ctx.func(T)
    ctx.called(
        f"breaker = CircuitBreaker(failure_threshold={threshold}, reset_timeout={reset}, "
        f"slow_call={slow}, clock=clock)"
    )
    breaker = cls(failure_threshold=threshold, reset_timeout=reset, slow_call=slow, clock=clock)
    return breaker, clock


def do(ctx: Ctx, breaker: Any, text: str) -> Any:
    """Run ``breaker.<text>`` (a method call, or ``state``) and note it."""
    ctx.called(f"breaker.{text}")
    if text == "state":
        return breaker.state
    name, _, _ = text.partition("(")
    return getattr(breaker, name)()


def expect_state(ctx: Ctx, breaker: Any, want: str, why: str) -> None:
    """Fail unless ``breaker.state == want``."""
    got = do(ctx, breaker, "state")
    ctx.expect(got == want, f"state {want!r} ({why})", got)


def fail_times(ctx: Ctx, breaker: Any, n: int) -> None:
    """``n`` x ``record_failure()``."""
    ctx.called(f"breaker.record_failure() x {n}")
    for _ in range(n):
        breaker.record_failure()


def open_it(ctx: Ctx, threshold: int = 3, reset: float = 30.0) -> tuple[Any, Clock]:
    """A breaker that the grader opened with ``threshold`` failures."""
    breaker, clock = make(ctx, threshold, reset)
    fail_times(ctx, breaker, threshold)
    return breaker, clock


def later(ctx: Ctx, clock: Clock, seconds: float) -> None:
    """Move the clock on."""
    clock.now += seconds
    ctx.called(f"(the clock moves {seconds:g} s on)")


# --- closed and open -----------------------------------------------------------------


@check(E, T, "CircuitBreaker starts closed and allows calls")
def _starts_closed(ctx: Ctx) -> None:
    breaker, _ = make(ctx)
    expect_state(ctx, breaker, "closed", "a new breaker")
    ctx.expect(do(ctx, breaker, "allow()") is True, "True", "not True")


@check(E, T, "CircuitBreaker opens after failure_threshold failures in a row, not before")
def _opens_at_threshold(ctx: Ctx) -> None:
    breaker, _ = make(ctx, threshold=3)
    fail_times(ctx, breaker, 2)
    expect_state(ctx, breaker, "closed", "2 failures of 3")
    got = do(ctx, breaker, "allow()")
    ctx.expect(got is True, "allow() True after 2 failures of 3", show(got))
    fail_times(ctx, breaker, 1)
    expect_state(ctx, breaker, "open", "the 3rd failure in a row")
    got = do(ctx, breaker, "allow()")
    ctx.expect(got is False, "allow() False while open", show(got))


@check(E, T, "CircuitBreaker forgets earlier failures after a success")
def _success_resets(ctx: Ctx) -> None:
    breaker, _ = make(ctx, threshold=3)
    fail_times(ctx, breaker, 2)
    do(ctx, breaker, "record_success()")
    fail_times(ctx, breaker, 2)
    expect_state(ctx, breaker, "closed", "never 3 failures in a row")


@check(E, T, "CircuitBreaker stays open until reset_timeout has passed")
def _stays_open(ctx: Ctx) -> None:
    breaker, clock = open_it(ctx, reset=30.0)
    later(ctx, clock, 29.9)
    got = do(ctx, breaker, "allow()")
    ctx.expect(got is False, "allow() False 29.9 s after opening", show(got))
    expect_state(ctx, breaker, "open", "still cooling down")


# --- half-open ---------------------------------------------------------------------


@check(E, T, "CircuitBreaker lets exactly one probe through after reset_timeout")
def _one_probe(ctx: Ctx) -> None:
    breaker, clock = open_it(ctx, reset=30.0)
    later(ctx, clock, 30.0)
    got = do(ctx, breaker, "allow()")
    ctx.expect(got is True, "allow() True: the cool-down is over, this caller probes", show(got))
    expect_state(ctx, breaker, "half-open", "the probe is out")
    others = [do(ctx, breaker, "allow()") for _ in range(3)]
    ctx.expect(others == [False] * 3, "allow() False for the others while the probe is out", others)


@check(E, T, "CircuitBreaker closes after a successful probe")
def _probe_closes(ctx: Ctx) -> None:
    breaker, clock = open_it(ctx, threshold=3)
    later(ctx, clock, 30.0)
    do(ctx, breaker, "allow()")
    do(ctx, breaker, "record_success()")
    expect_state(ctx, breaker, "closed", "the probe worked")
    fail_times(ctx, breaker, 2)
    expect_state(ctx, breaker, "closed", "2 new failures of 3: the count started over")
    got = [do(ctx, breaker, "allow()") for _ in range(2)]
    ctx.expect(got == [True, True], "allow() True for everyone", got)


@check(E, T, "CircuitBreaker reopens for a full reset_timeout after a failed probe")
def _probe_fails(ctx: Ctx) -> None:
    breaker, clock = open_it(ctx, reset=30.0)
    later(ctx, clock, 31.0)
    do(ctx, breaker, "allow()")
    do(ctx, breaker, "record_failure()")
    expect_state(ctx, breaker, "open", "the probe failed")
    later(ctx, clock, 29.9)
    got = do(ctx, breaker, "allow()")
    ctx.expect(got is False, "allow() False: 29.9 s into the new cool-down", show(got))
    later(ctx, clock, 0.1)
    got = do(ctx, breaker, "allow()")
    ctx.expect(got is True, "allow() True: the new cool-down is over", show(got))


# --- call --------------------------------------------------------------------------


def _raising(error: BaseException) -> Any:
    def func() -> Any:
        raise error

    return func


@check(E, T, "CircuitBreaker.call returns func's value, and refuses while open")
def _call_basics(ctx: Ctx) -> None:
    breaker, _ = make(ctx, threshold=1)
    ran: list[int] = []

    def func() -> str:
        ran.append(1)
        return "v"

    ctx.called("breaker.call(func)  # func returns 'v'")
    got = breaker.call(func)
    ctx.expect(got == "v", "'v'", got)
    breaker.record_failure()
    ctx.called("breaker.record_failure()  # threshold 1: open")
    ctx.called("breaker.call(func)")
    try:
        breaker.call(func)
    except redis.ConnectionError:
        pass
    else:
        ctx.fail("CircuitOpenError (a redis.ConnectionError) while open", "no exception")
    ctx.expect(ran == [1], "func not called while open", f"func called {len(ran)} times")


@check(E, T, "CircuitBreaker.call records redis ConnectionError and TimeoutError as failures")
def _call_failures(ctx: Ctx) -> None:
    for error in (redis.ConnectionError("refused"), redis.TimeoutError("Timeout reading")):
        breaker, _ = make(ctx, threshold=1)
        ctx.called(f"breaker.call(func)  # func raises {error!r}")
        try:
            breaker.call(_raising(error))
        except type(error):
            pass
        except Exception as exc:  # noqa: BLE001 - reported
            ctx.fail(f"{error!r} re-raised", repr(exc))
        else:
            ctx.fail(f"{error!r} re-raised", "no exception")
        expect_state(ctx, breaker, "open", "threshold 1, one failure")


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def _call_expecting(ctx: Ctx, breaker: Any, error: BaseException) -> None:
    """``breaker.call(func)`` where func raises ``error``: the same object must come out."""
    ctx.called(f"breaker.call(func)  # func raises {error!r}")
    try:
        breaker.call(_raising(error))
    except BaseException as exc:  # noqa: BLE001 - compared and reported
        ctx.expect(exc is error, f"the very {error!r} re-raised", repr(exc))
    else:
        ctx.fail(f"the {error!r} re-raised", "no exception")


@check(E, T, "CircuitBreaker.call re-raises other errors without counting them")
def _call_other_errors(ctx: Ctx) -> None:
    breaker, _ = make(ctx, threshold=1)
    _call_expecting(ctx, breaker, redis.ResponseError(WRONGTYPE))
    expect_state(ctx, breaker, "closed", "the server answered: not a failure")


@check(E, T, "CircuitBreaker is not stuck half-open when its probe meets another error")
def _probe_other_error(ctx: Ctx) -> None:
    breaker, clock = open_it(ctx, reset=30.0)
    later(ctx, clock, 30.0)
    _call_expecting(ctx, breaker, redis.ResponseError(WRONGTYPE))
    later(ctx, clock, 1000.0)
    got = do(ctx, breaker, "allow()")
    ctx.expect(
        got is True, "allow() True: not stuck half-open with a probe that never returns", show(got)
    )


@check(E, T, "CircuitBreaker.call alone goes round: refuses, probes once, closes")
def _call_cycle(ctx: Ctx) -> None:
    breaker, clock = make(ctx, threshold=2, reset=30.0)
    for _ in range(2):
        ctx.called("breaker.call(func)  # func raises ConnectionError")
        with contextlib.suppress(redis.ConnectionError):
            breaker.call(_raising(redis.ConnectionError("refused")))
    ran: list[str] = []

    def inner() -> str:
        ran.append("inner")
        return "inner"

    def probe() -> str:
        ran.append("probe")
        # Another caller arrives while the probe is out: call() must refuse it.
        ctx.called("breaker.call(other)  # from inside the probe, while it is out")
        with contextlib.suppress(redis.ConnectionError):
            breaker.call(inner)
        return "fresh"

    later(ctx, clock, 10.0)
    ctx.called("breaker.call(func)  # 10 s into the cool-down")
    with contextlib.suppress(redis.ConnectionError):
        breaker.call(inner)
    ctx.expect(ran == [], "func not called while open", ran)
    later(ctx, clock, 20.0)
    ctx.called("breaker.call(probe)  # the cool-down is over: this call is the probe")
    try:
        got = breaker.call(probe)
    except redis.ConnectionError as exc:
        ctx.fail("the probe to run once the cool-down is over (call() asks allow())", repr(exc))
    ctx.expect(got == "fresh", "'fresh' (the probe's value)", got)
    ctx.expect(ran == ["probe"], "only the probe ran; the call made while it was out refused", ran)
    expect_state(ctx, breaker, "closed", "the probe through call() worked")
    ran.clear()
    ctx.called("breaker.call(func)  # closed again")
    breaker.call(inner)
    ctx.expect(ran == ["inner"], "func runs once the breaker closed", ran)


@check(E, T, "CircuitBreaker: reading state neither starts nor spends the probe")
def _state_read_only(ctx: Ctx) -> None:
    breaker, clock = open_it(ctx, reset=30.0)
    later(ctx, clock, 30.0)
    expect_state(ctx, breaker, "open", "the cool-down is over, but nobody asked allow() yet")
    expect_state(ctx, breaker, "open", "reading it twice changes nothing")
    got = do(ctx, breaker, "allow()")
    ctx.expect(got is True, "allow() True: the first caller after the cool-down probes", show(got))


@check(E, T, "CircuitBreaker: a failure recorded while open does not restart the cool-down")
def _late_failure(ctx: Ctx) -> None:
    breaker, clock = open_it(ctx, reset=30.0)
    later(ctx, clock, 20.0)
    ctx.called("breaker.record_failure()  # a slow call that started before it opened")
    breaker.record_failure()
    later(ctx, clock, 10.0)
    got = do(ctx, breaker, "allow()")
    ctx.expect(
        got is True, "allow() True: 30 s since it opened (not since the late failure)", show(got)
    )


@check(E, T, "CircuitBreaker.call counts a slow call as one failure")
def _call_slow(ctx: Ctx) -> None:
    breaker, clock = make(ctx, threshold=3, slow=1.0)

    def slow() -> str:
        clock.now += 1.5
        return "late"

    def fast() -> str:
        clock.now += 0.5
        return "quick"

    ctx.called("breaker.call(slow)  # takes 1.5 s")
    got = breaker.call(slow)
    ctx.expect(got == "late", "'late' (a slow call still returns its value)", got)
    expect_state(ctx, breaker, "closed", "one slow call is 1 failure of 3")
    ctx.called("breaker.call(fast) x 3  # 0.5 s each")
    for _ in range(3):
        breaker.call(fast)
    expect_state(ctx, breaker, "closed", "fast calls are successes")
    ctx.called("breaker.call(slow) x 3")
    for _ in range(3):
        breaker.call(slow)
    expect_state(ctx, breaker, "open", "3 slow calls in a row")


@check(E, T, "CircuitBreaker.call: a call of exactly slow_call seconds is not slow")
def _call_exactly_slow(ctx: Ctx) -> None:
    breaker, clock = make(ctx, threshold=1, slow=1.0)

    def just_in_time() -> str:
        clock.now += 1.0
        return "on time"

    ctx.called("breaker.call(func)  # takes exactly 1.0 s (slow means *more than* slow_call)")
    breaker.call(just_in_time)
    expect_state(ctx, breaker, "closed", "1.0 s is not more than slow_call=1.0")


@check(E, T, "CircuitBreaker() has the documented defaults: 5 failures, 30 s, 1 s")
def _defaults(ctx: Ctx) -> None:
    clock = Clock()
    ctx.called("breaker = CircuitBreaker(clock=clock)")
    breaker = ctx.func(T)(clock=clock)
    fail_times(ctx, breaker, 4)
    expect_state(ctx, breaker, "closed", "4 failures of the default 5")
    fail_times(ctx, breaker, 1)
    expect_state(ctx, breaker, "open", "the 5th failure (failure_threshold=5)")
    later(ctx, clock, 29.9)
    got = do(ctx, breaker, "allow()")
    ctx.expect(got is False, "allow() False 29.9 s after opening (reset_timeout=30.0)", show(got))
    later(ctx, clock, 0.1)
    got = do(ctx, breaker, "allow()")
    ctx.expect(got is True, "allow() True 30 s after opening", show(got))
    do(ctx, breaker, "record_success()")

    def takes(seconds: float) -> Any:
        def func() -> str:
            clock.now += seconds
            return "v"

        return func

    ctx.called("breaker.call(func) x 5  # 0.9 s each")
    for _ in range(5):
        breaker.call(takes(0.9))
    expect_state(ctx, breaker, "closed", "0.9 s calls are not slow (slow_call=1.0)")
    ctx.called("breaker.call(func) x 5  # 1.5 s each")
    for _ in range(5):
        breaker.call(takes(1.5))
    expect_state(ctx, breaker, "open", "5 calls over the default slow_call of 1 s")


# --- threads -----------------------------------------------------------------------


@check(E, T, "CircuitBreaker adds up failures recorded by different threads")
def _threads_share(ctx: Ctx) -> None:
    breaker, _ = make(ctx, threshold=4)
    ctx.called("breaker.record_failure() once in each of 4 threads")
    in_threads(ctx, 4, lambda _i, _c: breaker.record_failure(), what="record_failure()")
    ctx.note = None
    expect_state(ctx, breaker, "open", "4 failures of 4, whichever thread saw them")


@check(E, T, "CircuitBreaker gives the probe to exactly one of 8 racing threads")
def _probe_race(ctx: Ctx) -> None:
    breaker, clock = open_it(ctx, reset=30.0)
    later(ctx, clock, 30.0)
    # Each clock read now waits briefly for a second reader: two threads inside
    # allow() at once both read the clock, so a gap between "cool-down over?"
    # and "I am the probe" is found every time. A lock makes them take turns.
    clock.meet = threading.Barrier(2)
    ctx.called("breaker.allow() in 8 threads at once")
    results = in_threads(ctx, 8, lambda _i, _c: breaker.allow(), what="allow() after the cool-down")
    clock.meet = None
    ctx.expect(
        results.count(True) == 1,
        "exactly one True (one probe; hold a lock around the check and the change)",
        f"{results.count(True)} threads got True",
    )
