"""Lock on a real 3-primary Valkey Cluster: acquire, release, extend, fencing, mutual exclusion.

The lock key and its fencing counter share a hash tag, so the scripts touch one
slot; locks of different names land on different primaries.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from valkey_redis import Lock, LockNotAcquired, _run

pytestmark = pytest.mark.cluster


def test_lock_names_spread_over_every_primary(cluster_client: RedisCluster) -> None:
    """Locks with different names use different primaries; key and counter share a slot."""
    locks = [Lock(cluster_client, f"job:{i}", timeout=5) for i in range(12)]
    assert len({int(cluster_client.get_node_from_key(lock.key).port) for lock in locks}) == 3
    for lock in locks:
        assert cluster_client.keyslot(lock.key) == cluster_client.keyslot(lock.fence_key)


def test_acquire_release_extend_and_fencing(cluster_client: RedisCluster) -> None:
    """Acquire/extend/release work; a second holder is refused; tokens strictly increase."""
    first = Lock(cluster_client, "invoice:7", timeout=5)
    other = Lock(cluster_client, "invoice:7", timeout=5, blocking=False)
    tokens = []
    for _ in range(3):
        assert first.acquire() is True
        tokens.append(first.fencing_token)
        assert first.owned() is True
        assert first.locked() is True
        assert other.acquire() is False
        assert first.extend(20) is True
        assert 5_000 < cluster_client.pttl(first.key) <= 20_000
        assert first.release() is True
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == 3
    assert first.release() is False
    assert first.extend() is False
    assert other.acquire() is True
    assert other.fencing_token > tokens[-1]
    assert other.release() is True


def test_release_never_deletes_someone_elses_lock(cluster_client: RedisCluster) -> None:
    """A holder whose lease was taken over cannot release (DELIFEQ routed to the right node)."""
    stale = Lock(cluster_client, "report", timeout=5)
    assert stale.acquire()
    cluster_client.delete(stale.key)  # as if the lease had expired
    fresh = Lock(cluster_client, "report", timeout=5)
    assert fresh.acquire()
    assert stale.release() is False
    assert stale.lost is True
    assert fresh.owned() is True
    assert fresh.release() is True


def test_with_block_and_blocking_timeout(cluster_client: RedisCluster) -> None:
    """The context manager holds the lock; a waiter with a short blocking_timeout gives up."""
    with Lock(cluster_client, "nightly", timeout=5) as held:
        assert held.owned()
        waiter = Lock(cluster_client, "nightly", timeout=5, blocking_timeout=0.05)
        with pytest.raises(LockNotAcquired, match="nightly"), waiter:
            pass
    assert Lock(cluster_client, "nightly", timeout=5).locked() is False


def test_lost_acquire_reply_is_recovered_with_one_slot_read(
    cluster_client: RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the acquire reply is lost, the lock reads key and counter together (one slot)."""
    lock = Lock(cluster_client, "flaky", timeout=5)
    real_script = _run.eval_script

    def run_then_lose_reply(client: Any, script: Any, *args: Any, **kwargs: Any) -> object:
        reply = real_script(client, script, *args, **kwargs)
        if script.name == "lock_acquire":
            raise RedisConnectionError("reply lost")
        return reply

    monkeypatch.setattr(_run, "eval_script", run_then_lose_reply)
    assert lock.acquire() is True
    assert lock.fencing_token == int(cluster_client.get(lock.fence_key))
    assert lock.release() is True


@pytest.mark.real
def test_threads_never_overlap_inside_the_lock(cluster_client: RedisCluster) -> None:
    """Eight threads do an unsafe read-modify-write 15 times each under the lock: exactly 120."""
    counter_key = "{counter}:value"
    cluster_client.set(counter_key, 0, ex=60)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            for _ in range(15):
                with Lock(cluster_client, "counter", timeout=10, sleep=0.001):
                    value = int(cluster_client.get(counter_key))
                    cluster_client.set(counter_key, value + 1, ex=60)
        except BaseException as exc:  # surfaced below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert int(cluster_client.get(counter_key)) == 120


def test_auto_renew_keeps_the_lease(cluster_client: RedisCluster) -> None:
    """With auto_renew the renewer extends the lease on the cluster until release."""
    lock = Lock(cluster_client, "renewed", timeout=0.3, auto_renew=True)
    assert lock.acquire()
    renewed = threading.Event()
    real_renewal = lock._renew_flow  # what the renewer runs: extend, or mark the lock lost

    def spy() -> Any:
        result = yield from real_renewal()
        if result:
            renewed.set()
        return result

    lock._renew_flow = spy  # type: ignore[method-assign]
    assert renewed.wait(timeout=10)
    assert lock.lost is False
    assert lock.release() is True
