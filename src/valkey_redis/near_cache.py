"""A near cache: hot values kept in this process, dropped the moment Valkey says they changed.

Use this when a few keys are read far more often than they are written and a
network round trip per read (tens of microseconds at best) is the cost that
matters: a local hit is a dictionary lookup. Valkey keeps the copies fresh with
``CLIENT TRACKING``: every write of a tracked key, by any client, an expiry, an
eviction or a ``FLUSHALL`` sends an invalidation message, and the copy is dropped.

Not for: values you must read-your-writes from *another* process at every instant
(a copy lives until its invalidation arrives, normally well under a millisecond),
Valkey Cluster (tracking is per node; not supported), fakeredis (it has no
``CLIENT TRACKING``: the constructor raises ``TypeError``), or clients without
``decode_responses=True``.

How it works: one dedicated connection (RESP2) turns on tracking in broadcast
mode for the namespace's key prefix, redirected to itself, and subscribes to
``__redis__:invalidate``; a daemon thread reads it. Broadcast mode makes the
server announce every write under the prefix, whichever connection read the key,
so reads can use the ordinary connection pool and the only connection whose loss
matters is the one we watch. The price is a message for every write under the
prefix, read locally or not: keep the namespace narrow.

How it fails: when the tracking connection drops (server restart, network,
``CLIENT KILL``, output-buffer limit, or no reply to a PING for two
``ping_interval``), everything local is flushed and nothing is cached until the
next :meth:`NearCache.get` turns tracking on again; if Valkey is down or hung,
that call raises ``redis.exceptions.ConnectionError`` (or ``TimeoutError``) like
a plain ``GET``, within the client's socket timeout: the tracking handshake is
bounded too, and with the circuit breaker open it fails at once. A read that an
invalidation overtakes (the key changed while the ``GET`` was on the wire) returns
its value but does not store it, so no stale copy survives the race.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, cast

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from valkey_redis import keys
from valkey_redis._validate import count, seconds
from valkey_redis.client import connect

__all__ = ["INVALIDATE_CHANNEL", "NearCache", "NearCacheStats"]

INVALIDATE_CHANNEL = "__redis__:invalidate"
CLIENT_NAME = "valkey-redis:near-cache"
_HANDSHAKE_TIMEOUT = 2.0  # seconds, for a client built without a socket timeout
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


class _Connection(Protocol):
    """The typed slice of ``redis.connection.Connection`` used here (its methods are untyped)."""

    def connect(self) -> None: ...
    def send_command(self, *args: Any, **kwargs: Any) -> None: ...
    def read_response(self, *, timeout: float = ..., disconnect_on_error: bool = ...) -> Any: ...
    def disconnect(self) -> None: ...


class _Read:
    """A read in flight; an invalidation of its key marks it stale so it is not stored."""

    __slots__ = ("stale",)

    def __init__(self, *, stale: bool) -> None:
        self.stale = stale


class NearCache:
    """An in-process LRU of string values in front of Valkey, kept fresh by CLIENT TRACKING.

    Args:
        client: a ``redis.Redis`` with ``decode_responses=True`` (as from
            :func:`valkey_redis.connect`), or a URL to connect to (closed by :meth:`close`).
        namespace: keys live under ``<namespace>:`` and only that prefix is tracked;
            None tracks every key of the database.
        max_entries: the most copies kept here; the least recently used go first.
        ping_interval: seconds of silence on the tracking connection before a PING
            checks it is still alive.

    Raises:
        TypeError: for a fakeredis or cluster client.
        ValueError: for ``max_entries < 1``, a non-positive ``ping_interval``, or a
            client without ``decode_responses=True``.

    Nothing touches the network here; tracking starts with the first :meth:`get`.
    """

    def __init__(
        self,
        client: redis.Redis | str,
        *,
        namespace: str | None = None,
        max_entries: int = 10_000,
        ping_interval: float = 5.0,
    ) -> None:
        if isinstance(client, RedisCluster):
            msg = "NearCache does not support Valkey Cluster (tracking is per node)"
            raise TypeError(msg)
        if type(client).__module__.startswith("fakeredis"):
            msg = "NearCache needs a real Valkey server: fakeredis has no CLIENT TRACKING"
            raise TypeError(msg)
        count("max_entries", max_entries)
        seconds("ping_interval", ping_interval)
        self._owns_client = isinstance(client, str)
        self._client: redis.Redis = connect(client) if isinstance(client, str) else client
        if not self._client.connection_pool.connection_kwargs.get("decode_responses"):
            msg = "NearCache needs a client with decode_responses=True (connect() sets it)"
            raise ValueError(msg)
        self._prefix = f"{keys.escape(namespace)}:" if namespace is not None else ""
        self.max_entries = max_entries
        self.ping_interval = ping_interval
        self._entries: OrderedDict[str, tuple[str, float]] = (
            OrderedDict()
        )  # key -> (value, deadline)
        self._reads: dict[str, list[_Read]] = {}
        self._lock = threading.Lock()  # entries, reads, counters, the live connection
        self._start_lock = threading.Lock()  # one thread at a time (re)starts tracking
        self._conn: _Connection | None = None  # the tracking connection while live
        self._thread: threading.Thread | None = None
        self._closed = False
        self._counts = dict.fromkeys(("hits", "misses", "invalidations", "flushes", "evictions"), 0)
        #: The server's id of the tracking connection (for ``CLIENT KILL ID``), once started.
        self.tracking_id: int | None = None
        # Test seam: called with the key after a GET's reply, before its value is stored.
        self._before_store: Callable[[str], None] | None = None

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

    def get(self, key: str) -> str | None:
        """Return the value of ``key``: the local copy, else a ``GET`` (then kept locally).

        Raises:
            redis.exceptions.ConnectionError: when Valkey cannot be reached on a miss.
        """
        name = self.key(key)
        started = time.monotonic()
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry[1] > started:
                self._entries.move_to_end(name)
                self._counts["hits"] += 1
                return entry[0]
            if entry is not None:  # past its TTL: Valkey's expiry message may still be coming
                del self._entries[name]
            self._counts["misses"] += 1
        self._ensure_tracking()
        with self._lock:
            # Registered before the GET is sent: any write after the server reads the
            # key sends an invalidation that finds this entry and marks it stale.
            read = _Read(stale=self._conn is None)
            self._reads.setdefault(name, []).append(read)
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.get(name)
                pipe.pttl(name)
                value, pttl = cast("tuple[str | None, int]", tuple(pipe.execute()))
            if self._before_store is not None:
                self._before_store(name)
        finally:
            with self._lock:
                pending = self._reads[name]
                pending.remove(read)
                if not pending:
                    del self._reads[name]
        with self._lock:
            if value is not None and pttl != -2 and not read.stale:
                deadline = started + pttl / 1000 if pttl >= 0 else float("inf")
                self._store(name, value, deadline)
        return value

    def set(self, key: str, value: str, *, ttl: float) -> None:
        """Write ``value`` to Valkey with a TTL (seconds) and drop the local copy.

        The copy is not refreshed here: our own write comes back as an
        invalidation a moment later; the next :meth:`get` reads the new value.

        Raises:
            TypeError: for a value that is not a ``str`` (``get`` returns strings:
                ``set("k", 1)`` would read back as ``"1"``; encode it yourself).
            ValueError: for a ``ttl`` that is not a positive, finite number.
        """
        given: object = value
        if not isinstance(given, str):
            msg = f"near-cache values must be str, not {type(given).__name__} (encode it first)"
            raise TypeError(msg)
        seconds("ttl", ttl)
        name = self.key(key)
        self._client.set(name, value, px=max(1, round(ttl * 1000)))
        self._drop([name])

    def delete(self, key: str) -> bool:
        """Delete ``key`` in Valkey and here; return True when it existed in Valkey."""
        name = self.key(key)
        existed = bool(self._client.delete(name))
        self._drop([name])
        return existed

    def close(self) -> None:
        """Stop tracking, drop every copy, and close the client if we created it."""
        with self._start_lock:
            self._closed = True
            with self._lock:
                conn, self._conn = self._conn, None
                self._entries.clear()
            if conn is not None:
                conn.disconnect()  # wakes the listener thread, which then exits
            if self._thread is not None:
                self._thread.join(timeout=5)
            if self._owns_client:
                self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- local bookkeeping (call with self._lock held) ----------------------------

    def _store(self, name: str, value: str, deadline: float) -> None:
        self._entries[name] = (value, deadline)
        self._entries.move_to_end(name)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self._counts["evictions"] += 1

    def _flush_locked(self) -> None:
        self._entries.clear()
        for pending in self._reads.values():
            for read in pending:
                read.stale = True
        self._counts["flushes"] += 1

    def _drop(self, names: list[str], *, count: bool = False) -> None:
        with self._lock:
            for name in names:
                dropped = self._entries.pop(name, None) is not None
                for read in self._reads.get(name, ()):
                    read.stale = dropped = True
                if dropped and count:
                    self._counts["invalidations"] += 1

    # --- the tracking connection ----------------------------------------------------

    def _ensure_tracking(self) -> None:
        if self._conn is not None:
            return
        with self._start_lock:
            if self._closed:
                msg = "this NearCache is closed"
                raise RuntimeError(msg)
            if self._conn is not None:
                return
            conn, self.tracking_id = self._open_tracking()
            # The thread holds this cache only weakly, and a finalizer closes the
            # connection: a NearCache dropped without close() frees both.
            thread = threading.Thread(
                target=_listen_weakly,
                args=(weakref.ref(self), conn, self.ping_interval),
                name="near-cache-invalidations",
                daemon=True,
            )
            with self._lock:
                self._conn = conn
            weakref.finalize(self, conn.disconnect)
            thread.start()
            self._thread = thread

    def _open_tracking(self) -> tuple[_Connection, int]:
        pool = self._client.connection_pool
        options = {
            **pool.connection_kwargs,
            "protocol": 2,  # invalidations arrive as ordinary pub/sub messages
            "decode_responses": True,
            # The handshake waits at most the client's socket timeout (a hung server
            # must not block get()); the listener reads with its own ping_interval.
            "socket_timeout": pool.connection_kwargs.get("socket_timeout") or _HANDSHAKE_TIMEOUT,
            "health_check_interval": 0,
            "retry": Retry(NoBackoff(), 0),  # a reconnect would silently lose tracking
            "client_name": CLIENT_NAME,
        }
        conn = cast("_Connection", pool.connection_class(**options))
        try:
            conn.connect()
            conn.send_command("CLIENT", "ID")
            client_id = int(conn.read_response())
            command: list[str | int] = ["CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST"]
            if self._prefix:
                command += ["PREFIX", self._prefix]
            conn.send_command(*command)
            conn.read_response()
            conn.send_command("SUBSCRIBE", INVALIDATE_CHANNEL)
            conn.read_response()
        except BaseException:
            conn.disconnect()
            raise
        return conn, client_id

    def _ping(self, conn: _Connection) -> bool:
        """Send a PING on ``conn``; False when ``conn`` is no longer ours (closed, replaced)."""
        with self._lock:  # never send on a connection close() has taken
            if self._conn is not conn:
                return False
            conn.send_command("PING", check_health=False)
        return True

    def _invalidated(self, names: list[str] | None) -> None:
        if names is None:  # the server dropped everything (FLUSHALL/FLUSHDB)
            with self._lock:
                self._flush_locked()
        else:
            self._drop(names, count=True)

    def _lost(self, conn: _Connection) -> None:
        with self._lock:
            if self._conn is conn:  # not already replaced or closed
                self._conn = None
                self._flush_locked()
        conn.disconnect()


def _listen_weakly(ref: weakref.ref[NearCache], conn: _Connection, ping_interval: float) -> None:
    """Apply invalidation messages until the connection drops (or the cache is gone); flush.

    Only a weak reference to the cache is held while waiting for a message, so a
    dropped cache is collected; its finalizer disconnects ``conn``, which ends this.
    """
    unanswered_ping = False
    try:
        while True:
            try:
                message = conn.read_response(timeout=ping_interval, disconnect_on_error=False)
            except RedisTimeoutError:
                cache = ref()
                if unanswered_ping or cache is None or not cache._ping(conn):
                    return  # half-open connection, a dropped cache, or close()
                del cache
                unanswered_ping = True
                continue
            unanswered_ping = False
            if isinstance(message, list) and len(message) == 3 and message[0] == "message":
                cache = ref()
                if cache is None:
                    return
                cache._invalidated(cast("list[str] | None", message[2]))
                del cache
    except (RedisError, OSError):  # dropped, killed, or closed by close()
        return
    finally:
        cache = ref()
        if cache is not None:
            cache._lost(conn)
        else:
            conn.disconnect()
