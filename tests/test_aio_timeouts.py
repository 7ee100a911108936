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
import inspect
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis

import valkey_redis
from valkey_redis import Lock, aio, connect, keys
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


# -- asyncio.timeout() around every helper call --------------------------------------

LATE = 3.0  # seconds the proxy holds the cut-off reply back (far beyond the cut)
CUT = 0.3  # the asyncio.timeout() around the call


@pytest.fixture(scope="module")
def shared_proxy(valkey_server: EmbeddedValkey) -> Iterator[FaultProxy]:
    """One proxy for the module: its threads still holding late replies end with it."""
    assert valkey_server.port is not None
    with FaultProxy("127.0.0.1", valkey_server.port) as fault_proxy:
        yield fault_proxy


Call = Callable[[], Awaitable[Any]]


async def _prepared(client: Any, helper: str) -> tuple[Call, str | None]:
    """Build the helper (set up its state without faults); return the call to cut, and
    which request's reply to hold back (None: the call's first request)."""
    cache = aio.Cache(client, namespace="t", ttl=60)
    store = aio.SessionStore(client, ttl=60)
    queue = aio.WriteBehind(client, name="cut", apply_batch=lambda _: None)
    group, _, method = helper.partition(".")
    if group == "cache":
        await cache.set("hit", 1, tags=["t"])

        @cache.cached(ttl=60)
        async def load(n: int) -> int:
            return n

        calls: dict[str, Call] = {
            "get": lambda: cache.get("hit"),
            "get_miss": lambda: cache.get("cold"),
            "set": lambda: cache.set("k", {"a": 1}, tags=["t"]),
            "delete": lambda: cache.delete("hit"),
            "get_many": lambda: cache.get_many(["hit", "cold"]),
            "set_many": lambda: cache.set_many({"a": 1, "b": 2}),
            "invalidate_tags": lambda: cache.invalidate_tags("t"),
            "get_or_set": lambda: cache.get_or_set("cold", lambda: "loaded"),
            "get_or_set_fill": lambda: cache.get_or_set("cold", lambda: "loaded"),
            "cached": lambda: load(7),
            "invalidate": lambda: load.invalidate(7),
            "write_through": lambda: cache.write_through("w", 1, lambda _: None),
        }
        return calls[method], "EVALSHA" if method == "get_or_set_fill" else None
    if group == "lock":
        held = aio.Lock(client, "held", timeout=60)
        await held.acquire()
        calls = {
            "acquire": lambda: aio.Lock(client, "job", timeout=60).acquire(),
            "release": held.release,
            "extend": held.extend,
            "owned": held.owned,
            "locked": held.locked,
        }
        return calls[method], None
    if group in ALGORITHMS:
        limiter = getattr(aio, group)(client, limit=5, window=60)
        return (lambda: getattr(limiter, method)("user:42")), None
    if group == "session":
        sid = await store.create(user_id=42)
        calls = {
            "create": lambda: store.create(user_id=42),
            "get": lambda: store.get(sid),
            "update": lambda: store.update(sid, cart=[1]),
            "rotate": lambda: store.rotate(sid),
            "destroy": lambda: store.destroy(sid),
            "destroy_all": lambda: store.destroy_all(user_id=42),
            "ttl_of": lambda: store.ttl_of(sid),
        }
        return calls[method], None
    await queue.submit("k", 1)
    calls = {
        "submit": lambda: queue.submit("k", 2),
        "backlog": queue.backlog,
        "pending": queue.pending,
        "process_batch": queue.process_batch,
        "flush": queue.flush,
        "reclaim": lambda: queue.reclaim(0),
    }
    return calls[method], None


ALGORITHMS = ["FixedWindow", "SlidingWindowLog", "SlidingWindowCounter", "TokenBucket", "GCRA"]
HELPER_CALLS = [
    *(f"cache.{m}" for m in ["get", "get_miss", "set", "delete", "get_many", "set_many"]),
    *(f"cache.{m}" for m in ["invalidate_tags", "get_or_set", "get_or_set_fill", "cached"]),
    *(f"cache.{m}" for m in ["invalidate", "write_through"]),
    *(f"lock.{m}" for m in ["acquire", "release", "extend", "owned", "locked"]),
    *(f"{a}.hit" for a in ALGORITHMS),
    "GCRA.peek",
    "GCRA.reset",
    *(f"session.{m}" for m in ["create", "get", "update", "rotate", "destroy", "destroy_all"]),
    "session.ttl_of",
    *(f"writebehind.{m}" for m in ["submit", "backlog", "pending", "process_batch", "flush"]),
    "writebehind.reclaim",
]


