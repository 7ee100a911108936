"""Cache on a real 3-primary Valkey Cluster: every public operation, keys spread over slots.

No operation may raise CROSSSLOT (server side) or redis-py's "all keys must map to
the same key slot": batches and tags deliberately span all three primaries.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from redis.cluster import RedisCluster

from valkey_redis import Cache, NearCache

pytestmark = pytest.mark.cluster

KEYS = [f"item:{i}" for i in range(30)]


def _primaries_of(client: RedisCluster, names: list[str]) -> set[int]:
    return {int(client.get_node_from_key(name).port) for name in names}


@pytest.fixture
def cache(cluster_client: RedisCluster) -> Cache:
    """A cache on the cluster client."""
    return Cache(cluster_client, namespace="ccache", ttl=60)


def test_keys_of_one_batch_span_every_primary(cache: Cache, cluster_client: RedisCluster) -> None:
    """The keys used below really live on all three primaries (so batches cross slots)."""
    names = [cache.redis_key(key) for key in KEYS]
    assert len({cluster_client.keyslot(name) for name in names}) == len(KEYS)
    assert len(_primaries_of(cluster_client, names)) == 3


def test_set_get_delete(cache: Cache, cluster_client: RedisCluster) -> None:
    """Single-key operations work and each entry gets a TTL."""
    for i, key in enumerate(KEYS):
        cache.set(key, {"n": i})
    assert [cache.get(key) for key in KEYS] == [{"n": i} for i in range(30)]
    assert all(0 < cluster_client.pttl(cache.redis_key(key)) <= 60_000 for key in KEYS)
    assert cache.delete(*KEYS[:20], "never-set") == 20
    assert cache.get(KEYS[0], "gone") == "gone"
    assert cache.get(KEYS[25]) == {"n": 25}


def test_set_many_get_many_across_slots(cache: Cache, cluster_client: RedisCluster) -> None:
    """Batches spanning all primaries write everything (with TTLs) and read found keys only."""
    cache.set_many({key: i for i, key in enumerate(KEYS)}, ttl=30)
    assert all(0 < cluster_client.pttl(cache.redis_key(key)) <= 30_000 for key in KEYS)
    wanted = [*KEYS, "missing:1", "missing:2"]
    assert cache.get_many(wanted) == {key: i for i, key in enumerate(KEYS)}
    assert cache.stats.hits == 30
    assert cache.stats.misses == 2


def test_get_many_drops_an_unreadable_entry_on_its_own_node(
    cache: Cache, cluster_client: RedisCluster
) -> None:
    """Garbage under one key is a miss and is deleted; its neighbours on other nodes are found."""
    cache.set_many({key: key for key in KEYS[:6]})
    planted = cache.redis_key(KEYS[3])
    cluster_client.set(planted, b"\x80\x04not-ours", ex=60)
    found = cache.get_many(KEYS[:6])
    assert found == {key: key for key in KEYS[:6] if key != KEYS[3]}
    assert cluster_client.exists(planted) == 0


def test_get_or_set_loads_once_then_hits(cache: Cache) -> None:
    """A miss runs the loader; the next call is a hit."""
    calls: list[int] = []

    def loader() -> dict[str, int]:
        calls.append(1)
        return {"answer": 42}

    assert cache.get_or_set("q", loader, ttl=30) == {"answer": 42}
    assert cache.get_or_set("q", loader, ttl=30) == {"answer": 42}
    assert len(calls) == 1
    assert cache.stats.loads == 1


@pytest.mark.real
def test_get_or_set_stampede_across_instances_runs_the_loader_once(
    cluster_client: RedisCluster,
) -> None:
    """Twelve threads, each with its own Cache (as separate processes would), load once."""
    calls: list[int] = []
    calls_lock = threading.Lock()
    start = threading.Barrier(12)
    results: list[Any] = []

    def loader() -> str:
        with calls_lock:
            calls.append(1)
        return "fresh"

    def worker() -> None:
        own = Cache(cluster_client, namespace="ccache", ttl=60, wait_timeout=30)
        start.wait()
        results.append(own.get_or_set("cold", loader))

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["fresh"] * 12
    assert len(calls) == 1


def test_decorator_caches_invalidates_and_tags(cache: Cache) -> None:
    """The decorator caches per argument, .invalidate() drops one, tags drop across slots."""
    calls: list[int] = []

    @cache.cached(ttl=60, tags=lambda user_id: [f"user:{user_id}"])
    def load_user(user_id: int) -> dict[str, int]:
        calls.append(user_id)
        return {"id": user_id}

    for user_id in range(10):
        assert load_user(user_id) == {"id": user_id}
        assert load_user(user_id=user_id) == {"id": user_id}
    assert calls == list(range(10))
    assert load_user.invalidate(3) == 1
    assert load_user(3) == {"id": 3}
    assert calls[-1] == 3
    assert cache.invalidate_tags("user:4", "user:5") == 2
    load_user(4)
    load_user(5)
    load_user(6)
    assert calls[-2:] == [4, 5]
    assert load_user.cache_key(7) == load_user.cache_key(user_id=7)


def test_tags_spanning_slots_invalidate_exactly_their_members(
    cache: Cache, cluster_client: RedisCluster
) -> None:
    """A tag's members live on all primaries; invalidating it deletes exactly them."""
    for i, key in enumerate(KEYS):
        cache.set(key, i, tags=["even"] if i % 2 == 0 else ["odd", "all-odd"])
    even = [cache.redis_key(key) for key in KEYS[::2]]
    assert len(_primaries_of(cluster_client, even)) == 3
    assert cache.invalidate_tags("even") == 15
    assert cache.get_many(KEYS) == {key: i for i, key in enumerate(KEYS) if i % 2}
    assert cache.invalidate_tags("odd", "all-odd") == 15
    assert cache.get_many(KEYS) == {}
    assert cache.invalidate_tags("even") == 0


def test_write_through_saves_then_caches(cache: Cache) -> None:
    """write_through calls save first, then the cache holds the value (tags included)."""
    saved: list[Any] = []
    assert cache.write_through("profile:1", {"name": "Ada"}, saved.append, tags=["p"]) is True
    assert saved == [{"name": "Ada"}]
    assert cache.get("profile:1") == {"name": "Ada"}
    assert cache.invalidate_tags("p") == 1


@pytest.mark.real
def test_invalidation_events_reach_a_cluster_subscriber(
    cache: Cache, cluster_client: RedisCluster
) -> None:
    """delete and invalidate_tags publish events that a subscriber on the cluster receives."""
    pubsub = cluster_client.pubsub()
    pubsub.subscribe(cache.events_channel)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    cache.set("a", 1)
    cache.delete("a")
    cache.set("b", 2, tags=["t"])
    cache.invalidate_tags("t")
    events = []
    while len(events) < 2:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
        assert message is not None
        events.append(json.loads(message["data"]))
    pubsub.close()
    assert events[0]["keys"] == [cache.redis_key("a")]
    assert events[1] == {"namespace": "ccache", "keys": [cache.redis_key("b")], "tags": ["t"]}


def test_near_cache_refuses_a_cluster_client_up_front(cluster_client: RedisCluster) -> None:
    """CLIENT TRACKING is per node, so NearCache rejects a cluster client in its constructor."""
    with pytest.raises(TypeError, match="does not support Valkey Cluster"):
        NearCache(cluster_client, namespace="near")
