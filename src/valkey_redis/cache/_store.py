"""The explicit cache operations: get, set, delete, batches and tags, each entry with a TTL.

Use this through :class:`valkey_redis.Cache`, which adds ``get_or_set``, the
decorator and write-through on top: :class:`CacheStore` holds the settings, the
keys and the plain operations -- you decide when to read and when to write.

Not for: deciding *when* to load (that is ``Cache.get_or_set``: a plain
``get``-then-``set`` lets every concurrent miss hit the database), or for data
that must never be stale.

How it fails:
- Reads degrade: on a server error ``get`` returns its default and ``get_many``
  returns ``{}``; each counts ``stats.errors`` and warns (rate-limited).
- Writes and invalidations (``set``, ``set_many``, ``delete``,
  ``invalidate_tags``) raise the redis error: losing an invalidation silently
  would serve stale data.
- Unreadable entries (garbage, another format, a planted pickle, bad UTF-8) are
  a miss and are deleted; nothing in them is ever executed.
- A ``set`` racing with ``invalidate_tags`` can survive until its TTL (see
  :mod:`valkey_redis.cache.tags`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisError

from valkey_redis import keys
from valkey_redis.cache._batch import BYTES, delete_all, read_all, write_all
from valkey_redis.cache._entry import NOT_FOUND, Entry, EntryCodec, load_script, seconds
from valkey_redis.cache._stats import CacheStats, Health
from valkey_redis.cache.tags import TagIndex, tag_list
from valkey_redis.serializers import JsonSerializer, SerializationError, Serializer

__all__ = ["CacheStore", "Key"]

Key = str | int
# redis_key remembers the full keys of up to this many str keys of up to this length.
_NAMES_SIZE = 4096
_NAME_MAX = 200


class CacheStore:
    """Namespaced entries with TTLs, tags and stats; the base of :class:`valkey_redis.Cache`.

    The arguments are those of :class:`valkey_redis.Cache` that concern storage.
    """

    #: Seconds between two warnings about an unreachable server.
    log_every: float = 30.0

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        namespace: str,
        ttl: float,
        jitter: float,
        serializer: Serializer | None,
        publish_events: bool,
    ) -> None:
        if not isinstance(client, redis.Redis | RedisCluster):
            msg = f"client must be a redis.Redis or RedisCluster, not {type(client).__name__}"
            raise TypeError(msg)
        if not isinstance(namespace, str):
            msg = f"namespace must be a str, not {type(namespace).__name__}"
            raise TypeError(msg)
        keys.escape(namespace)  # ValueError when empty
        self.ttl = seconds("ttl", ttl)
        if isinstance(jitter, bool) or not isinstance(jitter, int | float):
            raise TypeError("jitter must be a number in [0, 1)")
        if not 0 <= jitter < 1:
            msg = f"jitter must be in [0, 1), got {jitter!r}"
            raise ValueError(msg)
        self.jitter = float(jitter)
        if serializer is not None and not isinstance(serializer, Serializer):
            msg = f"serializer needs dumps() and loads(), got {type(serializer).__name__}"
            raise TypeError(msg)
        self.namespace = namespace
        #: Pub/sub channel of invalidation events (JSON: namespace, keys, tags).
        self.events_channel = keys.join("cache-events", namespace)
        self.publish_events = publish_events
        self._client = client
        self._prefix = keys.tagged(namespace, "x")[:-2]  # "namespace:{"
        self._names: dict[str, str] = {}  # str key -> full key; bounded
        self._codec = EntryCodec(serializer or JsonSerializer(), self.ttl, self.jitter)
        self._health = Health(namespace, lambda: self.log_every)
        self._tags = TagIndex(client, namespace)
        self._fill_script = load_script(client, "cache_fill.lua")

    # --- keys, stats, the one read every hit makes ----------------------------

    def redis_key(self, key: Key) -> str:
        """Return the Valkey key that holds ``key``'s value: ``namespace:{key}``.

        The key part is :func:`valkey_redis.keys.typed` (an int key is ``#<n>``, so
        ``0`` and ``"0"`` are two entries), computed fast (this runs on every hit):
        short string keys are escaped once and remembered.
        """
        if type(key) is str:  # not a subclass, not a bool posing as an int
            name = self._names.get(key)
            if name is not None:
                return name
            if 0 < len(key) <= _NAME_MAX:
                if len(self._names) >= _NAMES_SIZE:
                    self._names.clear()  # crude but bounded; hot keys come back at once
                name = self._names[key] = f"{self._prefix}{keys.escape(key)}}}"
                return name
        return f"{self._prefix}{keys.typed(key)}}}"  # 0 and "0" are two entries

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters; see :class:`CacheStats`."""
        return self._health.snapshot()

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        self._health.reset()

    def _lookup(self, name: str) -> tuple[bytes | None, Entry | None]:
        """GET one entry, count a hit or a miss, delete it if unreadable."""
        execute: Any = self._client.execute_command  # untyped in redis-py 8
        raw = execute("GET", name, **BYTES)
        if raw is not None:
            try:
                entry = self._codec.decode(raw)
            except SerializationError as exc:
                self._health.warn(f"dropped unreadable entry {name!r} ({exc})")
                self._client.delete(name)
            else:
                self._health.hit()
                return raw, entry
        self._health.miss()
        return None, None

    def _write(
        self, name: str, entry: str, px: int, tags: list[str], lock: tuple[str, str] | None
    ) -> None:
        """Store ``entry`` for ``px`` ms under ``tags``; release ``lock`` (key, token) if given.

        Tags are indexed first: a crash in between leaves a harmless dangling
        member, never an entry that ``invalidate_tags`` cannot find.
        """
        self._tags.add(name, px, tags)
        if lock is None:
            self._client.set(name, entry, px=px)
        else:  # one script: SET ... PX, then delete the lock if it still holds our token
            self._fill_script(keys=[name, lock[0]], args=[entry, px, lock[1]])

    def _publish(self, full_keys: Sequence[str], tags: Sequence[str]) -> None:
        if self.publish_events:
            event = {"namespace": self.namespace, "keys": list(full_keys), "tags": list(tags)}
            self._client.publish(self.events_channel, json.dumps(event))

    # --- plain operations -----------------------------------------------------

    def get(self, key: Key, default: Any = None) -> Any:
        """Return the cached value of ``key``, or ``default`` when missing or unreadable.

        A cached "not found" also returns ``default``. On a server error this counts
        ``stats.errors``, logs (rate-limited) and returns ``default``.
        """
        try:
            entry = self._lookup(self.redis_key(key))[1]
        except RedisError as exc:
            self._health.failed(exc, "get")
            return default
        if entry is None or entry[0] is NOT_FOUND:
            return default
        return entry[0]

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
        tags_ = tag_list(tags)
        px = self._codec.px(ttl)
        self._write(self.redis_key(key), self._codec.encode(value, px), px, tags_, None)

    def delete(self, *keys_: Key) -> int:
        """Delete entries; publish an invalidation event; return how many existed.

        Raises:
            redis.exceptions.RedisError: the server is unreachable.
        """
        if not keys_:
            return 0
        full = [self.redis_key(key) for key in keys_]
        deleted = delete_all(self._client, full)
        self._publish(full, [])
        return deleted

    def get_many(self, keys_: Iterable[Key]) -> dict[Key, Any]:
        """Return ``{key: value}`` for the keys found, in one round trip (MGET).

        On a cluster the keys are fetched with one MGET per hash slot, sent in one
        pipeline. On a server error: counts ``stats.errors`` and returns ``{}``.

        Raises:
            TypeError: for a bare ``str`` or ``bytes`` (a common slip for ``[key]``).
        """
        given: object = keys_
        if isinstance(given, str | bytes):
            msg = f"get_many takes an iterable of keys, e.g. [{keys_!r}], not a single string"
            raise TypeError(msg)
        wanted = list(dict.fromkeys(keys_))
        if not wanted:
            return {}
        full = [self.redis_key(key) for key in wanted]
        try:
            raws = read_all(self._client, full)
        except RedisError as exc:
            self._health.failed(exc, "get_many")
            return {}
        found: dict[Key, Any] = {}
        unreadable: list[str] = []
        decode = self._codec.decode
        for key, name, raw in zip(wanted, full, raws, strict=True):
            if raw is not None:
                try:
                    value = decode(raw)[0]
                except SerializationError:
                    unreadable.append(name)
                    continue
                if value is not NOT_FOUND:
                    found[key] = value
        missing = raws.count(None) + len(unreadable)
        self._health.lookups(len(wanted) - missing, missing)
        if unreadable:
            self._health.warn(
                f"dropped {len(unreadable)} unreadable entries, e.g. {unreadable[0]!r}"
            )
            try:
                self._client.delete(*unreadable)
            except RedisError as exc:
                self._health.failed(exc, "delete of unreadable entries")
        return found

    def set_many(self, mapping: Mapping[Key, Any], *, ttl: float | None = None) -> None:
        """Store several entries in one round trip (one script: ``SET ... PX`` per entry).

        Every value is serialized before anything is sent, so a bad value writes
        nothing. On a single server the batch is atomic; on a cluster, per hash slot.

        Raises:
            TypeError: a value cannot be serialized.
            redis.exceptions.RedisError: the server is unreachable or refused.
        """
        if ttl is not None:
            seconds("ttl", ttl)
        if not mapping:
            return
        pxs = self._codec.pxs(len(mapping), ttl)
        entries = self._codec.encode_many(mapping.values(), pxs)
        write_all(self._client, [self.redis_key(key) for key in mapping], entries, pxs)

    def invalidate_tags(self, *tags: str) -> int:
        """Delete every entry stored with any of ``tags``; return how many were deleted.

        Each tag's index is read (SMEMBERS), exactly those members are removed from
        it (SREM), then deleted (one script per hash slot, see
        :func:`~valkey_redis.cache._batch.delete_all`) and one event is published.
        Every step is safe to repeat, so a lost reply is retried and the
        invalidation is applied, never silently skipped.

        Raises:
            redis.exceptions.RedisError: the server is unreachable.
        """
        tags_ = tag_list(tags)
        names = self._tags.members(tags_)
        self._tags.remove(tags_, names)  # first: a member re-added meanwhile stays listed
        deleted = delete_all(self._client, names) if names else 0
        self._publish(names, tags_)
        return deleted