@pytest.mark.real
@pytest.mark.parametrize("helper", HELPER_CALLS)
def test_a_timeout_around_any_helper_call_never_desynchronises_the_connection(
    shared_proxy: FaultProxy, real_client: Any, aio_loop: Any, helper: str
) -> None:
    """A call whose reply comes late is cut by asyncio.timeout(); the pool's one
    connection then answers the next command with its own reply, not the late one."""
    shared_proxy.pass_through()
    # One connection, long socket timeouts and budget: only asyncio.timeout() cuts.
    client = aio.connect(
        shared_proxy.url, max_connections=1, socket_timeout=30, call_timeout=60, breaker=False
    )
    real_client.set("marker", "mine")

    async def main() -> Any:
        call, match = await _prepared(client, helper)
        await client.ping()  # the one connection exists: the late reply is the helper's
        shared_proxy.latency(LATE, times=1, match=match)  # the next such reply is late
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(CUT):
                await call()
        shared_proxy.pass_through()
        return await client.get("marker")  # a desynchronised connection reads the late reply

    try:
        assert aio_loop.run(main()) == "mine"
        assert shared_proxy.applied >= 1  # a reply was indeed held back
    finally:
        shared_proxy.pass_through()
        aio_loop.run(client.aclose())
    if helper == "lock.acquire":  # the script ran, its reply was cut: the lock is given back
        assert real_client.exists(keys.tagged("lock", "job", "owner")) == 0
    if helper.startswith("cache.get_or_set"):  # the fill lock is released, not left to expire
        assert real_client.exists(keys.tagged("t", "cold", "lock")) == 0


@pytest.mark.real
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_bounded_acquire_stays_bounded_on_a_hung_server(
    proxy: FaultProxy, aio_loop: Any, kind: str
) -> None:
    """acquire(blocking_timeout=0.2) on a blackholed server gives up in about that long,
    on both faces, though the client would wait 10 s per reply."""
    settings: dict[str, Any] = {"socket_timeout": 10, "call_timeout": 30}
    if kind == "sync":
        sync_client = connect(proxy.url, **settings)
        sync_client.ping()
        proxy.blackhole()
        started = time.monotonic()
        with pytest.raises(redis.exceptions.TimeoutError):
            Lock(sync_client, "job", timeout=5).acquire(blocking_timeout=0.2)
        elapsed = time.monotonic() - started
        sync_client.close()
    else:
        client = aio.connect(proxy.url, **settings)

        async def main() -> float:
            await client.ping()
            proxy.blackhole()
            started = time.monotonic()
            with pytest.raises(redis.exceptions.TimeoutError):
                await aio.Lock(client, "job", timeout=5).acquire(blocking_timeout=0.2)
            return time.monotonic() - started

        try:
            elapsed = aio_loop.run(main())
        finally:
            proxy.pass_through()
            aio_loop.run(client.aclose())
    assert elapsed < 5  # generous; unbounded, it waits out the 10 s socket timeout


# -- the breaker and the call budget: the failure modes of both faces ----------------


@pytest.mark.real
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_hung_server_every_helper_falls_back_or_raises_at_once(
    proxy: FaultProxy, aio_loop: Any, kind: str
) -> None:
    """Blackholed: one bounded call opens the breaker; then reads fall back, limiters apply
    on_error, and sessions, locks, writes raise CircuitOpenError, on both faces alike."""
    module: Any = aio if kind == "async" else valkey_redis
    client = module.connect(proxy.url)

    def do(result: Any) -> Any:
        return aio_loop.run(result) if inspect.isawaitable(result) else result

    cache = module.Cache(client, namespace="hung", ttl=60)
    sessions = module.SessionStore(client, ttl=60)
    sid = do(sessions.create(user_id=1))
    queue = module.WriteBehind(client, name="hung", apply_batch=lambda _: None)
    loaded = cache.cached(ttl=60)(_double_async if kind == "async" else _double)
    proxy.blackhole()
    try:
        started = time.monotonic()
        assert do(cache.get("a", "default")) == "default"
        assert time.monotonic() - started < 5  # one call budget (1 s), generously
        assert valkey_redis.breaker_of(client).state == "open"  # type: ignore[union-attr]
        assert do(cache.get_many(["a", "b"])) == {}
        assert do(cache.get_or_set("a", lambda: "from db")) == "from db"
        assert do(loaded(21)) == 42
        allowed = do(module.GCRA(client, limit=5, window=60, on_error="allow").hit("u"))
        denied = do(module.TokenBucket(client, limit=5, window=60, on_error="deny").hit("u"))
        assert (allowed.allowed, allowed.fallback, denied.allowed, denied.fallback) == (
            True,
            True,
            False,
            True,
        )
        assert do(cache.write_through("a", 1, lambda _: None)) is False
        raisers: list[Callable[[], Any]] = [
            lambda: sessions.get(sid),
            lambda: module.Lock(client, "x", timeout=5, blocking_timeout=1).acquire(),
            lambda: queue.submit("k", 1),
            lambda: cache.set("a", 1),
            lambda: cache.delete("a"),
            lambda: cache.invalidate_tags("t"),
        ]
        for call in raisers:
            with pytest.raises(valkey_redis.CircuitOpenError):
                do(call())
        assert cache.stats.errors >= 3
    finally:
        proxy.pass_through()
        do(client.aclose()) if kind == "async" else client.close()


