"""Keys of different values, different helpers and different namespaces never collide."""

from __future__ import annotations

import fakeredis
import pytest
import redis

from valkey_redis import (
    GCRA,
    Cache,
    FixedWindow,
    Lock,
    SessionStore,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
    WriteBehind,
)
from valkey_redis.keys import typed


@pytest.fixture
def fake() -> redis.Redis:
    """A fakeredis client of its own."""
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)


def test_int_and_str_cache_keys_are_different_entries(fake: redis.Redis) -> None:
    """Cache keys 0 and "0" are two entries (and "#0" a third)."""
    cache = Cache(fake, namespace="n", ttl=60)
    cache.set(0, "int")
    cache.set("0", "str")
    cache.set("#0", "hash-str")
    assert (cache.get(0), cache.get("0"), cache.get("#0")) == ("int", "str", "hash-str")
    assert len({cache.redis_key(0), cache.redis_key("0"), cache.redis_key("#0")}) == 3
    assert typed(0) != typed("0")


def test_cache_in_the_lock_namespace_cannot_touch_a_lock(fake: redis.Redis) -> None:
    """Cache(namespace="lock").set("job") leaves a held Lock("job") alone."""
    lock = Lock(fake, "job", timeout=30)
    assert lock.acquire()
    Cache(fake, namespace="lock", ttl=60).set("job", "overwrite?")
    assert lock.owned()
    assert lock.release()


def test_decorator_tells_zero_from_negative_zero(fake: redis.Redis) -> None:
    """The decorator's memo returns sign(-0.0)'s own value, not sign(0.0)'s."""
    import math

    cache = Cache(fake, namespace="n", ttl=60)

    @cache.cached(ttl=60)
    def sign(x: float) -> float:
        return math.copysign(1.0, x)

    assert sign(0.0) == 1.0
    assert sign(-0.0) == -1.0
    assert sign.cache_key(0.0) != sign.cache_key(-0.0)


def test_helpers_sharing_one_prefix_write_disjoint_keys(fake: redis.Redis) -> None:
    """Every helper given the same prefix "x" writes keys no other helper writes."""
    written: dict[str, set[str]] = {}

    def record(helper: str) -> None:
        seen = set(fake.keys("*"))
        written[helper] = seen - set().union(*written.values()) if written else seen

    cache = Cache(fake, namespace="x", ttl=60, publish_events=False)
    cache.set("job", 1, tags=["job"])
    cache.get_or_set("fence", lambda: 2)
    record("cache")
    lock = Lock(fake, "job", timeout=30, prefix="x")
    assert lock.acquire()
    record("lock")
    SessionStore(fake, ttl=60, prefix="x").create(user_id="job")
    record("session")
    for limiter in (FixedWindow, SlidingWindowLog, SlidingWindowCounter, TokenBucket, GCRA):
        limiter(fake, limit=5, window=60, prefix="x").hit("job")
    record("ratelimit")
    WriteBehind(fake, name="job", apply_batch=lambda _: None).submit("job", 1)
    record("write-behind")
    everything = [key for keys_ in written.values() for key in keys_]
    assert len(everything) == len(set(everything))  # no key written by two helpers
    assert lock.owned()
    assert cache.get("job") == 1
    assert all(keys_ for keys_ in written.values())
