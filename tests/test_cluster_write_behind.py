"""Write-behind on a real 3-primary Valkey Cluster: submit, flush, reclaim, backpressure, cache.

A queue is one stream key, so its scripts and its ack+delete transaction stay in
one slot; different queues (and the cache entries submit updates) spread over nodes.
"""

from __future__ import annotations

import threading

import pytest
from redis.cluster import RedisCluster

from valkey_redis import Cache
from valkey_redis.write_behind import Write, WriteBehind, WriteBehindFullError

pytestmark = pytest.mark.cluster


class Sink:
    """A fake database: keeps the newest version per key, counts applied writes."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[tuple[int, int], object]] = {}
        self.applied = 0
        self.lock = threading.Lock()

    def apply(self, batch: list[Write]) -> None:
        with self.lock:
            for write in batch:
                self.applied += 1
                old = self.rows.get(write.key)
                if old is None or old[0] < write.version:
                    self.rows[write.key] = (write.version, write.value)

    def values(self) -> dict[str, object]:
        return {key: value for key, (_, value) in self.rows.items()}


def test_queues_live_on_different_primaries(cluster_client: RedisCluster) -> None:
    """Each queue is one stream key; several queues use all three primaries."""
    queues = [WriteBehind(cluster_client, name=f"q{i}", apply_batch=Sink().apply) for i in range(9)]
    ports = {int(cluster_client.get_node_from_key(q.stream).port) for q in queues}
    assert len(ports) == 3


def test_submit_flush_applies_everything_and_updates_the_cache(
    cluster_client: RedisCluster,
) -> None:
    """Writes for keys on every node are queued, cached at once, then applied by flush."""
    cache = Cache(cluster_client, namespace="cwb", ttl=60)
    sink = Sink()
    wb = WriteBehind(
        cluster_client, name="orders", apply_batch=sink.apply, batch_size=7, cache=cache
    )
    for i in range(20):
        wb.submit(f"order:{i}", {"total": i})
    wb.submit("order:3", {"total": 333})
    assert wb.backlog() == 21
    assert cache.get_many([f"order:{i}" for i in range(20)])["order:3"] == {"total": 333}
    assert wb.flush() == 21
    assert sink.applied == 21
    assert sink.values() == {f"order:{i}": {"total": 333 if i == 3 else i} for i in range(20)}
    assert wb.backlog() == 0
    assert wb.pending() == 0


def test_a_dead_workers_batch_is_reclaimed_and_applied_once(cluster_client: RedisCluster) -> None:
    """A batch left pending by a failing worker is claimed by another and applied."""
    sink = Sink()

    def dies(batch: list[Write]) -> None:
        raise RuntimeError("worker crashed mid-batch")

    a = WriteBehind(cluster_client, name="jobs", apply_batch=dies, batch_size=5, consumer="a")
    b = WriteBehind(cluster_client, name="jobs", apply_batch=sink.apply, batch_size=5, consumer="b")
    for i in range(5):
        a.submit(f"job:{i}", i)
    with pytest.raises(RuntimeError, match="crashed"):
        a.process_batch()
    assert a.pending() == 5
    assert b.flush() == 0
    assert b.reclaim(min_idle=0) == 5
    assert b.flush() == 5
    assert sink.values() == {f"job:{i}": i for i in range(5)}
    assert b.backlog() == 0


def test_full_backlog_refuses_the_write(cluster_client: RedisCluster) -> None:
    """At max_len the script refuses; nothing is trimmed or dropped."""
    wb = WriteBehind(cluster_client, name="small", apply_batch=Sink().apply, max_len=2)
    wb.submit("a", 1)
    wb.submit("b", 2)
    with pytest.raises(WriteBehindFullError):
        wb.submit("c", 3)
    assert wb.backlog() == 2


@pytest.mark.real
def test_background_worker_applies_writes_and_stop_flushes(cluster_client: RedisCluster) -> None:
    """start() runs a worker thread on the cluster; stop() ends it and applies the rest."""
    sink = Sink()
    seen = threading.Event()

    def apply(batch: list[Write]) -> None:
        sink.apply(batch)
        seen.set()

    wb = WriteBehind(cluster_client, name="bg", apply_batch=apply, poll_interval=0.05)
    wb.start()
    wb.submit("first", 1)
    assert seen.wait(timeout=10)
    for i in range(10):
        wb.submit(f"k{i}", i)
    wb.stop()
    assert sink.values() == {"first": 1, **{f"k{i}": i for i in range(10)}}
    assert wb.backlog() == 0
