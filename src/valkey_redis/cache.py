"""Cache-aside on Valkey: get_or_set with stampede protection, refresh-ahead, tags and stats.

Use this when reads of slow data (a database query, an HTTP call) can be served
a little stale: ``cache.get_or_set(key, loader)`` (or ``@cache.cached(ttl=...)``)
returns the cached value, and on a miss runs the loader *once* -- across threads
and processes -- while everyone else waits for its result. Hot keys are
recomputed shortly before they expire (XFetch), so they never expire under load.

Not for: data that must never be stale (read the source), values JSON cannot
represent without a :class:`~valkey_redis.PydanticSerializer`, or a source of
truth (entries expire and may be evicted at any time).

How it fails:
- Server unreachable: ``get_or_set`` and the decorator serve the loader's value
  (after the client's own retries), ``get`` returns its default and
  ``get_many`` returns ``{}``; each counts ``stats.errors`` and logs one warning
  per :attr:`Cache.log_every` seconds. Writes and invalidations (``set``,
  ``set_many``, ``delete``, ``invalidate_tags``) raise the redis error: losing
  an invalidation silently would serve stale data. ``write_through`` is the
  exception: the source is already saved, so it returns False instead.
- Unreadable entries (garbage, another format, a planted pickle, bad UTF-8) are
  a miss and are deleted; nothing in them is ever executed.
- A failing loader caches nothing, releases its lock at once and its exception
  propagates -- to every thread of this process that was waiting on the same key.
- Stale windows: an entry lives at most its TTL (jitter only shortens it); a
  ``set`` racing with ``invalidate_tags`` can survive until its TTL.
- ``None`` from a loader is cached only with ``negative_ttl``; without it, every
  lookup of a missing row reaches the loader (other processes included).

Cost: a hit is one GET (one round trip) plus a JSON decode. A miss adds one
pipelined SET NX + GET for the lock and one script call that stores the value
and releases the lock; each tag adds one script call.

Layout: the value lives at ``namespace:{key}`` as ``c1:<expires ms>:<load ms>:<payload>``
(the XFetch inputs travel with the value), its lock at ``namespace:{key}:lock``
-- one hash tag, so everything per key works on Valkey Cluster -- and tag index
sets at ``namespace:tags:<tag>``. Every key has a TTL, set in the same command
as its value.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, NamedTuple, ParamSpec, Protocol, TypeVar, cast

import redis
from redis.client import NEVER_DECODE
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import RedisError

from valkey_redis import keys
from valkey_redis.serializers import JsonSerializer, SerializationError, Serializer
from valkey_redis.stampede import (
    SingleFlight,
    WaitTimeoutError,
    lead_or_wait,
    should_refresh_early,
)

__all__ = ["Cache", "CacheStats", "CachedFunction"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
V = TypeVar("V")

Key = str | int
# Entry layout: "c1:<expires at, unix ms>:<load time, ms>:<payload>". One GET returns
# the value and the XFetch inputs together; payload "-" marks a cached "not found".
_FORMAT = "c1"
_NOT_FOUND = "-"
# Tag sets are written just before their entry: this slack keeps them alive a little
# longer than it, so an entry is never left without its index.
_TAG_SLACK_MS = 5_000
# The decorator remembers the keys of calls whose arguments are all of these types.
_SCALARS = frozenset({str, int, float, bool, type(None)})
_MEMO_SIZE = 4096
# keys.escape as one str.translate call (the hit path builds a key per call).
_ESCAPES = str.maketrans({char: keys.escape(char) for char in "%:{}"})


def _script(client: redis.Redis | RedisCluster, name: str) -> Script:
    text = (resources.files("valkey_redis") / "scripts" / name).read_text(encoding="utf-8")
    return client.register_script(text)  # hashes locally; loaded lazily on first use


def _command(target: Any, *args: Any) -> Any:
    # Ask redis-py for bytes: we decode ourselves, so bad UTF-8 is a miss, not a crash
    # (a decode_responses=True client would raise UnicodeDecodeError inside the parser).
    return target.execute_command(*args, **{NEVER_DECODE: []})


def _seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name} must be a number of seconds, not {type(value).__name__}"
        raise TypeError(msg)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        msg = f"{name} must be a finite number of seconds {bound}, got {value!r}"
        raise ValueError(msg)
    return float(value)


def _tag_list(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        msg = f"tags must be a list of strings, e.g. tags=[{tags!r}], not a single string"
        raise TypeError(msg)
    out = list(tags)
    for tag in out:
        keys.escape(tag)  # TypeError/ValueError for non-str or empty tags
        if not isinstance(tag, str):
            msg = f"tags must be strings, not {type(tag).__name__}"
            raise TypeError(msg)
    return out


@dataclass(frozen=True)
class CacheStats:
    """A snapshot of a cache's counters since it was created (or last reset).

    Attributes:
        hits: lookups answered from the cache (a cached "not found" included).
        misses: lookups that found nothing usable.
        loads: loader calls (misses, early refreshes and fallbacks).
        errors: cache server errors absorbed by a documented fallback.
    """

    hits: int = 0
    misses: int = 0
    loads: int = 0
    errors: int = 0

    @property
    def hit_ratio(self) -> float:
        """Hits / (hits + misses), or 0.0 before the first lookup."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class _Entry(NamedTuple):  # a tuple: cheapest to build on the hit path
    value: Any
    expires_at: float  # unix seconds
    delta: float  # seconds the load took
    not_found: bool


