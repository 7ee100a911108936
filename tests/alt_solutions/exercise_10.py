"""A correct exercise 10 written differently: redis-py's own pubsub worker thread.

``pubsub.run_in_thread`` runs the read loop and calls a handler per message; its
exception handler is where a dropped connection shows up (the worker ignores
the "subscribe" confirmation redis-py sends after reconnecting). ``listen`` is
the handler here, not a loop: the grader looks at behaviour, not at structure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

import redis
from redis.client import PubSub, PubSubWorkerThread


class LocalCache:
    """Values of Valkey keys kept in this process, dropped when any process publishes the key."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self.client = client
        self.channel = channel
        self._copies: dict[str, str] = {}
        self._lock = threading.Lock()
        make: Callable[[], PubSub] = client.pubsub
        self._pubsub = make()
        self._pubsub.subscribe(**{channel: self._on_message})
        self._pubsub.get_message(timeout=5.0)  # the confirmation: subscribed from here on
        self._worker: PubSubWorkerThread = self._pubsub.run_in_thread(
            sleep_time=0.05, daemon=True, exception_handler=self._on_error
        )

    def get(self, key: str) -> str | None:
        """The local copy, else GET (and keep a value that exists)."""
        with self._lock:
            found = self._copies.get(key)
        if found is not None or key in self._copies:
            return found
        value = cast(str | None, self.client.get(key))
        if value is not None:
            with self._lock:
                self._copies.setdefault(key, value)
        return value

    def set(self, key: str, value: str, ttl: int) -> None:
        """SET EX, then PUBLISH the key; forget our own copy."""
        self.client.set(key, value, ex=ttl)
        with self._lock:
            self._copies.pop(key, None)
        self.client.publish(self.channel, key)

    def listen(self) -> None:
        """The worker thread does the reading; this only reports whether it runs."""
        self._worker.join()

    def close(self) -> None:
        """Stop the worker (it closes the pubsub itself) and wait for it."""
        self._worker.stop()
        self._worker.join(5.0)

    def _on_message(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._copies.pop(str(message["data"]), None)

    def _on_error(self, error: BaseException, pubsub: PubSub, thread: PubSubWorkerThread) -> None:
        with self._lock:
            self._copies.clear()
        if not isinstance(error, redis.ConnectionError):
            thread.stop()
