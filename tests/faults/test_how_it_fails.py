"""The helpers' "How it fails" sentences under real faults: restarts, AOF, cut replies, kills."""

from __future__ import annotations

import contextlib

import pytest
import redis

from valkey_redis import (
    GCRA,
    Cache,
    FixedWindow,
    Lock,
    NearCache,
    SessionStore,
    SlidingWindowLog,
    WriteBehind,
)
from valkey_redis.client import connect
from valkey_redis.faultproxy import AOF, FaultProxy, kill_and_restart
from valkey_redis.server import EmbeddedValkey
from valkey_redis.write_behind import Write


def test_restart_without_persistence_needs_no_user_action(server: EmbeddedValkey) -> None:
    """kill -9 + restart empty: scripts reload, stale connections are replaced, all helpers work."""
    client = connect(server.url)
    cache = Cache(client, namespace="rs", ttl=60)
    sessions = SessionStore(client, ttl=60)
    limiter = SlidingWindowLog(client, limit=5, window=60)
    queue = WriteBehind(client, name="rs", apply_batch=lambda _: None)
    cache.set("k", 1, tags=["t"])
    sid = sessions.create(user_id=1)
    assert limiter.hit("u").allowed
    queue.submit("k", 1)
    kill_and_restart(server)
    assert cache.get("k") is None  # gone: a miss, not an error
    assert cache.get_or_set("k", lambda: 2) == 2
    assert cache.invalidate_tags("t") == 0
    assert sessions.get(sid) is None  # every session is gone: log in again
    assert sessions.get(sessions.create(user_id=1)) == {"user_id": 1}
    assert limiter.hit("u").remaining == 4  # counts start again
    with Lock(client, "job", timeout=5) as lock:
        assert lock.fencing_token > 0
    assert queue.backlog() == 0
    queue.submit("k", 2)
    assert queue.flush() == 1


def test_acknowledged_submits_survive_kill_with_aof_always() -> None:
    """appendfsync always: every submit that returned survives kill -9 and is applied."""
    with EmbeddedValkey(config={**AOF, "appendfsync": "always"}) as server:
        client = connect(server.url)
        applied: list[Write] = []
        queue = WriteBehind(client, name="aof", apply_batch=applied.extend)
        accepted = [queue.submit(f"k{i}", i) for i in range(500)]
        kill_and_restart(server)
        assert queue.flush() == len(accepted)
        assert sorted(w.entry_id for w in applied) == sorted(accepted)


def test_write_behind_is_at_least_once_after_a_worker_crash(direct: redis.Redis) -> None:
    """A worker that dies after apply_batch, before XACK: another reclaims and applies again."""
    seen: list[str] = []

    def crash_after_apply(writes: list[Write]) -> None:
        seen.extend(w.key for w in writes)
        raise SystemExit  # stands in for the process dying before the ack

    dying = WriteBehind(direct, name="crash", apply_batch=crash_after_apply, consumer="a")
    dying.submit("k", 1)
    with contextlib.suppress(SystemExit):
        dying.process_batch()
    survivor = WriteBehind(
        direct, name="crash", apply_batch=lambda w: seen.extend(x.key for x in w)
    )
    assert survivor.reclaim(min_idle=0) == 1
    assert survivor.flush() == 1
    assert seen == ["k", "k"]  # applied twice: apply_batch must be idempotent
    assert survivor.backlog() == 0


def test_near_cache_flushes_when_its_connection_is_killed(direct: redis.Redis) -> None:
    """CLIENT KILL of the tracking connection: local copies are dropped, tracking restarts."""
    near = NearCache(direct, namespace="nk")
    near.set("k", "v1", ttl=60)
    assert near.get("k") == "v1"
    assert near.get("k") == "v1"
    assert near.stats.hits == 1
    thread = near._thread
    direct.client_kill_filter(_id=near.tracking_id)
    assert thread is not None
    thread.join(10)
    assert not near.is_tracking
    assert len(near) == 0
    direct.set(near.key("k"), "v2")  # changed while nobody tracked it
    assert near.get("k") == "v2"  # no stale copy; tracking is on again
    assert near.is_tracking
    near.close()


def test_cut_reply_is_a_miss_for_reads_and_an_error_for_writes(
    proxy: FaultProxy, direct: redis.Redis
) -> None:
    """A reply cut in half: Cache.get returns its default; Cache.set raises ConnectionError."""
    client = connect(proxy.url, retries=0)
    cache = Cache(client, namespace="cut", ttl=60)
    direct.set(cache.redis_key("k"), "c1:9999999999999:0:" + "x" * 10)
    proxy.close_mid_reply(times=1, match=cache.redis_key("k"))
    assert cache.get("k", "default") == "default"
    assert cache.stats.errors == 1
    proxy.reset_before_reply(times=1, match="SET")
    with pytest.raises(redis.ConnectionError):
        cache.set("k2", 1)


def test_lost_acquire_reply_asks_the_server(proxy: FaultProxy, direct: redis.Redis) -> None:
    """The acquire script ran but its reply was lost: the lock is ours, with its token."""
    client = connect(proxy.url, retries=0)
    lock = Lock(client, "job", timeout=30)
    with Lock(client, "warm-up", timeout=5):  # scripts loaded: the next EVALSHA is the real one
        pass
    proxy.reset_before_reply(times=1, match=lock.key)
    assert lock.acquire()
    assert proxy.applied == 1
    assert direct.get(lock.key) is not None
    assert lock.fencing_token == int(direct.get(lock.fence_key) or 0)
    assert lock.release()


def test_limiter_fallbacks_on_a_blackholed_server(proxy: FaultProxy) -> None:
    """on_error="allow" / "deny" decide with fallback=True when nothing answers."""
    client = connect(proxy.url, retries=0)
    proxy.blackhole()
    allowed = FixedWindow(client, limit=5, window=60, on_error="allow").hit("u")
    denied = GCRA(client, limit=5, window=60, on_error="deny").hit("u")
    assert (allowed.allowed, allowed.fallback) == (True, True)
    assert (denied.allowed, denied.fallback) == (False, True)
