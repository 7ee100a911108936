"""Rate limiting: five algorithms behind one shape, exact under concurrency, one round trip.

Use this when requests from many processes must share one limit per user, API key
or IP. Pick an algorithm (TL;DR):

- :class:`FixedWindow` — cheapest; but up to 2x ``limit`` can pass around a window boundary.
- :class:`SlidingWindowLog` — exact ("at most ``limit`` in any ``window``"); memory grows
  with ``limit`` (one entry per allowed unit).
- :class:`SlidingWindowCounter` — close to exact, two numbers per key; the usual choice.
- :class:`TokenBucket` — bursts up to ``limit``, then a steady ``limit`` per ``window``.
- :class:`GCRA` — the same behaviour as the token bucket with one timestamp per key.

Not for: limits local to one process (a Python counter is faster), or async code
(the limiters take a synchronous redis-py client).

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
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, ClassVar, Literal, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from valkey_redis import keys
from valkey_redis._once import send_once as _send_once

__all__ = [
    "GCRA",
    "FixedWindow",
    "OnError",
    "RateLimitResult",
    "SlidingWindowCounter",
    "SlidingWindowLog",
    "TokenBucket",
    "rate_limit_headers",
]

#: What a limiter does when the server is unreachable.
OnError = Literal["raise", "allow", "deny"]

#: ``retry_after`` (seconds) of a result denied by ``on_error="deny"``.
FALLBACK_RETRY_AFTER = 1.0

_MICROS = 1_000_000
_MAX_WINDOW = 1e9  # ~31 years; keeps every microsecond count exact in Lua's doubles
_REDIRECTS = 3  # MOVED/ASK replies mean the script did not run, so following them is safe
# What on_error covers: the server unreachable, or a cluster without a primary for the
# slot (CLUSTERDOWN during a failover; the script did not run).
_OUTAGE = (RedisConnectionError, RedisTimeoutError, ClusterDownError)


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """The decision for one hit (or one peek).

    Attributes:
        allowed: whether the hit may proceed.
        limit: the limiter's ``limit``.
        remaining: units a further hit could still use now (0 when a cost-1 hit is denied).
        reset_after: seconds until the key is back to its full ``limit``, if no hit arrives.
        retry_after: seconds until this hit would be allowed; 0 when allowed.
        fallback: True when ``on_error`` made the decision because the server was unreachable.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    retry_after: float
    fallback: bool = False


def rate_limit_headers(result: RateLimitResult) -> dict[str, str]:
    """Return the ``RateLimit-*`` response headers for ``result`` (and ``Retry-After`` if denied).

    Times are whole seconds rounded up, so a client that waits that long is not refused
    for being a fraction of a second early.
    """
    headers = {
        "RateLimit-Limit": str(result.limit),
        "RateLimit-Remaining": str(result.remaining),
        "RateLimit-Reset": str(math.ceil(result.reset_after)),
    }
    if not result.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(result.retry_after)))
    return headers


@dataclass(frozen=True)
class _Script:
    text: str
    sha: str


@cache
def _script(name: str) -> _Script:
    text = (resources.files("valkey_redis") / "scripts" / f"ratelimit_{name}.lua").read_text(
        encoding="utf-8"
    )
    # SHA1 is what EVALSHA names scripts by; it protects nothing here.
    return _Script(text, hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest())


def _eval_on(node: redis.Redis, script: _Script, evalsha: tuple[Any, ...], *, asking: bool) -> Any:
    first = [("ASKING",)] if asking else []
    try:
        return _send_once(node, *first, evalsha)
    except NoScriptError:
        # It did not run; EVAL runs it and caches it under the same SHA for next time.
        return _send_once(node, *first, ("EVAL", script.text, *evalsha[2:]))


def _evalsha(client: redis.Redis | RedisCluster, script: _Script, key: str, args: list[Any]) -> Any:
    """Run ``script`` on ``key`` exactly once (or not at all, raising)."""
    evalsha = ("EVALSHA", script.sha, 1, key, *args)
    if not isinstance(client, RedisCluster):
        return _eval_on(client, script, evalsha, asking=False)
    cluster: Any = client  # RedisCluster's routing methods are untyped
    node, asking = cluster.get_node_from_key(key), False
    for _ in range(_REDIRECTS):
        try:
            return _eval_on(client.get_redis_connection(node), script, evalsha, asking=asking)
        except MovedError as exc:  # the slot moved: the script did not run, follow it
            client.nodes_manager.move_slot(exc)
            node, asking = cluster.get_node_from_key(key), False
        except AskError as exc:  # the slot is migrating and the key has left: ask the target
            node, asking = cluster.get_node(host=exc.host, port=exc.port), True
            if node is None:
                raise
        except _OUTAGE:
            # The node may have died and a replica taken over: refresh the slot map (as
            # RedisCluster does for its own commands) so the next hit finds the new
            # primary. This hit is not re-sent: the server may have counted it.
            with contextlib.suppress(RedisError, RedisClusterException):
                client.nodes_manager.initialize()
            raise
    msg = f"the cluster kept redirecting the rate-limit key {key!r}"
    raise ResponseError(msg)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{name} must be an int, not {type(value).__name__}"
        raise TypeError(msg)
    if value <= 0:
        msg = f"{name} must be > 0, got {value}"
        raise ValueError(msg)
    return value


