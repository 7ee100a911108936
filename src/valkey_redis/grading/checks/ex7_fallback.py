"""Checks of exercise 7, task get_with_fallback: cache-aside behind a breaker.

``get_with_fallback`` gets the grader's own :class:`Breaker` (so these checks
do not depend on the learner's ``CircuitBreaker``), which counts what it was
told. Here the server fails through a client whose commands raise; real
failures (a refused port, SIGSTOP, the fault proxy) are in ``ex7_faults``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from valkey_redis.grading.checks.ex7 import Clock
from valkey_redis.grading.context import Ctx, Named, show
from valkey_redis.grading.harness import Env
from valkey_redis.grading.races import interrupted
from valkey_redis.grading.runner import check

# redis-py leaves it untyped; a typed alias keeps mypy --strict quiet.
_execute: Callable[..., Any] = redis.Redis.execute_command

E = 7
T = "get_with_fallback"
KEY = "greeting"
R = TypeVar("R")


class BreakerOpenError(redis.ConnectionError):
    """The grader's breaker refusing a call."""


class Breaker:
    """The grader's breaker: the exercise's semantics, plus counts of what happened."""

    def __init__(self, threshold: int = 3, reset: float = 30.0, clock: Clock | None = None):
        self.threshold = threshold
        self.reset = reset
        self.clock = clock or Clock()
        self.lock = threading.Lock()
        self._state = "closed"
        self._failures = 0
        self.opened_at = 0.0
        self.failures = self.successes = self.refused = 0

    @property
    def state(self) -> str:
        """closed / open / half-open."""
        return self._state

    def allow(self) -> bool:
        """The exercise's allow()."""
        with self.lock:
            if self._state == "open" and self.clock() - self.opened_at >= self.reset:
                self._state = "half-open"
                return True
            if self._state != "closed":
                self.refused += 1
                return False
            return True

    def record_success(self) -> None:
        """The exercise's record_success(), counted."""
        with self.lock:
            self.successes += 1
            self._failures = 0
            self._state = "closed"

    def record_failure(self) -> None:
        """The exercise's record_failure(), counted."""
        with self.lock:
            self.failures += 1
            self._failures += 1
            if self._state == "half-open" or self._failures >= self.threshold:
                self._state = "open"
                self.opened_at = self.clock()

    def call(self, func: Callable[[], R]) -> R:
        """The exercise's call(), without the slow-call rule."""
        if not self.allow():
            msg = "circuit open"
            raise BreakerOpenError(msg)
        try:
            result = func()
        except (redis.ConnectionError, redis.TimeoutError):
            self.record_failure()
            raise
        self.record_success()
        return result

    def force_open(self) -> None:
        """Open it now (the cool-down starts at the clock's now)."""
        with self.lock:
            self._state, self.opened_at = "open", self.clock()

    def __repr__(self) -> str:
        return "breaker"


class Switchable(redis.Redis):
    """A client whose commands raise ``error`` while ``down`` (an outage on demand)."""

    def __init__(self, env: Env, error: Exception, *, down: bool = True) -> None:
        super().__init__(connection_pool=env.pool)
        self.env, self.error, self.down = env, error, down
        self.sent: list[str] = []

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Record, then fail or run."""
        self.env.ensure_alive()
        self.sent.append(str(args[0]).upper())
        if self.down:
            raise self.error
        return _execute(self, *args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        """No pipelines here: the task needs none."""
        msg = "get_with_fallback needs no pipeline: GET, then SET"
        raise redis.ResponseError(msg)


def loader(value: str = "from-source", error: Exception | None = None) -> Named:
    """``load`` for the checks: returns ``value`` or raises ``error``."""

    def load() -> str:
        if error is not None:
            raise error
        return value

    return Named("load", load)


def run(ctx: Ctx, breaker: Breaker, load: Named, client: redis.Redis | None = None) -> Any:
    """Call the learner's get_with_fallback with ttl 100."""
    return ctx.call(T, breaker, KEY, load, 100, client=client)


def calls(load: Named) -> str:
    """How often load ran."""
    return f"load called {len(load.calls)} times"


# --- the cache-aside part ------------------------------------------------------------


@check(E, T, "get_with_fallback returns a cached value without calling load")
def _hit(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "cached", ex=100)
    ctx.given(f"{KEY} = 'cached'")
    load = loader()
    got = run(ctx, Breaker(), load)
    ctx.expect(got == "cached", "'cached'", got)
    ctx.expect(not load.calls, "no call to load", calls(load))


