"""Exercise 10 — pub/sub invalidation and a local cache (reference solution).

Each process keeps copies of hot values in a dict; a write goes to Valkey and is
then announced on a channel, and every process drops its copy of that key. Pub/sub
delivers each message at most once, to whoever is connected at that instant: a
listener whose connection dropped may have missed messages, so it drops
everything it holds rather than serve a stale copy forever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import cast

import redis
from redis.client import PubSub

_POLL_SECONDS = 0.05  # how often the listener checks whether it was closed
_JOIN_SECONDS = 5.0


class LocalCache:
    """Values of Valkey keys kept in this process, dropped when any process publishes the key.

    Args:
        client: a redis-py client with ``decode_responses=True``.
        channel: the pub/sub channel every ``LocalCache`` of this data shares.

    When the constructor returns, the cache is already subscribed to ``channel``
    (a key published right afterwards is not missed), and a daemon thread runs
    :meth:`listen` in the background.
    """

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self.client = client
        self.channel = channel
        self._local: dict[str, str] = {}
        # Bumped on every drop: a GET that a drop overtook must not store its answer.
        self._generation = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        # redis-py leaves pubsub() untyped: name its type once, for mypy --strict.
        open_pubsub: Callable[[], PubSub] = client.pubsub
        self._pubsub = open_pubsub()
        self._pubsub.subscribe(channel)
        # Wait for the confirmation: from then on, no message is missed.
        self._pubsub.get_message(timeout=_JOIN_SECONDS)
        self._thread = threading.Thread(target=self.listen, name="LocalCache", daemon=True)
        self._thread.start()

    def get(self, key: str) -> str | None:
        """Return the value of ``key``: the local copy, else a GET to Valkey (kept locally).

        A second read of the same key sends no command at all. A key Valkey does
        not have returns None and is not kept: the next get asks Valkey again.
        """
        with self._lock:
            if key in self._local:  # `in`, not truthiness: "" is a value too
                return self._local[key]
            generation = self._generation
        value = cast(str | None, self.client.get(key))
        with self._lock:
            # If a drop happened while the GET was on the wire, the answer may be
            # older than the message: return it, but do not keep it.
            if value is not None and generation == self._generation:
                self._local[key] = value
        return value

    def set(self, key: str, value: str, ttl: int) -> None:
        """Write ``value`` to Valkey with a TTL of ``ttl`` seconds, then publish ``key``.

        Every ``LocalCache`` on the channel, in this process or another, drops its
        copy of ``key`` when the message arrives; this one's next get returns
        ``value`` at once. Publish only after the write: a cache that drops its
        copy and reads again before the write lands would keep the old value.
        """
        self.client.set(key, value, ex=ttl)
        self.client.publish(self.channel, key)
        self._drop(key)

    def listen(self) -> None:
        """The listener loop, run by the background thread until :meth:`close`.

        For each message on the channel, drop the local copy of the key it names.
        When the listener's connection drops (the server restarted, a network
        blip, ``CLIENT KILL``), messages may have been missed while it was gone:
        drop every local copy, then keep listening (redis-py reconnects and
        subscribes again on the next read).
        """
        while not self._closed.is_set():
            try:
                message = self._pubsub.get_message(timeout=_POLL_SECONDS)
            except redis.ConnectionError:
                self._drop_all()
                # Not a busy loop while the server is down: wait a little, or until closed.
                self._closed.wait(_POLL_SECONDS)
                continue
            if message is None:
                continue
            if message["type"] == "message":
                self._drop(str(message["data"]))
            elif message["type"] == "subscribe":
                # redis-py reconnected and subscribed again by itself: whatever was
                # published in between never reached us.
                self._drop_all()

    def close(self) -> None:
        """Stop the listener: its thread ends and its connection is closed."""
        self._closed.set()
        if self._thread is not threading.current_thread():
            self._thread.join(_JOIN_SECONDS)
        self._pubsub.close()

    def _drop(self, key: str) -> None:
        with self._lock:
            self._local.pop(key, None)
            self._generation += 1

    def _drop_all(self) -> None:
        with self._lock:
            self._local.clear()
            self._generation += 1
