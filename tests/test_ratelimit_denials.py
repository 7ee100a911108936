"""A key over its limit is refused in-process until retry_after, with no round trip."""

from __future__ import annotations

import time

import pytest
import redis

from valkey_redis import (
    GCRA,
    FixedWindow,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
)
from valkey_redis._denials import Denials

ALGORITHMS = [FixedWindow, SlidingWindowLog, SlidingWindowCounter, TokenBucket, GCRA]


def script_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    names = ("cmdstat_evalsha", "cmdstat_eval")
    return sum(int(stats.get(name, {}).get("calls", 0)) for name in names)


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.real
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_denied_hits_make_no_round_trip(real_client: redis.Redis, algorithm: type) -> None:
    """After one denial, 50 more hits of the key are denied without a script call."""
    limiter = algorithm(real_client, limit=2, window=60)
    assert [limiter.hit("abuser").allowed for _ in range(2)] == [True, True]
    first = limiter.hit("abuser")
    assert not first.allowed
    before = script_calls(real_client)
    results = [limiter.hit("abuser") for _ in range(50)]
    assert script_calls(real_client) - before <= 1  # INFO itself is not a script
    assert not any(r.allowed for r in results)
    assert all(0 < r.retry_after <= first.retry_after for r in results)
    assert limiter.hit("someone else").allowed  # other keys still go to the server


@pytest.mark.real
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_allowed_again_once_retry_after_passed(real_client: redis.Redis, algorithm: type) -> None:
    """A key denied for t seconds is allowed by the server right after t (no local ban left)."""
    limiter = algorithm(real_client, limit=1, window=0.4)
    assert limiter.hit("k").allowed
    denied = limiter.hit("k")
    assert not denied.allowed
    time.sleep(denied.retry_after + 0.01)  # waiting out retry_after is the behaviour under test
    assert limiter.hit("k").allowed


@pytest.mark.real
def test_a_cheaper_hit_still_asks_the_server(real_client: redis.Redis) -> None:
    """A denial of cost 3 says nothing about cost 1: that hit goes to the server and passes."""
    limiter = TokenBucket(real_client, limit=4, window=60)
    assert limiter.hit("k", cost=2).allowed
    assert not limiter.hit("k", cost=3).allowed
    before = script_calls(real_client)
    assert limiter.hit("k", cost=1).allowed
    assert script_calls(real_client) - before >= 1


@pytest.mark.real
def test_reset_forgets_the_local_denial(real_client: redis.Redis) -> None:
    """reset() in this process lets the key through at once."""
    limiter = GCRA(real_client, limit=1, window=60)
    limiter.hit("k")
    assert not limiter.hit("k").allowed
    limiter.reset("k")
    assert limiter.hit("k").allowed


@pytest.mark.real
def test_another_processs_reset_is_not_seen_until_retry_after(real_client: redis.Redis) -> None:
    """The documented caveat: a reset elsewhere leaves this process refusing until retry_after."""
    here = FixedWindow(real_client, limit=1, window=60)
    elsewhere = FixedWindow(real_client, limit=1, window=60)
    here.hit("k")
    assert not here.hit("k").allowed
    elsewhere.reset("k")
    assert not here.hit("k").allowed  # still certain from this process's point of view
    assert elsewhere.hit("k").allowed


def test_the_local_ban_never_outlasts_the_server() -> None:
    """until = time sent + retry_after: denied just before it, free at it."""
    clock = Clock()
    denials = Denials(clock=clock)
    denials.remember("k", 1, sent=clock.now, denied=(2.0, 5.0, 0))
    clock.now += 1.999
    assert denials.check("k", 1) is not None
    clock.now += 0.001
    assert denials.check("k", 1) is None
    assert len(denials) == 0


def test_memory_is_bounded() -> None:
    """At most max_keys keys are remembered; expired ones are dropped first."""
    clock = Clock()
    denials = Denials(max_keys=3, clock=clock)
    denials.remember("old", 1, sent=clock.now, denied=(0.5, 1.0, 0))
    for key in ("a", "b"):
        denials.remember(key, 1, sent=clock.now, denied=(60.0, 60.0, 0))
    clock.now += 1.0
    for key in ("c", "d"):
        denials.remember(key, 1, sent=clock.now, denied=(60.0, 60.0, 0))
    assert len(denials) == 3
    assert [k for k in ("a", "b", "c", "d") if denials.check(k, 1)] == ["b", "c", "d"]


def test_fakeredis_limiters_deny_locally_too(fake_client: redis.Redis) -> None:
    """The local denial works on any client (here fakeredis) and keeps the result's shape."""
    limiter = SlidingWindowLog(fake_client, limit=1, window=30)
    limiter.hit("k")
    server = limiter.hit("k")
    local = limiter.hit("k")
    assert (local.allowed, local.limit, local.remaining, local.fallback) == (False, 1, 0, False)
    assert 0 < local.retry_after <= server.retry_after
