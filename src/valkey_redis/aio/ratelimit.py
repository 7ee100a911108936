"""Rate limiting for asyncio: the five limiters of :mod:`valkey_redis.ratelimit`, awaited.

Use this in async handlers: ``r = await aio.GCRA(client, limit=10, window=60).hit(key)``
returns the same :class:`~valkey_redis.RateLimitResult`. Keys, scripts and
arguments come from :mod:`valkey_redis.core.ratelimit`, shared with the sync
limiters, so sync and async processes count together against one limit.

Not for: choosing an algorithm; :mod:`valkey_redis.ratelimit` compares them.

How it fails: as the sync limiters (``on_error`` decides on an outage). A hit is
sent once, outside redis-py's retry loop: a lost reply raises (or falls back)
and is never re-sent, so it is never counted twice; a cancelled hit drops its
connection, so no late reply is read as another command's answer.
"""

from __future__ import annotations

from valkey_redis.aio._run import eval_script
from valkey_redis.core.ratelimit import LimiterCore, RateLimitResult
from valkey_redis.core.send import OUTAGE

__all__ = ["GCRA", "FixedWindow", "SlidingWindowCounter", "SlidingWindowLog", "TokenBucket"]


class _Limiter(LimiterCore):
    """The async face: the core builds each request and reads each reply; this awaits it."""

    _ASYNC = True  # the face check refuses sync clients

    async def hit(self, key: str, cost: int = 1) -> RateLimitResult:
        """Take ``cost`` units for ``key`` if available; see :meth:`valkey_redis.GCRA.hit`."""
        return await self._decide(key, self._cost(cost), dry=False)

    async def peek(self, key: str) -> RateLimitResult:
        """Report what a hit of cost 1 would get now, consuming nothing."""
        return await self._decide(key, 1, dry=True)

    async def reset(self, key: str) -> None:
        """Forget ``key``'s usage; errors propagate (see :meth:`valkey_redis.GCRA.reset`)."""
        await self._client.delete(self._forget(key))

    async def _decide(
        self, key: str, cost: int, *, dry: bool, now: int | None = None
    ) -> RateLimitResult:
        request = self._request(key, cost, dry=dry, now=now)
        if isinstance(request, RateLimitResult):
            return request
        try:
            reply = await eval_script(self._client, self._script, *request[:2], once=True)
        except OUTAGE:
            return self._fallback(cost)
        return self._result(request, reply)


class FixedWindow(_Limiter):
    """:class:`valkey_redis.FixedWindow` for asyncio."""

    _algorithm = "fixed_window"


class SlidingWindowLog(_Limiter):
    """:class:`valkey_redis.SlidingWindowLog` for asyncio."""

    _algorithm = "sliding_log"


class SlidingWindowCounter(_Limiter):
    """:class:`valkey_redis.SlidingWindowCounter` for asyncio."""

    _algorithm = "sliding_counter"


class TokenBucket(_Limiter):
    """:class:`valkey_redis.TokenBucket` for asyncio."""

    _algorithm = "token_bucket"


class GCRA(_Limiter):
    """:class:`valkey_redis.GCRA` for asyncio."""

    _algorithm = "gcra"
