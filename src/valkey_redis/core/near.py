"""The I/O-free half of both near caches: the local copies, reads in flight, keys, checks.

Use this when you change what a near cache *does*: :class:`NearCore` is the
state and the decisions shared by :class:`valkey_redis.NearCache` (a thread reads
the tracking connection) and :class:`valkey_redis.aio.NearCache` (a task reads
it). It holds the LRU of copies with their deadlines, the reads in flight (so an
invalidation that overtakes a ``GET`` marks it stale and the value is not kept),
the counters, the key layout and the argument checks; what the tracking
connection is sent and how its reader decides is :mod:`valkey_redis.core.tracking`.
The faces only do the I/O.

Not for: I/O. Nothing here opens a socket, sleeps, starts a thread or touches an
event loop; a ``threading.Lock`` guards the state (the sync face's listener
thread and its callers share it; on an event loop it is never contended).

How it fails: it does not, on its own. A message it does not recognise is
ignored; losing the watched connection, whatever the reason, flushes everything.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from valkey_redis import keys
from valkey_redis._validate import count, seconds
from valkey_redis.core.flow import Command
from valkey_redis.core.send import is_cluster

__all__ = ["NearCacheStats", "NearCore", "Read"]

# keys.escape as one str.translate call: the hit path builds a key per call.
_ESCAPES = keys.ESCAPES


@dataclass(frozen=True)
class NearCacheStats:
    """A snapshot of a near cache's counters.

    Attributes:
        hits: reads answered from this process.
        misses: reads that went to Valkey.
        invalidations: local copies (or reads in flight) dropped because the key changed.
        flushes: whole-cache flushes (``FLUSHALL``/``FLUSHDB``, tracking connection lost).
        evictions: copies dropped to stay within ``max_entries``.
        size: copies held now.
    """

    hits: int
    misses: int
    invalidations: int
    flushes: int
    evictions: int
    size: int

    @property
    def hit_ratio(self) -> float:
        """Hits over reads; 0.0 before the first read."""
        reads = self.hits + self.misses
        return self.hits / reads if reads else 0.0


class Read:
    """A read in flight; an invalidation of its key marks it stale so it is not stored."""

    __slots__ = ("stale",)

    def __init__(self, *, stale: bool) -> None:
        self.stale = stale


class NearCore:
    """State and decisions of a near cache; the faces document the arguments.

    A face sets ``_ACCEPTS`` (its client class), ``_CONNECT`` (its ``connect`` for a
    URL) and ``_START_LOCK`` (``threading.Lock`` or ``asyncio.Lock``: one caller at
    a time starts tracking).

    Raises:
        TypeError: for a fakeredis or cluster client, or one not of ``_ACCEPTS``.
        ValueError: for ``max_entries < 1``, a non-positive ``ping_interval``, or a
            client without ``decode_responses=True``.
    """

    _ACCEPTS: type[Any]
    _CONNECT: Callable[[str], Any]
    _START_LOCK: Callable[[], Any]

    def __init__(
        self,
        client: Any,
        *,
        namespace: str | None = None,
        max_entries: int = 10_000,
        ping_interval: float = 5.0,
    ) -> None:
        if is_cluster(client):
            msg = "NearCache does not support Valkey Cluster (tracking is per node)"
            raise TypeError(msg)
        if type(client).__module__.startswith("fakeredis"):
            msg = "NearCache needs a real Valkey server: fakeredis has no CLIENT TRACKING"
            raise TypeError(msg)
        count("max_entries", max_entries)
        seconds("ping_interval", ping_interval)
        self._owns_client = isinstance(client, str)
        self._client = self._CONNECT(client) if isinstance(client, str) else client
        accepts = self._ACCEPTS
        if not isinstance(self._client, accepts):
            msg = f"NearCache needs a {accepts.__module__}.{accepts.__qualname__}, not {client!r}"
            raise TypeError(msg)
        if not self._client.connection_pool.connection_kwargs.get("decode_responses"):
            msg = "NearCache needs a client with decode_responses=True (connect() sets it)"
            raise ValueError(msg)
        self._start_lock = self._START_LOCK()
        self._prefix = f"{keys.escape(namespace)}:" if namespace is not None else ""
        self.max_entries = max_entries
        self.ping_interval = ping_interval
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()  # -> (value, deadline)
        self._reads: dict[str, list[Read]] = {}
        self._lock = threading.Lock()  # entries, reads, counters, the live connection
        self._conn: Any = None  # the tracking connection while live
        self._closed = False
        self._counts = dict.fromkeys(("hits", "misses", "invalidations", "flushes", "evictions"), 0)
        #: The server's id of the tracking connection (for ``CLIENT KILL ID``), once started.
        self.tracking_id: int | None = None
        # Test seam: called with the key after a GET's reply, before its value is stored
        # (the async face awaits what it returns).
        self._before_store: Callable[[str], Any] | None = None

    def key(self, key: str) -> str:
        """Return the Valkey key for ``key``: ``<namespace>:<escaped key>``, or ``key`` itself.

        Raises:
            TypeError: for a key that is not a ``str``.
            ValueError: for an empty key under a namespace.
        """
        given: object = key
        if not isinstance(given, str):
            msg = f"near-cache keys must be str, not {type(given).__name__}"
            raise TypeError(msg)
        if not self._prefix:
            return key
        if not key:
            msg = "key parts must not be empty"
            raise ValueError(msg)
        return self._prefix + key.translate(_ESCAPES)

    @property
    def stats(self) -> NearCacheStats:
        """A snapshot of the counters."""
        with self._lock:
            return NearCacheStats(**self._counts, size=len(self._entries))

    @property
    def is_tracking(self) -> bool:
        """True while the tracking connection is up (local copies can be served)."""
        return self._conn is not None

    def __len__(self) -> int:
        return len(self._entries)

    # --- reads ----------------------------------------------------------------------

    def _lookup(self, name: str, now: float) -> str | None:
        """The live local copy of ``name`` (a hit), or None (a miss: the face reads Valkey)."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry[1] > now:
                self._entries.move_to_end(name)
                self._counts["hits"] += 1
                return entry[0]
            if entry is not None:  # past its TTL: Valkey's expiry message may still be coming
                del self._entries[name]
            self._counts["misses"] += 1
            return None

    def _begin(self, name: str) -> tuple[Read, tuple[Command, Command]]:
        """Register a read of ``name`` and return it with the commands to send (one round trip).

        Registered before the ``GET`` is sent: any write after the server reads the
        key sends an invalidation that finds this read and marks it stale. Without a
        tracking connection nothing would tell us, so the read is stale from the start.
        """
        with self._lock:
            read = Read(stale=self._conn is None)
            self._reads.setdefault(name, []).append(read)
        return read, (Command(("GET", name)), Command(("PTTL", name)))

    def _settle(self, name: str, read: Read, started: float, reply: list[Any] | None) -> None:
        """End the read of ``name``; keep its value unless it failed (None) or went stale."""
        with self._lock:
            pending = self._reads[name]
            pending.remove(read)
            if not pending:
                del self._reads[name]
            if reply is None:
                return
            value, pttl = cast("tuple[str | None, int]", tuple(reply))
            if value is not None and pttl != -2 and not read.stale:
                deadline = started + pttl / 1000 if pttl >= 0 else float("inf")
                self._entries[name] = (value, deadline)
                self._entries.move_to_end(name)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                    self._counts["evictions"] += 1

    # --- writes ---------------------------------------------------------------------

    def _written(self, key: str, value: str, ttl: float) -> tuple[str, int]:
        """Check a ``set`` and return the Valkey key and the TTL in milliseconds.

        Raises:
            TypeError: for a value that is not a ``str`` (``get`` returns strings).
            ValueError: for a ``ttl`` that is not a positive, finite number.
        """
        given: object = value
        if not isinstance(given, str):
            msg = f"near-cache values must be str, not {type(given).__name__} (encode it first)"
            raise TypeError(msg)
        seconds("ttl", ttl)
        return self.key(key), max(1, round(ttl * 1000))

    def _drop(self, names: list[str], *, count: bool = False) -> None:
        with self._lock:
            for name in names:
                dropped = self._entries.pop(name, None) is not None
                for read in self._reads.get(name, ()):
                    read.stale = dropped = True
                if dropped and count:
                    self._counts["invalidations"] += 1

    # --- the tracking connection ----------------------------------------------------

    def _opening(self) -> None:
        if self._closed:
            msg = "this NearCache is closed"
            raise RuntimeError(msg)

    def _attach(self, conn: object, client_id: int) -> bool:
        """Make ``conn`` the live tracking connection; False (not attached) once closed."""
        with self._lock:
            if self._closed:
                return False
            self._conn, self.tracking_id = conn, client_id
            return True

    def _detach(self) -> Any:
        """Close: no more tracking, no copies; return the connection to disconnect (or None)."""
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            self._entries.clear()
            return conn

    def _heard(self, message: object) -> None:
        """Apply one message of the tracking connection (PING replies and others are ignored)."""
        if not (isinstance(message, list) and len(message) == 3 and message[0] == "message"):
            return
        names = cast("list[str] | None", message[2])
        if names is not None:
            self._drop(names, count=True)
            return
        with self._lock:  # the server dropped everything (FLUSHALL/FLUSHDB)
            self._flush_locked()

    def _lost(self, conn: object) -> None:
        """``conn`` is gone: if it was the live one, flush (nothing tells us of changes now)."""
        with self._lock:
            if self._conn is conn:  # not already replaced or closed
                self._conn = None
                self._flush_locked()

    def _flush_locked(self) -> None:
        self._entries.clear()
        for pending in self._reads.values():
            for read in pending:
                read.stale = True
        self._counts["flushes"] += 1
