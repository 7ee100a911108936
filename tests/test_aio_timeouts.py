"""asyncio.timeout() and hung servers: every aio helper call stays bounded and in step.

A :class:`~valkey_redis.faultproxy.FaultProxy` sits between the client and the
session's real Valkey. A reply held back by the proxy is cut off by
``asyncio.timeout()``; the next command on the (single-connection) pool must get
its own reply, not the late one -- for every helper call, not just one. The
write-behind worker's ``stop()`` is bounded on a hung server, and a queue dropped
without ``stop()`` ends its worker task.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from valkey_redis import aio
from valkey_redis.faultproxy import FaultProxy
from valkey_redis.server import EmbeddedValkey


@pytest.fixture
def proxy(valkey_server: EmbeddedValkey, real_client: Any) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session's server (flushed by ``real_client``)."""
    assert valkey_server.port is not None
    with FaultProxy("127.0.0.1", valkey_server.port) as fault_proxy:
        yield fault_proxy


# -- write-behind: a bounded stop, a worker that does not pin its queue --------------


@pytest.mark.real
def test_async_write_behind_stop_is_bounded_on_a_hung_server(
    proxy: FaultProxy, real_client: Any, aio_loop: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Blackholed mid-run, stop(timeout=1) returns without error and loses no write."""
    # Long socket timeouts: only stop()'s own bound can end the calls in time.
    client = aio.connect(proxy.url, socket_timeout=30, call_timeout=60, retries=0, breaker=False)
    applied: list[Any] = []
    queue = aio.WriteBehind(client, name="hung", apply_batch=applied.extend, poll_interval=0.05)

    async def main() -> None:
        task = queue.start()
        await queue.submit("k", 1)
        proxy.blackhole()
        async with asyncio.timeout(20):  # far above stop's own bound: it must not hang
            await queue.stop(timeout=1)
        assert task.done()

    with caplog.at_level(logging.WARNING, logger="valkey_redis.write_behind"):
        try:
            aio_loop.run(main())
        finally:
            proxy.pass_through()
            aio_loop.run(client.aclose())
    assert "writes stay queued" in caplog.text
    assert len(applied) + real_client.xlen(queue.stream) == 1  # applied, or still queued


def test_a_dropped_async_write_behind_ends_its_task(both_clients: Any, aio_loop: Any) -> None:
    """A started aio.WriteBehind dropped without stop() is collected; its task ends."""

    async def main() -> weakref.ref[Any]:
        queue = aio.WriteBehind(
            both_clients[1], name="dropped", apply_batch=lambda _: None, poll_interval=0.05
        )
        task = queue.start()
        await queue.submit("k", 1)
        ref = weakref.ref(queue)
        del queue
        gc.collect()
        async with asyncio.timeout(20):
            await task  # ends by itself once the queue is gone
        return ref

    assert aio_loop.run(main())() is None
