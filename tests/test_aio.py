"""valkey_redis.aio next to the sync helpers: one behaviour, two faces, shared data.

Tests taking ``face`` run twice per backend (fakeredis and real Valkey): through
the sync helpers and through ``valkey_redis.aio``; ``face.other()`` is the other
face on the same server, which is how sharing is tested (what one writes the
other reads, locks exclude each other, limiters count together).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from valkey_redis import Cache, Lock, aio, keys
from valkey_redis.aio import cache as aio_cache_module

ALGORITHMS = ["FixedWindow", "SlidingWindowLog", "SlidingWindowCounter", "TokenBucket", "GCRA"]


# -- the cache ----------------------------------------------------------------------


def test_cache_plain_operations(face: Any) -> None:
    """set/get/get_many/set_many/delete/stats behave the same on both faces."""
    cache = face.make("Cache", namespace="t", ttl=60)
    face(cache.set("k", {"a": 1}))
    assert face(cache.get("k")) == {"a": 1}
    assert face(cache.get("missing", "dflt")) == "dflt"
    face(cache.set_many({"a": 1, "b": [2]}))
    assert face(cache.get_many(["a", "b", "c"])) == {"a": 1, "b": [2]}
    assert face(cache.delete("a", "c")) == 1
    assert face(cache.get_many(["a", "b"])) == {"b": [2]}
    stats = cache.stats
    assert (stats.hits, stats.misses) == (4, 3)


def test_get_or_set_loads_once_then_hits(face: Any) -> None:
    """A miss calls the loader once and caches its value; the next call is a hit."""
    cache = face.make("Cache", namespace="t", ttl=60)
    calls: list[int] = []

    def loader() -> dict[str, int]:
        calls.append(1)
        return {"v": len(calls)}

    assert face(cache.get_or_set("k", loader)) == {"v": 1}
    assert face(cache.get_or_set("k", loader)) == {"v": 1}
    assert calls == [1]
    assert cache.stats.loads == 1


def test_async_get_or_set_takes_an_async_loader(both_clients: Any, aio_loop: Any) -> None:
    """aio.Cache awaits a coroutine loader; what it stored is the loader's value."""
    sync_client, async_client = both_clients
    cache = aio.Cache(async_client, namespace="t", ttl=60)

    async def loader() -> list[int]:
        await asyncio.sleep(0)
        return [1, 2]

    assert aio_loop.run(cache.get_or_set("k", loader)) == [1, 2]
    assert Cache(sync_client, namespace="t", ttl=60).get("k") == [1, 2]


def test_decorator_tags_and_invalidate(face: Any) -> None:
    """@cached caches by arguments; .invalidate and invalidate_tags drop results."""
    cache = face.make("Cache", namespace="t", ttl=60)
    calls: list[int] = []

    def body(user_id: int) -> dict[str, int]:
        calls.append(user_id)
        return {"id": user_id, "n": len(calls)}

    if face.kind == "async":

        async def load_user(user_id: int) -> dict[str, int]:
            return body(user_id)
    else:

        def load_user(user_id: int) -> dict[str, int]:
            return body(user_id)

    cached = cache.cached(ttl=60, tags=lambda user_id: [f"user:{user_id}"])(load_user)
    assert face(cached(42)) == {"id": 42, "n": 1}
    assert face(cached(user_id=42)) == {"id": 42, "n": 1}
    assert face(cached.invalidate(42)) == 1
    assert face(cached(42)) == {"id": 42, "n": 2}
    assert face(cache.invalidate_tags("user:42")) == 1
    assert face(cached(42)) == {"id": 42, "n": 3}


def test_entries_are_shared_between_faces(face: Any) -> None:
    """What one face wrote the other reads: same keys, same entry format."""
    mine = face.make("Cache", namespace="shared", ttl=60)
    theirs = face.other().make("Cache", namespace="shared", ttl=60)
    face(mine.set("k", {"from": face.kind}, tags=["t"]))
    face(mine.get_or_set("loaded", lambda: 7))
    other = face.other()
    assert other(theirs.get("k")) == {"from": face.kind}
    assert other(theirs.get_or_set("loaded", lambda: 8)) == 7
    assert other(theirs.invalidate_tags("t")) == 1
    assert face(mine.get("k")) is None


