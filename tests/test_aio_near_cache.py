"""aio.NearCache: local copies kept fresh by CLIENT TRACKING, read by a task (real Valkey).

Each contract is an ``async`` check run on the real implementation, then on the
wrong one a person would plausibly write (patched in), which the check must fail:
``assert_fails`` proves the test can catch it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from valkey_redis import NearCache, aio, connect
from valkey_redis.aio import near_cache as aio_near
from valkey_redis.breaker import CircuitBreaker, CircuitOpenError
from valkey_redis.core import near as core_near
from valkey_redis.core.tracking import CLIENT_NAME, Listener, tracking_options
from valkey_redis.faultproxy import FaultProxy, paused
from valkey_redis.server import EmbeddedValkey

pytestmark = pytest.mark.real

BOUND = 10.0  # seconds: far above any honest call here, far below a hang


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` (letting other tasks run) until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        await asyncio.sleep(0.001)
    return True


def assert_fails(loop: asyncio.Runner, check: Coroutine[Any, Any, None]) -> None:
    """The check must fail (an AssertionError) on the wrong implementation patched in."""
    with pytest.raises(AssertionError):
        loop.run(check)


def gets(client: redis.Redis) -> int:
    """GET commands the server has run so far (every client)."""
    return int(client.info("commandstats").get("cmdstat_get", {}).get("calls", 0))


def tracking_connections(client: redis.Redis) -> int:
    """Connections named as near-cache tracking connections, on the server."""
    return sum(1 for c in client.client_list() if c.get("name") == CLIENT_NAME)


@pytest.fixture
def loop() -> Iterator[asyncio.Runner]:
    """The test's event loop."""
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture
def aclient(valkey_server: EmbeddedValkey, loop: asyncio.Runner) -> Iterator[Any]:
    """An async client of the real server."""
    client = aio.connect(valkey_server.url)
    yield client
    loop.run(client.aclose())


@pytest.fixture
def near(aclient: Any, real_client: redis.Redis, loop: asyncio.Runner) -> Iterator[aio.NearCache]:
    """An aio.NearCache on the real (flushed) server, namespace ``nc``."""
    cache = aio.NearCache(aclient, namespace="nc", max_entries=100)
    yield cache
    loop.run(cache.close())


# -- no network: refusals -------------------------------------------------------------


def test_fakeredis_cluster_and_sync_clients_are_refused() -> None:
    """fakeredis (no CLIENT TRACKING), a cluster and a sync client raise TypeError up front."""
    import fakeredis

    with pytest.raises(TypeError, match="fakeredis has no CLIENT TRACKING"):
        aio.NearCache(fakeredis.FakeAsyncRedis(decode_responses=True))
    with pytest.raises(TypeError, match="Cluster"):
        aio.NearCache(aio.connect("redis://127.0.0.1:1/0", cluster=True))
    with pytest.raises(TypeError, match=r"redis\.asyncio"):
        aio.NearCache(connect("redis://127.0.0.1:1/0"))
    with pytest.raises(TypeError, match=r"redis\.client\.Redis"):
        NearCache(aio.connect("redis://127.0.0.1:1/0"))


def test_bad_settings_are_refused_without_network(loop: asyncio.Runner) -> None:
    """Bad sizes, intervals, byte clients, TTLs and values fail before any I/O."""
    client = aio.connect("redis://127.0.0.1:1/0")
    with pytest.raises(ValueError, match="max_entries"):
        aio.NearCache(client, max_entries=0)
    with pytest.raises(ValueError, match="ping_interval"):
        aio.NearCache(client, ping_interval=0)
    with pytest.raises(ValueError, match="decode_responses"):
        aio.NearCache(redis.asyncio.Redis(port=1))
    cache = aio.NearCache(client, namespace="n")
    with pytest.raises(ValueError, match="ttl"):
        loop.run(cache.set("k", "v", ttl=0))
    with pytest.raises(TypeError, match="near-cache values must be str"):
        loop.run(cache.set("k", 1, ttl=60))  # type: ignore[arg-type]
    assert cache.key("a:b") == NearCache(connect("redis://127.0.0.1:1/0"), namespace="n").key("a:b")


