"""Checks of exercise 5 against whose clock and how long: server TIME, polling, the bucket's TTL.

Two application servers whose clocks are 10 s apart share one limit: the
learner's module gets each caller's clock in turn (``time.time`` and friends
shifted by +5 s, then -5 s), and the answers must match the model as if one
clock ran. A frozen client clock makes two requests land "at the same instant":
each must still count. An empty bucket polled faster than one token's worth
must still refill (a refused request that moves the refill time forward
without keeping the refill starves it forever). The bucket's TTL must outlast
a full refill, at rates below and above one token per second.
"""

from __future__ import annotations

import functools
import time as real_time
from collections.abc import Callable
from typing import Any

from valkey_redis.grading.checks.ex5_time import Bucket, Log, play
from valkey_redis.grading.clock import VirtualClock
from valkey_redis.grading.context import Ctx
from valkey_redis.grading.runner import check

E = 5
BUCKET = "ratelimit:bucket:user42"
SKEW = 5.0


class _Skewed(VirtualClock):
    """The real clock, shifted by ``offset`` seconds (one application server's view)."""

    offset = 0.0

    def time(self) -> float:
        return real_time.time() + self.offset

    def monotonic(self) -> float:
        return real_time.monotonic() + self.offset

    def sleep(self, seconds: float) -> None:
        real_time.sleep(seconds)


def _two_servers(ctx: Ctx, clock: _Skewed, task: str, args: tuple[Any, ...]) -> Callable[[], Any]:
    """Calls that alternate between a server whose clock is +SKEW s and one at -SKEW s."""
    turn = [0]

    def call() -> Any:
        clock.offset = SKEW if turn[0] % 2 == 0 else -SKEW
        turn[0] += 1
        return ctx.call(task, "user42", *args)

    return call


def _skewed(ctx: Ctx, task: str, model: Any, args: tuple[Any, ...]) -> None:
    clock = _Skewed()
    ctx.given(f"two application servers whose clocks are {2 * SKEW:g} s apart take turns")
    with clock.installed(ctx.module):
        play(ctx, "server clocks differ", model, _two_servers(ctx, clock, task, args), [(0.0, 6)])


@check(E, "allow_token_bucket", "allow_token_bucket keeps the bucket until a full refill")
def _bucket_ttl_full(ctx: Ctx) -> None:
    for capacity, rate in ((3, 0.25), (5, 2.0), (4, 0.4), (2, 3.0)):
        ctx.reset()
        for _ in range(capacity):
            ctx.call("allow_token_bucket", "user42", capacity, rate)
        ttl = ctx.pttl(BUCKET)
        need = capacity / rate * 1000
        ctx.given(f"capacity {capacity}, {rate} tokens/s, drained by {capacity} requests")
        ctx.expect(
            ttl >= need - 200,
            f"PTTL >= {need:.0f} ms (capacity / refill_per_sec: an empty bucket's refill "
            "to full); an earlier expiry hands out a full bucket too soon",
            ctx.ttl_text(ttl, int(need), BUCKET),
        )


@check(E, "allow_token_bucket", "allow_token_bucket refills while polled faster than 1 / rate")
def _bucket_polled(ctx: Ctx) -> None:
    for capacity, rate, gap, count in ((2, 2.0, 0.4, 10), (1, 0.25, 2.0, 8), (3, 1.0, 0.5, 10)):
        ctx.reset()
        ctx.given(f"an empty bucket polled every {gap} s (refused requests cost nothing)")
        play(
            ctx,
            f"polled every {gap} s",
            Bucket(capacity, rate),
            functools.partial(ctx.call, "allow_token_bucket", "user42", capacity, rate),
            [(0.0, capacity), *[(gap, 1)] * count],
        )


@check(E, "allow_token_bucket", "allow_token_bucket reads the server's clock, not the caller's")
def _bucket_server_clock(ctx: Ctx) -> None:
    _skewed(ctx, "allow_token_bucket", Bucket(2, 0.25), (2, 0.25))


@check(E, "allow_sliding_log", "allow_sliding_log reads the server's clock, not the caller's")
def _log_server_clock(ctx: Ctx) -> None:
    _skewed(ctx, "allow_sliding_log", Log(2, SKEW), (2, SKEW))


@check(E, "allow_sliding_log", "allow_sliding_log counts requests made at the same instant")
def _log_same_instant(ctx: Ctx) -> None:
    ctx.given("the caller's clock shows the same instant for every request")
    with VirtualClock().installed(ctx.module):
        got = [ctx.call("allow_sliding_log", "user42", 3, 60.0) for _ in range(5)]
    want = [True, True, True, False, False]
    ctx.expect(
        got == want,
        f"{want}: each request its own log member (a random suffix), whatever the clock says",
        got,
    )
