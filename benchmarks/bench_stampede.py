"""Stampede: 32 callers hit one cold key at once; how many times does the loader run?

Counts, not speed. A naive cache-aside (GET, on a miss load and SET) lets every
caller that misses before the first SET finish run the loader: up to 32 loads of
a slow query at the worst moment. ``Cache.get_or_set`` must run it exactly once,
across threads and across processes. dogpile.cache (with its Redis lock) and
cashews (its default in-process protection, and ``lock=True``) are shown for
comparison; cashews is asyncio-only, so its 32 callers are 32 tasks.

Each repeat uses a fresh cold key; the loader sleeps 50 ms, long enough that
all callers arrive while the first load is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import multiprocessing
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from cashews import Cache as CashewsCache
from dogpile.cache import make_region

from benchmarks.context import TIMEOUT, BenchContext, client_options
from benchmarks.harness import CountComparison, CountTrial
from valkey_redis.cache import Cache
from valkey_redis.client import connect

__all__ = ["build"]

CALLERS = 32
PROCESSES = 4
LOAD_SECONDS = 0.05
LOAD_MS = round(LOAD_SECONDS * 1000)
TTL = 60
Loader = Callable[[], Awaitable[dict[str, Any]]]


class _Loader:
    """A slow loader that counts its calls (thread-safe)."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
        time.sleep(LOAD_SECONDS)
        return {"id": 7, "name": "expensive"}


@contextlib.contextmanager
def _peer_deprecations_ignored() -> Iterator[None]:
    """Hide redis-py deprecation warnings raised inside peer libraries (SETEX, close)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Call to deprecated", DeprecationWarning)
        yield


def _together(callers: int, call: Callable[[], object]) -> None:
    """Run ``call`` in ``callers`` threads released at once by a barrier; re-raise failures."""
    barrier = threading.Barrier(callers)
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


async def _cashews_calls(url: str, key: str, *, lock: bool) -> int:
    """32 asyncio tasks call a cashews-cached loader on a cold key; return the loader calls."""
    calls = 0
    cache = CashewsCache()
    cache.setup(url, socket_timeout=TIMEOUT)

    async def load() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(LOAD_SECONDS)
        return {"id": 7}

    # cashews' decorator factory is untyped; wrap explicitly to keep load's type.
    decorate: Callable[[Loader], Loader] = cache(ttl=TTL, key=key, lock=lock, protected=not lock)
    cached = decorate(load)
    await asyncio.gather(*(cached() for _ in range(CALLERS)))
    await cache.close()
    return calls


def _child(url: str, namespace: str, key: str, counter: str, barrier: Any) -> None:
    """One of the processes: CALLERS // PROCESSES threads call get_or_set on the same key."""
    client = connect(url, **client_options())
    cache = Cache(client, namespace=namespace, ttl=TTL)

    def loader() -> dict[str, Any]:
        client.incr(counter)  # the loader count must be shared across processes
        time.sleep(LOAD_SECONDS)
        return {"id": 7}

    barrier.wait()
    _together(CALLERS // PROCESSES, lambda: cache.get_or_set(key, loader, ttl=TTL))
    client.close()


def build(ctx: BenchContext) -> list[CountComparison]:
    """The thread comparison (ours, naive, dogpile, cashews) and the process one (ours)."""
    client = ctx.client
    fresh = itertools.count()
    ours = Cache(client, namespace=ctx.name("stampede"), ttl=TTL)

    def run_ours() -> int:
        loader, key = _Loader(), f"ours-{next(fresh)}"
        _together(CALLERS, lambda: ours.get_or_set(key, loader, ttl=TTL))
        return loader.calls

    def run_naive() -> int:
        loader, key = _Loader(), ctx.name("stampede", "naive", str(next(fresh)))

        def call() -> object:
            cached = client.get(key)
            if cached is not None:
                return json.loads(str(cached))
            value = loader()
            client.set(key, json.dumps(value), ex=TTL)
            return value

        _together(CALLERS, call)
        return loader.calls

    region = make_region().configure(
        "dogpile.cache.redis",
        expiration_time=TTL,
        arguments={
            "url": ctx.url,
            "redis_expiration_time": TTL * 2,
            "distributed_lock": True,  # the cross-process setting, like ours
            "thread_local_lock": False,
            "lock_timeout": 10,
        },
    )

    def run_dogpile() -> int:
        loader, key = _Loader(), ctx.name("stampede", "dogpile", str(next(fresh)))
        with _peer_deprecations_ignored():
            _together(CALLERS, lambda: region.get_or_create(key, loader))
        return loader.calls

    def cashews_trial(*, lock: bool) -> Callable[[], int]:
        def trial() -> int:
            key = ctx.name("stampede", "cashews", str(next(fresh)))
            with _peer_deprecations_ignored():
                return asyncio.run(_cashews_calls(ctx.url, key, lock=lock))

        return trial

    def run_ours_processes() -> int:
        key, counter = f"procs-{next(fresh)}", ctx.name("stampede", "counter", str(next(fresh)))
        spawn = multiprocessing.get_context("spawn")
        barrier = spawn.Barrier(PROCESSES)
        args = (ctx.url, ctx.name("stampede"), key, counter, barrier)
        procs = [spawn.Process(target=_child, args=args) for _ in range(PROCESSES)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=120)
        if any(proc.exitcode != 0 for proc in procs):
            msg = f"a stampede process failed: exit codes {[p.exitcode for p in procs]}"
            raise RuntimeError(msg)
        return int(str(client.get(counter) or 0))

    repeats = max(1, round(5 * ctx.scale))
    threads = CountComparison(
        name=f"stampede, {CALLERS} threads on a cold key",
        lesson=f"{CALLERS} concurrent callers miss one key; the loader takes {LOAD_MS} ms.",
        trials=[
            CountTrial("Cache.get_or_set", run_ours, expected=1),
            CountTrial("naive GET / load / SET", run_naive),
            CountTrial("dogpile.cache (redis, distributed_lock)", run_dogpile),
            CountTrial("cashews @cache (default protection, 32 tasks)", cashews_trial(lock=False)),
            CountTrial("cashews @cache(lock=True) (32 tasks)", cashews_trial(lock=True)),
        ],
        repeats=repeats,
        unit="loader calls",
        target="exactly 1 loader call for 32 concurrent callers",
    )
    processes = CountComparison(
        name=f"stampede, {PROCESSES} processes x {CALLERS // PROCESSES} threads on a cold key",
        lesson="The same 32 callers spread over processes: the lock must live in Valkey.",
        trials=[CountTrial("Cache.get_or_set", run_ours_processes, expected=1)],
        repeats=max(1, round(3 * ctx.scale)),
        unit="loader calls",
        target="exactly 1 loader call",
    )
    return [threads, processes]