# -- hits --------------------------------------------------------------------------


async def check_hit_sends_nothing(near: aio.NearCache, sync: redis.Redis) -> None:
    """The first get sends one GET; the next ones none."""
    sync.set("nc:k", "v", ex=30)
    before = gets(sync)
    assert await near.get("k") == "v"
    assert gets(sync) - before == 1
    assert [await near.get("k") for _ in range(5)] == ["v"] * 5
    assert gets(sync) - before == 1, "a hit went to the server"
    stats = near.stats
    assert (stats.hits, stats.misses, stats.size) == (5, 1, 1)


def test_second_get_is_a_local_hit(
    near: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner
) -> None:
    """After the first get, reads are served locally: the server counts one GET for six reads."""
    loop.run(check_hit_sends_nothing(near, real_client))


def test_a_cache_that_never_keeps_is_caught(
    near: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner, monkeypatch: Any
) -> None:
    """Wrong: every get goes to Valkey (no local copy is served) -- the GET count shows it."""
    monkeypatch.setattr(core_near.NearCore, "_lookup", _always_miss)
    assert_fails(loop, check_hit_sends_nothing(near, real_client))


def _always_miss(self: core_near.NearCore, name: str, now: float) -> None:
    self._counts["misses"] += 1


# -- invalidation from any client -------------------------------------------------------


async def check_writes_invalidate(near: aio.NearCache, write: Callable[[], Any]) -> None:
    """A write by another client drops the copy; the next get reads the new value."""
    await near.set("k", "old", ttl=30)
    assert await near.get("k") == "old"
    assert await near.get("k") == "old"  # a local hit now
    result = write()  # sets nc:k to "new"
    if asyncio.iscoroutine(result):
        await result
    assert await until(lambda: len(near) == 0), "the copy survived another client's write"
    assert await near.get("k") == "new"
    assert near.stats.invalidations >= 1


@pytest.mark.parametrize("writer", ["sync client", "another async client", "sync NearCache"])
def test_a_write_from_any_client_invalidates(
    writer: str,
    near: aio.NearCache,
    real_client: redis.Redis,
    valkey_server: EmbeddedValkey,
    loop: asyncio.Runner,
) -> None:
    """Writes by a sync client, another async client or a sync NearCache reach the aio copy."""
    other = aio.connect(valkey_server.url)
    sync_near = NearCache(real_client, namespace="nc")
    writes: dict[str, Callable[[], Any]] = {
        "sync client": lambda: real_client.set("nc:k", "new", ex=30),
        "another async client": lambda: other.set("nc:k", "new", ex=30),
        "sync NearCache": lambda: sync_near.set("k", "new", ttl=30),
    }
    try:
        loop.run(check_writes_invalidate(near, writes[writer]))
    finally:
        sync_near.close()
        loop.run(other.aclose())


def test_ignoring_invalidations_is_caught(
    near: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner, monkeypatch: Any
) -> None:
    """Wrong: the reader task drops the messages -- the stale copy is caught."""
    monkeypatch.setattr(core_near.NearCore, "_heard", lambda self, message: None)
    assert_fails(loop, check_writes_invalidate(near, lambda: real_client.set("nc:k", "new", ex=30)))


def test_sync_and_async_near_caches_share_data(
    near: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner
) -> None:
    """What one face writes the other reads, and each one's write invalidates the other's copy."""
    with NearCache(real_client, namespace="nc") as sync_near:
        sync_near.set("k", "from sync", ttl=30)
        assert loop.run(near.get("k")) == "from sync"
        assert sync_near.get("k") == "from sync"
        loop.run(near.set("k", "from async", ttl=30))
        assert loop.run(until(lambda: len(sync_near) == 0))
        assert sync_near.get("k") == "from async"
        assert loop.run(near.get("k")) == "from async"
        assert 0 < real_client.pttl("nc:k") <= 30_000


