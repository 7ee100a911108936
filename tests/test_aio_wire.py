"""The asyncio wire path: the lean command path, the pool, hiredis packing, the read watch.

Real Valkey throughout (fakeredis never reaches these paths). A paused server
(``CLIENT PAUSE``) makes replies wait; the bounds asserted are several times the
timeouts, so a loaded machine passes and an unbounded wait still fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from valkey_redis import aio, breaker_of
from valkey_redis.aio import _lean
from valkey_redis.aio import cache as aio_cache

pytestmark = pytest.mark.real


@pytest.fixture
def paused(valkey_server: Any) -> Iterator[Any]:
    """``paused(ms)``: the server holds every reply for ``ms`` (unpaused at the end)."""
    admin = redis.Redis.from_url(valkey_server.url, socket_timeout=30)

    def pause(ms: int) -> None:
        admin.execute_command("CLIENT", "PAUSE", ms, "ALL")

    yield pause
    admin.execute_command("CLIENT", "UNPAUSE")
    admin.close()


def _connections(real_client: redis.Redis, name: str) -> int:
    return sum(1 for c in real_client.client_list() if c.get("name") == name)


# -- packing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("GET", "k"),
        ("SET", "k", "é" * 3, "PX", 1500),
        ("EVALSHA", "a" * 40, 1, "rl:{u}", 10, 60_000_000, 1),
        ("ZADD", "z", 0.1, "m", 1e20, "n", -3, "o"),
        ("SET", "big", b"\x00\xff" * 40_000),
        ("SET", "view", memoryview(b"bytes")),
        ("CONFIG GET", "maxmemory"),
    ],
)
def test_commands_are_packed_as_redis_py_packs_them(
    valkey_server: Any, args: tuple[Any, ...]
) -> None:
    """The C packer writes exactly redis.asyncio's bytes, whatever the argument types."""
    client = aio.connect(valkey_server.url)
    conn = client.connection_pool.make_connection()
    plain = redis.asyncio.Connection()
    assert b"".join(conn.pack_command(*args)) == b"".join(
        bytes(p) for p in plain.pack_command(*args)
    )


@pytest.mark.parametrize("bad", [True, None, 1j, [1]])
def test_a_value_redis_py_refuses_is_refused_the_same_way(valkey_server: Any, bad: Any) -> None:
    """bool, None and other types are redis-py's DataError, not a silently written value."""
    conn = aio.connect(valkey_server.url).connection_pool.make_connection()
    with pytest.raises(redis.exceptions.DataError):
        conn.pack_command("SET", "k", bad)


# -- the lean path and the pool --------------------------------------------------------


def test_sequential_helper_calls_share_one_connection_and_aclose_closes_it(
    valkey_server: Any, real_client: redis.Redis, aio_loop: asyncio.Runner
) -> None:
    """Sequential helper calls use one connection; aclose() leaves none open on the server."""
    client = aio.connect(valkey_server.url, client_name="pool-test")
    cache = aio.Cache(client, namespace="pooled", ttl=60)

    async def main() -> list[Any]:
        await cache.set("k", {"n": 1})
        got = [await cache.get("k") for _ in range(50)]
        got.append(await aio.FixedWindow(client, limit=10, window=60).hit("u"))
        return got

    got = aio_loop.run(main())
    assert got[:50] == [{"n": 1}] * 50
    assert got[50].allowed
    assert _connections(real_client, "pool-test") == 1
    aio_loop.run(client.aclose())
    deadline = time.monotonic() + 10
    while _connections(real_client, "pool-test") and time.monotonic() < deadline:
        time.sleep(0.02)  # the server notices a closed socket on its next event loop turn
    assert _connections(real_client, "pool-test") == 0


def test_a_burst_of_tasks_on_distinct_keys_queues_for_connections(
    valkey_server: Any, aio_loop: asyncio.Runner
) -> None:
    """1,000 tasks on 1,000 keys at once: each gets its value (the pool queues, none fails)."""
    client = aio.connect(valkey_server.url)
    cache = aio.Cache(client, namespace="burst", ttl=60)

    async def main() -> list[Any]:
        await cache.set_many({i: {"i": i} for i in range(1000)})
        return await asyncio.gather(*(cache.get(i) for i in range(1000)))

    try:
        assert aio_loop.run(main()) == [{"i": i} for i in range(1000)]
        assert cache.stats.errors == 0
    finally:
        aio_loop.run(client.aclose())


