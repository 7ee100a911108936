"""The rate limiters' core: settings, keys, script arguments, results; no I/O.

Use this through the faces: :mod:`valkey_redis.ratelimit` (sync) and
:mod:`valkey_redis.aio.ratelimit` (asyncio). Both build the same key
(``prefix:{user key}:algorithm:limit/window``), run the same script
(``scripts/ratelimit_<algorithm>.lua``) with the same arguments and read its reply
into the same :class:`RateLimitResult`, so a sync and an async process count
together against one limit.

Not for: choosing an algorithm; the sync face's docstring compares them.

How it fails: invalid settings raise at construction; an outage (see
:data:`valkey_redis.core.send.OUTAGE`) is decided by ``on_error`` here, once, for
both faces; the script is sent ``once`` (never re-sent after a lost reply), so a
hit is never counted twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

from valkey_redis import keys
from valkey_redis._denials import Denials
from valkey_redis.core.scripts import script
from valkey_redis.core.send import check_face

__all__ = [
    "FALLBACK_RETRY_AFTER",
    "LimiterCore",
    "OnError",
    "RateLimitResult",
    "Request",
    "rate_limit_headers",
]

#: What a limiter does when the server is unreachable.
OnError = Literal["raise", "allow", "deny"]

#: ``retry_after`` (seconds) of a result denied by ``on_error="deny"``.
FALLBACK_RETRY_AFTER = 1.0

#: What a face sends for one hit: (keys, args, cost, local send time, remember a denial).
Request = tuple[tuple[str], list[Any], int, float, bool]

_MICROS = 1_000_000
_MAX_WINDOW = 1e9  # ~31 years; keeps every microsecond count exact in Lua's doubles


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


def rate_limit_headers(
    result: RateLimitResult,
    *,
    window: float | None = None,
    policy: str = "default",
    legacy: bool = False,
) -> dict[str, str]:
    """Return the rate-limit response headers for ``result``, and ``Retry-After`` if denied.

    By default these are the fields of the IETF draft (draft-ietf-httpapi-ratelimit-headers,
    syntax of drafts -08 to -11): ``RateLimit: "default";r=<remaining>;t=<seconds>`` and
    ``RateLimit-Policy: "default";q=<limit>;w=<window>``. ``t`` is the time until the
    limit is fully available again; on a denial it is the ``Retry-After`` value, so the
    two never disagree. Times are whole seconds rounded up, so a client that waits that
    long is not refused for being a fraction of a second early.

    Args:
        result: what a limiter's ``hit`` or ``peek`` returned.
        window: the limiter's window in seconds, for ``w`` (left out when None);
            ``limiter.headers(result)`` passes it for you.
        policy: the policy name both fields carry (printable ASCII).
        legacy: True for the fields of drafts -00 to -06 instead (``RateLimit-Limit``,
            ``RateLimit-Remaining``, ``RateLimit-Reset``), for clients that read those.

    Raises:
        ValueError: for a ``policy`` that is empty or not printable ASCII.
    """
    retry_after = max(1, math.ceil(result.retry_after))
    reset = retry_after if not result.allowed else math.ceil(result.reset_after)
    if legacy:
        headers = {
            "RateLimit-Limit": str(result.limit),
            "RateLimit-Remaining": str(result.remaining),
            "RateLimit-Reset": str(math.ceil(result.reset_after)),
        }
    else:
        if not policy or not all(" " <= char <= "~" for char in policy):
            msg = f"policy must be non-empty printable ASCII, got {policy!r}"
            raise ValueError(msg)
        name = '"' + policy.replace("\\", "\\\\").replace('"', '\\"') + '"'  # an sf-string
        quota = f"{name};q={result.limit}"
        if window is not None:
            quota += f";w={max(1, math.ceil(window))}"
        headers = {"RateLimit": f"{name};r={result.remaining};t={reset}", "RateLimit-Policy": quota}
    if not result.allowed:
        headers["Retry-After"] = str(retry_after)
    return headers


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{name} must be an int, not {type(value).__name__}"
        raise TypeError(msg)
    if value <= 0:
        msg = f"{name} must be > 0, got {value}"
        raise ValueError(msg)
    return value


class LimiterCore:
    """What every algorithm and both faces share; subclasses name their script."""

    _algorithm: ClassVar[str]
    #: The largest ``limit`` / ``cost`` this algorithm accepts (None: any); see SlidingWindowLog.
    max_limit: ClassVar[int | None] = None
    max_cost: ClassVar[int | None] = None

    def __init__(
        self,
        client: Any,
        *,
        limit: int,
        window: float,
        prefix: str = "ratelimit",
        on_error: OnError = "raise",
    ) -> None:
        """Configure the limiter; nothing is sent to the server here.

        Args:
            client: a redis-py client (``connect()`` or ``aio.connect()``), or a cluster client.
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
        check_face(client, self)
        self._client = client
        self._script = script(f"ratelimit_{self._algorithm}")
        self._denials = Denials()  # keys certain to be denied until some time

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

    def _cost(self, cost: int) -> int:
        """Validate the ``cost`` of a hit (1..limit, and at most ``max_cost``)."""
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
        return cost

    def headers(
        self, result: RateLimitResult, *, policy: str = "default", legacy: bool = False
    ) -> dict[str, str]:
        """Return HTTP headers for ``result`` with this limiter's window.

        See :func:`rate_limit_headers`; ``w`` in ``RateLimit-Policy`` is ``window``.
        """
        return rate_limit_headers(result, window=self.window, policy=policy, legacy=legacy)

    # One hit is: _request (no I/O; maybe already decided), one script sent once by the
    # face, then _result, or _fallback on an outage. No flow here: a hit is one command,
    # and a generator per hit costs the hot path about a microsecond.

    def _request(
        self, key: str, cost: int, *, dry: bool, now: int | None
    ) -> RateLimitResult | Request:
        """What to send for one hit or peek, or the result when it is certain already.

        ``now`` (microseconds) replaces the server clock; tests use it to replay
        sequences against a reference model without sleeping.
        """
        name = self.key_for(key)
        if now is None:
            known = self._denials.check(name, cost)
            if known is not None:  # certain until retry_after: no round trip
                return RateLimitResult(False, self.limit, known[2], known[1], known[0])
        args: list[Any] = [self.limit, self._window_us, cost]
        if dry or now is not None:  # the scripts' defaults otherwise: two arguments less a hit
            args += ["1" if dry else "0", "" if now is None else now]
        return (name,), args, cost, self._denials.clock(), now is None

    def _result(self, request: Request, reply: Any) -> RateLimitResult:
        """The result of the script's reply (and a denial remembered until retry_after)."""
        allowed, remaining, reset_us, retry_us = cast("list[int]", reply)
        result = RateLimitResult(
            allowed == 1, self.limit, max(0, remaining), reset_us / _MICROS, retry_us / _MICROS
        )
        if not result.allowed and request[4]:
            denied = (result.retry_after, result.reset_after, result.remaining)
            self._denials.remember(request[0][0], request[2], request[3], denied)
        return result

    def _fallback(self, cost: int) -> RateLimitResult:
        """The result when the server is unreachable; call it in the ``except OUTAGE``.

        Raises:
            the outage being handled, when ``on_error="raise"``.
        """
        if self.on_error == "raise":
            raise  # noqa: PLE0704 - re-raises the outage the caller is handling
        if self.on_error == "allow":
            return RateLimitResult(True, self.limit, self.limit - cost, 0.0, 0.0, fallback=True)
        return RateLimitResult(
            False, self.limit, 0, FALLBACK_RETRY_AFTER, FALLBACK_RETRY_AFTER, fallback=True
        )

    def _forget(self, key: str) -> str:
        """Drop the local denial of ``key`` (before a reset); return its server key."""
        name = self.key_for(key)
        self._denials.forget(name)
        return name