def test_flushall_and_delete_empty_the_copies(
    near: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner
) -> None:
    """delete() drops the key here and in Valkey; FLUSHALL by anyone flushes every copy."""
    real_client.mset({"nc:a": "a", "nc:b": "b"})
    assert [loop.run(near.get(k)) for k in "ab"] == ["a", "b"]
    assert (loop.run(near.delete("a")), loop.run(near.delete("a"))) == (True, False)
    assert (len(near), real_client.exists("nc:a")) == (1, 0)
    real_client.flushall()
    assert loop.run(until(lambda: near.stats.flushes == 1))
    assert (len(near), loop.run(near.get("b")), near.is_tracking) == (0, None, True)


def test_tasks_count_every_read_and_end_fresh(
    near: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner
) -> None:
    """50 tasks x 40 reads while a writer changes keys: exact read count, final values fresh."""
    names = [f"k{i}" for i in range(10)]
    real_client.mset({f"nc:{name}": "0" for name in names})

    async def reader() -> None:
        for i in range(40):
            await near.get(names[i % len(names)])

    async def writer() -> None:
        for version in range(1, 21):
            real_client.set(f"nc:{names[version % len(names)]}", str(version))
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(writer(), *(reader() for _ in range(50)))
        stats = near.stats
        assert stats.hits + stats.misses == 50 * 40
        final = {name: real_client.get(f"nc:{name}") for name in names}

        async def fresh() -> bool:
            return {name: await near.get(name) for name in names} == final

        deadline = time.monotonic() + 5
        while not await fresh() and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        assert await fresh()

    loop.run(main())


# -- the overtaking race -------------------------------------------------------------


async def check_overtaken_read_is_not_kept(near: aio.NearCache, sync: redis.Redis) -> None:
    """A write whose invalidation arrives before the GET's value is stored: returned, not kept."""
    sync.mset({"nc:race": "old", "nc:calm": "calm"})

    async def write_in_between(name: str) -> None:
        if name == "nc:race":  # the GET has been answered; its value is not stored yet
            sync.set(name, "new", ex=30)
            assert await until(lambda: near.stats.invalidations == 1)

    near._before_store = write_in_between
    assert await near.get("calm") == "calm"  # control: the hook alone does not prevent storing
    assert await near.get("race") == "old"  # the value read before the write is returned...
    assert list(near._entries) == ["nc:calm"], "a stale copy was kept"  # ...but not kept
    near._before_store = None
    assert [await near.get("race"), await near.get("race")] == ["new", "new"]


def test_a_read_overtaken_by_an_invalidation_is_not_kept(
    near: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner
) -> None:
    """An invalidation landing between the GET's reply and the local store leaves no stale copy."""
    loop.run(check_overtaken_read_is_not_kept(near, real_client))


class _Forgetful(core_near.Read):
    """Wrong: a read in flight that never hears of invalidations (stores whatever it read)."""

    @property
    def stale(self) -> bool:
        return False

    @stale.setter
    def stale(self, value: bool) -> None:
        pass


def test_storing_an_overtaken_read_is_caught(
    near: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner, monkeypatch: Any
) -> None:
    """Wrong: the value is stored after the GET whatever happened meanwhile -- caught."""
    monkeypatch.setattr(core_near, "Read", _Forgetful)
    assert_fails(loop, check_overtaken_read_is_not_kept(near, real_client))


def test_a_write_while_the_get_reply_is_on_the_wire_is_not_kept(
    valkey_server: EmbeddedValkey, real_client: redis.Redis, loop: asyncio.Runner
) -> None:
    """Via a proxy holding the GET's reply: a write after the GET ran, before its reply arrived."""
    assert valkey_server.port is not None
    with FaultProxy("127.0.0.1", valkey_server.port) as proxy:

        async def main() -> None:
            patient = aio.connect(proxy.url, socket_timeout=10, call_timeout=10, retries=0)
            async with aio.NearCache(patient, namespace="nc") as near:
                real_client.set("nc:race", "old", ex=30)
                await near.get("other")  # tracking is on before the race starts
                proxy.latency(5.0, times=1, match="nc:race")  # the GET+PTTL reply, held 5 s
                task = asyncio.create_task(near.get("race"))
                assert await until(lambda: proxy.applied == 1)  # the server has run the GET
                real_client.set("nc:race", "new", ex=30)
                assert await until(lambda: near.stats.invalidations == 1)
                assert not task.done(), "the reply came first: the machine is too slow to test"
                assert await task == "old"
                assert len(near) == 0
                assert await near.get("race") == "new"
            await patient.aclose()

        loop.run(main())


