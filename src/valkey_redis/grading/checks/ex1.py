"""Checks of exercise 1: data structures, TTL, atomic operations."""

from __future__ import annotations

from typing import Any

from valkey_redis.grading.context import Ctx, crash, in_threads, observe, race, show
from valkey_redis.grading.runner import check

E = 1
PROFILE = {"name": "Ada", "lang": "en"}
OLD = {"name": "Old Ada", "nickname": "ace"}
BOARD = {"ann": 30.0, "bob": 40.0, "cid": 10.0, "dan": 20.0, "eve": 50.0}


def _state(ctx: Ctx, key: str) -> str:
    kind = ctx.type_of(key)
    if kind == "none":
        return f"no key {key} (keys on the server: {ctx.all_keys() or 'none'})"
    return f"{key} is a {kind}"


def _old_profile(ctx: Ctx) -> None:
    ctx.put_hash("user:7", OLD)
    ctx.raw.expire("user:7", 300)
    ctx.given(f"user:7 holds an older profile {OLD} (TTL 300 s)")


# --- save_profile ------------------------------------------------------------------


@check(E, "save_profile", "save_profile stores the fields in the hash user:{user_id}")
def _save_stores(ctx: Ctx) -> None:
    ctx.call("save_profile", 7, PROFILE, 60)
    ctx.expect(ctx.type_of("user:7") == "hash", "a hash user:7", _state(ctx, "user:7"))
    got = ctx.hgetall("user:7")
    ctx.expect(got == PROFILE, f"hash user:7 == {PROFILE}", got)


@check(E, "save_profile", "save_profile sets the TTL")
def _save_ttl(ctx: Ctx) -> None:
    ctx.call("save_profile", 7, PROFILE, 60)
    ttl = ctx.pttl("user:7")
    ctx.expect(
        50_000 < ttl <= 60_000, "user:7 to expire in 60 s", ctx.ttl_text(ttl, 60_000, "user:7")
    )


@check(E, "save_profile", "save_profile replaces old fields")
def _save_replaces(ctx: Ctx) -> None:
    _old_profile(ctx)
    ctx.call("save_profile", 7, PROFILE, 60)
    got = ctx.hgetall("user:7")
    ctx.expect(got == PROFILE, f"exactly the new fields {PROFILE} (old ones gone)", got)
    ttl = ctx.pttl("user:7")
    ctx.expect(0 < ttl <= 60_000, "the new TTL of 60 s", ctx.ttl_text(ttl, 60_000, "user:7"))


@check(E, "save_profile", "save_profile is atomic: no reader sees a half-written profile")
def _save_atomic(ctx: Ctx) -> None:
    def look() -> str | None:
        fields, ttl = ctx.hgetall("user:7"), ctx.pttl("user:7")
        if fields not in (OLD, PROFILE):
            return f"user:7 = {fields or '(no key)'}"
        if ttl < 0:
            return f"user:7 = {fields} without a TTL"
        return None

    observe(
        ctx,
        setup=lambda: _old_profile(ctx),
        mine=lambda: ctx.call("save_profile", 7, PROFILE, 60),
        look=look,
        expected="the old or the new profile, with a TTL (delete, HSET and EXPIRE in one MULTI)",
    )


# --- load_profile ------------------------------------------------------------------


@check(E, "load_profile", "load_profile returns the stored fields")
def _load_returns(ctx: Ctx) -> None:
    ctx.put_hash("user:7", PROFILE)
    ctx.raw.expire("user:7", 60)
    ctx.given(f"user:7 holds {PROFILE}")
    got = ctx.call("load_profile", 7)
    ctx.expect(got == PROFILE, show(PROFILE), got)


@check(E, "load_profile", "load_profile returns None for a user without a profile")
def _load_none(ctx: Ctx) -> None:
    ctx.given("no key user:8")
    got = ctx.call("load_profile", 8)
    ctx.expect(got is None, "None (HGETALL answers {} for a missing key)", got)
    ctx.expect(not ctx.all_keys(), "no key to be created", f"keys {ctx.all_keys()}")


# --- add_points --------------------------------------------------------------------


@check(E, "add_points", "add_points adds to the player's total and returns it")
def _add_returns(ctx: Ctx) -> None:
    first = ctx.call("add_points", "arena", "ada", 10)
    ctx.expect(first == 10, "10.0 (the new total)", first)
    second = ctx.call("add_points", "arena", "ada", 5.5)
    ctx.expect(second == 15.5, "15.5 (10 + 5.5)", second)
    stored = ctx.zscores("leaderboard:arena").get("ada")
    ctx.expect(stored == 15.5, "ZSCORE leaderboard:arena ada == 15.5", stored)