class CachedFunction(Protocol[P, R]):
    """A function wrapped by :meth:`Cache.cached`."""

    __wrapped__: Callable[P, R]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Return the cached result, calling the function on a miss."""
        ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> int:
        """Delete the cached result for these arguments; return 1 if it existed."""
        ...

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Return the cache key (as passed to ``Cache.get``) for these arguments."""
        ...


class Cache:
    """Cache-aside with stampede protection, refresh-ahead, tags and stats.

    Args:
        client: a ``redis.Redis`` (e.g. from :func:`valkey_redis.connect`) or a
            ``RedisCluster``; ``decode_responses`` may be on or off.
        namespace: prefix of every key, e.g. ``"products"``.
        ttl: default lifetime of an entry in seconds.
        jitter: each entry lives ``ttl * uniform(1 - jitter, 1)`` seconds, so keys
            written together do not expire together; 0 disables. Never longer than ttl.
        serializer: codec for values; :class:`~valkey_redis.JsonSerializer` by default.
        negative_ttl: when set, a loader result of ``None`` is cached as "not
            found" for this long; when None, ``None`` results are not cached.
        lock_timeout: lifetime of the cross-process loader lock; a crashed
            loader blocks others at most this long. Keep it above the slowest load.
        wait_timeout: how long a caller waits for another caller's load before
            running the loader itself.
        early_refresh_beta: XFetch eagerness (1.0 is optimal, 0 disables).
        publish_events: publish invalidations on :attr:`events_channel`.
        rand: uniform random numbers for XFetch; inject for deterministic tests.

    Raises:
        TypeError, ValueError: for a wrong client type or bad settings. The
            constructor never talks to the server.
    """

    #: Seconds between two warnings about an unreachable server.
    log_every: float = 30.0

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        namespace: str,
        ttl: float,
        jitter: float = 0.1,
        serializer: Serializer | None = None,
        negative_ttl: float | None = None,
        lock_timeout: float = 10.0,
        wait_timeout: float = 10.0,
        early_refresh_beta: float = 1.0,
        publish_events: bool = True,
        rand: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(client, redis.Redis | RedisCluster):
            msg = f"client must be a redis.Redis or RedisCluster, not {type(client).__name__}"
            raise TypeError(msg)
        if not isinstance(namespace, str):
            msg = f"namespace must be a str, not {type(namespace).__name__}"
            raise TypeError(msg)
        keys.escape(namespace)  # ValueError when empty
        self.ttl = _seconds("ttl", ttl)
        if isinstance(jitter, bool) or not isinstance(jitter, int | float):
            raise TypeError("jitter must be a number in [0, 1)")
        if not 0 <= jitter < 1:
            msg = f"jitter must be in [0, 1), got {jitter!r}"
            raise ValueError(msg)
        self.jitter = float(jitter)
        self.negative_ttl = None if negative_ttl is None else _seconds("negative_ttl", negative_ttl)
        self.lock_timeout = _seconds("lock_timeout", lock_timeout)
        self.wait_timeout = _seconds("wait_timeout", wait_timeout, allow_zero=True)
        self.early_refresh_beta = _seconds(
            "early_refresh_beta", early_refresh_beta, allow_zero=True
        )
        if serializer is not None and not isinstance(serializer, Serializer):
            msg = f"serializer needs dumps() and loads(), got {type(serializer).__name__}"
            raise TypeError(msg)
        self.namespace = namespace
        self._prefix = keys.tagged(namespace, "x")[:-2]  # "namespace:{"
        #: Pub/sub channel of invalidation events (JSON: namespace, keys, tags).
        self.events_channel = keys.join("cache-events", namespace)
        self.publish_events = publish_events
        self._client = client
        self._serializer: Serializer = serializer or JsonSerializer()
        self._rand = rand or random.random
        self._flight: SingleFlight[Any] = SingleFlight()
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0, "loads": 0, "errors": 0}
        self._last_warning = -math.inf
        self._suppressed = 0
        self._fill = _script(client, "cache_fill.lua")
        self._unlock = _script(client, "cache_unlock.lua")
        self._tag_add = _script(client, "cache_tag_add.lua")
        self._tag_pop = _script(client, "cache_tag_pop.lua")

    # --- keys, encoding, bookkeeping ------------------------------------------

    def redis_key(self, key: Key) -> str:
        """Return the Valkey key that holds ``key``'s value: ``namespace:{key}``.

        Same result as ``keys.tagged(namespace, key)``, computed faster: this runs on
        every hit.
        """
        if type(key) is str and key:
            return f"{self._prefix}{key.translate(_ESCAPES)}}}"
        return keys.tagged(self.namespace, key)

    def _lock_key(self, key: Key) -> str:
        return keys.tagged(self.namespace, key, "lock")  # same hash tag: same slot

    def _tag_key(self, tag: str) -> str:
        return keys.join(self.namespace, "tags", tag)

    def _px(self, ttl: float | None) -> int:
        seconds = self.ttl if ttl is None else _seconds("ttl", ttl)
        return max(1, int(seconds * (1 - self.jitter * random.random()) * 1000))

    def _encode(
        self,
        value: Any,
        px: int,
        delta: float,
        *,
        not_found: bool = False,
        now: float | None = None,
    ) -> str:
        payload = _NOT_FOUND if not_found else self._serializer.dumps(value)
        expires_ms = int((time.time() if now is None else now) * 1000) + px
        return f"{_FORMAT}:{expires_ms}:{math.ceil(delta * 1000)}:{payload}"

    def _decode(self, raw: bytes | str) -> _Entry:
        try:
            text = raw.decode() if isinstance(raw, bytes) else raw
            version, expires_ms, delta_ms, payload = text.split(":", 3)
            if version != _FORMAT:
                raise SerializationError("unknown entry format")
            expires_at, delta = int(expires_ms) / 1000, int(delta_ms) / 1000
            if payload == _NOT_FOUND:
                return _Entry(None, expires_at, delta, True)
            return _Entry(self._serializer.loads(payload), expires_at, delta, False)
        except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
            raise SerializationError(str(exc)) from None

    def _read(self, full: str) -> tuple[bytes | None, _Entry | None]:
        raw = cast(bytes | None, _command(self._client, "GET", full))
        if raw is None:
            return None, None
        try:
            return raw, self._decode(raw)
        except SerializationError as exc:
            self._warn(f"dropped unreadable entry {full!r} ({exc})")
            self._client.delete(full)
            return None, None

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters; see :class:`CacheStats`."""
        with self._lock:
            return CacheStats(**self._counts)

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._counts = dict.fromkeys(self._counts, 0)

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            due = now - self._last_warning >= self.log_every
            suppressed, self._suppressed = (
                (self._suppressed, 0) if due else (0, self._suppressed + 1)
            )
            if due:
                self._last_warning = now
        if due:
            logger.warning(
                "cache %r: %s (%d more cache warnings were logged at DEBUG; next in %gs)",
                self.namespace,
                message,
                suppressed,
                self.log_every,
            )
        else:
            logger.debug("cache %r: %s", self.namespace, message)

    def _failed(self, exc: RedisError, action: str) -> None:
        self._count("errors")
        self._warn(f"{action} failed ({type(exc).__name__}: {exc}); serving without the cache")

    def _publish(self, full_keys: Sequence[str], tags: Sequence[str]) -> None:
        if self.publish_events:
            event = {"namespace": self.namespace, "keys": list(full_keys), "tags": list(tags)}
            self._client.publish(self.events_channel, json.dumps(event))

    def _write(
        self, full: str, payload: str, px: int, tags: Sequence[str], lock: tuple[str, str] | None
    ) -> None:
        # Index tags first: a crash in between leaves a harmless dangling member,
        # never an entry that invalidate_tags cannot find.
        for tag in tags:
            self._tag_add(keys=[self._tag_key(tag)], args=[full, px + _TAG_SLACK_MS])
        if lock is None:
            self._client.set(full, payload, px=px)
        else:
            self._fill(keys=[full, lock[0]], args=[payload, px, lock[1]])

    # --- plain operations -----------------------------------------------------

    def get(self, key: Key, default: Any = None) -> Any:
        """Return the cached value of ``key``, or ``default`` when missing or unreadable.

        A cached "not found" also returns ``default``. On a server error this counts
        ``stats.errors``, logs (rate-limited) and returns ``default``.
        """
        try:
            _, entry = self._read(self.redis_key(key))
        except RedisError as exc:
            self._failed(exc, "get")
            return default
        self._count("misses" if entry is None else "hits")
        return default if entry is None or entry.not_found else entry.value

    def set(
        self, key: Key, value: Any, *, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (default: the cache's ttl).

        Args:
            key: the key within the namespace.
            value: anything the serializer accepts.
            ttl: lifetime in seconds before jitter.
            tags: labels for :meth:`invalidate_tags`, e.g. ``["user:42"]``.

        Raises:
            TypeError: the value cannot be serialized (nothing is written).
            redis.exceptions.RedisError: the server is unreachable or refused.
        """
        tag_list = _tag_list(tags)
        px = self._px(ttl)
        self._write(self.redis_key(key), self._encode(value, px, 0.0), px, tag_list, None)

    def delete(self, *keys_: Key) -> int:
        """Delete entries; publish an invalidation event; return how many existed.

        Raises:
            redis.exceptions.RedisError: the server is unreachable.
        """
        if not keys_:
            return 0
        full = [self.redis_key(key) for key in keys_]
        deleted: int = self._client.delete(*full)
        self._publish(full, [])
        return deleted

    def get_many(self, keys_: Iterable[Key]) -> dict[Key, Any]:
        """Return ``{key: value}`` for the keys found, in one round trip (MGET).

        On a cluster the keys are fetched with one MGET per hash slot, sent in one
        pipeline. On a server error: counts ``stats.errors`` and returns ``{}``.
        """
        wanted = list(dict.fromkeys(keys_))
        if not wanted:
            return {}
        full = [self.redis_key(key) for key in wanted]
        try:
            raws = self._mget(full)
        except RedisError as exc:
            self._failed(exc, "get_many")
            return {}
        found: dict[Key, Any] = {}
        unreadable: list[str] = []
        for key, name, raw in zip(wanted, full, raws, strict=True):
            try:
                entry = None if raw is None else self._decode(raw)
            except SerializationError:
                unreadable.append(name)
                entry = None
            if entry is not None and not entry.not_found:
                found[key] = entry.value
        self._count("hits", len(wanted) - raws.count(None) - len(unreadable))
        self._count("misses", raws.count(None) + len(unreadable))
        if unreadable:
            self._warn(f"dropped {len(unreadable)} unreadable entries, e.g. {unreadable[0]!r}")
            try:
                self._client.delete(*unreadable)
            except RedisError as exc:
                self._failed(exc, "delete of unreadable entries")
        return found

    def _mget(self, full: list[str]) -> list[bytes | None]:
        client = self._client
        if not isinstance(client, RedisCluster):
            return cast(list[bytes | None], _command(client, "MGET", *full))
        # MGET may not span hash slots on a cluster: one MGET per slot, one pipeline.
        cluster: Any = client  # RedisCluster's methods are untyped in redis-py 8
        by_slot: dict[int, list[int]] = {}
        for index, name in enumerate(full):
            by_slot.setdefault(cluster.keyslot(name), []).append(index)
        pipe = cluster.pipeline()
        for indexes in by_slot.values():
            _command(pipe, "MGET", *(full[i] for i in indexes))
        out: list[bytes | None] = [None] * len(full)
        for indexes, reply in zip(by_slot.values(), pipe.execute(), strict=True):
            for index, raw in zip(indexes, reply, strict=True):
                out[index] = raw
        return out

    def set_many(self, mapping: Mapping[Key, Any], *, ttl: float | None = None) -> None:
        """Store several entries in one round trip (a pipeline of ``SET ... PX``).

        Every value is serialized before anything is sent, so a bad value writes nothing.

        Raises:
            TypeError: a value cannot be serialized.
            redis.exceptions.RedisError: the server is unreachable or refused.
        """
        if ttl is not None:
            _seconds("ttl", ttl)
        entries = []
        now = time.time()
        for key, value in mapping.items():
            px = self._px(ttl)
            entries.append((self.redis_key(key), self._encode(value, px, 0.0, now=now), px))
        if not entries:
            return
        pipe = self._client.pipeline(transaction=False)
        for name, payload, px in entries:
            pipe.set(name, payload, px=px)
        pipe.execute()

    def invalidate_tags(self, *tags: str) -> int:
        """Delete every entry stored with any of ``tags``; return how many were deleted.

        Each tag's index is read and removed atomically (one script per tag), then
        the members are deleted (per hash slot on a cluster) and one event is published.

        Raises:
            redis.exceptions.RedisError: the server is unreachable.
        """
        tag_list = _tag_list(tags)
        members: dict[str, None] = {}
        for tag in tag_list:
            for member in cast(list[bytes | str], self._tag_pop(keys=[self._tag_key(tag)])):
                members[member.decode() if isinstance(member, bytes) else member] = None
        names = list(members)
        deleted: int = self._client.delete(*names) if names else 0
        self._publish(names, tag_list)
        return deleted

    def write_through(
        self,
        key: Key,
        value: V,
        save: Callable[[V], None],
        *,
        ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> bool:
        """Save ``value`` to the source of truth, then cache it.

        Args:
            key: the cache key.
            value: the new value.
            save: writes ``value`` to the source; if it raises, the cache is left
                untouched and the error propagates.
            ttl: lifetime in seconds.
            tags: labels for :meth:`invalidate_tags`.

        Returns:
            True when the cache holds the new value. False when the cache write
            failed (counted in ``stats.errors``): the entry was then deleted, or,
            if the server is unreachable, the old entry lives until its TTL.

        Raises:
            TypeError: the value cannot be serialized (checked before ``save``).
        """
        tag_list = _tag_list(tags)
        px = self._px(ttl)
        payload = self._encode(value, px, 0.0)
        name = self.redis_key(key)
        save(value)
        try:
            self._write(name, payload, px, tag_list, None)
            self._publish([name], [])
        except RedisError as exc:
            self._failed(exc, "write_through")
            try:
                self._client.delete(name)
            except RedisError as again:
                self._failed(again, "write_through invalidation")
            return False
        return True

    # --- cache-aside with stampede protection --------------------------------

    def get_or_set(
        self,
        key: Key,
        loader: Callable[[], V],
        *,
        ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> V:
        """Return the cached value of ``key``; on a miss call ``loader`` once and cache it.

        Concurrent misses of one key run ``loader`` once: threads of this process
        share its result (or its exception); other processes wait on a lock key in
        Valkey, polling for the value, and take over if the lock expires. After
        ``wait_timeout`` a waiter calls ``loader`` itself. A hit may trigger an
        early refresh (XFetch) by this caller while others keep getting the value.

        Args:
            key: the key within the namespace.
            loader: computes the value; ``None`` is cached only with ``negative_ttl``.
            ttl: lifetime in seconds (default: the cache's ttl).
            tags: labels for :meth:`invalidate_tags`.

        Raises:
            Exception: whatever ``loader`` raises (nothing is cached).
        """
        tag_list = _tag_list(tags) if tags else []
        if ttl is not None:
            _seconds("ttl", ttl)  # fail on a hit too, not only on the next miss
        name = self.redis_key(key)
        try:
            raw, entry = self._read(name)
        except RedisError as exc:
            self._failed(exc, "get_or_set")
            return self._call(loader)
        if entry is not None:
            self._count("hits")
            value = cast(V, None if entry.not_found else entry.value)
            remaining = entry.expires_at - time.time()
            due = should_refresh_early(remaining, entry.delta, self.early_refresh_beta, self._rand)
            if not due or self._flight.busy(name):
                return value
        else:
            self._count("misses")

        def load() -> V:
            return self._load(key, name, loader, ttl=ttl, tags=tag_list, seen_raw=raw, seen=entry)

        try:
            return cast(V, self._flight.run(name, load, timeout=self.wait_timeout))
        except WaitTimeoutError:
            if entry is not None:
                return value
            self._warn(f"waited {self.wait_timeout}s for another load of {name!r}; loading")
            return self._load_and_store(name, loader, ttl, tag_list, None)

    def _call(self, loader: Callable[[], V]) -> V:
        value = loader()
        self._count("loads")
        return value

    def _load(
        self,
        key: Key,
        name: str,
        loader: Callable[[], V],
        *,
        ttl: float | None,
        tags: list[str],
        seen_raw: bytes | None,
        seen: _Entry | None,
    ) -> V:
        """Load across processes: take the lock, or wait for whoever holds it."""
        lock = (self._lock_key(key), secrets.token_hex(16))
        try:
            held, fresh = lead_or_wait(
                self._client,
                name,
                *lock,
                lock_timeout=self.lock_timeout,
                wait_timeout=self.wait_timeout,
                fresh=self._readable,
                seen=seen_raw,
            )
        except RedisError as exc:
            self._failed(exc, "get_or_set")
            return self._call(loader)
        if fresh is not None:
            if held:
                self._release(lock)
            return cast(V, None if fresh.not_found else fresh.value)
        if held:
            return self._load_and_store(name, loader, ttl, tags, lock)
        if seen is not None:  # an early refresh is already running elsewhere
            return cast(V, None if seen.not_found else seen.value)
        self._warn(f"waited {self.wait_timeout}s for another load of {name!r}; loading")
        return self._load_and_store(name, loader, ttl, tags, None)

    def _readable(self, raw: bytes) -> _Entry | None:
        try:
            return self._decode(raw)
        except SerializationError:
            return None  # unreadable: the loader's value will overwrite it

    def _load_and_store(
        self,
        name: str,
        loader: Callable[[], V],
        ttl: float | None,
        tags: list[str],
        lock: tuple[str, str] | None,
    ) -> V:
        started = time.monotonic()
        try:
            value = self._call(loader)
            if value is None and self.negative_ttl is None:
                payload = None
            elif value is None:
                px = self._px(self.negative_ttl)
                payload = self._encode(None, px, 0.0, not_found=True)
            else:
                px = self._px(ttl)
                payload = self._encode(value, px, time.monotonic() - started)
        except BaseException:
            if lock is not None:
                self._release(lock)  # let the next caller load at once
            raise
        if payload is None:
            if lock is not None:
                self._release(lock)
            return value
        try:
            self._write(name, payload, px, tags, lock)
        except RedisError as exc:
            self._failed(exc, "storing a loaded value")  # the lock expires by itself
        return value

    def _release(self, lock: tuple[str, str]) -> None:
        try:
            self._unlock(keys=[lock[0]], args=[lock[1]])
        except RedisError as exc:
            self._failed(exc, "lock release")

    # --- the decorator --------------------------------------------------------

    def cached(
        self,
        *,
        ttl: float,
        key: Callable[..., Key] | None = None,
        tags: Iterable[str] | Callable[..., Iterable[str]] = (),
    ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]:
        """Cache a function's results with :meth:`get_or_set` (stampede-protected).

        Args:
            ttl: lifetime in seconds; required, because only you know how stale is fine.
            key: builds the key part from the call's arguments; by default the
                arguments bound to the signature, as canonical JSON
                (:func:`valkey_redis.keys.argument_key`), so ``f(1)`` and ``f(x=1)`` match.
                On methods pass one, e.g. ``key=lambda self, user_id: user_id``:
                ``self`` has no JSON form.
            tags: tags for every result, or a function of the call's arguments
                returning them, e.g. ``tags=lambda user_id: [f"user:{user_id}"]``.

        Returns:
            A decorator; the wrapped function has ``.invalidate(*args, **kwargs)``
            and ``.cache_key(*args, **kwargs)``.

        Example:
            >>> @cache.cached(ttl=60)  # doctest: +SKIP
            ... def load_user(user_id: int) -> dict[str, object]: ...
        """
        _seconds("ttl", ttl)

        def decorator(func: Callable[P, R]) -> CachedFunction[P, R]:
            prefix = f"{func.__module__}.{func.__qualname__}"

            memo: dict[tuple[Any, ...], str] = {}

            def cache_key(*args: P.args, **kwargs: P.kwargs) -> str:
                if key is not None:
                    return f"{prefix}:{keys.escape(key(*args, **kwargs))}"
                # Binding arguments costs more than a cache hit, so keys of calls with
                # scalar arguments are remembered in-process. The memo is keyed by
                # (type, value) so 1, 1.0 and True stay apart; the key itself is
                # still keys.argument_key's canonical JSON, never hash().
                scalar = all(type(arg) in _SCALARS for arg in args) and all(
                    type(arg) in _SCALARS for arg in kwargs.values()
                )
                if scalar:
                    memo_key = (
                        *((type(a), a) for a in args),
                        *((n, type(a), a) for n, a in kwargs.items()),
                    )
                    found = memo.get(memo_key)
                    if found is not None:
                        return found
                # `wrapper` carries func's signature, computed once below.
                found = f"{prefix}:{keys.argument_key(wrapper, args, kwargs)}"
                if scalar:
                    if len(memo) >= _MEMO_SIZE:
                        memo.clear()
                    memo[memo_key] = found
                return found

            @functools.wraps(func)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                call_tags = tags(*args, **kwargs) if callable(tags) else tags
                return self.get_or_set(
                    cache_key(*args, **kwargs),
                    lambda: func(*args, **kwargs),
                    ttl=ttl,
                    tags=call_tags,
                )

            def invalidate(*args: P.args, **kwargs: P.kwargs) -> int:
                return self.delete(cache_key(*args, **kwargs))

            decorated = cast(Any, wrapper)
            decorated.__signature__ = inspect.signature(func)
            decorated.invalidate = invalidate
            decorated.cache_key = cache_key
            return cast(CachedFunction[P, R], wrapper)

        return decorator