class _Limiter:
    """What every algorithm shares; subclasses name their script."""

    _algorithm: ClassVar[str]
    #: The largest ``limit`` / ``cost`` this algorithm accepts (None: any); see SlidingWindowLog.
    max_limit: ClassVar[int | None] = None
    max_cost: ClassVar[int | None] = None

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        limit: int,
        window: float,
        prefix: str = "ratelimit",
        on_error: OnError = "raise",
    ) -> None:
        """Configure the limiter; nothing is sent to the server here.

        Args:
            client: a synchronous redis-py client (``connect()``), or a cluster client.
            limit: units allowed per ``window`` (the bucket size for token bucket and GCRA).
            window: seconds (float ok, at least 1 ms).
            prefix: first part of every key this limiter writes.
            on_error: when the server is unreachable, ``"raise"`` the error, ``"allow"``
                the hit (fail open) or ``"deny"`` it (fail closed).

        Raises:
            TypeError: for a non-int ``limit``, a non-number ``window`` or a non-str ``prefix``.
            ValueError: for ``limit <= 0``, ``window`` under 1 ms (or 1 us per unit) or over 1e9 s,
                an empty ``prefix``, or an unknown ``on_error``.
        """
        self.limit = _positive_int("limit", limit)
        if self.max_limit is not None and self.limit > self.max_limit:
            msg = (
                f"{type(self).__name__} accepts limit <= {self.max_limit} (got {limit}): one "
                "call may write that many entries while the server waits; use "
                "SlidingWindowCounter, GCRA or TokenBucket for large limits"
            )
            raise ValueError(msg)
        if isinstance(window, bool) or not isinstance(window, int | float):
            msg = f"window must be a number of seconds, not {type(window).__name__}"
            raise TypeError(msg)
        if not 0.001 <= window <= _MAX_WINDOW:  # also refuses NaN
            msg = f"window must be between 0.001 s and {_MAX_WINDOW:g} s, got {window}"
            raise ValueError(msg)
        self.window = float(window)
        self._window_us = round(window * _MICROS)
        if self._window_us < self.limit:
            msg = f"window / limit must be at least 1 microsecond ({limit} per {window} s)"
            raise ValueError(msg)
        if not isinstance(prefix, str):
            msg = f"prefix must be str, not {type(prefix).__name__}"
            raise TypeError(msg)
        # The key is keys.tagged(prefix, user key, algorithm, "limit/window"); all but
        # the user key are escaped once here rather than on every hit.
        sample = keys.tagged(prefix, "_", self._algorithm, f"{self.limit}/{self.window:.15g}s")
        self._head, self._tail = sample.split("{_}")
        if on_error not in ("raise", "allow", "deny"):
            msg = f"on_error must be 'raise', 'allow' or 'deny', got {on_error!r}"
            raise ValueError(msg)
        self.prefix = prefix
        self.on_error: OnError = on_error
        self._client = client
        self._script = _script(self._algorithm)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(limit={self.limit}, window={self.window:g})"

    def key_for(self, key: str) -> str:
        """Return the server key that holds the state of user key ``key``."""
        if not isinstance(key, str):
            msg = f"rate-limit keys must be str, not {type(key).__name__}"
            raise TypeError(msg)
        if not key:
            msg = "rate-limit keys must not be empty"
            raise ValueError(msg)
        return f"{self._head}{{{keys.escape(key)}}}{self._tail}"

    def hit(self, key: str, cost: int = 1) -> RateLimitResult:
        """Take ``cost`` units for ``key`` if they are available; one round trip.

        Raises:
            TypeError: for a non-str ``key`` or a non-int ``cost``.
            ValueError: for an empty ``key``, or ``cost`` outside ``1..limit`` or ``max_cost``.
            redis.exceptions.ConnectionError: (or ``TimeoutError``) when the server is
                unreachable and ``on_error="raise"``.
        """
        cost = _positive_int("cost", cost)
        if self.max_cost is not None and cost > self.max_cost:
            msg = (
                f"{type(self).__name__} accepts cost <= {self.max_cost} per hit (got {cost}): "
                "each unit is one sorted-set entry written while the server waits"
            )
            raise ValueError(msg)
        if cost > self.limit:
            msg = f"cost {cost} exceeds limit {self.limit}: it could never be allowed"
            raise ValueError(msg)
        return self._decide(key, cost, dry=False)

    def peek(self, key: str) -> RateLimitResult:
        """Report what a hit of cost 1 would get now, consuming nothing."""
        return self._decide(key, 1, dry=True)

    def reset(self, key: str) -> None:
        """Forget ``key``'s usage (its full ``limit`` is available again); errors propagate."""
        self._client.delete(self.key_for(key))

    @staticmethod
    def headers(result: RateLimitResult) -> dict[str, str]:
        """Return HTTP headers for ``result``; see :func:`rate_limit_headers`."""
        return rate_limit_headers(result)

    def _decide(self, key: str, cost: int, *, dry: bool, now: int | None = None) -> RateLimitResult:
        # ``now`` (microseconds) replaces the server clock; tests use it to replay
        # sequences against a reference model without sleeping.
        name = self.key_for(key)
        args = [self.limit, self._window_us, cost, "1" if dry else "0", "" if now is None else now]
        try:
            reply = cast("list[int]", _evalsha(self._client, self._script, name, args))
        except _OUTAGE:
            if self.on_error == "raise":
                raise
            if self.on_error == "allow":
                return RateLimitResult(True, self.limit, self.limit - cost, 0.0, 0.0, fallback=True)
            return RateLimitResult(
                False, self.limit, 0, FALLBACK_RETRY_AFTER, FALLBACK_RETRY_AFTER, fallback=True
            )
        allowed, remaining, reset_us, retry_us = reply
        return RateLimitResult(
            allowed == 1, self.limit, max(0, remaining), reset_us / _MICROS, retry_us / _MICROS
        )


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
