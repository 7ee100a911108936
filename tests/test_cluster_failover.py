"""The helpers after a primary crashes: its replica takes over and clients made before recover.

One dedicated cluster for this module (a node gets killed, so the session's shared
cluster is not used). Data is written and confirmed on the replica with ``WAIT``
before the crash, so nothing acknowledged is lost here; what a crash *can* lose is
shown in example 8.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from valkey_redis import Cache, FixedWindow, Lock, SessionStore
from valkey_redis.client import connect
from valkey_redis.cluster import EmbeddedCluster
from valkey_redis.server import binary_can_run

pytestmark = [pytest.mark.cluster, pytest.mark.real]


@dataclass
class Crashed:
    """Helpers built (and used) before the victim primary died, and their keys."""

    client: RedisCluster
    cache: Cache
    cache_key: str
    store: SessionStore
    sid: str
    lock: Lock
    limiter: FixedWindow
    limiter_user: str
    cluster: EmbeddedCluster


def _name_on(client: RedisCluster, port: int, key_of: Callable[[str], str]) -> str:
    """The first name ``n0, n1, ...`` whose key lives on the primary at ``port``."""
    for i in range(1000):
        if int(client.get_node_from_key(key_of(f"n{i}")).port) == port:
            return f"n{i}"
    raise AssertionError(f"no key on port {port}")


def _session_on(client: RedisCluster, store: SessionStore, port: int) -> str:
    """Create sessions until one lands on the primary at ``port``; return its id."""
    for user in range(1000):
        sid = store.create(user_id=user, data={"n": user})
        bucket, secret = sid.split(".", 1)
        if int(client.get_node_from_key(store._session_key(bucket, secret)).port) == port:
            return sid
    raise AssertionError(f"no session on port {port}")


def _owner_of_slot_0(port: int) -> int:
    node = redis.Redis(port=port, decode_responses=True)
    try:
        ranges = node.execute_command("CLUSTER", "SLOTS")
    finally:
        node.close()
    return next(int(primary[1]) for first, _, primary, *_ in ranges if first == 0)


@pytest.fixture(scope="module")
def crashed() -> Iterator[Crashed]:
    """A cluster whose first primary was SIGKILLed after its data reached its replica."""
    if not binary_can_run():
        pytest.skip("the bundled valkey-server cannot run on this machine")
    with EmbeddedCluster(replicas=1, config={"cluster-node-timeout": "1000"}) as cluster:
        victim = cluster.ports[0]  # owns slots 0-5460
        client = connect(cluster.url, cluster=True)
        cache = Cache(client, namespace="fo", ttl=300)
        cache_key = _name_on(client, victim, cache.redis_key)
        cache.set(cache_key, {"kept": True})
        store = SessionStore(client, ttl=300, prefix="fo")
        sid = _session_on(client, store, victim)
        lock_name = _name_on(client, victim, lambda n: Lock(client, n, timeout=1).key)
        lock = Lock(client, lock_name, timeout=300)
        assert lock.acquire()
        # Its own client: the others' errors would refresh a shared client's slot map.
        limiter_client = connect(cluster.url, cluster=True)
        limiter = FixedWindow(limiter_client, limit=10, window=3600, prefix="fo")
        user = _name_on(client, victim, limiter.key_for)
        assert limiter.hit(user).remaining == 9
        node = redis.Redis(port=victim)
        assert node.wait(1, 5000) == 1  # everything above is on the replica too
        node.close()
        victim_pid = cluster.nodes[0].pid
        assert victim_pid is not None
        os.kill(victim_pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _owner_of_slot_0(cluster.ports[1]) == victim:
            assert time.monotonic() < deadline, "the replica was not promoted"
            time.sleep(0.1)
        yield Crashed(client, cache, cache_key, store, sid, lock, limiter, user, cluster)
        client.close()
        limiter_client.close()


def test_cache_and_sessions_read_their_data_from_the_promoted_replica(crashed: Crashed) -> None:
    """Clients made before the crash find the new primary and the replicated data."""
    assert crashed.cache.get(crashed.cache_key) == {"kept": True}
    assert crashed.cache.stats.errors == 0
    session = crashed.store.get(crashed.sid)
    assert session is not None
    assert session["n"] == session["user_id"]
    assert crashed.store.update(crashed.sid, theme="dark") is True


def test_a_held_lock_survives_and_fencing_still_increases(crashed: Crashed) -> None:
    """The replicated lock is still held; its owner extends and releases it on the new primary."""
    rival = Lock(crashed.client, crashed.lock.name, timeout=5, blocking=False)
    assert rival.acquire() is False
    before = crashed.lock.fencing_token
    assert crashed.lock.extend() is True
    assert crashed.lock.release() is True
    assert rival.acquire() is True
    assert rival.fencing_token > before  # the server clock is the floor: never repeated
    assert rival.release() is True


def test_a_rate_limiter_recovers_after_one_failed_hit(crashed: Crashed) -> None:
    """The first hit after the crash fails (not re-sent); the next reaches the new primary."""
    with pytest.raises(RedisConnectionError):
        crashed.limiter.hit(crashed.limiter_user)
    result = crashed.limiter.hit(crashed.limiter_user)
    assert result.allowed is True
    assert result.remaining == 8


def _state(port: int) -> str:
    node = redis.Redis(port=port, decode_responses=True)
    try:
        info = node.execute_command("CLUSTER", "INFO")
    finally:
        node.close()
    return str(info.split("cluster_state:", 1)[1].split()[0])


def test_on_error_also_applies_while_the_cluster_is_down(crashed: Crashed) -> None:
    """Runs last: with slots 0-5460 lost for good, a fail-open limiter allows (fallback)."""
    promoted = _owner_of_slot_0(crashed.cluster.ports[1])
    node = next(n for n in crashed.cluster.nodes if n.port == promoted)
    assert node.pid is not None
    os.kill(node.pid, signal.SIGKILL)  # no replica left for these slots
    survivor = crashed.cluster.ports[1]
    deadline = time.monotonic() + 30
    while _state(survivor) != "fail":
        assert time.monotonic() < deadline, "the cluster did not notice the lost slots"
        time.sleep(0.1)
    client = connect(f"redis://127.0.0.1:{survivor}", cluster=True)
    limiter = FixedWindow(client, limit=10, window=3600, prefix="fo", on_error="allow")
    user = _name_on(client, survivor, limiter.key_for)
    result = limiter.hit(user)
    client.close()
    assert result.allowed is True
    assert result.fallback is True
