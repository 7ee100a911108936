"""Denials remembered in-process: a key over its limit is refused with no round trip.

Use this behind the rate limiters: when the server denies a hit with
``retry_after = t``, that hit (and any costlier one) is *certain* to be denied
again until ``t`` -- other hits only use more, and every algorithm's
``retry_after`` is the earliest moment the cost fits. :class:`Denials`
remembers ``until = sent + t`` per key, where ``sent`` is when the request left
this process (before the server read its clock), so the local ban never
outlasts the server's. An abusive client hammering a denied key costs a
dictionary lookup, not a network round trip, and cannot slow the server.

Not for: allowed hits (those must be counted by the server) or peeks of a
costlier hit than the one denied.

How it fails: ``reset(key)`` in this process forgets the key here too, but a
``reset`` from another process (or a ``DEL`` by hand) does not reach this
process: it keeps refusing that key until ``t`` at most (never longer). The
memory is bounded (``max_keys`` per limiter; expired entries go first, then
the oldest).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Denial", "Denials"]

#: (cost denied, denied until, back to full at, remaining when denied), clock seconds.
Denial = tuple[int, float, float, int]


class Denials:
    """A bounded, thread-safe map of key -> the denial that is certain until some time.

    Args:
        max_keys: the most keys remembered.
        clock: monotonic seconds; inject a fake one in tests.
    """

    def __init__(self, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_keys = max_keys
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, Denial] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, key: str, cost: int) -> tuple[float, float, int] | None:
        """Return ``(retry_after, reset_after, remaining)`` if a hit of ``cost`` is sure to fail."""
        entry = self._entries.get(key)  # a lock-free read: dict lookups are atomic
        if entry is None:
            return None
        denied_cost, until, reset_at, remaining = entry
        now = self.clock()
        if now >= until:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            return None
        if cost < denied_cost:
            return None  # a cheaper hit may fit
        return until - now, max(0.0, reset_at - now), remaining

    def remember(self, key: str, cost: int, sent: float, denied: tuple[float, float, int]) -> None:
        """Remember a hit of ``cost`` sent at ``sent`` and denied.

        Args:
            key: the limiter's server key.
            cost: the cost that was denied.
            sent: the :attr:`clock` reading taken before the request was sent.
            denied: the server's ``(retry_after, reset_after, remaining)``.
        """
        retry_after, reset_after, remaining = denied
        until = sent + retry_after
        if until <= self.clock():
            return
        with self._lock:
            entries = self._entries
            known = entries.get(key)
            if known is not None and known[0] < cost and known[1] >= until:
                return  # a cheaper denial lasting as long already covers this one
            if key not in entries and len(entries) >= self.max_keys:
                self._make_room()
            entries[key] = (cost, until, sent + reset_after, remaining)

    def forget(self, key: str) -> None:
        """Drop what is known about ``key`` (after a reset)."""
        with self._lock:
            self._entries.pop(key, None)

    def _make_room(self) -> None:
        now = self.clock()
        for key in [k for k, v in self._entries.items() if v[1] <= now]:
            del self._entries[key]
        while len(self._entries) >= self.max_keys:
            del self._entries[next(iter(self._entries))]  # the oldest