def test_decorated_results_are_shared_between_faces(both_clients: Any, aio_loop: Any) -> None:
    """A sync and an async @cached function of the same name share their results."""
    sync_client, async_client = both_clients
    sync_cache = Cache(sync_client, namespace="d", ttl=60)
    async_cache = aio.Cache(async_client, namespace="d", ttl=60)

    def price(item: int) -> int:
        return item * 10

    async def price_async(item: int) -> int:
        return -1  # never called: the sync run cached the result

    price_async.__qualname__ = price.__qualname__  # same function, as in two services
    assert sync_cache.cached(ttl=60)(price)(3) == 30
    assert aio_loop.run(async_cache.cached(ttl=60)(price_async)(3)) == 30


def test_a_wrong_client_is_refused(both_clients: Any) -> None:
    """aio.Cache refuses a sync client and Cache an async one, naming the fix."""
    sync_client, async_client = both_clients
    with pytest.raises(TypeError, match=r"aio\.connect"):
        aio.Cache(sync_client, namespace="t", ttl=1)
    with pytest.raises(TypeError, match=r"valkey_redis\.aio\.Cache"):
        Cache(async_client, namespace="t", ttl=1)


# -- locks ---------------------------------------------------------------------------


def test_sync_and_async_locks_exclude_each_other(face: Any) -> None:
    """A holder on one face keeps the other face out; fencing tokens keep increasing."""
    mine = face.make("Lock", "invoice:7", timeout=10)
    other = face.other()
    theirs = other.make("Lock", "invoice:7", timeout=10, blocking=False)
    assert face(mine.acquire())
    assert other(theirs.acquire()) is False
    first = mine.fencing_token
    assert face(mine.extend())
    assert face(mine.release())
    assert other(theirs.acquire())
    assert theirs.fencing_token > first  # one counter (its floor is the server clock)
    assert other(theirs.owned())
    assert other(theirs.release())
    assert face(mine.locked()) is False


def test_lock_context_manager_and_lost_lease(face: Any) -> None:
    """The with-block holds the lock; a lease that ran out raises LockLost on exit."""
    lock = face.make("Lock", "job", timeout=10)
    name = lock.key  # lock:{job}:owner

    async def run_async() -> None:
        async with lock:
            await face.async_client.delete(name)

    def run_sync() -> None:
        with lock:
            face.sync_client.delete(name)

    with pytest.raises(face.module.LockLost):
        face(run_async()) if face.kind == "async" else run_sync()
    assert lock.lost


# -- rate limiters --------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_limiters_count_together(face: Any, algorithm: str) -> None:
    """Hits from both faces use one budget: 2 here + 1 there, then both are denied."""
    mine = face.make(algorithm, limit=3, window=60)
    other = face.other()
    theirs = other.make(algorithm, limit=3, window=60)
    assert face(mine.hit("user:42")).allowed
    assert face(mine.hit("user:42")).allowed
    assert other(theirs.hit("user:42")).allowed
    denied = face(mine.hit("user:42"))
    assert (denied.allowed, denied.remaining, denied.retry_after > 0) == (False, 0, True)
    assert other(theirs.hit("user:42")).allowed is False
    assert type(denied) is type(other(theirs.peek("user:42")))
    face(mine.reset("user:42"))
    assert face(mine.peek("user:42")).remaining == 3  # its own remembered denial is gone
    fresh = other.make(algorithm, limit=3, window=60)  # theirs remembers its denial (documented)
    assert other(fresh.peek("user:42")).remaining == 3


# -- sessions -------------------------------------------------------------------------


def test_sessions_are_shared_between_faces(face: Any) -> None:
    """A session created on one face is read, updated, rotated and destroyed on the other."""
    mine = face.make("SessionStore", ttl=60)
    other = face.other()
    theirs = other.make("SessionStore", ttl=60)
    sid = face(mine.create(user_id=42, data={"cart": [1]}))
    assert other(theirs.get(sid)) == {"user_id": 42, "cart": [1]}
    assert other(theirs.update(sid, cart=[1, 2]))
    new = face(mine.rotate(sid))
    assert new is not None
    assert other(theirs.get(sid)) is None
    assert other(theirs.get(new))["cart"] == [1, 2]
    assert 0 < face(mine.ttl_of(new)) <= 60
    assert other(theirs.destroy_all(user_id=42)) == 1
    assert face(mine.get(new)) is None


# -- asyncio only: many tasks, cancellation ------------------------------------------


