"""Cache-aside for asyncio: :class:`valkey_redis.Cache`'s API with ``await``, on the same entries.

Use this in async code: ``cache = aio.Cache(aio.connect(), namespace="demo", ttl=60)``,
then ``await cache.get_or_set(key, loader)`` where ``loader`` is an async or a plain
callable. On a miss the loader runs *once* for every task of this event loop
(they share its result) and, through the fill lock in Valkey, once across
processes -- sync processes included: the keys, the entry format
(``c1:<expires ms>:<load ms>:<payload>``) and the Lua scripts are those of
:class:`valkey_redis.Cache`, so what one writes the other reads.

Not for: blocking loaders that take long (they run on the event loop; wrap them in
``asyncio.to_thread``), or values that must never be stale.

How it fails: as :class:`valkey_redis.Cache` (reads degrade to the loader or a
default, writes and invalidations raise). Cancellation: a task cancelled while it
fills a key (``task.cancel()``, ``asyncio.timeout()``) releases the fill lock at
once; the tasks waiting on it start over (one of them loads) and other processes
take the lock at their next poll. A cancelled command drops its connection, so
the pool never hands out one with a late reply in it.

Every method runs a flow of the cache's core (:mod:`valkey_redis.cache._core`)
with the async runner; the arguments are documented on :class:`valkey_redis.Cache`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ParamSpec, Protocol, TypeVar, cast, overload

import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.client import NEVER_DECODE
from redis.exceptions import RedisError

from valkey_redis.aio._flight import TaskFlight
from valkey_redis.aio._lean import command
from valkey_redis.aio._run import run
from valkey_redis.cache._core import CacheCore
from valkey_redis.cache._entry import NOT_FOUND, seconds
from valkey_redis.cache._stats import CacheStats
from valkey_redis.cache._store import LOOKUP_WAIT, Key
from valkey_redis.cache.cached import decorate
from valkey_redis.cache.stampede import WaitTimeoutError

__all__ = ["AsyncCachedFunction", "Cache", "CacheStats"]

P = ParamSpec("P")
R = TypeVar("R")
V = TypeVar("V")

BYTES: dict[str, Any] = {NEVER_DECODE: []}  # replies stay bytes: bad UTF-8 is a miss

#: ``save`` of write_through: a plain or a coroutine function of the new value.
Saver = Callable[[V], object]
Seconds = float | None
Tags = Iterable[str]

#: A loader: a plain callable or a coroutine function, called with no arguments.
Loader = Callable[[], V] | Callable[[], Awaitable[V]]


class AsyncCachedFunction(Protocol[P, R]):
    """An async function wrapped by :meth:`Cache.cached`."""

    __wrapped__: Callable[P, Awaitable[R]]

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Return the cached result, calling the function on a miss."""
        ...

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> int:
        """Delete the cached result for these arguments; return 1 if it existed."""
        ...

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Return the cache key (as passed to ``Cache.get``) for these arguments."""
        ...


class Cache(CacheCore):
    """:class:`valkey_redis.Cache` for asyncio; same arguments, same entries.

    Args:
        client: a ``redis.asyncio.Redis`` (e.g. from :func:`valkey_redis.aio.connect`),
            a ``redis.asyncio.cluster.RedisCluster`` or a ``fakeredis.FakeAsyncRedis``.
        **settings: as for :class:`valkey_redis.Cache`.
    """

    _CLIENTS = (redis.asyncio.Redis, RedisCluster)
    _CLIENT_HINT = "a redis.asyncio.Redis or RedisCluster (e.g. from valkey_redis.aio.connect())"

    _FLIGHT = TaskFlight
    _READS = TaskFlight

    async def get(self, key: Key, default: Any = None) -> Any:
        """:meth:`valkey_redis.Cache.get`, awaited."""
        name = self.redis_key(key)
        try:
            raw = await self._shared_get(name)
        except (RedisError, WaitTimeoutError):
            return await run(self._client, self._get_flow(key, default))  # it handles errors
        entry = self._read(name, raw)
        if entry is None:
            if raw is not None:  # unreadable: a miss, deleted like the flow does
                await self._client.delete(name)
            return default
        return default if entry[0] is NOT_FOUND else entry[0]

    async def set(
        self, key: Key, value: Any, *, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        """:meth:`valkey_redis.Cache.set`, awaited."""
        await run(self._client, self._set_flow(key, value, ttl, tags))

    async def delete(self, *keys_: Key) -> int:
        """:meth:`valkey_redis.Cache.delete`, awaited."""
        return await run(self._client, self._delete_flow(keys_))

    async def get_many(self, keys_: Iterable[Key]) -> dict[Key, Any]:
        """:meth:`valkey_redis.Cache.get_many`, awaited (one MGET)."""
        return await run(self._client, self._get_many_flow(keys_))

    async def set_many(self, mapping: Mapping[Key, Any], *, ttl: float | None = None) -> None:
        """:meth:`valkey_redis.Cache.set_many`, awaited (one script call)."""
        await run(self._client, self._set_many_flow(mapping, ttl))

    async def invalidate_tags(self, *tags: str) -> int:
        """:meth:`valkey_redis.Cache.invalidate_tags`, awaited."""
        return await run(self._client, self._invalidate_tags_flow(tags))

    @overload
    def get_or_set(
        self, key: Key, loader: Callable[[], Awaitable[V]], *, ttl: Seconds = None, tags: Tags = ()
    ) -> Awaitable[V]: ...

    @overload
    def get_or_set(
        self, key: Key, loader: Callable[[], V], *, ttl: Seconds = None, tags: Tags = ()
    ) -> Awaitable[V]: ...

    def get_or_set(
        self, key: Key, loader: Loader[Any], *, ttl: Seconds = None, tags: Tags = ()
    ) -> Awaitable[Any]:
        """:meth:`valkey_redis.Cache.get_or_set`, to await; ``loader`` may be async or plain.

        One loader call per key across the tasks of this loop and across processes.
        The arguments are checked at once (a bad ``ttl`` raises before any await);
        the returned awaitable is the lookup (one coroutine frame less on every hit).

        Raises:
            Exception: whatever ``loader`` raises (nothing is cached), when awaited.
        """
        tags_ = self._check(ttl, tags)
        return self._get_or_set(key, self.redis_key(key), loader, ttl, tags_)

    async def _get_or_set(
        self, key: Key, name: str, loader: Loader[Any], ttl: float | None, tags: list[str]
    ) -> Any:
        """get_or_set once the key is built and the arguments checked (the decorator's entry).

        The hit path sends its GET here (shared by concurrent tasks) and hands the
        reply to the core; everything else -- a miss, an early refresh, an error -- is
        the core's flow.
        """
        plain = cast(Callable[[], Any], loader)  # the runner awaits what an async loader returns
        try:
            raw = await self._shared_get(name)
        except (RedisError, WaitTimeoutError):
            read = None  # the flow sends its own GET and handles the error
        else:
            entry = self._read(name, raw)
            if entry is not None:
                done, value = self._settled(name, entry)
                if done:
                    return value
            read = (raw, entry) if entry is not None or raw is None else None
        return await run(
            self._client, self._get_or_set_flow(key, name, plain, ttl, tags, read=read)
        )

    def _shared_get(self, name: str) -> Awaitable[bytes | None]:
        """GET ``name`` as bytes, one GET for all the tasks asking at once."""
        client = self._client
        reads: TaskFlight[bytes | None] = self._reads
        return reads.run(name, lambda: command(client, "GET", name, **BYTES), timeout=LOOKUP_WAIT)

    async def write_through(
        self, key: Key, value: V, save: Saver[V], *, ttl: Seconds = None, tags: Tags = ()
    ) -> bool:
        """:meth:`valkey_redis.Cache.write_through`; ``save`` may be async or plain."""
        return await run(self._client, self._write_through_flow(key, value, save, ttl, tags))

    def cached(
        self,
        *,
        ttl: float,
        key: Callable[..., Key] | None = None,
        tags: Iterable[str] | Callable[..., Iterable[str]] = (),
    ) -> Callable[[Callable[P, Awaitable[R]]], AsyncCachedFunction[P, R]]:
        """:meth:`valkey_redis.Cache.cached` for async functions.

        The wrapper is a coroutine function; ``await f.invalidate(*args)`` drops one
        result. Keys are those of the sync decorator, so both share results.
        """
        seconds("ttl", ttl)

        def decorator(func: Callable[P, Awaitable[R]]) -> AsyncCachedFunction[P, R]:
            wrapped: AsyncCachedFunction[P, R] = decorate(
                self, func, ttl=ttl, key=key, tags=tags, asynchronous=True
            )
            return wrapped

        return decorator
