"""The cache on a real Valkey Cluster: per-key work stays in one slot, batches span slots."""

from __future__ import annotations

import pytest
from redis.cluster import RedisCluster

from valkey_redis import Cache

pytestmark = pytest.mark.cluster


def test_batches_tags_and_deletes_span_slots(cluster_client: RedisCluster) -> None:
    """get_many/set_many, delete and invalidate_tags work on keys spread over many slots."""
    cache = Cache(cluster_client, namespace="cl", ttl=60)
    data = {f"k{i}": i for i in range(40)}
    assert len({cluster_client.keyslot(cache.redis_key(key)) for key in data}) > 10
    cache.set_many(data)
    assert data == cache.get_many([*data, "absent"])
    for i in range(6):
        cache.set(f"t{i}", i, tags=["even" if i % 2 == 0 else "odd"])
    assert cache.invalidate_tags("even") == 3
    assert cache.get_many([f"t{i}" for i in range(6)]) == {"t1": 1, "t3": 3, "t5": 5}
    assert cache.delete("k0", "k1", "k2", "nope") == 3


def test_get_or_set_and_hostile_bytes_on_a_cluster(cluster_client: RedisCluster) -> None:
    """The lock, fill script and unreadable-entry cleanup all run in the key's own slot."""
    cache = Cache(cluster_client, namespace="cl", ttl=60)
    calls: list[int] = []
    assert cache.get_or_set("a", lambda: calls.append(1) or "v") == "v"
    assert cache.get_or_set("a", lambda: calls.append(1) or "w") == "v"
    assert len(calls) == 1
    cluster_client.set(cache.redis_key("bad"), b"\xff\xfe")
    assert cache.get("bad") is None
    assert cluster_client.exists(cache.redis_key("bad")) == 0
    keys = list(cluster_client.scan_iter())
    assert keys == [cache.redis_key("a")]
    assert cluster_client.pttl(keys[0]) > 0