@check(E, "add_points", "add_points returns the exact total, however many decimals")
def _add_exact(ctx: Ctx) -> None:
    for points in (0.123456789, 2.0 / 3.0, 1e-7):
        ctx.reset()
        got = ctx.call("add_points", "arena", "ada", points)
        stored = ctx.zscores("leaderboard:arena").get("ada")
        ctx.expect(
            isinstance(got, float) and got == stored,
            f"{stored!r} (the new total exactly as stored: no rounding)",
            got,
        )


@check(E, "add_points", "add_points keeps boards and players apart")
def _add_apart(ctx: Ctx) -> None:
    ctx.raw.zadd("leaderboard:arena", {"bob": 3})
    ctx.given("leaderboard:arena holds bob with 3 points")
    ctx.call("add_points", "arena", "ada", 2)
    ctx.call("add_points", "cup", "ada", 4)
    arena = ctx.zscores("leaderboard:arena")
    cup = ctx.zscores("leaderboard:cup")
    ctx.expect(arena == {"ada": 2, "bob": 3}, "leaderboard:arena == {ada: 2, bob: 3}", arena)
    ctx.expect(cup == {"ada": 4}, "leaderboard:cup == {ada: 4}", cup)


@check(E, "add_points", "add_points never loses a concurrent update")
def _add_race(ctx: Ctx) -> None:
    def setup() -> None:
        ctx.raw.zadd("leaderboard:arena", {"ada": 10})
        ctx.given("ada has 10 points on leaderboard:arena")

    def verify(mine: Any, theirs: Any) -> None:
        total = ctx.zscores("leaderboard:arena").get("ada")
        ctx.expect(total == 16, "16 points (10 + 5 + 1)", f"ZSCORE = {total}")
        ctx.expect(mine in (15, 16), "your call to return 15.0 or 16.0", mine)

    race(
        ctx,
        setup=setup,
        mine=lambda: ctx.call("add_points", "arena", "ada", 5),
        theirs=lambda: ctx.func("add_points")(ctx.raw, "arena", "ada", 1),
        theirs_text="another caller's add_points(client, 'arena', 'ada', 1)",
        verify=verify,
    )


# --- top_players -------------------------------------------------------------------


def _board(ctx: Ctx) -> None:
    ctx.raw.zadd("leaderboard:arena", BOARD)
    ctx.given(f"leaderboard:arena holds {BOARD}")


def _pairs(result: Any) -> Any:
    try:
        return [(str(member), float(score)) for member, score in result]
    except (TypeError, ValueError):
        return result


@check(E, "top_players", "top_players lists the highest scores first, with their scores")
def _top_order(ctx: Ctx) -> None:
    _board(ctx)
    got = ctx.call("top_players", "arena", 3)
    want = [("eve", 50.0), ("bob", 40.0), ("ann", 30.0)]
    ctx.expect(isinstance(got, list) and _pairs(got) == want, show(want), got)


@check(E, "top_players", "top_players returns at most n")
def _top_n(ctx: Ctx) -> None:
    _board(ctx)
    for n, count in ((2, 2), (1, 1), (0, 0), (10, 5)):
        got = ctx.call("top_players", "arena", n)
        size = len(got) if isinstance(got, list) else got
        ctx.expect(size == count, f"{count} entries for n={n} (ZREVRANGE's end is inclusive)", size)


@check(E, "top_players", "top_players of an empty board is an empty list")
def _top_empty(ctx: Ctx) -> None:
    got = ctx.call("top_players", "nobody", 3)
    ctx.expect(got == [], "[]", got)


# --- claim_username ----------------------------------------------------------------


@check(E, "claim_username", "claim_username stores the user id in username:{username}")
def _claim_stores(ctx: Ctx) -> None:
    ctx.expect_bool(ctx.call("claim_username", "ada", 7), wanted=True, what="the name was free")
    got = ctx.get("username:ada")
    ctx.expect(
        got == "7", "username:ada == '7'", got if got is not None else _state(ctx, "username:ada")
    )


@check(E, "claim_username", "claim_username refuses a taken name and keeps the first claim")
def _claim_taken(ctx: Ctx) -> None:
    ctx.raw.set("username:ada", "1")
    ctx.given("username:ada already holds '1'")
    result = ctx.call("claim_username", "ada", 7)
    ctx.expect_bool(result, wanted=False, what="the name is taken")
    got = ctx.get("username:ada")
    ctx.expect(got == "1", "username:ada still '1' (never overwrite)", got)