@check(E, T, "get_with_fallback loads once on a miss and caches the value with the TTL")
def _miss(ctx: Ctx) -> None:
    load = loader()
    breaker = Breaker()
    got = run(ctx, breaker, load)
    ctx.expect(got == "from-source", "'from-source' (what load returned)", got)
    ctx.expect(len(load.calls) == 1, "load called once", calls(load))
    stored, ttl = ctx.get(KEY), ctx.pttl(KEY)
    ctx.expect(stored == "from-source", f"{KEY} == 'from-source'", stored)
    ctx.expect(90_000 < ttl <= 100_000, f"{KEY} to expire in 100 s", f"PTTL = {ttl}")
    ctx.expect(breaker.failures == 0, "no failure recorded", f"{breaker.failures} failures")


# --- failing servers -----------------------------------------------------------------


def _down(ctx: Ctx, error: Exception) -> None:
    client = Switchable(ctx.env, error)
    ctx.given(f"the cache server is failing: every command raises {error!r}")
    load, breaker = loader(), Breaker()
    got = run(ctx, breaker, load, client)
    ctx.expect(got == "from-source", "'from-source' (load's value)", got)
    ctx.expect(len(load.calls) == 1, "load called once", calls(load))
    ctx.expect(breaker.failures >= 1, "the failure recorded on the breaker", "none recorded")


@check(E, T, "get_with_fallback serves load() and records a failure when the server is down")
def _refused(ctx: Ctx) -> None:
    _down(ctx, redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."))


@check(E, T, "get_with_fallback serves load() and records a failure on a timeout")
def _timeout(ctx: Ctx) -> None:
    _down(ctx, redis.TimeoutError("Timeout reading from 127.0.0.1:6379"))


@check(E, T, "get_with_fallback calls load once when only the SET fails")
def _set_fails(ctx: Ctx) -> None:
    client = ctx.env.broken(redis.ConnectionError("Connection reset by peer"), healthy=1)
    ctx.given("the server answers the GET (a miss), then goes away")
    load, breaker = loader(), Breaker()
    got = run(ctx, breaker, load, client)
    ctx.expect(got == "from-source", "'from-source'", got)
    ctx.expect(len(load.calls) == 1, "load called once (the value was already loaded)", calls(load))
    ctx.expect(
        breaker.failures >= 1,
        "the SET's failure recorded on the breaker (send the SET through it too)",
        "none recorded",
    )


@check(E, T, "get_with_fallback returns a cached empty string: a hit, not a miss")
def _empty_hit(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "", ex=100)
    ctx.given(f"{KEY} = '' (an empty string is a value)")
    load = loader()
    got = run(ctx, Breaker(), load)
    ctx.expect(got == "", "'' (compare with None, not truthiness)", show(got))
    ctx.expect(not load.calls, "no call to load", calls(load))


@check(E, T, "get_with_fallback never leaves the key without a TTL, even if it dies midway")
def _ttl_always(ctx: Ctx) -> None:
    def verify(result: Any) -> None:
        ctx.expect(result == "from-source", "'from-source'", show(result))

    interrupted(
        ctx,
        setup=lambda: None,
        mine=lambda: run(ctx, Breaker(), loader()),
        verify=verify,
    )


@check(E, T, "get_with_fallback sends nothing while the breaker is open")
def _open(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "cached", ex=100)
    breaker = Breaker()
    breaker.force_open()
    ctx.given(f"{KEY} = 'cached'; the breaker is open (cooling down)")
    load = loader()
    got = run(ctx, breaker, load)
    ctx.expect(got == "from-source", "'from-source' (load, without asking the server)", got)
    sent = ctx.probe.steps
    ctx.expect(not sent, "no command sent", f"sent {sent}")


@check(E, T, "get_with_fallback reports a successful probe so the breaker closes")
def _probe(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "cached", ex=100)
    breaker = Breaker()
    breaker.force_open()
    breaker.clock.now += 30
    ctx.given(f"{KEY} = 'cached'; the breaker's cool-down is over (the next caller probes)")
    got = run(ctx, breaker, loader())
    ctx.expect(got == "cached", "'cached' (the probe reached the server)", got)
    ctx.expect(breaker.state == "closed", "the breaker closed again", f"state {breaker.state!r}")


@check(E, T, "get_with_fallback lets load's own error propagate, not blamed on the cache")
def _load_error(ctx: Ctx) -> None:
    error = LookupError("no such greeting in the source")
    load, breaker = loader(error=error), Breaker()
    ctx.given("load raises LookupError (the source's own problem)")
    try:
        run(ctx, breaker, load)
    except LookupError:
        pass
    else:
        ctx.fail("the LookupError to propagate", "no LookupError")
    ctx.expect(len(load.calls) == 1, "load called once", calls(load))
    ctx.expect(breaker.failures == 0, "no failure recorded", f"{breaker.failures} failures")
