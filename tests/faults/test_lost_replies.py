"""Lost replies (the command ran, its answer never came back): each helper's result is defined.

The proxy resets the connection after the server answered one matching request,
so redis-py sees a ConnectionError and, on a ``connect()`` client, retries.
"""

from __future__ import annotations

import contextlib
import logging

import pytest
import redis

from valkey_redis import Cache, Lock, SessionStore, WriteBehind
from valkey_redis.faultproxy import FaultProxy
from valkey_redis.write_behind import Write


def test_invalidate_tags_is_applied_after_a_lost_reply(
    faulty: redis.Redis, direct: redis.Redis, proxy: FaultProxy
) -> None:
    """A lost reply while reading/removing a tag's index still deletes the tagged entries."""
    cache = Cache(faulty, namespace="lr", ttl=60)
    cache.set("a", 1, tags=["t"])
    cache.set("b", 2, tags=["t"])
    cache.invalidate_tags("warm-up")  # scripts loaded: the lost reply is the real one's
    proxy.reset_before_reply(times=1, match=cache._tags.key("t"))
    with contextlib.suppress(redis.ConnectionError):  # raising is allowed; staying is not
        cache.invalidate_tags("t")
    assert proxy.applied == 1
    assert direct.exists(cache.redis_key("a"), cache.redis_key("b")) == 0


def test_submit_is_not_duplicated_by_a_lost_reply(
    faulty: redis.Redis, direct: redis.Redis, proxy: FaultProxy
) -> None:
    """One submit whose reply is lost puts exactly one entry in the stream."""
    wb = WriteBehind(faulty, name="lr", apply_batch=lambda _: None)
    wb.submit("warm-up", 0)  # script loaded: the lost reply is the real one's
    proxy.reset_before_reply(times=1, match="payload-7f3a")
    entry_id = wb.submit("k", "payload-7f3a")
    assert proxy.applied == 1
    assert direct.xlen(wb.stream) == 2
    assert direct.xrange(wb.stream)[-1][0] == entry_id


def test_lost_release_reply_is_not_a_lost_lock(
    faulty: redis.Redis, direct: redis.Redis, proxy: FaultProxy
) -> None:
    """A lost reply to the release inside ``with Lock`` does not raise LockLost."""
    with Lock(faulty, "job", timeout=30) as lock:
        proxy.reset_before_reply(times=1, match=lock.key)
    assert proxy.applied == 1
    assert not lock.lost
    assert direct.exists(lock.key) == 0


def test_cache_delete_counts_after_a_lost_reply(
    faulty: redis.Redis, direct: redis.Redis, proxy: FaultProxy
) -> None:
    """Cache.delete returns 1 for an entry it deleted, even when the first reply was lost."""
    cache = Cache(faulty, namespace="lr", ttl=60, publish_events=False)
    cache.set("a", 1)
    proxy.reset_before_reply(times=1, match=cache.redis_key("a"))
    assert cache.delete("a") == 1
    assert proxy.applied == 1
    assert direct.exists(cache.redis_key("a")) == 0


def test_session_destroy_after_a_lost_reply(
    faulty: redis.Redis, direct: redis.Redis, proxy: FaultProxy
) -> None:
    """SessionStore.destroy returns True for a session it destroyed despite a lost reply."""
    store = SessionStore(faulty, ttl=60)
    store.destroy(store.create(user_id=1))  # script loaded: the lost reply is the real one's
    sid = store.create(user_id=1)
    key = store.key(sid)
    assert key is not None
    proxy.reset_before_reply(times=1, match=key)
    assert store.destroy(sid) is True
    assert proxy.applied == 1
    assert direct.exists(key) == 0
    assert store.destroy(sid) is False  # a second, separate call: already gone


def test_lost_stampede_lock_reply_does_not_wait_for_itself(
    faulty: redis.Redis, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """A lost reply to the fill lock's SET NX: the caller still leads, without waiting."""
    cache = Cache(faulty, namespace="lr", ttl=60, wait_timeout=3)
    calls: list[int] = []
    proxy.reset_before_reply(times=1, match=cache.redis_key("k") + ":lock")
    with caplog.at_level(logging.WARNING):
        assert cache.get_or_set("k", lambda: calls.append(1) or "v") == "v"
    assert proxy.applied == 1
    assert calls == [1]
    assert not [r for r in caplog.records if "waited" in r.getMessage()]
    assert cache.get("k") == "v"


def test_lost_xreadgroup_reply_does_not_strand_the_batch(
    faulty: redis.Redis, direct: redis.Redis, proxy: FaultProxy
) -> None:
    """Entries delivered by a XREADGROUP whose reply was lost are applied by the next flush."""
    applied: list[Write] = []
    wb = WriteBehind(faulty, name="lr", apply_batch=applied.extend, claim_idle=3600)
    for i in range(3):
        wb.submit(f"k{i}", i)
    wb.flush()  # creates the group, applies the 3
    applied.clear()
    for i in range(3):
        wb.submit(f"k{i}", i + 10)
    proxy.reset_before_reply(times=1, match="XREADGROUP")
    with contextlib.suppress(redis.ConnectionError):
        wb.process_batch()
    assert proxy.applied == 1
    wb.flush()
    assert sorted(w.value for w in applied) == [10, 11, 12]
    assert direct.xlen(wb.stream) == 0