@check(E, "claim_username", "claim_username lets exactly one of two racing callers win")
def _claim_race(ctx: Ctx) -> None:
    def verify(mine: Any, theirs: Any) -> None:
        stored = ctx.get("username:ada")
        winners = [uid for uid, won in ((7, mine), (8, theirs)) if won is True]
        ctx.expect(
            len(winners) == 1 and stored == str(winners[0]),
            "exactly one True, and username:ada holding the winner's id",
            f"yours {show(mine)}, theirs {show(theirs)}, username:ada = {stored!r}",
        )

    race(
        ctx,
        setup=lambda: ctx.given("username:ada is free"),
        mine=lambda: ctx.call("claim_username", "ada", 7),
        theirs=lambda: ctx.func("claim_username")(ctx.raw, "ada", 8),
        theirs_text="another caller's claim_username(client, 'ada', 8)",
        verify=verify,
    )


@check(E, "claim_username", "claim_username lets exactly one of 8 threads win")
def _claim_threads(ctx: Ctx) -> None:
    claim = ctx.func("claim_username")
    results = in_threads(ctx, 8, lambda i, c: claim(c, "ada", 100 + i), what="claim_username")
    winners = [100 + i for i, won in enumerate(results) if won is True]
    stored = ctx.get("username:ada")
    ctx.expect(
        len(winners) == 1 and stored == str(winners[0]),
        "exactly one True, and username:ada holding the winner's id",
        f"{len(winners)} True, username:ada = {stored!r}",
    )


# --- count_hit ---------------------------------------------------------------------


@check(E, "count_hit", "count_hit counts hits in hits:{page}")
def _count_counts(ctx: Ctx) -> None:
    got = [ctx.call("count_hit", "home", 100) for _ in range(3)]
    ctx.expect(got == [1, 2, 3], "1, 2, 3", got)
    stored = ctx.get("hits:home")
    ctx.expect(stored == "3", "hits:home == '3'", stored if stored else _state(ctx, "hits:home"))


@check(E, "count_hit", "count_hit sets the window as the TTL on the first hit")
def _count_ttl(ctx: Ctx) -> None:
    ctx.call("count_hit", "home", 100)
    ttl = ctx.pttl("hits:home")
    ctx.expect(
        90_000 < ttl <= 100_000,
        "hits:home to expire in 100 s",
        ctx.ttl_text(ttl, 100_000, "hits:home"),
    )


@check(E, "count_hit", "count_hit does not extend the window on later hits")
def _count_no_extend(ctx: Ctx) -> None:
    ctx.call("count_hit", "home", 100)
    ctx.raw.pexpire("hits:home", 30_000)
    ctx.given("between the two calls, 70 of the 100 s pass (hits:home now expires in 30 s)")
    ctx.call("count_hit", "home", 100)
    ttl = ctx.pttl("hits:home")
    ctx.expect(
        0 < ttl <= 30_000, "still at most 30 s left", f"{ctx.ttl_text(ttl)} (the window moved)"
    )


@check(E, "count_hit", "count_hit starts over after the window")
def _count_restart(ctx: Ctx) -> None:
    ctx.call("count_hit", "home", 100)
    ctx.call("count_hit", "home", 100)
    ctx.raw.delete("hits:home")
    ctx.given("the window of two hits has expired (hits:home is gone)")
    got = ctx.call("count_hit", "home", 100)
    ctx.expect(got == 1, "1 (a new window)", got)
    ttl = ctx.pttl("hits:home")
    ctx.expect(ttl > 0, "a TTL on the new window", ctx.ttl_text(ttl))


@check(E, "count_hit", "count_hit never leaves hits:{page} without a TTL, even after a crash")
def _count_crash(ctx: Ctx) -> None:
    def setup() -> None:
        ctx.given("no hits on 'home' yet")

    crash(ctx, setup=setup, mine=lambda: ctx.call("count_hit", "home", 100), key="hits:home")


@check(E, "count_hit", "count_hit counts every hit when callers race")
def _count_race(ctx: Ctx) -> None:
    def verify(mine: Any, theirs: Any) -> None:
        stored, ttl = ctx.get("hits:home"), ctx.pttl("hits:home")
        ctx.expect(
            {mine, theirs} == {1, 2} and stored == "2",
            "the two hits counted as 1 and 2, hits:home == '2'",
            f"yours {show(mine)}, theirs {show(theirs)}, hits:home = {stored!r}",
        )
        ctx.expect(ttl > 0, "hits:home to have a TTL", ctx.ttl_text(ttl))

    race(
        ctx,
        setup=lambda: ctx.given("no hits on 'home' yet"),
        mine=lambda: ctx.call("count_hit", "home", 100),
        theirs=lambda: ctx.func("count_hit")(ctx.raw, "home", 100),
        theirs_text="another caller's count_hit(client, 'home', 100)",
        verify=verify,
    )
