"""Rate limiting: five algorithms behind one shape, exact under concurrency, one round trip.

Use this when requests from many processes must share one limit per user, API key
or IP. Pick an algorithm (TL;DR):

- :class:`FixedWindow` — cheapest; but up to 2x ``limit`` can pass around a window boundary.
- :class:`SlidingWindowLog` — exact ("at most ``limit`` in any ``window``"); memory grows
  with ``limit`` (one entry per allowed unit).
- :class:`SlidingWindowCounter` — close to exact, two numbers per key; the usual choice.
- :class:`TokenBucket` — bursts up to ``limit``, then a steady ``limit`` per ``window``.
- :class:`GCRA` — the same behaviour as the token bucket with one timestamp per key.

Not for: limits local to one process (a Python counter is faster). For asyncio use
:mod:`valkey_redis.aio` (same keys and scripts: sync and async hits count together).

How it works: each decision is one Lua script (``scripts/ratelimit_*.lua``) sent with
EVALSHA; it reads the time from the server (``TIME``), so client clocks never matter,
and sets a TTL on the one key it writes. A user key maps to one key per limiter,
``prefix:{user key}:algorithm:limit/window``, whose hash tag keeps a user's keys in
one cluster slot.

How it fails: when the server is unreachable (``ConnectionError``/``TimeoutError``,
or ``ClusterDownError`` during a cluster failover) ``on_error`` decides: ``"raise"``
(the default) re-raises, ``"allow"`` fails open, ``"deny"`` fails closed; either way
the result has ``fallback=True``. ``reset`` always raises. A hit is never
counted twice: :func:`valkey_redis.connect` retries commands whose reply was lost,
which would re-run the script, so limiters send it outside redis-py's retry loop, on
a pooled connection: the network may fail before the command is written (then it is
safe to reconnect, and redis-py does) but never after. A lost reply therefore surfaces
as an error (or the fallback) and the hit, which the server did count, is not re-sent.
With :func:`valkey_redis.connect`'s circuit breaker open (a hung or dead server),
``on_error`` applies at once, with no network wait.

Under abuse: a hit denied with ``retry_after = t`` stays denied until ``t`` (for
that key and any cost at least as high) unless someone resets the key, so later
such hits in this process are refused locally, with no round trip
(:mod:`valkey_redis._denials`; bounded memory). ``reset`` here forgets them; a
``reset`` by another process does not, and this one keeps refusing until ``t``.
"""

from __future__ import annotations

from valkey_redis._run import eval_script
from valkey_redis.core.ratelimit import (
    FALLBACK_RETRY_AFTER,
    LimiterCore,
    OnError,
    RateLimitResult,
    rate_limit_headers,
)
from valkey_redis.core.send import OUTAGE

__all__ = [
    "FALLBACK_RETRY_AFTER",
    "GCRA",
    "FixedWindow",
    "OnError",
    "RateLimitResult",
    "SlidingWindowCounter",
    "SlidingWindowLog",
    "TokenBucket",
    "rate_limit_headers",
]


class _Limiter(LimiterCore):
    """The sync face: the core builds each request and reads each reply; this sends it."""

    def hit(self, key: str, cost: int = 1) -> RateLimitResult:
        """Take ``cost`` units for ``key`` if they are available; one round trip.

        Raises:
            TypeError: for a non-str ``key`` or a non-int ``cost``.
            ValueError: for an empty ``key``, or ``cost`` outside ``1..limit`` or ``max_cost``.
            redis.exceptions.ConnectionError: (or ``TimeoutError``) when the server is
                unreachable and ``on_error="raise"``.
        """
        return self._decide(key, self._cost(cost), dry=False)

    def peek(self, key: str) -> RateLimitResult:
        """Report what a hit of cost 1 would get now, consuming nothing."""
        return self._decide(key, 1, dry=True)

    def reset(self, key: str) -> None:
        """Forget ``key``'s usage (its full ``limit`` is available again); errors propagate.

        Denials remembered by *other* processes are not reset: they keep refusing
        the key until its ``retry_after`` at most (see :mod:`valkey_redis._denials`).
        """
        self._client.delete(self._forget(key))

    def _decide(self, key: str, cost: int, *, dry: bool, now: int | None = None) -> RateLimitResult:
        request = self._request(key, cost, dry=dry, now=now)
        if isinstance(request, RateLimitResult):
            return request
        try:
            reply = eval_script(self._client, self._script, request[0], request[1], once=True)
        except OUTAGE:
            return self._fallback(cost)
        return self._result(request, reply)


class FixedWindow(_Limiter):
    """At most ``limit`` units per window, windows aligned to the server clock.

    Cheapest (one small hash per key), but a client can get ``limit`` at the end of
    one window and ``limit`` again at the start of the next: up to 2x in a moment.
    """

    _algorithm = "fixed_window"


class SlidingWindowLog(_Limiter):
    """At most ``limit`` units in any ``window``-long interval; exact.

    Keeps one sorted-set entry per allowed unit, so memory and time per hit grow
    with ``limit`` (fine for tens or hundreds, costly for 100k per key). A script
    holds the server while it runs, so ``limit`` is capped at :attr:`max_limit`
    (one call expires at most that many entries) and ``cost`` at :attr:`max_cost`
    (one call writes at most that many): a few milliseconds of server time at most.
    """

    _algorithm = "sliding_log"
    max_limit = 10_000
    max_cost = 1_000


class SlidingWindowCounter(_Limiter):
    """Approximates the sliding log with two counters per key.

    Estimates usage as the previous window's count, weighted by its overlap with
    the last ``window`` seconds, plus the current count. Never lets more than
    ``limit`` through within one aligned window; may refuse slightly early or late
    against an exact log when traffic is uneven.
    """

    _algorithm = "sliding_counter"


class TokenBucket(_Limiter):
    """A bucket of ``limit`` tokens refilled continuously at ``limit`` per ``window``.

    Allows a burst of ``limit``, then a steady rate; a missing key is a full bucket.
    """

    _algorithm = "token_bucket"


class GCRA(_Limiter):
    """Generic cell rate algorithm: a burst of ``limit``, then one unit per ``window / limit``.

    Behaves like :class:`TokenBucket` but stores a single timestamp per key. The
    emission interval is rounded down to whole microseconds so that every
    comparison is exact.
    """

    _algorithm = "gcra"
