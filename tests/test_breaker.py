"""The circuit breaker's state machine, driven by an injected clock (no sleeps, no server)."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
import redis

from valkey_redis import CircuitBreaker, CircuitOpenError


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **kwargs: object) -> CircuitBreaker:
    options: dict[str, object] = {"clock": clock, "rand": lambda: 0.5, **kwargs}
    return CircuitBreaker("test:1", **options)  # type: ignore[arg-type]


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.record_failure(TimeoutError("no reply"))


def test_opens_after_the_threshold_of_failures_in_a_row() -> None:
    """Two failures leave it closed; the third opens it and commands are refused."""
    clock = Clock()
    breaker = make(clock)
    fail(breaker, 2)
    assert (breaker.state, breaker.allow()) == ("closed", True)
    fail(breaker)
    assert (breaker.state, breaker.allow()) == ("open", False)


def test_a_fast_reply_resets_the_failure_count() -> None:
    """Failures separated by healthy replies never open the circuit."""
    clock = Clock()
    breaker = make(clock)
    for _ in range(10):
        fail(breaker, 2)
        breaker.record_success(clock.now)
    assert breaker.state == "closed"
    assert breaker.snapshot().failures == 20


def test_cool_down_then_exactly_one_probe() -> None:
    """After the cool-down one caller probes; a second caller (another thread) is refused."""
    clock = Clock()
    breaker = make(clock, cool_down=2.0, jitter=0.0)
    fail(breaker, 3)
    clock.now += 1.99
    assert not breaker.allow()
    clock.now += 0.02
    assert breaker.state == "half_open"
    assert breaker.allow()  # this thread is the probe
    assert breaker.allow()  # and may send its handshake and command
    others: list[bool] = []
    thread = threading.Thread(target=lambda: others.append(breaker.allow()))
    thread.start()
    thread.join()
    assert others == [False]


def test_one_probe_among_the_tasks_of_one_event_loop() -> None:
    """In half-open, one asyncio task probes; the other tasks of the same thread are refused."""
    clock = Clock()
    breaker = make(clock, cool_down=2.0, jitter=0.0)
    fail(breaker, 3)
    clock.now += 2.01

    async def ask() -> bool:
        return breaker.allow()

    async def main() -> list[bool]:
        first = await asyncio.create_task(ask())
        again = await asyncio.create_task(ask())
        return [first, again]

    assert asyncio.run(main()) == [True, False]


def test_a_good_probe_closes_and_a_bad_one_reopens_for_longer() -> None:
    """A failed probe doubles the cool-down (capped); a healthy reply closes the circuit."""
    clock = Clock()
    breaker = make(clock, cool_down=1.0, max_cool_down=3.0, jitter=0.0)
    fail(breaker, 3)
    waits = []
    for _ in range(3):
        waits.append(breaker.snapshot().retry_in)
        clock.now += waits[-1]
        assert breaker.allow()
        fail(breaker)
    assert waits == [1.0, 2.0, 3.0]
    clock.now += 3.0
    assert breaker.allow()
    breaker.record_success(clock.now)
    assert breaker.state == "closed"
    fail(breaker, 3)
    assert breaker.snapshot().retry_in == 1.0  # closing forgot the failed probes


def test_cool_down_has_jitter_within_bounds() -> None:
    """The cool-down is base * uniform(1 - jitter, 1 + jitter)."""
    waits = []
    for draw in (0.0, 0.999999):
        clock = Clock()
        breaker = CircuitBreaker(clock=clock, cool_down=2.0, jitter=0.25, rand=lambda d=draw: d)
        fail(breaker, 3)
        waits.append(round(breaker.snapshot().retry_in, 3))
    assert waits == [1.5, 2.5]


def test_slow_replies_in_a_row_open_but_one_does_not() -> None:
    """Five slow replies open the circuit; a single slow reply is not a pattern."""
    clock = Clock()
    breaker = make(clock, slow_call_duration=0.2, slow_call_threshold=5)

    def slow_reply() -> None:
        started = clock.now
        clock.now += 0.3
        breaker.record_success(started)

    slow_reply()
    breaker.record_success(clock.now)
    assert breaker.snapshot().consecutive_slow == 0
    for _ in range(4):
        slow_reply()
    assert breaker.state == "closed"
    slow_reply()
    assert breaker.state == "open"
    assert breaker.snapshot().slow_calls == 6


def test_overlapping_slow_replies_count_once() -> None:
    """Twenty replies stalled together (one pause of this process) do not open it."""
    clock = Clock()
    breaker = make(clock, slow_call_duration=0.2, slow_call_threshold=5)
    started = clock.now
    clock.now += 0.5
    for _ in range(20):
        breaker.record_success(started)
    assert (breaker.state, breaker.snapshot().consecutive_slow) == ("closed", 1)


def test_a_slow_probe_reopens() -> None:
    """In half-open, a reply slower than the budget opens the circuit again."""
    clock = Clock()
    breaker = make(clock, jitter=0.0)
    fail(breaker, 3)
    clock.now += 1.0
    assert breaker.allow()
    started = clock.now
    clock.now += 0.5
    breaker.record_success(started)
    assert breaker.state == "open"


def test_a_silent_probe_is_given_up() -> None:
    """A probe that never reports lets another caller probe after probe_timeout."""
    clock = Clock()
    breaker = make(clock, jitter=0.0, probe_timeout=5.0)
    fail(breaker, 3)
    clock.now += 1.0
    thread = threading.Thread(target=breaker.allow)  # takes the probe, then vanishes
    thread.start()
    thread.join()
    assert not breaker.allow()
    clock.now += 5.01
    assert breaker.allow()


def test_open_error_is_a_connection_error_with_retry_in() -> None:
    """CircuitOpenError is a redis ConnectionError naming the server and the wait."""
    clock = Clock()
    breaker = make(clock, jitter=0.0)
    fail(breaker, 3)
    clock.now += 0.25
    error = breaker.open_error()
    assert isinstance(error, redis.exceptions.ConnectionError)
    assert isinstance(error, CircuitOpenError)
    assert (error.server, error.retry_in) == ("test:1", 0.75)
    assert "no reply" in str(error)


def test_one_log_line_per_state_change(caplog: pytest.LogCaptureFixture) -> None:
    """open, half_open and closed are each logged once, however many calls happen."""
    clock = Clock()
    breaker = make(clock, jitter=0.0)
    with caplog.at_level(logging.INFO, logger="valkey_redis.breaker"):
        fail(breaker, 10)
        for _ in range(10):
            breaker.allow()
        clock.now += 1.0
        for _ in range(10):
            breaker.allow()
        breaker.record_success(clock.now)
        for _ in range(10):
            breaker.record_success(clock.now)
    states = [r.getMessage().split(": ")[1].split(" ")[0] for r in caplog.records]
    assert states == ["open", "half_open", "closed"]
    assert caplog.records[0].levelno == logging.WARNING


def test_counts_are_exact_across_threads() -> None:
    """Failures and refusals from 8 threads are all counted (the state is shared)."""
    clock = Clock()
    breaker = make(clock, failure_threshold=1000)
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(500):
            breaker.record_failure()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snap = breaker.snapshot()
    assert (snap.failures, snap.state, snap.opened) == (4000, "open", 1)


def test_reset_closes() -> None:
    """reset() closes an open circuit at once."""
    clock = Clock()
    breaker = make(clock)
    fail(breaker, 3)
    breaker.reset()
    assert (breaker.state, breaker.allow()) == ("closed", True)


def test_bad_settings_are_refused() -> None:
    """A slow-call threshold of 1 (one slow call opens) and odd jitter are refused."""
    with pytest.raises(ValueError, match="slow_call_threshold"):
        CircuitBreaker(slow_call_threshold=1)
    with pytest.raises(ValueError, match="jitter"):
        CircuitBreaker(jitter=1.0)
    with pytest.raises(ValueError, match="positive"):
        CircuitBreaker(cool_down=0)
    for name in ("slow_call_duration", "cool_down", "max_cool_down", "probe_timeout"):
        with pytest.raises(ValueError, match="positive"):  # NaN would never time out
            CircuitBreaker(**{name: float("nan")})


def test_blocking_commands_are_recognised_with_their_block_time() -> None:
    """BLOCK ms (bytes too), BLPOP's last and BLMPOP's first argument, WAIT; 0 is forever."""
    from valkey_redis._guard import block_seconds

    assert block_seconds(("XREADGROUP", b"GROUP", "g", "c", b"BLOCK", 500, "STREAMS", "s")) == 0.5
    assert block_seconds(("XREAD", "COUNT", 1, "STREAMS", "s", "0")) is None
    assert block_seconds(("BLPOP", "a", "b", 2)) == 2.0
    assert block_seconds(("BLMPOP", 1.5, 1, "a", "LEFT")) == 1.5
    assert block_seconds(("WAIT", 1, 250)) == 0.25
    assert block_seconds(("BRPOP", "a", 0)) == float("inf")
    assert block_seconds(("GET", "k")) is None
    assert block_seconds(()) is None
