"""Rate-limiter hits: each of our algorithms vs the ``limits`` library's matching strategy.

Both sides keep their state on the same server (``limits`` through its
``RedisStorage``) and decide in one Lua script per hit. Pairs: FixedWindow vs
``FixedWindowRateLimiter``, SlidingWindowCounter vs
``SlidingWindowCounterRateLimiter``, SlidingWindowLog vs ``MovingWindowRateLimiter``
(both exact logs). ``limits`` has no token bucket or GCRA, so those two are
measured against its cheapest strategy (fixed window) as the nearest reference.

DESIGN target: one round trip, and at least the ``limits`` strategy's ops/s for
the same algorithm. Our ``hit`` returns a full result (remaining, reset and
retry times) where ``limits``' returns a bool. Hits rotate over 64 identities
under a limit that is never reached, so every hit takes the "allowed" path.

Abuse: one more comparison hammers a key that is over its limit (1 per hour).
Our limiters know such a hit is denied until ``retry_after`` and answer it in
process, with no round trip; ``limits`` asks the server every time. DESIGN
target: >= 10x its throughput.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

from limits import RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from benchmarks.context import BenchContext
from benchmarks.harness import Comparison, Contender, CountingConnection, Target
from valkey_redis.ratelimit import (
    GCRA,
    FixedWindow,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
)

__all__ = ["build"]

LIMIT = 10_000  # SlidingWindowLog.max_limit; far above the hits per user of a run
WINDOW = 60
IDENTITIES = [f"user-{i}" for i in range(64)]
Ours = FixedWindow | SlidingWindowCounter | SlidingWindowLog | TokenBucket | GCRA


def _ours(limiter: Ours) -> Callable[[int], None]:
    users = itertools.cycle(IDENTITIES)

    def run(n: int) -> None:
        for _ in range(n):
            assert limiter.hit(next(users)).allowed

    return run


def _theirs(strategy: RateLimiter) -> Callable[[int], None]:
    users = itertools.cycle(IDENTITIES)
    item = RateLimitItemPerMinute(LIMIT)

    def run(n: int) -> None:
        for _ in range(n):
            assert strategy.hit(item, next(users))

    return run


def _denied(hit: Callable[[], object]) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            hit()

    return run


def _abuse(ctx: BenchContext, storage: Callable[[str], RedisStorage]) -> Comparison:
    """Hits of a key over its limit: denied locally (ours) vs a round trip each (limits)."""
    prefix, item = ctx.name("rl-abuse"), RateLimitItemPerHour(1)
    ours = [kind(ctx.client, limit=1, window=3600, prefix=prefix) for kind in _KINDS]
    theirs = FixedWindowRateLimiter(storage("abuse"))

    def exhaust() -> None:
        for limiter in ours:
            limiter.hit("abuser")
            limiter.hit("abuser")
        theirs.hit(item, "abuser")

    return Comparison(
        name="rate limit: denied hits of a key over its limit",
        lesson="A denial is certain until retry_after: ours answer it without a round trip.",
        baseline=Contender(
            "limits FixedWindowRateLimiter", _denied(lambda: theirs.hit(item, "abuser"))
        ),
        contenders=[
            Contender(type(limiter).__name__, _denied(functools.partial(limiter.hit, "abuser")))
            for limiter in ours
        ],
        ops=ctx.ops(3000),
        target=Target(">= 10x the limits library on denied hits; 0 round trips", min_ratio=10.0),
        setup=exhaust,
    )


_KINDS: list[type[Ours]] = [FixedWindow, SlidingWindowCounter, SlidingWindowLog, TokenBucket, GCRA]


def build(ctx: BenchContext) -> list[Comparison]:
    """Three matched pairs and one reference comparison for TokenBucket and GCRA."""
    client = ctx.client
    # limits builds its own redis-py client from the URL; count its round trips too.
    options: dict[str, Any] = {"connection_class": CountingConnection}

    def storage(strategy: str) -> RedisStorage:
        # limits' strategies name their keys alike: one prefix per strategy.
        return RedisStorage(ctx.url, key_prefix=ctx.name("limits", strategy), **options)

    prefix = ctx.name("rl")

    def ours(kind: type[Ours]) -> Ours:
        return kind(client, limit=LIMIT, window=WINDOW, prefix=prefix)

    target = Target(
        ">= the limits library's ops/s for the same algorithm; 1 round trip",
        min_ratio=1.0,
        round_trips=1,
    )
    pairs: list[tuple[str, type[Ours], Callable[[RedisStorage], RateLimiter], str]] = [
        ("fixed window", FixedWindow, FixedWindowRateLimiter, "FixedWindowRateLimiter"),
        (
            "sliding window counter",
            SlidingWindowCounter,
            SlidingWindowCounterRateLimiter,
            "SlidingWindowCounterRateLimiter",
        ),
        ("sliding log", SlidingWindowLog, MovingWindowRateLimiter, "MovingWindowRateLimiter"),
    ]
    comparisons = [
        Comparison(
            name=f"rate limit: {title}",
            lesson=f"One allowed hit of {ours_kind.__name__} vs limits' {theirs_name}.",
            baseline=Contender(f"limits {theirs_name}", _theirs(theirs_kind(storage(theirs_name)))),
            contenders=[Contender(ours_kind.__name__, _ours(ours(ours_kind)))],
            ops=ctx.ops(1500),
            target=target,
        )
        for title, ours_kind, theirs_kind, theirs_name in pairs
    ]
    comparisons.append(
        Comparison(
            name="rate limit: token bucket and GCRA",
            lesson="limits has neither; its fixed window (one INCR script) is the reference.",
            baseline=Contender(
                "limits FixedWindowRateLimiter",
                _theirs(FixedWindowRateLimiter(storage("reference"))),
            ),
            contenders=[
                Contender("TokenBucket", _ours(ours(TokenBucket))),
                Contender("GCRA", _ours(ours(GCRA))),
            ],
            ops=ctx.ops(1500),
            target=Target("1 round trip (no same-algorithm peer)", round_trips=1),
        )
    )
    comparisons.append(_abuse(ctx, storage))
    return comparisons