def test_a_small_pool_queues_tasks_and_never_opens_more(
    valkey_server: Any, real_client: redis.Redis, aio_loop: asyncio.Runner
) -> None:
    """max_connections=2, 50 tasks on 50 keys: all answered, never a third connection."""
    client = aio.connect(valkey_server.url, max_connections=2, client_name="small-pool")
    cache = aio.Cache(client, namespace="small", ttl=60)
    most = 0

    async def watcher(stop: asyncio.Event) -> None:
        nonlocal most
        while not stop.is_set():
            most = max(most, _connections(real_client, "small-pool"))
            await asyncio.sleep(0.005)

    async def main() -> list[Any]:
        await cache.set_many({i: i for i in range(50)})
        stop = asyncio.Event()
        watching = asyncio.create_task(watcher(stop))
        got = await asyncio.gather(*(cache.get(i) for i in range(50)))
        stop.set()
        await watching
        return got

    try:
        assert aio_loop.run(main()) == list(range(50))
    finally:
        aio_loop.run(client.aclose())
    assert cache.stats.errors == 0
    assert 1 <= most <= 2


def test_a_single_connection_client_keeps_its_connection(
    valkey_server: Any, aio_loop: asyncio.Runner
) -> None:
    """command() on a single-connection client goes through its execute_command."""
    base = aio.connect(valkey_server.url)
    client = redis.asyncio.Redis(
        connection_pool=base.connection_pool, single_connection_client=True
    )
    seen: list[Any] = []
    execute = client.execute_command

    def counting(*args: Any, **options: Any) -> Any:
        seen.append(args[0])
        return execute(*args, **options)

    client.execute_command = counting  # type: ignore[method-assign]

    async def main() -> Any:
        await base.set("single", "v")
        return await _lean.command(client, "GET", "single")

    try:
        assert aio_loop.run(main()) == "v"
    finally:
        aio_loop.run(client.aclose())
        aio_loop.run(base.aclose())
    assert seen == ["GET"]


def test_an_overridden_execute_command_is_honoured(
    valkey_server: Any, aio_loop: asyncio.Runner
) -> None:
    """A Redis subclass that instruments execute_command still sees every helper command."""
    seen: list[str] = []

    class Instrumented(redis.asyncio.Redis):
        async def execute_command(self, *args: Any, **options: Any) -> Any:
            seen.append(str(args[0]))
            return await super().execute_command(*args, **options)

    base = aio.connect(valkey_server.url)
    client = Instrumented(connection_pool=base.connection_pool)

    async def main() -> Any:
        cache = aio.Cache(client, namespace="instrumented", ttl=60)
        await cache.set("k", 1)
        return await cache.get("k")

    try:
        assert aio_loop.run(main()) == 1
    finally:
        aio_loop.run(base.aclose())
    assert "GET" in seen