def _double(n: int) -> int:
    return 2 * n


async def _double_async(n: int) -> int:
    return 2 * n


def check_cut_body_releases(client: Any, sync_client: Any, loop: Any) -> None:
    """asyncio.timeout() cuts the body of `async with aio.Lock(...)`: the lock is released."""
    lock = aio.Lock(client, "cut-body", timeout=60)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1), lock:
                await asyncio.Event().wait()  # work that never ends by itself

    loop.run(main())
    assert sync_client.exists(lock.key) == 0  # released on the way out, not left for 60 s


def test_a_lock_body_cut_by_a_timeout_releases_the_lock(both_clients: Any, aio_loop: Any) -> None:
    """The lock of a with-block cut by asyncio.timeout() is free at once (nobody waits 60 s)."""
    sync_client, async_client = both_clients
    check_cut_body_releases(async_client, sync_client, aio_loop)


def test_a_lock_that_releases_only_on_success_is_caught(
    both_clients: Any, aio_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wrong: __aexit__ releases only when the body succeeded -- the lock is left behind."""

    async def exit_on_success(self: Any, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            await self.release()

    monkeypatch.setattr(aio.Lock, "__aexit__", exit_on_success)
    sync_client, async_client = both_clients
    with pytest.raises(AssertionError):
        check_cut_body_releases(async_client, sync_client, aio_loop)


def check_cut_leader_spares_followers(proxy: FaultProxy, client: Any, loop: Any) -> None:
    """The task leading a shared GET is cut by asyncio.timeout(); the 10 tasks that
    shared its GET start over and get the value, none inherits its cancellation."""
    cache = aio.Cache(client, namespace="t", ttl=60)

    async def main() -> list[Any]:
        await cache.set("k", "value")
        proxy.latency(LATE, times=1, match="GET")  # the shared GET's reply is late

        async def impatient() -> Any:
            async with asyncio.timeout(CUT):
                return await cache.get("k")

        leader = asyncio.create_task(impatient())
        await asyncio.sleep(0)  # the leader sends the GET first
        followers = [asyncio.create_task(cache.get("k")) for _ in range(10)]
        with pytest.raises(TimeoutError):
            await leader
        async with asyncio.timeout(LATE * 3):
            return await asyncio.gather(*followers, return_exceptions=True)

    try:
        assert loop.run(main()) == ["value"] * 10
    finally:
        proxy.pass_through()


@pytest.mark.real
def test_a_cut_leader_of_a_shared_get_spares_its_followers(
    shared_proxy: FaultProxy, real_client: Any, aio_loop: Any
) -> None:
    """Followers of a GET whose leader timed out get the value, not its CancelledError."""
    client = aio.connect(shared_proxy.url, socket_timeout=30, call_timeout=60, breaker=False)
    try:
        check_cut_leader_spares_followers(shared_proxy, client, aio_loop)
    finally:
        aio_loop.run(client.aclose())


async def _naive_flight(self: Any, key: str, fn: Any, *, timeout: float) -> Any:
    """Wrong: followers await the leader's future, which a cancelled leader cancels too."""
    shared = self._calls.get(key)
    if shared is not None:
        return await asyncio.shield(shared)
    shared = self._calls[key] = asyncio.get_running_loop().create_future()
    try:
        value = await fn()
    except BaseException:
        shared.cancel()
        raise
    finally:
        del self._calls[key]
    shared.set_result(value)
    return value


@pytest.mark.real
def test_a_flight_passing_on_the_leaders_cancellation_is_caught(
    shared_proxy: FaultProxy, real_client: Any, aio_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wrong: a single-flight whose followers share the leader's fate -- caught."""
    from valkey_redis.aio._flight import TaskFlight

    monkeypatch.setattr(TaskFlight, "run", _naive_flight)
    client = aio.connect(shared_proxy.url, socket_timeout=30, call_timeout=60, breaker=False)
    try:
        with pytest.raises(AssertionError):
            check_cut_leader_spares_followers(shared_proxy, client, aio_loop)
    finally:
        aio_loop.run(client.aclose())


class _HeldRenewal:
    """An async client that holds the next lease renewal (after ``hold = True``) until
    cancelled, then does what ``on_cancel`` says before sending it (or not)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.extending = asyncio.Event()
        self.hold = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def on_cancel(self) -> None:
        """Swallow the cancellation, as ``asyncio.wait_for`` on Python 3.11 may when the
        cancel meets its wait's end."""
        current = asyncio.current_task()
        assert current is not None
        current.uncancel()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self.hold and args[0] in ("EVALSHA", "EVAL"):  # a renewal of the lease
            self.hold = False  # once
            self.extending.set()
            try:
                await asyncio.sleep(3600)  # the reply wait
            except asyncio.CancelledError:
                await self.on_cancel()
        return await self._inner.execute_command(*args, **kwargs)


def test_release_does_not_wait_for_a_renewer_that_lost_its_cancellation(
    both_clients: Any, aio_loop: Any
) -> None:
    """A renewer whose cancellation was swallowed mid-renewal ends anyway: release()
    returns (before: it awaited a renewer that renewed forever)."""
    sync_client, async_client = both_clients
    client = _HeldRenewal(async_client)
    lock = aio.Lock(client, "renewed", timeout=0.3, auto_renew=True)

    async def main() -> bool:
        assert await lock.acquire()
        client.hold = True
        await client.extending.wait()  # a renewal is in flight
        release = asyncio.create_task(lock.release())
        done, _ = await asyncio.wait({release}, timeout=5)  # it takes milliseconds
        if not done:  # the bug: stop it by hand so the test can end
            release.cancel()
            await asyncio.wait({release})
            return False
        return release.result()

    assert aio_loop.run(main()) is True
    assert sync_client.exists(lock.key) == 0


class _SlowToStopRenewing(_HeldRenewal):
    """A held renewal that takes a moment to give up when cancelled."""

    async def on_cancel(self) -> None:
        """Clean up for 0.2 s, then let the cancellation through."""
        await asyncio.sleep(0.2)
        raise asyncio.CancelledError


def test_a_task_cancelled_inside_release_is_cancelled_and_the_lock_released(
    both_clients: Any, aio_loop: Any
) -> None:
    """Cancelled while release() waits for the renewer to stop: CancelledError reaches
    the caller (before: swallowed), and the lock is still given back."""
    sync_client, async_client = both_clients
    client = _SlowToStopRenewing(async_client)
    lock = aio.Lock(client, "renewed", timeout=3, auto_renew=True)  # renewed after 1 s

    async def main() -> None:
        assert await lock.acquire()
        client.hold = True
        await client.extending.wait()
        release = asyncio.create_task(lock.release())
        await asyncio.sleep(0.05)  # release() now waits for the renewer to stop
        release.cancel()
        with pytest.raises(asyncio.CancelledError):
            await release

    aio_loop.run(main())
    assert sync_client.exists(lock.key) == 0  # released, not left for its 3 s lease


# -- and on a cluster ------------------------------------------------------------------

CLUSTER_CALLS = ["cache.get", "cache.get_or_set", "lock.acquire", "GCRA.hit"]


@pytest.mark.cluster
@pytest.mark.parametrize("helper", CLUSTER_CALLS)
def test_a_timeout_on_a_cluster_never_desynchronises_a_node_connection(
    valkey_cluster: Any, cluster_client: Any, aio_loop: Any, helper: str
) -> None:
    """On a cluster (one connection per node), a call cut by asyncio.timeout() while its
    node is paused leaves that node's connection answering the next command itself."""
    client = aio.connect(valkey_cluster.url, cluster=True, max_connections=1, socket_timeout=8)
    marker = "{marker}:k"  # a key of its own slot; the helper's keys are elsewhere
    cluster_client.set(marker, "mine")

    async def main() -> Any:
        call, _ = await _prepared(client, helper)
        await client.get(marker)
        key = _first_key(helper)
        node = client.get_node_from_key(key)
        await client.execute_command("PING", target_nodes=node)
        paused_node = cluster_client.get_node(host=node.host, port=node.port)
        cluster_client.execute_command("CLIENT", "PAUSE", 1500, "ALL", target_nodes=paused_node)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(CUT):
                await call()
        # The same node's one connection: its next reply must be its own.
        return await client.execute_command("ECHO", "own reply", target_nodes=node)

    try:
        assert aio_loop.run(main()) == "own reply"
    finally:
        aio_loop.run(client.aclose())


def _first_key(helper: str) -> str:
    """The Valkey key the helper's call of ``_prepared`` sends first (it names the node)."""
    group, _, method = helper.partition(".")
    if group == "cache":
        return "t:{hit}" if method == "get" else "t:{cold}"
    if group == "lock":
        return keys.tagged("lock", "job", "owner")
    return aio.GCRA(None, limit=5, window=60).key_for("user:42")