# -- the tracking connection lost, a hung server, an open breaker ------------------------


async def check_kill_flushes_then_recovers(near: aio.NearCache, sync: redis.Redis) -> None:
    """CLIENT KILL of the tracking connection: every copy dropped; the next get re-tracks."""
    sync.mset({"nc:a": "a", "nc:b": "b"})
    assert [await near.get("a"), await near.get("b")] == ["a", "b"]
    killed = near.tracking_id
    assert sync.execute_command("CLIENT", "KILL", "ID", killed) == 1
    assert await until(lambda: not near.is_tracking)
    assert (len(near), near.stats.flushes) == (0, 1), "copies survived the lost connection"
    sync.set("nc:a", "changed while nobody tracked", ex=30)
    assert await near.get("a") == "changed while nobody tracked"
    assert near.tracking_id not in (None, killed)
    sync.set("nc:a", "tracked again", ex=30)
    assert await until(lambda: len(near) == 0)
    assert await near.get("a") == "tracked again"


def test_killing_the_tracking_connection_flushes_and_tracking_resumes(
    near: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner
) -> None:
    """The reader task notices the kill, flushes every copy, and the next miss re-tracks."""
    loop.run(check_kill_flushes_then_recovers(near, real_client))


def _lost_without_flush(self: core_near.NearCore, conn: object) -> None:
    if self._conn is conn:
        self._conn = None


def test_not_flushing_on_a_lost_connection_is_caught(
    near: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner, monkeypatch: Any
) -> None:
    """Wrong: the lost connection is forgotten but the copies are kept -- caught."""
    monkeypatch.setattr(core_near.NearCore, "_lost", _lost_without_flush)
    assert_fails(loop, check_kill_flushes_then_recovers(near, real_client))


async def check_hung_server_is_bounded(proxy: FaultProxy, bound: float = BOUND) -> None:
    """With the server silent, the first get raises a RedisError within its timeouts."""
    near = aio.NearCache(proxy.url, namespace="nc")
    proxy.blackhole()
    try:
        async with asyncio.timeout(bound):
            await near.get("k")
    except redis.exceptions.RedisError:
        pass
    except TimeoutError:
        raise AssertionError("get() on a hung server did not give up") from None
    else:
        raise AssertionError("get() on a hung server returned")
    finally:
        proxy.pass_through()
        await near.close()
    assert not near.is_tracking


@pytest.fixture
def proxy(valkey_server: EmbeddedValkey) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session's server, passing through until told otherwise."""
    assert valkey_server.port is not None
    with FaultProxy("127.0.0.1", valkey_server.port) as fault_proxy:
        yield fault_proxy


def test_a_hung_server_fails_the_get_in_bounded_time(
    proxy: FaultProxy, loop: asyncio.Runner
) -> None:
    """A blackholed server: the tracking handshake times out; get raises instead of hanging."""
    loop.run(check_hung_server_is_bounded(proxy))


def test_an_unbounded_handshake_is_caught(
    proxy: FaultProxy, loop: asyncio.Runner, monkeypatch: Any
) -> None:
    """Wrong: the tracking connection waits forever (no socket timeout) -- caught."""
    right = tracking_options

    def unbounded(pool_kwargs: dict[str, Any], retry: object) -> dict[str, Any]:
        return {**right(pool_kwargs, retry), "socket_timeout": None}

    monkeypatch.setattr(aio_near, "tracking_options", unbounded)
    assert_fails(loop, check_hung_server_is_bounded(proxy, bound=2.0))


