"""The tracking connection of a near cache, minus the I/O: what it is sent, how its reader decides.

Use this from the two near-cache faces (:mod:`valkey_redis.near_cache`, a thread,
and :mod:`valkey_redis.aio.near_cache`, a task): :func:`tracking_options` and
:func:`tracking_commands` say how the dedicated connection is opened (RESP2,
``CLIENT TRACKING ON REDIRECT <itself> BCAST PREFIX <namespace>:``, then
``SUBSCRIBE __redis__:invalidate``), and a :class:`Listener` decides, after each
read, whether to apply a message, send a PING or stop.

Not for: I/O. The faces open, read, write and close; nothing here does.

How it fails: it does not, on its own. A reader that stops for any reason calls
:meth:`Listener.ended`, which flushes the cache's copies if the connection was
still the live one: with nobody listening, no copy can be trusted.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from valkey_redis.core.near import NearCore

__all__ = [
    "CLIENT_NAME",
    "HANDSHAKE_TIMEOUT",
    "INVALIDATE_CHANNEL",
    "Listener",
    "tracking_commands",
    "tracking_options",
]

INVALIDATE_CHANNEL = "__redis__:invalidate"
CLIENT_NAME = "valkey-redis:near-cache"
HANDSHAKE_TIMEOUT = 2.0  # seconds, for a client built without a socket timeout


def tracking_options(pool_kwargs: dict[str, Any], retry: object) -> dict[str, Any]:
    """The options of the tracking connection, from the client pool's ``connection_kwargs``.

    RESP2 (invalidations arrive as pub/sub messages), a handshake bounded by the
    client's socket timeout (a hung server must not block ``get``), no health
    checks and ``retry`` (the face's "never": a reconnect would silently lose
    tracking). The breaker of a guarded pool comes along with the other options.
    """
    return {
        **pool_kwargs,
        "protocol": 2,
        "decode_responses": True,
        "socket_timeout": pool_kwargs.get("socket_timeout") or HANDSHAKE_TIMEOUT,
        "health_check_interval": 0,
        "retry": retry,
        "client_name": CLIENT_NAME,
    }


def tracking_commands(client_id: int, prefix: str) -> list[tuple[str | int, ...]]:
    """After ``CLIENT ID``: tracking in broadcast mode redirected to itself, then SUBSCRIBE.

    Both are sent at once; read one reply for each.
    """
    command: list[str | int] = ["CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST"]
    if prefix:
        command += ["PREFIX", prefix]
    return [tuple(command), ("SUBSCRIBE", INVALIDATE_CHANNEL)]


def _no_ping() -> None:
    """The async face sends its PING after :meth:`Listener.silent` (one thread: no race)."""


class Listener:
    """The decisions of a tracking connection's reader, for one connection.

    It holds the cache only weakly, so a cache dropped without ``close()`` is
    collected (and its finalizer ends the reader).

    Args:
        cache: the near cache whose copies the connection keeps fresh.
        conn: the tracking connection (compared by identity with the live one).
    """

    def __init__(self, cache: NearCore, conn: object) -> None:
        self._ref = weakref.ref(cache)
        self._conn = conn
        self._unanswered = False

    def heard(self, message: object) -> bool:
        """Apply ``message`` (an invalidation, a flush, a PING reply); False: stop reading."""
        self._unanswered = False
        cache = self._ref()
        if cache is None:
            return False
        cache._heard(message)
        return True

    def silent(self, ping: Callable[[], object] = _no_ping) -> bool:
        """Nothing came for ``ping_interval``: True to PING (``ping`` is run), False to stop.

        Stop when a PING already went unanswered (a half-open connection or a hung
        server), the cache is gone, or the connection is no longer the live one
        (closed, replaced). ``ping`` runs under the cache's lock, so a sync reader
        never sends on a connection ``close()`` has taken from another thread.
        """
        cache = self._ref()
        if self._unanswered or cache is None:
            return False
        with cache._lock:
            if cache._conn is not self._conn:
                return False
            ping()
        self._unanswered = True
        return True

    def ended(self) -> None:
        """The reader stopped: flush the cache if this was its live connection."""
        cache = self._ref()
        if cache is not None:
            cache._lost(self._conn)