def test_an_instrumented_connection_class_keeps_its_send(
    valkey_server: Any, aio_loop: asyncio.Runner
) -> None:
    """connection_class= with its own send_packed_command: every command still goes through it."""
    sent: list[Any] = []

    class Counting(redis.asyncio.Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent.append(command)
            await super().send_packed_command(command, check_health)

    client = aio.connect(valkey_server.url, connection_class=Counting)

    async def main() -> Any:
        cache = aio.Cache(client, namespace="counted", ttl=60)
        await cache.set("k", 1)
        before = len(sent)
        assert await cache.get("k") == 1
        return len(sent) - before

    try:
        assert aio_loop.run(main()) == 1
    finally:
        aio_loop.run(client.aclose())


def test_a_failed_first_attempt_is_retried_within_the_budget(
    valkey_server: Any, real_client: redis.Redis, aio_loop: asyncio.Runner
) -> None:
    """The lane's connection killed under it: the next call reconnects and answers."""
    client = aio.connect(valkey_server.url, client_name="retry-test", retries=2)
    cache = aio.Cache(client, namespace="retry", ttl=60)

    async def main() -> Any:
        await cache.set("k", "v")
        real_client.client_kill_filter(_type="normal", skipme=True, laddr=None, user=None)
        return await aio_cache.command(client, "GET", cache.redis_key("k"))

    try:
        assert aio_loop.run(main()) is not None
    finally:
        aio_loop.run(client.aclose())


# -- the read watch --------------------------------------------------------------------


def test_a_reply_that_never_comes_times_out_at_the_socket_timeout(
    valkey_server: Any, paused: Any, aio_loop: asyncio.Runner
) -> None:
    """A paused server: the read ends with redis' TimeoutError near socket_timeout, not later."""
    client = aio.connect(valkey_server.url, socket_timeout=0.3, retries=0, breaker=False)

    async def main() -> tuple[BaseException | None, float]:
        await client.ping()
        paused(5000)
        started = time.monotonic()
        try:
            await client.get("k")
        except BaseException as exc:
            return exc, time.monotonic() - started
        return None, time.monotonic() - started

    try:
        error, took = aio_loop.run(main())
    finally:
        aio_loop.run(client.aclose())
    assert isinstance(error, redis.exceptions.TimeoutError)
    assert "reading" in str(error)
    assert 0.25 <= took < 3.0


def test_an_earlier_deadline_fires_first_whatever_the_order(
    valkey_server: Any, paused: Any, aio_loop: asyncio.Runner
) -> None:
    """A 4 s read in flight, then a 0.3 s one: the short one ends first, near its own bound."""
    slow = aio.connect(valkey_server.url, socket_timeout=4, retries=0, breaker=False)
    fast = aio.connect(valkey_server.url, socket_timeout=0.3, retries=0, breaker=False)

    async def main() -> tuple[float, BaseException | None, BaseException | None]:
        await slow.ping()
        await fast.ping()
        paused(6000)
        started = time.monotonic()
        long_read = asyncio.create_task(slow.get("k"))
        await asyncio.sleep(0.05)  # the 4 s deadline is armed first
        short_error: BaseException | None = None
        try:
            await fast.get("k")
        except BaseException as exc:
            short_error = exc
        took = time.monotonic() - started
        long_error = None
        try:
            await long_read
        except BaseException as exc:
            long_error = exc
        return took, short_error, long_error

    try:
        took, short_error, long_error = aio_loop.run(main())
    finally:
        aio_loop.run(slow.aclose())
        aio_loop.run(fast.aclose())
    assert isinstance(short_error, redis.exceptions.TimeoutError)
    assert took < 2.5  # not the 4 s of the read armed before it
    assert isinstance(long_error, redis.exceptions.TimeoutError)


def test_a_cancellation_during_a_read_stays_a_cancellation(
    valkey_server: Any, paused: Any, aio_loop: asyncio.Runner
) -> None:
    """task.cancel() while the reply is awaited: CancelledError, not a server timeout."""
    client = aio.connect(valkey_server.url, socket_timeout=0.3, retries=0)
    breaker = breaker_of(client)
    assert breaker is not None

    async def main() -> tuple[bool, int]:
        await client.ping()
        paused(2000)
        task = asyncio.create_task(client.get("k"))
        await asyncio.sleep(0.05)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True, breaker.snapshot().failures
        return False, -1

    try:
        cancelled, failures = aio_loop.run(main())
    finally:
        aio_loop.run(client.aclose())
    assert cancelled
    assert failures == 0  # a cancelled call is not a failure of the server


def test_asyncio_timeout_shorter_than_the_socket_timeout_wins(
    valkey_server: Any, paused: Any, aio_loop: asyncio.Runner
) -> None:
    """asyncio.timeout(0.1) around a call with a 5 s socket timeout: the caller's TimeoutError."""
    client = aio.connect(valkey_server.url, socket_timeout=5, call_timeout=10, retries=0)

    async def main() -> tuple[type[BaseException] | None, float, Any]:
        await client.ping()
        paused(1500)
        started = time.monotonic()
        kind = None
        try:
            async with asyncio.timeout(0.1):
                await client.get("k")
        except BaseException as exc:
            kind = type(exc)
        took = time.monotonic() - started
        client_after = await client.set("after", "ok")  # waits out the pause, in step
        return kind, took, client_after

    try:
        kind, took, after = aio_loop.run(main())
    finally:
        aio_loop.run(client.aclose())
    assert kind is TimeoutError
    assert took < 1.2
    assert after is True
