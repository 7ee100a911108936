"""Checks of exercise 5: rate limiting.

Time passes by :func:`~valkey_redis.grading.travel.travel` (every TTL and stored
timestamp moved back), so gaps cost no real time; one bucket check still lets
0.25 s of real time pass, for state the time travel cannot see. Margins are
wide so a busy machine does not change the verdict.
"""

from __future__ import annotations

import math
import time
from typing import Any

from valkey_redis.grading.context import Ctx, in_threads, race, show
from valkey_redis.grading.runner import check
from valkey_redis.grading.travel import travel

E = 5
FIXED = "ratelimit:fixed:user42"
LOG = "ratelimit:log:user42"
BUCKET = "ratelimit:bucket:user42"
SLOW_REFILL = 0.001  # tokens per second: no refill during a check


def _calls(ctx: Ctx, name: str, count: int, *args: Any) -> list[Any]:
    return [ctx.call(name, "user42", *args) for _ in range(count)]


def _bools(results: list[Any]) -> bool:
    return all(isinstance(r, bool) for r in results)


def _racing_limit_of_one(ctx: Ctx, name: str, *args: Any) -> None:
    def verify(mine: Any, theirs: Any) -> None:
        allowed = [r for r in (mine, theirs) if r is True]
        ctx.expect(
            len(allowed) == 1,
            "exactly one of the two allowed",
            f"yours {show(mine)}, theirs {show(theirs)}",
        )

    shown = ", ".join(show(a) for a in args)
    race(
        ctx,
        setup=lambda: ctx.given("a fresh limit that allows 1 request"),
        mine=lambda: ctx.call(name, "user42", *args),
        theirs=lambda: ctx.func(name)(ctx.raw, "user42", *args),
        theirs_text=f"another caller's {name}(client, 'user42', {shown})",
        verify=verify,
    )


def _threads_allow_five(ctx: Ctx, name: str, *args: Any) -> None:
    func = ctx.func(name)
    results = in_threads(ctx, 12, lambda _, c: func(c, "user42", *args), what=name)
    allowed = sum(r is True for r in results)
    ctx.expect(allowed == 5, "exactly 5 allowed", f"{allowed} allowed")


# --- allow_fixed_window ------------------------------------------------------------


@check(E, "allow_fixed_window", "allow_fixed_window allows exactly limit requests")
def _fixed_limit(ctx: Ctx) -> None:
    got = _calls(ctx, "allow_fixed_window", 5, 3, 100)
    want = [True, True, True, False, False]
    ctx.expect(got == want and _bools(got), f"{want} for a limit of 3", got)


@check(
    E,
    "allow_fixed_window",
    "allow_fixed_window's counter ratelimit:fixed:{key} expires after window s",
)
def _fixed_ttl(ctx: Ctx) -> None:
    ctx.call("allow_fixed_window", "user42", 3, 100)
    ttl = ctx.pttl(FIXED)
    ctx.expect(
        90_000 < ttl <= 100_000,
        f"{FIXED} to expire in 100 s",
        ctx.ttl_text(ttl, 100_000, FIXED),
    )


@check(E, "allow_fixed_window", "allow_fixed_window does not extend the window on later hits")
def _fixed_no_extend(ctx: Ctx) -> None:
    ctx.call("allow_fixed_window", "user42", 3, 100)
    ctx.raw.pexpire(FIXED, 30_000)
    ctx.given(f"between the two calls, 70 of the 100 s pass ({FIXED} now expires in 30 s)")
    ctx.call("allow_fixed_window", "user42", 3, 100)
    ttl = ctx.pttl(FIXED)
    ctx.expect(
        0 < ttl <= 30_000, "still at most 30 s left", f"{ctx.ttl_text(ttl)} (the window moved)"
    )


@check(E, "allow_fixed_window", "allow_fixed_window gives a TTL to a counter left without one")
def _fixed_heals(ctx: Ctx) -> None:
    ctx.raw.set(FIXED, "1")
    ctx.given(f"{FIXED} = '1' without a TTL (a crash hit between INCR and EXPIRE)")
    ctx.call("allow_fixed_window", "user42", 3, 100)
    ttl = ctx.pttl(FIXED)
    ctx.expect(
        ttl > 0,
        "the counter to get a TTL (it must always have one)",
        f"{ctx.ttl_text(ttl)}: it never resets",
    )


@check(E, "allow_fixed_window", "allow_fixed_window allows again after the window")
def _fixed_resets(ctx: Ctx) -> None:
    _calls(ctx, "allow_fixed_window", 4, 3, 100)
    ctx.raw.delete(FIXED)
    ctx.given(f"a full window, then the window ended ({FIXED} expired)")
    got = ctx.call("allow_fixed_window", "user42", 3, 100)
    ctx.expect(got is True, "True (a new window)", got)


@check(
    E, "allow_fixed_window", "allow_fixed_window never lets two racing callers past a limit of 1"
)
def _fixed_race(ctx: Ctx) -> None:
    _racing_limit_of_one(ctx, "allow_fixed_window", 1, 100)


@check(E, "allow_fixed_window", "allow_fixed_window allows exactly 5 of 12 threads")
def _fixed_threads(ctx: Ctx) -> None:
    _threads_allow_five(ctx, "allow_fixed_window", 5, 100)


# --- allow_sliding_log -------------------------------------------------------------


@check(E, "allow_sliding_log", "allow_sliding_log allows exactly limit requests in the window")
def _log_limit(ctx: Ctx) -> None:
    got = _calls(ctx, "allow_sliding_log", 5, 3, 60.0)
    want = [True, True, True, False, False]
    ctx.expect(got == want and _bools(got), f"{want} for a limit of 3", got)