def test_a_thousand_tasks_on_a_cold_key_make_one_loader_call(
    both_clients: Any, aio_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 concurrent get_or_set calls of a cold key: one loader call, all get the value."""
    client = both_clients[1]
    cache = aio.Cache(client, namespace="t", ttl=60)
    calls: list[int] = []
    gets: list[object] = []
    send = aio_cache_module.command

    def counting(client: Any, *args: Any, **options: Any) -> Any:
        if args[0] == "GET":
            gets.append(args[1])
        return send(client, *args, **options)

    # The lookups' GETs (the fill's GET is pipelined).
    monkeypatch.setattr(aio_cache_module, "command", counting)

    async def loader() -> dict[str, int]:
        calls.append(1)
        await asyncio.sleep(0.01)  # the load takes a while: everybody piles up behind it
        return {"v": 1}

    async def main() -> list[Any]:
        return await asyncio.gather(*(cache.get_or_set("cold", loader) for _ in range(1000)))

    results = aio_loop.run(main())
    assert len(calls) == 1
    assert results == [{"v": 1}] * 1000
    assert len(gets) == 1  # 1,000 tasks asking at once shared one GET (one connection)
    assert cache.stats.errors == 0
    assert (cache.stats.misses, cache.stats.loads) == (1000, 1)


def test_a_sync_cache_refuses_an_async_loader(fake_client: Any) -> None:
    """A coroutine loader given to the sync Cache is a clear TypeError, nothing cached."""
    cache = Cache(fake_client, namespace="t", ttl=60)

    async def loader() -> int:
        return 1

    with pytest.raises(TypeError, match=r"valkey_redis\.aio"):
        cache.get_or_set("k", loader)
    assert fake_client.exists(cache.redis_key("k")) == 0
    assert fake_client.exists(keys.tagged("t", "k", "lock")) == 0  # the fill lock is released


def test_aio_connect_keeps_the_url_rules() -> None:
    """aio.connect refuses what connect refuses, and returns a redis.asyncio client."""
    import redis.asyncio

    with pytest.raises(ValueError, match="not a Valkey URL"):
        aio.connect("http://localhost:6379")
    with pytest.raises(ValueError, match="retries"):
        aio.connect("redis://localhost:6379/0", retries=-1)
    client = aio.connect("redis://localhost:6379/0")
    assert isinstance(client, redis.asyncio.Redis)
    assert client.connection_pool.connection_kwargs["decode_responses"] is True


def test_a_cancelled_fill_releases_its_lock_and_wakes_the_waiters(
    both_clients: Any, aio_loop: Any
) -> None:
    """Cancel the loading task: its lock is gone at once, waiters (tasks, a thread) load."""
    sync_client, async_client = both_clients
    cache = aio.Cache(async_client, namespace="t", ttl=60, lock_timeout=60, wait_timeout=60)
    lock_key = keys.tagged("t", "k", "lock")
    started, calls = asyncio.Event(), []

    async def stuck() -> str:
        started.set()
        await asyncio.Event().wait()  # never returns: only cancellation ends it
        return "never"

    async def fine() -> str:
        calls.append(1)
        return "value"

    thread_result: list[str] = []

    def load_in_thread() -> str:
        calls.append(2)
        return "value"

    def other_process() -> None:  # another process's cache: waits on the lock in Valkey
        other = Cache(sync_client, namespace="t", ttl=60, wait_timeout=60)
        thread_result.append(other.get_or_set("k", load_in_thread))

    async def main() -> list[str]:
        leader = asyncio.create_task(cache.get_or_set("k", stuck))
        await started.wait()
        waiters = [asyncio.create_task(cache.get_or_set("k", fine)) for _ in range(10)]
        name = cache.redis_key("k")
        while cache._fill._flight.waiters(name) < 10:  # poll until all ten wait
            await asyncio.sleep(0)
        leaders_token = await async_client.get(lock_key)
        assert leaders_token is not None
        thread = threading.Thread(target=other_process)
        thread.start()
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        # Released, not left to its TTL: gone, or already taken by the waiting thread.
        assert await async_client.get(lock_key) != leaders_token
        async with asyncio.timeout(30):  # a bound far below lock_timeout: nobody waited it out
            results = await asyncio.gather(*waiters)
            await asyncio.to_thread(thread.join)
        return results

    assert aio_loop.run(main()) == ["value"] * 10
    assert thread_result == ["value"]
    assert len(calls) == 1  # one load after the cancelled one, by a task or the thread


class _CancelAfterAcquire:
    """An async client whose lock-acquire script runs, then its task is 'cancelled'."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        reply = await self._inner.execute_command(*args, **kwargs)
        if args[0] in ("EVALSHA", "EVAL") and args[3] == keys.tagged("lock", "job", "owner"):
            raise asyncio.CancelledError  # the script ran; the reply never reached us
        return reply


def test_a_task_cancelled_inside_acquire_leaves_no_lock(both_clients: Any, aio_loop: Any) -> None:
    """Cancelled after the acquire script ran: the lock is released before the error."""
    sync_client, async_client = both_clients
    lock = aio.Lock(_CancelAfterAcquire(async_client), "job", timeout=60)
    with pytest.raises(asyncio.CancelledError):
        aio_loop.run(lock.acquire())
    assert sync_client.exists(lock.key) == 0
    assert sync_client.exists(lock.fence_key) == 1  # the script did run


def test_a_task_cancelled_while_waiting_for_a_lock_leaves_the_holder_alone(
    both_clients: Any, aio_loop: Any
) -> None:
    """Cancelled while waiting: the holder (a sync Lock) still holds; nothing of ours stays."""
    sync_client, async_client = both_clients
    holder = Lock(sync_client, "job", timeout=60)
    assert holder.acquire()
    waiter = aio.Lock(async_client, "job", timeout=60)
    pausing = asyncio.Event()

    async def pause(seconds: float) -> None:
        pausing.set()  # the waiter tried once and now backs off
        await asyncio.sleep(seconds)

    waiter._pause = pause

    async def main() -> None:
        waiting = asyncio.create_task(waiter.acquire())
        await pausing.wait()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    aio_loop.run(main())
    assert waiter.attempts == 1
    assert holder.owned()
    assert holder.release()
    assert sync_client.exists(holder.key) == 0


# -- asyncio.timeout() never desynchronises a pooled connection ------------------------


def _timed_out_calls(client: Any) -> dict[str, Any]:
    """One awaitable factory per helper, each a call that a paused server holds up."""
    cache = aio.Cache(client, namespace="t", ttl=60)
    return {
        "cache.get": lambda: cache.get("k"),
        "cache.get_or_set": lambda: cache.get_or_set("k", lambda: "loaded"),
        "lock.acquire": lambda: aio.Lock(client, "job", timeout=60).acquire(),
        "limiter.hit": lambda: aio.GCRA(client, limit=5, window=60).hit("u"),
        "session.get": lambda: aio.SessionStore(client, ttl=60).get("0000." + "a" * 43),
    }


@pytest.mark.real
@pytest.mark.parametrize(
    "helper", ["cache.get", "cache.get_or_set", "lock.acquire", "limiter.hit", "session.get"]
)
def test_a_timeout_never_desynchronises_the_connection(
    valkey_server: Any, real_client: Any, aio_loop: Any, helper: str
) -> None:
    """A call cut off by asyncio.timeout() leaves the one pooled connection in step."""
    # The pause outlasts the default 1 s call budget and would open the breaker;
    # what is tested here is the connection, so the next call may wait it out.
    client = aio.connect(
        valkey_server.url, max_connections=1, socket_timeout=8, call_timeout=10, breaker=False
    )
    real_client.set("marker", "mine")

    async def main() -> Any:
        await client.ping()  # the pool's only connection exists and is idle
        # Replies wait 3 s (a paused server cannot be unpaused by a client: it waits too).
        real_client.execute_command("CLIENT", "PAUSE", 3000, "ALL")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await _timed_out_calls(client)[helper]()
        return await client.get("marker")  # must be our reply, not the late one

    try:
        assert aio_loop.run(main()) == "mine"
    finally:
        real_client.execute_command("CLIENT", "UNPAUSE")
        aio_loop.run(client.aclose())


# -- Valkey Cluster --------------------------------------------------------------------


def on_a_cluster(cluster: Any, loop: Any, body: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``body(client)`` with an aio cluster client; flush every primary, close it."""
    client = aio.connect(cluster.url, cluster=True)

    async def main() -> None:
        try:
            await body(client)
        finally:
            await client.flushall(target_nodes=client.PRIMARIES)

    try:
        loop.run(main())
    finally:
        loop.run(client.aclose())


@pytest.mark.cluster
def test_every_async_helper_works_on_a_cluster(valkey_cluster: Any, aio_loop: Any) -> None:
    """aio.Cache (batches and tags across slots), Lock and the five limiters on a cluster."""

    async def body(client: Any) -> None:
        cache = aio.Cache(client, namespace="c", ttl=60)
        await cache.set_many({f"k{i}": i for i in range(50)})
        assert await cache.get_many([f"k{i}" for i in range(50)]) == {f"k{i}": i for i in range(50)}
        for i in range(6):
            await cache.set(f"t{i}", i, tags=["even" if i % 2 == 0 else "odd"])
        assert await cache.invalidate_tags("even") == 3
        assert await cache.delete(*(f"k{i}" for i in range(50))) == 50
        assert await cache.get_or_set("cold", lambda: {"v": 1}) == {"v": 1}
        async with aio.Lock(client, "invoice:7", timeout=10) as lock:
            assert lock.fencing_token > 0
            assert (
                await aio.Lock(client, "invoice:7", timeout=10, blocking=False).acquire() is False
            )
            assert await lock.extend(20)
        for algorithm in ALGORITHMS:  # users on different slots
            limiter = getattr(aio, algorithm)(client, limit=2, window=60)
            for user in ("u1", "u2", "u3"):
                hits = [(await limiter.hit(user)).allowed for _ in range(3)]
                assert hits == [True, True, False], (algorithm, user)
            await limiter.reset("u1")
            assert (await limiter.peek("u1")).remaining == 2

    on_a_cluster(valkey_cluster, aio_loop, body)


@pytest.mark.cluster
def test_async_sessions_decorator_and_write_behind_work_on_a_cluster(
    valkey_cluster: Any, aio_loop: Any
) -> None:
    """aio.SessionStore's whole lifecycle, @cached and a write-behind worker task on a cluster."""

    async def body(client: Any) -> None:
        cache = aio.Cache(client, namespace="c", ttl=60)
        store = aio.SessionStore(client, ttl=60)
        sid = await store.create(user_id=7, data={"cart": []})
        assert (await store.get(sid)) == {"user_id": 7, "cart": []}
        assert await store.update(sid, cart=[1])
        new = await store.rotate(sid)
        assert new is not None
        assert await store.get(sid) is None
        assert await store.destroy(new)
        others = [await store.create(user_id=u) for u in (7, 7, 8)]
        assert await store.destroy_all(user_id=7) == 2
        assert await store.get(others[2]) == {"user_id": 8}

        @cache.cached(ttl=60)
        async def double(n: int) -> int:
            return 2 * n

        assert [await double(n) for n in range(5)] == [0, 2, 4, 6, 8]
        assert await double.invalidate(3) == 1
        applied: list[Any] = []

        async def apply(writes: list[Any]) -> None:
            applied.extend(w.value for w in writes)

        queue = aio.WriteBehind(client, name="c", apply_batch=apply, poll_interval=0.05)
        await submit_to_a_worker_task(queue, 10, applied)
        assert sorted(applied) == list(range(10))
        assert await queue.backlog() == 0

    on_a_cluster(valkey_cluster, aio_loop, body)


@pytest.mark.cluster
def test_an_async_cluster_client_has_one_breaker_per_node(
    valkey_cluster: Any, aio_loop: Any
) -> None:
    """aio.connect(cluster=True): a breaker per node; one open node's keys fall back."""
    from valkey_redis import breakers_of

    names = [f"k{i}" for i in range(30)]

    async def body(client: Any) -> None:
        cache = aio.Cache(client, namespace="cb", ttl=60)
        for name in names:
            await cache.set(name, name)
        breakers = breakers_of(client)
        assert len(breakers) >= 3
        assert {b.state for b in breakers.values()} == {"closed"}
        node = client.get_node_from_key(cache.redis_key("k0"))
        sick = breakers[f"{node.host}:{node.port}"]
        for _ in range(sick.failure_threshold):
            sick.record_failure(TimeoutError("test: node unreachable"))
        here = [n for n in names if client.get_node_from_key(cache.redis_key(n)) == node]
        assert [await cache.get(n, "fallback") for n in here] == ["fallback"] * len(here)
        assert [await cache.get(n) for n in names if n not in here] == [
            n for n in names if n not in here
        ]
        assert sick.snapshot().rejected >= len(here)  # refused locally: no network wait
        sick.reset()
        assert await cache.get("k0") == "k0"

    on_a_cluster(valkey_cluster, aio_loop, body)


async def submit_to_a_worker_task(queue: aio.WriteBehind, count: int, applied: list[Any]) -> None:
    """Start ``queue``'s worker task, submit ``count`` writes, wait until applied, stop it."""
    task = queue.start()
    for n in range(count):
        await queue.submit(f"k{n}", n)
    async with asyncio.timeout(30):
        while len(applied) < count:  # poll the worker's progress
            await asyncio.sleep(0.01)
    await queue.stop()
    assert task.done()


# -- write-behind -----------------------------------------------------------------------


def test_write_behind_queue_is_shared_between_faces(face: Any) -> None:
    """One face submits (and updates its cache), the other face's worker applies the writes."""
    applied: list[tuple[str, Any]] = []
    other = face.other()

    def apply(writes: list[Any]) -> None:
        applied.extend((w.key, w.value) for w in writes)

    async def apply_async(writes: list[Any]) -> None:
        apply(writes)

    cache = face.make("Cache", namespace="wb", ttl=60)
    producer = face.make("WriteBehind", name="views", apply_batch=apply, cache=cache)
    worker = other.make(
        "WriteBehind", name="views", apply_batch=apply_async if other.kind == "async" else apply
    )
    for n in range(5):
        face(producer.submit(f"page:{n % 2}", {"views": n}))
    assert face(cache.get("page:1")) == {"views": 3}  # the cache took the newest value
    assert other(worker.backlog()) == 5
    assert other(worker.flush()) == 5
    assert applied == [(f"page:{n % 2}", {"views": n}) for n in range(5)]
    assert (face(producer.backlog()), face(producer.pending())) == (0, 0)


def test_a_full_async_backlog_refuses_the_write(both_clients: Any, aio_loop: Any) -> None:
    """max_len reached: aio.WriteBehind.submit raises and queues nothing."""
    queue = aio.WriteBehind(both_clients[1], name="full", apply_batch=print, max_len=2)

    async def main() -> int:
        await queue.submit("a", 1)
        await queue.submit("b", 2)
        with pytest.raises(aio.WriteBehindFullError):
            await queue.submit("c", 3)
        return await queue.backlog()

    assert aio_loop.run(main()) == 2


def test_the_async_worker_task_applies_every_write_once(both_clients: Any, aio_loop: Any) -> None:
    """start() runs a worker task; 30 writes are applied exactly once; stop() ends it."""
    applied: list[int] = []

    async def apply(writes: list[Any]) -> None:
        applied.extend(w.value for w in writes)

    queue = aio.WriteBehind(
        both_clients[1], name="task", apply_batch=apply, batch_size=7, poll_interval=0.05
    )

    aio_loop.run(submit_to_a_worker_task(queue, 30, applied))
    assert sorted(applied) == list(range(30))
    assert both_clients[0].xlen(queue.stream) == 0


# -- the circuit breaker ---------------------------------------------------------------


@pytest.mark.real
def test_an_open_breaker_shared_by_both_faces_answers_without_waiting(
    valkey_server: Any, aio_loop: Any
) -> None:
    """One breaker on a sync and an async client: once open, both faces fall back at once."""
    from valkey_redis import GCRA, CircuitBreaker, CircuitOpenError, connect

    now = [0.0]
    breaker = CircuitBreaker("shared", clock=lambda: now[0], cool_down=60, max_cool_down=60)
    for _ in range(3):
        breaker.record_failure(TimeoutError("no reply"))  # as three failed calls would
    sync_client = connect(valkey_server.url, breaker=breaker)
    async_client = aio.connect(valkey_server.url, breaker=breaker)

    async def main() -> None:
        cache = aio.Cache(async_client, namespace="cb", ttl=60)
        assert await cache.get("k", "default") == "default"
        assert await cache.get_or_set("k", lambda: "loaded") == "loaded"  # the loader serves
        assert cache.stats.errors == 2
        hit = await aio.GCRA(async_client, limit=5, window=60, on_error="allow").hit("u")
        assert (hit.fallback, hit.allowed) == (True, True)
        with pytest.raises(CircuitOpenError):
            await aio.Lock(async_client, "job", timeout=5).acquire()  # no lock pretends
        await async_client.aclose()

    try:
        assert Cache(sync_client, namespace="cb", ttl=60).get("k", "default") == "default"
        assert GCRA(sync_client, limit=5, window=60, on_error="deny").hit("u").fallback
        aio_loop.run(main())
        assert breaker.snapshot().state == "open"
    finally:
        sync_client.close()
