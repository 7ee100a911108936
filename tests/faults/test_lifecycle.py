"""Background workers: stop() is bounded and tidy; dropped objects free their thread."""

from __future__ import annotations

import contextlib
import gc
import time
import weakref

import redis

from valkey_redis import NearCache, WriteBehind
from valkey_redis.client import connect
from valkey_redis.faultproxy import FaultProxy
from valkey_redis.near_cache import CLIENT_NAME
from valkey_redis.server import EmbeddedValkey


def _consumers(client: redis.Redis, wb: WriteBehind) -> list[str]:
    return [c["name"] for c in client.xinfo_consumers(wb.stream, wb.group)]


def test_stop_leaves_the_consumer_group(direct: redis.Redis) -> None:
    """Ten start/stop cycles leave no consumer behind (each stop deletes its own)."""
    applied: list[object] = []
    for i in range(10):
        wb = WriteBehind(direct, name="cycles", apply_batch=applied.extend, poll_interval=0.05)
        wb.start()
        wb.submit(f"k{i}", i)
        wb.stop()
    assert len(applied) == 10
    assert _consumers(direct, wb) == []


def test_stop_keeps_a_consumer_that_still_has_pending_writes(direct: redis.Redis) -> None:
    """A consumer whose batch failed keeps its pending entries (deleting it would strand them)."""

    def failing(_: object) -> None:
        raise RuntimeError("sink down")

    wb = WriteBehind(direct, name="pending", apply_batch=failing)
    wb.submit("k", 1)
    with contextlib.suppress(RuntimeError):
        wb.process_batch()
    wb.stop(flush=False)
    assert _consumers(direct, wb) == [wb.consumer]
    assert wb.pending() == 1


def test_stop_is_bounded_on_a_hung_server(proxy: FaultProxy) -> None:
    """With Valkey blackholed, stop() returns (no exception) well within its timeout."""
    client = connect(proxy.url, socket_timeout=2.0, socket_connect_timeout=2.0)
    wb = WriteBehind(client, name="hung", apply_batch=lambda _: None, poll_interval=0.1)
    thread = wb.start()
    wb.submit("k", 1)
    proxy.blackhole()
    started = time.monotonic()
    wb.stop(timeout=5)
    elapsed = time.monotonic() - started
    assert elapsed < 12, f"stop() took {elapsed:.1f}s on a hung server"  # it took 16 s before
    thread.join(60)  # a call stuck in the client's retries ends by itself
    assert not thread.is_alive()


def test_dropped_write_behind_ends_its_thread(direct: redis.Redis) -> None:
    """A started WriteBehind dropped without stop() is collected and its thread ends."""
    wb = WriteBehind(direct, name="dropped", apply_batch=lambda _: None, poll_interval=0.05)
    thread = wb.start()
    ref = weakref.ref(wb)
    del wb
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()
    assert ref() is None


def _tracking_connections(client: redis.Redis) -> int:
    return sum(1 for c in client.client_list() if c.get("name") == CLIENT_NAME)


def test_dropped_near_cache_closes_its_connection(server: EmbeddedValkey) -> None:
    """A NearCache dropped without close() ends its listener and closes its tracking connection."""
    client = connect(server.url)
    near = NearCache(client, namespace="dropped", ping_interval=0.2)
    near.get("k")
    thread = near._thread
    assert thread is not None
    assert _tracking_connections(client) == 1
    ref = weakref.ref(near)
    del near
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()
    assert ref() is None
    deadline = time.monotonic() + 10
    while _tracking_connections(client) and time.monotonic() < deadline:
        time.sleep(0.02)  # the server notices the closed socket a moment later
    assert _tracking_connections(client) == 0


def test_async_stop_leaves_the_consumer_group(server: EmbeddedValkey, direct: redis.Redis) -> None:
    """aio.WriteBehind: five start/stop cycles leave no consumer behind either."""
    import asyncio

    from valkey_redis import aio

    async def cycles() -> str:
        client = aio.connect(server.url)
        queue = aio.WriteBehind(client, name="acycles", apply_batch=lambda _: None)
        for i in range(5):
            queue = aio.WriteBehind(
                client, name="acycles", apply_batch=lambda _: None, poll_interval=0.05
            )
            queue.start()
            await queue.submit(f"k{i}", i)
            await queue.stop()
        await client.aclose()
        return queue.stream

    stream = asyncio.run(cycles())
    assert direct.xinfo_consumers(stream, "writers") == []
    assert direct.xlen(stream) == 0
