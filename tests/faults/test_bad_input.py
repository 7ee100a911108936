"""Bad input is refused at once with a clear error, never accepted and broken later."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import fakeredis
import pytest
import redis

from valkey_redis import Cache, Lock, NearCache, SessionStore, SlidingWindowLog, WriteBehind
from valkey_redis.client import connect

BAD_SECONDS = [math.inf, -math.inf, math.nan, 1e16]


@pytest.fixture
def fake() -> redis.Redis:
    """A fakeredis client (nothing here reaches a server)."""
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)


@pytest.fixture
def offline() -> redis.Redis:
    """A real-client object pointing nowhere (constructors never touch the network)."""
    return connect("redis://127.0.0.1:1/0", retries=0)


def _nothing(_: object) -> None:
    return None


CONSTRUCTORS: dict[str, Callable[[redis.Redis, Any], object]] = {
    "Lock(timeout)": lambda c, v: Lock(c, "job", timeout=v),
    "Lock(sleep)": lambda c, v: Lock(c, "job", timeout=1, sleep=v),
    "Lock(blocking_timeout)": lambda c, v: Lock(c, "job", timeout=1, blocking_timeout=v),
    "SessionStore(ttl)": lambda c, v: SessionStore(c, ttl=v),
    "Cache(ttl)": lambda c, v: Cache(c, namespace="n", ttl=v),
    "Cache(lock_timeout)": lambda c, v: Cache(c, namespace="n", ttl=1, lock_timeout=v),
    "Cache(wait_timeout)": lambda c, v: Cache(c, namespace="n", ttl=1, wait_timeout=v),
    "Cache(negative_ttl)": lambda c, v: Cache(c, namespace="n", ttl=1, negative_ttl=v),
    "WriteBehind(claim_idle)": lambda c, v: WriteBehind(
        c, name="n", apply_batch=_nothing, claim_idle=v
    ),
    "WriteBehind(poll_interval)": lambda c, v: WriteBehind(
        c, name="n", apply_batch=_nothing, poll_interval=v
    ),
}


@pytest.mark.parametrize("value", BAD_SECONDS, ids=repr)
@pytest.mark.parametrize("what", sorted(CONSTRUCTORS))
def test_bad_durations_are_refused(fake: redis.Redis, what: str, value: float) -> None:
    """inf, -inf, NaN and 1e16 s are a ValueError naming the setting, for every helper."""
    setting = what.split("(")[1].rstrip(")")
    with pytest.raises(ValueError, match=setting):
        CONSTRUCTORS[what](fake, value)


@pytest.mark.parametrize("value", [math.nan, math.inf, 1.5, 0])
@pytest.mark.parametrize("setting", ["max_len", "batch_size"])
def test_bad_write_behind_sizes_are_refused(fake: redis.Redis, setting: str, value: float) -> None:
    """NaN, infinity, a fraction or 0 as a size is a ValueError (NaN used to mean unbounded)."""
    with pytest.raises(ValueError, match=setting):
        WriteBehind(fake, name="n", apply_batch=_nothing, **{setting: value})


@pytest.mark.parametrize("value", [math.nan, math.inf, 0])
def test_bad_near_cache_sizes_are_refused(offline: redis.Redis, value: float) -> None:
    """NearCache(max_entries=NaN/inf/0) is a ValueError."""
    with pytest.raises(ValueError, match="max_entries"):
        NearCache(offline, max_entries=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", BAD_SECONDS, ids=repr)
def test_bad_near_cache_durations_are_refused(offline: redis.Redis, value: float) -> None:
    """NearCache ping_interval and set(ttl=) refuse inf, NaN and 1e16 s."""
    with pytest.raises(ValueError, match="ping_interval"):
        NearCache(offline, ping_interval=value)
    with pytest.raises(ValueError, match="ttl"):
        NearCache(offline).set("k", "v", ttl=value)


@pytest.mark.parametrize("value", BAD_SECONDS, ids=repr)
def test_bad_call_durations_are_refused(fake: redis.Redis, value: float) -> None:
    """Per-call TTLs (Cache.set/get_or_set/set_many, Lock.extend) refuse inf, NaN and 1e16."""
    cache = Cache(fake, namespace="n", ttl=60)
    with pytest.raises(ValueError, match="ttl"):
        cache.set("k", 1, ttl=value)
    with pytest.raises(ValueError, match="ttl"):
        cache.get_or_set("k", lambda: 1, ttl=value)
    with pytest.raises(ValueError, match="ttl"):
        cache.set_many({"k": 1}, ttl=value)
    lock = Lock(fake, "job", timeout=5)
    assert lock.acquire()
    with pytest.raises(ValueError, match="seconds"):
        lock.extend(value)
    assert all(fake.pttl(key) > 0 for key in fake.keys("*"))


def test_huge_ttl_never_leaves_a_key_without_ttl(fake: redis.Redis) -> None:
    """A 1e16 s session TTL is refused before any write (a half-run script left no TTL)."""
    with pytest.raises(ValueError, match="ttl"):
        SessionStore(fake, ttl=1e16).create(user_id=1)
    assert fake.keys("*") == []


def test_near_cache_get_of_a_non_string_is_a_type_error(offline: redis.Redis) -> None:
    """NearCache.get(5) is a TypeError naming the type, not an AttributeError."""
    near = NearCache(offline, namespace="n")
    with pytest.raises(TypeError, match="str"):
        near.get(5)  # type: ignore[arg-type]


def test_get_many_of_a_string_is_a_type_error(fake: redis.Redis) -> None:
    """Cache.get_many("abc") is a TypeError, not a lookup of "a", "b" and "c"."""
    cache = Cache(fake, namespace="n", ttl=60)
    with pytest.raises(TypeError, match="single string"):
        cache.get_many("abc")


def test_sliding_log_bounds_the_work_of_one_call(fake: redis.Redis) -> None:
    """SlidingWindowLog refuses a limit or cost that would hold the server (clear ValueError)."""
    with pytest.raises(ValueError, match="limit <= 10000"):
        SlidingWindowLog(fake, limit=300_000, window=60)
    limiter = SlidingWindowLog(fake, limit=10_000, window=60)
    with pytest.raises(ValueError, match="cost <= 1000"):
        limiter.hit("u", cost=5_000)
    assert limiter.hit("u", cost=1_000).allowed
