"""The explicit cache operations: get, set, delete, batches and tags, each entry with a TTL.

Use this through :class:`valkey_redis.Cache` or :class:`valkey_redis.aio.Cache`,
which add ``get_or_set``, the decorator and write-through on top:
:class:`StoreCore` holds the settings, the keys and the plain operations as flows
(:mod:`valkey_redis.core.flow`) that both faces run -- you decide when to read and
when to write.

Not for: deciding *when* to load (that is ``Cache.get_or_set``: a plain
``get``-then-``set`` lets every concurrent miss hit the database), or for data
that must never be stale.

How it fails:
- Reads degrade: on a server error ``get`` returns its default and ``get_many``
  returns ``{}``; each counts ``stats.errors`` and warns (rate-limited). With the
  client's circuit breaker open that happens with no network wait.
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
from typing import Any, ClassVar

from redis.exceptions import RedisError

from valkey_redis import keys
from valkey_redis.cache._batch import delete_all, read_all, write_all
from valkey_redis.cache._entry import NOT_FOUND, Entry, EntryCodec, seconds
from valkey_redis.cache._stats import CacheStats, Health
from valkey_redis.cache.stampede import WaitTimeoutError
from valkey_redis.cache.tags import TagIndex, tag_list
from valkey_redis.core.flow import Command, Eval, Flow, Merge
from valkey_redis.core.scripts import script
from valkey_redis.core.send import is_cluster
from valkey_redis.serializers import JsonSerializer, SerializationError, Serializer

__all__ = ["Key", "StoreCore"]

Key = str | int
# redis_key remembers the full keys of up to this many str keys of up to this length.
_NAMES_SIZE = 4096
_NAME_MAX = 200
_FILL = script("cache_fill")
#: Seconds a task waits for a GET of the same key sent by another task.
LOOKUP_WAIT = 5.0


class StoreCore:
    """Namespaced entries with TTLs, tags and stats: settings, keys and flows; no I/O.

    The arguments are those of :class:`valkey_redis.Cache` that concern storage.
    A face sets ``_CLIENTS`` (the client classes it can drive), ``_FLIGHT`` and
    ``_READS`` (its single-flights), and runs the flows.
    """

    #: Seconds between two warnings about an unreachable server.
    log_every: float = 30.0
    _CLIENTS: ClassVar[tuple[type, ...]]
    _CLIENT_HINT: ClassVar[str]
    #: The face's single-flight class for concurrent misses (threads or tasks)...
    _FLIGHT: ClassVar[type[Any]]
    #: ...and for concurrent GETs of one key (None: each caller sends its own).
    _READS: ClassVar[type[Any] | None] = None

    def __init__(
        self,
        client: Any,
        *,
        namespace: str,
        ttl: float,
        jitter: float,
        serializer: Serializer | None,
        publish_events: bool,
    ) -> None:
        if not isinstance(client, self._CLIENTS):
            msg = f"client must be {self._CLIENT_HINT}, not {type(client).__name__}"
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
        self._client: Any = client
        self._cluster = is_cluster(client)
        self._prefix = keys.tagged(namespace, "x")[:-2]  # "namespace:{"
        self._names: dict[str, str] = {}  # str key -> full key; bounded
        self._codec = EntryCodec(serializer or JsonSerializer(), self.ttl, self.jitter)
        self._health = Health(namespace, lambda: self.log_every)
        self._tags = TagIndex(namespace)
        # The async face merges concurrent GETs of one key (1,000 tasks on a cold key
        # send one GET, not 1,000 on 1,000 connections); threads each send their own.
        self._reads: Any = None if self._READS is None else self._READS()

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

    def _lookup(self, name: str) -> Flow[tuple[bytes | None, Entry | None]]:
        """GET one entry, count a hit or a miss, delete it if unreadable."""
        get = Command(("GET", name), raw=True)
        if self._reads is None:
            raw = yield get
        else:
            try:
                raw = yield Merge(self._reads, name, get, LOOKUP_WAIT)
            except WaitTimeoutError:
                raw = yield get  # the merged GET is stuck: try our own
        entry = self._read(name, raw)
        if entry is None and raw is not None:
            yield Command(("DEL", name))  # unreadable: a miss, and gone
            raw = None
        return raw, entry

    def _read(self, name: str, raw: bytes | None) -> Entry | None:
        """The entry in a GET's reply, counted as a hit or a miss; None for a miss.

        An unreadable ``raw`` (garbage, another format, a planted pickle) is a miss
        and a warning; the caller deletes it.
        """
        if raw is not None:
            try:
                entry = self._codec.decode(raw)
            except SerializationError as exc:
                self._health.warn(f"dropped unreadable entry {name!r} ({exc})")
            else:
                self._health.hit()
                return entry
        self._health.miss()
        return None

    def _write(
        self, name: str, entry: str, px: int, tags: list[str], lock: tuple[str, str] | None
    ) -> Flow[None]:
        """Store ``entry`` for ``px`` ms under ``tags``; release ``lock`` (key, token) if given.

        Tags are indexed first: a crash in between leaves a harmless dangling
        member, never an entry that ``invalidate_tags`` cannot find.
        """
        yield from self._tags.add(name, px, tags)
        if lock is None:
            yield Command(("SET", name, entry, "PX", px))
        else:  # one script: SET ... PX, then delete the lock if it still holds our token
            yield Eval(_FILL, (name, lock[0]), (entry, px, lock[1]))

    def _publish(self, full_keys: Sequence[str], tags: Sequence[str]) -> Flow[None]:
        if self.publish_events:
            event = {"namespace": self.namespace, "keys": list(full_keys), "tags": list(tags)}
            yield Command(("PUBLISH", self.events_channel, json.dumps(event)))

    def _delete_names(self, names: Sequence[str]) -> Flow[int]:
        """DEL ``names`` (one DEL per hash slot on a cluster, pipelined)."""
        return (yield from delete_all(names, cluster=self._cluster))

    # --- plain operations (the faces document them) ---------------------------

    def _get_flow(self, key: Key, default: Any) -> Flow[Any]:
        try:
            entry = (yield from self._lookup(self.redis_key(key)))[1]
        except RedisError as exc:
            self._health.failed(exc, "get")
            return default
        if entry is None or entry[0] is NOT_FOUND:
            return default
        return entry[0]

    def _set_flow(self, key: Key, value: Any, ttl: float | None, tags: Iterable[str]) -> Flow[None]:
        tags_ = tag_list(tags)
        px = self._codec.px(ttl)
        yield from self._write(self.redis_key(key), self._codec.encode(value, px), px, tags_, None)

    def _delete_flow(self, keys_: Sequence[Key]) -> Flow[int]:
        if not keys_:
            return 0
        full = [self.redis_key(key) for key in keys_]
        deleted = yield from self._delete_names(full)
        yield from self._publish(full, [])
        return deleted

    def _get_many_flow(self, keys_: Iterable[Key]) -> Flow[dict[Key, Any]]:
        given: object = keys_
        if isinstance(given, str | bytes):
            msg = f"get_many takes an iterable of keys, e.g. [{keys_!r}], not a single string"
            raise TypeError(msg)
        wanted = list(dict.fromkeys(keys_))
        if not wanted:
            return {}
        full = [self.redis_key(key) for key in wanted]
        try:
            raws = yield from read_all(full, cluster=self._cluster)
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
                yield from self._delete_names(unreadable)
            except RedisError as exc:
                self._health.failed(exc, "delete of unreadable entries")
        return found

    def _set_many_flow(self, mapping: Mapping[Key, Any], ttl: float | None) -> Flow[None]:
        if ttl is not None:
            seconds("ttl", ttl)
        if not mapping:
            return
        pxs = self._codec.pxs(len(mapping), ttl)
        entries = self._codec.encode_many(mapping.values(), pxs)
        names = [self.redis_key(key) for key in mapping]
        yield from write_all(names, entries, pxs, cluster=self._cluster)

    def _invalidate_tags_flow(self, tags: Sequence[str]) -> Flow[int]:
        tags_ = tag_list(tags)
        names = yield from self._tags.members(tags_)
        yield from self._tags.remove(tags_, names)  # first: a member re-added meanwhile stays
        deleted = (yield from self._delete_names(names)) if names else 0
        yield from self._publish(names, tags_)
        return deleted
