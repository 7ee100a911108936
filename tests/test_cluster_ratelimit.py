"""All five rate limiters on a real 3-primary Valkey Cluster: hit, peek, reset, exact counts.

Each decision is one script on one key, routed to the key's primary by the
limiter itself (outside redis-py's retry loop), so these also check that routing.
"""

from __future__ import annotations

import threading

import pytest
from redis.cluster import RedisCluster

from valkey_redis import GCRA, FixedWindow, SlidingWindowCounter, SlidingWindowLog, TokenBucket

pytestmark = pytest.mark.cluster

ALGORITHMS = [FixedWindow, SlidingWindowLog, SlidingWindowCounter, TokenBucket, GCRA]
USERS = [f"user:{i}" for i in range(9)]


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda cls: cls.__name__)
def test_hit_peek_reset_on_every_primary(cluster_client: RedisCluster, algorithm: type) -> None:
    """For users on all three primaries: exactly `limit` hits pass, peek is free, reset refills."""
    limiter = algorithm(cluster_client, limit=3, window=3600, prefix="crl")
    assert len({int(cluster_client.get_node_from_key(limiter.key_for(u)).port) for u in USERS}) == 3
    for user in USERS:
        assert limiter.peek(user).remaining == 3
        decisions = [limiter.hit(user).allowed for _ in range(5)]
        assert decisions == [True, True, True, False, False]
        assert limiter.peek(user).allowed is False
        assert cluster_client.pttl(limiter.key_for(user)) > 0
    limiter.reset(USERS[0])
    assert limiter.peek(USERS[0]).remaining == 3
    assert limiter.hit(USERS[0], cost=3).allowed is True
    assert limiter.hit(USERS[1]).allowed is False


@pytest.mark.real
@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda cls: cls.__name__)
def test_concurrent_hits_allow_exactly_the_limit(
    cluster_client: RedisCluster, algorithm: type
) -> None:
    """Six threads hitting one key ten times each: exactly `limit` (25) are allowed."""
    limiter = algorithm(cluster_client, limit=25, window=3600, prefix="crl")
    start = threading.Barrier(6)
    allowed: list[bool] = []
    guard = threading.Lock()

    def worker() -> None:
        start.wait()
        for _ in range(10):
            result = limiter.hit("shared")
            with guard:
                allowed.append(result.allowed)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 60
    assert allowed.count(True) == 25