async def check_silence_is_detected(frozen: EmbeddedValkey) -> None:
    """PINGs keep a quiet connection; when the server stops answering, the copies are flushed."""
    writer = connect(frozen.url)
    writer.set("nc:k", "v", ex=30)
    async with aio.NearCache(frozen.url, namespace="nc", ping_interval=0.05) as near:
        await near.get("k")

        def commands() -> int:
            entry = next(c for c in writer.client_list() if c["name"] == CLIENT_NAME)
            return int(entry["tot-cmds"])

        seen = commands()
        assert await until(lambda: commands() >= seen + 3)  # three PINGs answered...
        assert (near.is_tracking, len(near)) == (True, 1)  # ...and nothing flushed
        with paused(frozen):  # the socket stays open, nothing answers
            assert await until(lambda: not near.is_tracking), "a silent server went unnoticed"
            assert (len(near), near.stats.flushes) == (0, 1)
    writer.close()


def test_a_silent_server_is_detected_by_ping(loop: asyncio.Runner) -> None:
    """The reader task PINGs after ping_interval of silence and gives up on no answer."""
    with EmbeddedValkey() as frozen:  # our own server, so that we may SIGSTOP it
        loop.run(check_silence_is_detected(frozen))


def test_a_reader_that_never_gives_up_is_caught(loop: asyncio.Runner, monkeypatch: Any) -> None:
    """Wrong: an unanswered PING is followed by another, forever -- the hang is caught."""
    monkeypatch.setattr(Listener, "silent", lambda self, ping=None: True)
    with EmbeddedValkey() as frozen:
        assert_fails(loop, check_silence_is_detected(frozen))


def test_an_open_breaker_fails_the_get_at_once(
    valkey_server: EmbeddedValkey, loop: asyncio.Runner
) -> None:
    """With the client's circuit open, get raises CircuitOpenError and opens no connection."""
    breaker = CircuitBreaker("test", failure_threshold=1, cool_down=60)
    client = aio.connect(valkey_server.url, breaker=breaker)
    breaker.record_failure()

    async def main() -> None:
        async with aio.NearCache(client, namespace="nc") as near:
            with pytest.raises(CircuitOpenError):
                await near.get("k")
            assert (near.is_tracking, near._task) == (False, None)
        await client.aclose()

    loop.run(main())


# -- close and cancellation ------------------------------------------------------------


async def check_close_is_bounded(near: aio.NearCache, sync: redis.Redis) -> None:
    """close() ends the reader task and the tracking connection at once; get then refuses."""
    await near.get("k")
    task = near._task
    assert task is not None
    assert tracking_connections(sync) == 1
    try:
        async with asyncio.timeout(5.0):
            await near.close()
    except TimeoutError:
        raise AssertionError("close() waited for the reader task") from None
    assert task.done()
    assert await until(lambda: tracking_connections(sync) == 0)
    with pytest.raises(RuntimeError, match="closed"):
        await near.get("k")


@pytest.fixture
def quiet(aclient: Any, loop: asyncio.Runner) -> Iterator[aio.NearCache]:
    """A near cache that PINGs only after a minute of silence (its reader waits that long)."""
    cache = aio.NearCache(aclient, namespace="nc", ping_interval=60)
    yield cache
    loop.run(cache.close())


def test_close_ends_the_task_and_connection(
    quiet: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner
) -> None:
    """close() cancels the reader task and closes the tracking connection, in bounded time."""
    loop.run(check_close_is_bounded(quiet, real_client))


async def _close_without_cancelling(self: aio.NearCache) -> None:
    self._detach()
    if self._task is not None:
        await self._task  # the reader notices only at its next PING


def test_a_close_that_waits_for_the_reader_is_caught(
    quiet: aio.NearCache, real_client: redis.Redis, loop: asyncio.Runner, monkeypatch: Any
) -> None:
    """Wrong: close() waits for the reader task instead of cancelling it -- caught."""
    monkeypatch.setattr(aio.NearCache, "close", _close_without_cancelling)
    assert_fails(loop, check_close_is_bounded(quiet, real_client))
    quiet._task.cancel()  # type: ignore[union-attr]


