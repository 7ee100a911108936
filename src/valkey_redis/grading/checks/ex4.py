"""Checks of exercise 4: distributed lock."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import redis

from valkey_redis.grading.context import Ctx, in_threads, observe, race, show
from valkey_redis.grading.runner import check

E = 4
KEY = "lock:jobs"
MINE = "my-token-5f1c"
THEIRS = "their-token-9a2e"

# The grader's own compare-and-delete, so the blocking check does not depend on
# the learner's release_lock.
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


def _held(ctx: Ctx, token: str, ttl_ms: int = 10_000) -> None:
    ctx.raw.set(KEY, token, px=ttl_ms)
    who = "you" if token == MINE else "someone else"
    ctx.given(f"{KEY} is held by {who} with token {token!r} (PTTL {ttl_ms} ms)")


def _owner(ctx: Ctx) -> str:
    value = ctx.get(KEY)
    return f"{KEY} = {value!r} (PTTL {ctx.pttl(KEY)})" if value is not None else f"no key {KEY}"


# --- acquire_lock ------------------------------------------------------------------


@check(E, "acquire_lock", "acquire_lock sets lock:{name} to a new token with the TTL")
def _acquire_sets(ctx: Ctx) -> None:
    token = ctx.call("acquire_lock", "jobs", 10_000)
    ctx.expect(isinstance(token, str) and bool(token), "a token (a non-empty str)", token)
    ctx.expect(ctx.get(KEY) == token, f"{KEY} holding your token", _owner(ctx))
    ttl = ctx.pttl(KEY)
    ctx.expect(
        0 < ttl <= 10_000, f"{KEY} to expire within 10 000 ms", ctx.ttl_text(ttl, 10_000, KEY)
    )


@check(E, "acquire_lock", "acquire_lock returns None while someone else holds the lock")
def _acquire_held(ctx: Ctx) -> None:
    _held(ctx, THEIRS)
    got = ctx.call("acquire_lock", "jobs", 30_000)
    ctx.expect(got is None, "None", got)
    value, ttl = ctx.get(KEY), ctx.pttl(KEY)
    ctx.expect(value == THEIRS and 0 < ttl <= 10_000, "their lock untouched", _owner(ctx))


@check(E, "acquire_lock", "acquire_lock gives every acquisition a different token")
def _acquire_unique(ctx: Ctx) -> None:
    acquire, tokens = ctx.func("acquire_lock"), []
    for _ in range(20):
        tokens.append(acquire(ctx.client, "jobs", 10_000))
        ctx.raw.delete(KEY)
    ctx.given("20 acquisitions, each released in between")
    ctx.expect(
        len(set(tokens)) == 20,
        "20 different tokens",
        f"{len(set(tokens))} different tokens: {show(tokens)}",
    )


@check(E, "acquire_lock", "acquire_lock never leaves the lock without a TTL")
def _acquire_atomic(ctx: Ctx) -> None:
    def look() -> str | None:
        return f"{KEY} existed without a TTL" if ctx.pttl(KEY) == -1 else None

    observe(
        ctx,
        setup=lambda: None,
        mine=lambda: ctx.call("acquire_lock", "jobs", 10_000),
        look=look,
        expected="the lock and its expiry set by one command (SET NX PX)",
    )


@check(E, "acquire_lock", "acquire_lock lets exactly one of two racing callers win")
def _acquire_race(ctx: Ctx) -> None:
    def verify(mine: Any, theirs: Any) -> None:
        winners = [t for t in (mine, theirs) if t is not None]
        ctx.expect(
            len(winners) == 1 and ctx.get(KEY) == winners[0],
            "one token, one None, and the lock holding the winner's token",
            f"yours {show(mine)}, theirs {show(theirs)}, {_owner(ctx)}",
        )

    race(
        ctx,
        setup=lambda: ctx.given(f"{KEY} is free"),
        mine=lambda: ctx.call("acquire_lock", "jobs", 10_000),
        theirs=lambda: ctx.func("acquire_lock")(ctx.raw, "jobs", 10_000),
        theirs_text="another caller's acquire_lock(client, 'jobs', 10000)",
        verify=verify,
    )


@check(E, "acquire_lock", "acquire_lock lets exactly one of 8 threads win")
def _acquire_threads(ctx: Ctx) -> None:
    acquire = ctx.func("acquire_lock")
    tokens = in_threads(ctx, 8, lambda _, c: acquire(c, "jobs", 10_000), what="acquire_lock")
    winners = [t for t in tokens if t is not None]
    ctx.expect(
        len(winners) == 1 and ctx.get(KEY) == winners[0],
        "exactly one token, held in the lock",
        f"{len(winners)} tokens; {_owner(ctx)}",
    )


# --- release_lock ------------------------------------------------------------------


@check(E, "release_lock", "release_lock deletes the lock for its owner")
def _release_owner(ctx: Ctx) -> None:
    _held(ctx, MINE)
    ctx.expect_bool(ctx.call("release_lock", "jobs", MINE), True, "you own it")
    ctx.expect(not ctx.raw.exists(KEY), f"{KEY} gone", _owner(ctx))


@check(E, "release_lock", "release_lock refuses a token that is not the owner's")
def _release_not_owner(ctx: Ctx) -> None:
    _held(ctx, THEIRS)
    ctx.expect_bool(ctx.call("release_lock", "jobs", MINE), False, "not your lock")
    value, ttl = ctx.get(KEY), ctx.pttl(KEY)
    ctx.expect(value == THEIRS and ttl > 0, "their lock untouched", _owner(ctx))


@check(E, "release_lock", "release_lock returns False when the lock is gone")
def _release_gone(ctx: Ctx) -> None:
    ctx.given(f"no key {KEY} (it expired)")
    ctx.expect_bool(ctx.call("release_lock", "jobs", MINE), False, "nothing to release")
    ctx.expect(not ctx.all_keys(), "no key created", f"keys: {ctx.all_keys()}")


@check(E, "release_lock", "release_lock never deletes a lock someone else took in between")
def _release_race(ctx: Ctx) -> None:
    def verify(_mine: Any, _theirs: Any) -> None:
        ctx.expect(ctx.get(KEY) == THEIRS, "their new lock untouched", _owner(ctx))

    race(
        ctx,
        setup=lambda: _held(ctx, MINE),
        mine=lambda: ctx.call("release_lock", "jobs", MINE),
        theirs=lambda: ctx.raw.set(KEY, THEIRS, px=10_000),
        theirs_text=f"your lock expiring and another worker taking it ({KEY} = {THEIRS!r})",
        verify=verify,
    )


@check(E, "release_lock", "release_lock succeeds while its owner extends the lock meanwhile")
def _release_while_extended(ctx: Ctx) -> None:
    def verify(got: Any, _theirs: Any) -> None:
        ctx.expect_bool(got, True, "the lock was yours all along (a WATCH that fails: retry)")
        ctx.expect(ctx.get(KEY) is None, f"{KEY} gone", _owner(ctx))

    race(
        ctx,
        setup=lambda: _held(ctx, MINE),
        mine=lambda: ctx.call("release_lock", "jobs", MINE),
        theirs=lambda: ctx.raw.pexpire(KEY, 20_000),
        theirs_text=f"your own extend_lock (PEXPIRE {KEY} 20000, still your token)",
        verify=verify,
    )


# --- extend_lock -------------------------------------------------------------------


@check(E, "extend_lock", "extend_lock resets the owner's TTL")
def _extend_owner(ctx: Ctx) -> None:
    _held(ctx, MINE, 1_000)
    ctx.expect_bool(ctx.call("extend_lock", "jobs", MINE, 30_000), True, "you own it")
    ttl = ctx.pttl(KEY)
    ctx.expect(25_000 < ttl <= 30_000, "PTTL reset to 30 000 ms", ctx.ttl_text(ttl, 30_000, KEY))
    ctx.expect(ctx.get(KEY) == MINE, "still your token", _owner(ctx))


@check(E, "extend_lock", "extend_lock refuses a token that is not the owner's")
def _extend_not_owner(ctx: Ctx) -> None:
    _held(ctx, THEIRS, 1_000)
    ctx.expect_bool(ctx.call("extend_lock", "jobs", MINE, 30_000), False, "not your lock")
    value, ttl = ctx.get(KEY), ctx.pttl(KEY)
    ctx.expect(value == THEIRS and 0 < ttl <= 1_000, "their lock untouched", _owner(ctx))


@check(E, "extend_lock", "extend_lock returns False for a lock that is gone")
def _extend_gone(ctx: Ctx) -> None:
    ctx.given(f"no key {KEY} (it expired)")
    ctx.expect_bool(ctx.call("extend_lock", "jobs", MINE, 30_000), False, "no lock to extend")
    ctx.expect(not ctx.all_keys(), "no key created", f"keys: {ctx.all_keys()}")


@check(E, "extend_lock", "extend_lock never extends a lock someone else took in between")
def _extend_race(ctx: Ctx) -> None:
    def verify(_mine: Any, _theirs: Any) -> None:
        value, ttl = ctx.get(KEY), ctx.pttl(KEY)
        ctx.expect(value == THEIRS and 0 < ttl <= 1_000, "their lock untouched", _owner(ctx))

    race(
        ctx,
        setup=lambda: _held(ctx, MINE, 1_000),
        mine=lambda: ctx.call("extend_lock", "jobs", MINE, 30_000),
        theirs=lambda: ctx.raw.set(KEY, THEIRS, px=1_000),
        theirs_text=f"your lock expiring and another worker taking it for 1 s ({THEIRS!r})",
        verify=verify,
    )


# --- acquire_lock_blocking ---------------------------------------------------------


@check(E, "acquire_lock_blocking", "acquire_lock_blocking takes a free lock at once")
def _blocking_free(ctx: Ctx) -> None:
    token = ctx.call("acquire_lock_blocking", "jobs", 10_000, 1.0)
    ctx.expect(isinstance(token, str) and bool(token), "a token", token)
    ctx.expect(
        ctx.get(KEY) == token and ctx.pttl(KEY) > 0,
        "the lock with your token and a TTL",
        _owner(ctx),
    )


@check(E, "acquire_lock_blocking", "acquire_lock_blocking waits for the holder's lock to expire")
def _blocking_waits(ctx: Ctx) -> None:
    _held(ctx, THEIRS, 150)
    token = ctx.call("acquire_lock_blocking", "jobs", 10_000, 3.0)
    ctx.expect(isinstance(token, str) and bool(token), "a token once their lock expired", token)
    ctx.expect(ctx.get(KEY) == token, "the lock holding your token", _owner(ctx))


@check(E, "acquire_lock_blocking", "acquire_lock_blocking lets 4 threads take turns, one at a time")
def _blocking_turns(ctx: Ctx) -> None:
    blocking = ctx.func("acquire_lock_blocking")
    release = ctx.raw.register_script(_RELEASE)
    guard = threading.Lock()
    inside = {"now": 0, "max": 0, "done": 0}

    def body(_: int, client: redis.Redis) -> Any:
        token = blocking(client, "jobs", 5_000, 5.0)
        if token is None:
            return None
        with guard:
            inside["now"] += 1
            inside["max"] = max(inside["max"], inside["now"])
        ctx.raw.incr("grader:work")  # a round trip while holding the lock
        with guard:
            inside["now"] -= 1
            inside["done"] += 1
        release(keys=[KEY], args=[token])
        return token

    tokens = in_threads(ctx, 4, body, what="acquire_lock_blocking, work, release")
    ctx.expect(
        all(tokens) and inside["max"] == 1,
        "all 4 to get the lock, never two at once",
        f"{sum(map(bool, tokens))} got it; at most {inside['max']} held it at once",
    )


# --- next_fencing_token ------------------------------------------------------------


@check(E, "next_fencing_token", "next_fencing_token counts up in fence:{name}")
def _fence_counts(ctx: Ctx) -> None:
    tokens = [ctx.call("next_fencing_token", "jobs") for _ in range(3)]
    ok = all(isinstance(t, int) for t in tokens) and tokens[0] < tokens[1] < tokens[2]
    ctx.expect(ok, "three strictly increasing ints", tokens)
    stored = ctx.get("fence:jobs")
    ctx.expect(stored == str(tokens[-1]), f"fence:jobs == {tokens[-1]!r}", stored)


@check(E, "next_fencing_token", "next_fencing_token keeps names apart")
def _fence_apart(ctx: Ctx) -> None:
    a = [ctx.call("next_fencing_token", "a") for _ in range(2)]
    ctx.call("next_fencing_token", "b")
    ctx.expect(ctx.get("fence:a") == str(a[-1]), f"fence:a still {a[-1]}", ctx.get("fence:a"))
    ctx.expect(ctx.raw.exists("fence:b") == 1, "a counter fence:b", f"keys: {ctx.all_keys()}")


@check(E, "next_fencing_token", "next_fencing_token's counter never expires")
def _fence_no_ttl(ctx: Ctx) -> None:
    ctx.call("next_fencing_token", "jobs")
    ttl = ctx.pttl("fence:jobs")
    ctx.expect(
        ttl == -1, "no TTL: once expired, tokens would restart and go backwards", ctx.ttl_text(ttl)
    )


@check(
    E, "next_fencing_token", "next_fencing_token never hands out a token twice when callers race"
)
def _fence_race(ctx: Ctx) -> None:
    def verify(mine: Any, theirs: Any) -> None:
        ints = isinstance(mine, int) and isinstance(theirs, int)
        ctx.expect(
            ints and mine != theirs and ctx.get("fence:jobs") == str(max(mine, theirs)),
            "two different tokens, the counter at the larger one",
            f"yours {show(mine)}, theirs {show(theirs)}, fence:jobs = {ctx.get('fence:jobs')!r}",
        )

    race(
        ctx,
        setup=lambda: ctx.given("no fence:jobs yet"),
        mine=lambda: ctx.call("next_fencing_token", "jobs"),
        theirs=lambda: ctx.func("next_fencing_token")(ctx.raw, "jobs"),
        theirs_text="another caller's next_fencing_token(client, 'jobs')",
        verify=verify,
    )


@check(E, "next_fencing_token", "next_fencing_token gives 8 threads x 10 calls 80 different tokens")
def _fence_threads(ctx: Ctx) -> None:
    fence = ctx.func("next_fencing_token")
    runs = in_threads(
        ctx, 8, lambda _, c: [fence(c, "jobs") for _ in range(10)], what="next_fencing_token x10"
    )
    flat = [t for run in runs for t in run]
    increasing = all(a < b for run in runs for a, b in itertools.pairwise(run))
    ctx.expect(
        len(set(flat)) == 80 and increasing,
        "80 different tokens, increasing within each thread",
        f"{len(set(flat))} different",
    )
