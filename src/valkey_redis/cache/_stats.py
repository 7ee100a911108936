"""A cache's health: hit/miss/load/error counters and warnings that cannot flood the log.

Use this to see whether a cache earns its keep (``cache.stats.hit_ratio``) and
to hear, once, that its server is down. :class:`Health` counts under a lock, so
counts from many threads are exact; :class:`CacheStats` is the frozen snapshot
that ``Cache.stats`` returns.

Not for: metrics across processes or over time. Each process counts its own
calls since the cache was created; export the snapshot to your metrics system
for dashboards.

How it fails: counts live in one cache object and die with the process; a
snapshot is consistent (one lock) but out of date as soon as it is taken. A dead
server would log one warning per call -- a flood that hides everything else --
so only one warning per ``every()`` seconds reaches WARNING; the ones in between
go to DEBUG, and the next warning says how many there were. The logger is
``valkey_redis.cache``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CacheStats", "Health"]

logger = logging.getLogger("valkey_redis.cache")


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


class Health:
    """Thread-safe counters and rate-limited warnings of one cache.

    Args:
        namespace: names the cache in log messages.
        every: returns the minimum seconds between two warnings (read at each warning,
            so changing ``Cache.log_every`` takes effect at once).
    """

    def __init__(self, namespace: str, every: Callable[[], float]) -> None:
        self._namespace = namespace
        self._every = every
        self._lock = threading.Lock()
        self._hits = self._misses = self._loads = self._errors = 0
        self._last_warning = -math.inf
        self._suppressed = 0

    def hit(self) -> None:
        """Count one hit."""
        with self._lock:
            self._hits += 1

    def miss(self) -> None:
        """Count one miss."""
        with self._lock:
            self._misses += 1

    def lookups(self, hits: int, misses: int) -> None:
        """Count the hits and misses of a batch."""
        with self._lock:
            self._hits += hits
            self._misses += misses

    def loaded(self) -> None:
        """Count one loader call."""
        with self._lock:
            self._loads += 1

    def snapshot(self) -> CacheStats:
        """Return the counters as a :class:`CacheStats`."""
        with self._lock:
            return CacheStats(self._hits, self._misses, self._loads, self._errors)

    def reset(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._hits = self._misses = self._loads = self._errors = 0

    def failed(self, exc: Exception, action: str) -> None:
        """Count a server error that a fallback absorbed, and warn (rate-limited)."""
        with self._lock:
            self._errors += 1
        self.warn(f"{action} failed ({type(exc).__name__}: {exc}); serving without the cache")

    def warn(self, message: str) -> None:
        """Log ``message`` at WARNING at most once per ``every()`` seconds, else at DEBUG."""
        now = time.monotonic()
        every = self._every()
        with self._lock:
            due = now - self._last_warning >= every
            suppressed, self._suppressed = (
                (self._suppressed, 0) if due else (0, self._suppressed + 1)
            )
            if due:
                self._last_warning = now
        if due:
            logger.warning(
                "cache %r: %s (%d more cache warnings were logged at DEBUG; next in %gs)",
                self._namespace,
                message,
                suppressed,
                every,
            )
        else:
            logger.debug("cache %r: %s", self._namespace, message)