async def check_cancelled_handshake_leaves_nothing(proxy: FaultProxy) -> None:
    """A get cancelled inside the tracking handshake: no tracking state, no open connection."""
    client = aio.connect(proxy.url, socket_timeout=30, socket_connect_timeout=5)
    async with aio.NearCache(client, namespace="nc") as near:
        proxy.blackhole()
        task = asyncio.create_task(near.get("k"))
        assert await until(lambda: proxy.connections == 1)  # the handshake is under way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (near.is_tracking, near._task, near.tracking_id) == (False, None, None)
        assert await until(lambda: proxy.connections == 0), "the handshake's connection leaked"
        proxy.pass_through()
        assert await near.get("k") is None  # tracking starts afresh
        assert near.is_tracking
    await client.aclose()


def test_a_get_cancelled_in_the_handshake_leaves_no_half_tracking(
    proxy: FaultProxy, loop: asyncio.Runner
) -> None:
    """task.cancel() during the handshake closes its connection; the next get starts over."""
    loop.run(check_cancelled_handshake_leaves_nothing(proxy))


class _Connecting:
    """Stands for the connection being set up (closing it is a no-op)."""

    async def disconnect(self, nowait: bool = False) -> None:
        """Nothing to close yet."""


async def _attach_before_the_handshake(self: aio.NearCache) -> None:
    """Wrong: marked as tracking first, then the handshake (a cancel leaves it half set up)."""
    if self._conn is not None:
        return
    self._conn = _Connecting()
    conn, client_id = await self._open_tracking()
    self._conn = None
    self._attach(conn, client_id)
    listener = Listener(self, conn)
    self._task = asyncio.create_task(aio_near._listen(listener, conn, self.ping_interval))


def test_tracking_marked_before_the_handshake_is_caught(
    proxy: FaultProxy, loop: asyncio.Runner, monkeypatch: Any
) -> None:
    """Wrong: the cache says it tracks before the handshake ends -- a cancel there is caught."""
    monkeypatch.setattr(aio.NearCache, "_ensure_tracking", _attach_before_the_handshake)
    assert_fails(loop, check_cancelled_handshake_leaves_nothing(proxy))


def test_a_get_cancelled_on_the_wire_keeps_nothing(
    near: aio.NearCache, proxy: FaultProxy, real_client: redis.Redis, loop: asyncio.Runner
) -> None:
    """A get cancelled while its GET's reply is held: no copy, no read left in flight."""
    real_client.set("nc:k", "v", ex=30)

    async def main() -> None:
        patient = aio.connect(proxy.url, socket_timeout=10, call_timeout=10, retries=0)
        async with aio.NearCache(patient, namespace="nc") as slow:
            await slow.get("other")
            proxy.latency(2.0, times=1, match="nc:k")
            task = asyncio.create_task(slow.get("k"))
            assert await until(lambda: proxy.applied == 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (slow._reads, len(slow), slow.is_tracking) == ({}, 0, True)
            assert [await slow.get("k"), await slow.get("k")] == ["v", "v"]  # pool in step
            assert slow.stats.hits == 1
        await patient.aclose()

    loop.run(main())


def test_a_dropped_near_cache_ends_its_task_and_connection(
    aclient: Any, real_client: redis.Redis, loop: asyncio.Runner
) -> None:
    """An aio.NearCache dropped without close(): its finalizer cancels the reader task."""
    import gc
    import weakref

    async def main() -> None:
        cache = aio.NearCache(aclient, namespace="dropped", ping_interval=60)
        await cache.get("k")
        task, ref = cache._task, weakref.ref(cache)
        assert task is not None
        del cache
        gc.collect()
        assert ref() is None
        assert await until(task.done)
        assert await until(lambda: tracking_connections(real_client) == 0)

    loop.run(main())