@check(E, "allow_sliding_log", "allow_sliding_log records allowed requests only")
def _log_records(ctx: Ctx) -> None:
    _calls(ctx, "allow_sliding_log", 5, 3, 60.0)
    kind = ctx.type_of(LOG)
    ctx.expect(kind == "zset", f"a sorted set {LOG}", f"{LOG} is {kind} (keys: {ctx.all_keys()})")
    size = ctx.raw.zcard(LOG)
    ctx.expect(size == 3, "3 entries (the 2 rejected requests not recorded)", f"ZCARD = {size}")


@check(E, "allow_sliding_log", "allow_sliding_log keeps a TTL on the log")
def _log_ttl(ctx: Ctx) -> None:
    _calls(ctx, "allow_sliding_log", 4, 3, 60.0)
    ttl = ctx.pttl(LOG)
    ctx.expect(ttl > 0, f"a TTL on {LOG}", ctx.ttl_text(ttl))


@check(
    E, "allow_sliding_log", "allow_sliding_log slides: a slot frees when the oldest request leaves"
)
def _log_slides(ctx: Ctx) -> None:
    ctx.given("limit 2, window 0.6 s: A at 0 s, B and C at 0.3 s, D and E at 0.7 s")
    got = [ctx.call("allow_sliding_log", "user42", 2, 0.6)]
    travel(ctx.raw, 0.3)
    got += [ctx.call("allow_sliding_log", "user42", 2, 0.6) for _ in range(2)]
    travel(ctx.raw, 0.4)
    got += [ctx.call("allow_sliding_log", "user42", 2, 0.6) for _ in range(2)]
    want = [True, True, False, True, False]
    ctx.expect(
        got == want,
        f"{want}: at 0.7 s only A has left the window, so one slot is free",
        got,
    )


@check(E, "allow_sliding_log", "allow_sliding_log never lets two racing callers past a limit of 1")
def _log_race(ctx: Ctx) -> None:
    _racing_limit_of_one(ctx, "allow_sliding_log", 1, 60.0)


@check(E, "allow_sliding_log", "allow_sliding_log allows exactly 5 of 12 threads")
def _log_threads(ctx: Ctx) -> None:
    _threads_allow_five(ctx, "allow_sliding_log", 5, 60.0)


# --- allow_token_bucket ------------------------------------------------------------


@check(
    E, "allow_token_bucket", "allow_token_bucket starts full: capacity requests pass, then no more"
)
def _bucket_full(ctx: Ctx) -> None:
    got = _calls(ctx, "allow_token_bucket", 5, 3, SLOW_REFILL)
    want = [True, True, True, False, False]
    ctx.expect(got == want and _bools(got), f"{want} for a capacity of 3", got)
    kind = ctx.type_of(BUCKET)
    ctx.expect(kind == "hash", f"a hash {BUCKET}", f"{BUCKET} is {kind} (keys: {ctx.all_keys()})")


@check(E, "allow_token_bucket", "allow_token_bucket keeps a TTL on the bucket")
def _bucket_ttl(ctx: Ctx) -> None:
    _calls(ctx, "allow_token_bucket", 2, 3, 1.0)
    ttl = ctx.pttl(BUCKET)
    ctx.expect(ttl > 0, f"a TTL on {BUCKET}", ctx.ttl_text(ttl))


@check(E, "allow_token_bucket", "allow_token_bucket refills over time")
def _bucket_refills(ctx: Ctx) -> None:
    _calls(ctx, "allow_token_bucket", 3, 2, 10.0)
    time.sleep(0.25)
    ctx.given("capacity 2, 10 tokens/s: drained by 3 requests, then 0.25 s of refill")
    got = ctx.call("allow_token_bucket", "user42", 2, 10.0)
    ctx.expect(got is True, "True (2.5 tokens refilled, capped at 2)", got)


@check(E, "allow_token_bucket", "allow_token_bucket never holds more than capacity tokens")
def _bucket_capped(ctx: Ctx) -> None:
    _calls(ctx, "allow_token_bucket", 2, 2, 2.0)
    travel(ctx.raw, 1.5)
    ctx.given("capacity 2, 2 tokens/s: drained, then 1.5 s idle (3 tokens' worth)")
    started = time.monotonic()
    got = _calls(ctx, "allow_token_bucket", 6, 2, 2.0)
    burst = time.monotonic() - started
    allowed = sum(r is True for r in got)
    most = 2 + math.floor(2.0 * burst + 0.1)
    ctx.expect(2 <= allowed <= most, f"2 allowed (a full bucket), at most {most}", got)


@check(E, "allow_token_bucket", "allow_token_bucket does not charge refused requests")
def _bucket_no_debt(ctx: Ctx) -> None:
    _calls(ctx, "allow_token_bucket", 6, 1, 1.0)
    travel(ctx.raw, 1.5)
    ctx.given("capacity 1, 1 token/s: 1 allowed, 5 refused, then 1.5 s of refill")
    got = ctx.call("allow_token_bucket", "user42", 1, 1.0)
    ctx.expect(got is True, "True (1.5 tokens refilled, capped at 1; refusals cost nothing)", got)


@check(
    E, "allow_token_bucket", "allow_token_bucket never lets two racing callers take the last token"
)
def _bucket_race(ctx: Ctx) -> None:
    _racing_limit_of_one(ctx, "allow_token_bucket", 1, SLOW_REFILL)


@check(E, "allow_token_bucket", "allow_token_bucket allows exactly 5 of 12 threads")
def _bucket_threads(ctx: Ctx) -> None:
    _threads_allow_five(ctx, "allow_token_bucket", 5, SLOW_REFILL)
