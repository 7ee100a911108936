"""The shop's Prometheus metrics, on a registry of its own (one per app).

Use: the routes count into :class:`Metrics`; ``GET /metrics`` renders
:meth:`Metrics.render` in the Prometheus text format with ``prometheus_client``.

Not for: request tracing; these are counters, gauges and histograms.

How it fails: nothing here talks to Valkey; the gauges that need it (write-behind
backlog) are set by the route just before rendering, and keep their last value
when Valkey cannot answer.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["BREAKER_STATES", "CONTENT_TYPE_LATEST", "Metrics"]

BREAKER_STATES = ("closed", "open", "half_open")


class Metrics:
    """Every metric of one shop app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.cache = Counter(
            "shop_cache_lookups",
            "Product cache lookups by result (hit, miss).",
            ["result"],
            registry=r,
        )
        self.cache_errors = Gauge(
            "shop_cache_errors", "Cache server errors absorbed by a fallback (a miss).", registry=r
        )
        self.db_queries = Gauge(
            "shop_db_queries", "Slow product queries that reached the database.", registry=r
        )
        self.limiter = Counter(
            "shop_ratelimit_decisions",
            "Rate-limit decisions by policy (addr, user) and decision (allowed, denied, fallback).",
            ["policy", "decision"],
            registry=r,
        )
        self.lock_wait = Histogram(
            "shop_checkout_lock_wait_seconds",
            "Time spent waiting for a cart's lock.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0),
            registry=r,
        )
        self.checkouts = Counter(
            "shop_checkouts",
            "Checkouts by outcome (accepted, stale, busy, error).",
            ["outcome"],
            registry=r,
        )
        self.views_unsent = Gauge(
            "shop_views_unsent",
            "Views counted in this process, not yet queued (waiting for the next push).",
            registry=r,
        )
        self.backlog = Gauge(
            "shop_writebehind_backlog", "View counts accepted, not yet in the database.", registry=r
        )
        self.breaker = Gauge(
            "shop_breaker_state",
            "1 for the circuit breaker's current state.",
            ["state"],
            registry=r,
        )
        self.requests = Histogram(
            "shop_request_seconds",
            "Request latency by route and status.",
            ["route", "status"],
            registry=r,
        )

    def set_breaker(self, state: str | None) -> None:
        """Mark ``state`` (None: no breaker on the client; every state 0)."""
        for name in BREAKER_STATES:
            self.breaker.labels(state=name).set(1 if state == name else 0)

    def cache_counts(self) -> tuple[int, int]:
        """``(hits, misses)`` of the product cache so far."""
        get = self.registry.get_sample_value
        name = "shop_cache_lookups_total"
        return int(get(name, {"result": "hit"}) or 0), int(get(name, {"result": "miss"}) or 0)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)
