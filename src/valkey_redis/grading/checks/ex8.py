"""Checks of exercise 8: transactions and pipelines.

Atomicity is graded twice: deterministically, with another caller (or a reader,
or a crash) right after each of the learner's commands, for every position;
and with real threads counting exact outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from valkey_redis.grading.context import Ctx, in_threads, observe, race, show
from valkey_redis.grading.races import interrupted
from valkey_redis.grading.runner import check

E = 8
SKU = "lamp"
STOCK = "stock:lamp"


def _stock(ctx: Ctx, units: int | None, ttl: int | None = None) -> None:
    if units is None:
        ctx.given(f"{STOCK} does not exist")
        return
    ctx.raw.set(STOCK, units, ex=ttl)
    ctx.given(f"{STOCK} = {units}" + (f" (TTL {ttl} s)" if ttl else ""))


def _units(ctx: Ctx) -> int | None:
    raw = ctx.get(STOCK)
    return None if raw is None else int(raw)


# --- reserve_stock -------------------------------------------------------------------


@check(E, "reserve_stock", "reserve_stock takes qty when enough remain")
def _reserve_ok(ctx: Ctx) -> None:
    for units, qty in ((10, 3), (3, 3)):
        ctx.reset()
        _stock(ctx, units)
        got = ctx.call("reserve_stock", SKU, qty)
        ctx.expect_bool(got, True, f"{units} in stock, {qty} wanted")
        left = _units(ctx)
        ctx.expect(left == units - qty, f"{STOCK} = {units - qty}", f"{STOCK} = {left}")


@check(E, "reserve_stock", "reserve_stock refuses when too few remain, changing nothing")
def _reserve_short(ctx: Ctx) -> None:
    _stock(ctx, 2)
    got = ctx.call("reserve_stock", SKU, 3)
    ctx.expect_bool(got, False, "only 2 in stock")
    ctx.expect(_units(ctx) == 2, f"{STOCK} still 2", f"{STOCK} = {_units(ctx)}")


@check(E, "reserve_stock", "reserve_stock refuses an unknown sku and creates no key")
def _reserve_missing(ctx: Ctx) -> None:
    _stock(ctx, None)
    got = ctx.call("reserve_stock", SKU, 1)
    ctx.expect_bool(got, False, "no such stock")
    ctx.expect(not ctx.all_keys(), "no key created", f"keys: {ctx.all_keys()}")


@check(E, "reserve_stock", "reserve_stock keeps the key's TTL")
def _reserve_ttl(ctx: Ctx) -> None:
    _stock(ctx, 10, ttl=1000)
    ctx.call("reserve_stock", SKU, 3)
    ttl = ctx.pttl(STOCK)
    ctx.expect(ttl > 900_000, f"{STOCK} still expiring in ~1000 s", f"PTTL = {ttl}")


def _reserve_race(ctx: Ctx, units: int, mine: int, theirs: int, wins: int) -> None:
    """Race two reservations; ``wins`` of them must succeed (either one, if only one)."""
    left = units - (mine + theirs if wins == 2 else mine if mine == theirs else theirs)

    def verify(got: Any, their: Any) -> None:
        ok = [got, their].count(True) == wins and _units(ctx) == left
        if wins == 1 and mine > units:
            ok = ok and got is False
        ctx.expect(
            ok,
            f"{'both' if wins == 2 else 'exactly one'} True, {STOCK} = {left}",
            f"yours {show(got)}, theirs {show(their)}, {STOCK} = {_units(ctx)}",
        )

    race(
        ctx,
        setup=lambda: _stock(ctx, units),
        mine=lambda: ctx.call("reserve_stock", SKU, mine),
        theirs=lambda: ctx.func("reserve_stock")(ctx.raw, SKU, theirs),
        theirs_text=f"another caller's reserve_stock(client, {SKU!r}, {theirs})",
        verify=verify,
    )


@check(E, "reserve_stock", "reserve_stock never sells the same units twice")
def _reserve_race_short(ctx: Ctx) -> None:
    _reserve_race(ctx, 5, 3, 3, wins=1)


@check(E, "reserve_stock", "reserve_stock retries after a conflict when there is enough for both")
def _reserve_race_both(ctx: Ctx) -> None:
    _reserve_race(ctx, 10, 3, 3, wins=2)


@check(E, "reserve_stock", "reserve_stock fails alone without spoiling another caller's turn")
def _reserve_race_other(ctx: Ctx) -> None:
    _reserve_race(ctx, 2, 3, 2, wins=1)


@check(E, "reserve_stock", "reserve_stock never lets the stock go below zero, even briefly")
def _reserve_never_negative(ctx: Ctx) -> None:
    def look() -> str | None:
        left = _units(ctx)
        return f"{STOCK} = {left}" if left is not None and left < 0 else None

    observe(
        ctx,
        setup=lambda: _stock(ctx, 2),
        mine=lambda: ctx.call("reserve_stock", SKU, 3),
        look=look,
        expected=f"{STOCK} >= 0 at every moment",
    )


@check(E, "reserve_stock", "reserve_stock sells exactly the stock to 20 racing threads")
def _reserve_threads(ctx: Ctx) -> None:
    _stock(ctx, 50)
    get = ctx.func("reserve_stock")
    ctx.called(f"reserve_stock(client, {SKU!r}, 3) in 20 threads")
    results = in_threads(ctx, 20, lambda _i, c: get(c, SKU, 3), what="reserve_stock(…, 3)")
    sold = results.count(True)
    ctx.expect(
        sold == 16 and _units(ctx) == 2,
        "16 True (16 x 3 = 48 of 50), 2 left",
        f"{sold} True, {STOCK} = {_units(ctx)}",
    )


# --- transfer_points ---------------------------------------------------------------


def _points(ctx: Ctx, **balances: int) -> None:
    for user, value in balances.items():
        ctx.raw.set(f"points:{user}", value)
    ctx.given(", ".join(f"points:{u} = {v}" for u, v in balances.items()))


def _balance(ctx: Ctx, user: str) -> int | None:
    raw = ctx.get(f"points:{user}")
    return None if raw is None else int(raw)


def _both(ctx: Ctx) -> str:
    return f"points:ada = {_balance(ctx, 'ada')}, points:bob = {_balance(ctx, 'bob')}"


@check(E, "transfer_points", "transfer_points moves the amount when src has it")
def _transfer_ok(ctx: Ctx) -> None:
    _points(ctx, ada=10, bob=5)
    got = ctx.call("transfer_points", "ada", "bob", 4)
    ctx.expect_bool(got, True, "ada has 10")
    ctx.expect(_balance(ctx, "ada") == 6 and _balance(ctx, "bob") == 9, "ada 6, bob 9", _both(ctx))
    ctx.reset()
    _points(ctx, ada=10)
    ctx.call("transfer_points", "ada", "bob", 10)
    ctx.expect(
        _balance(ctx, "ada") == 0 and _balance(ctx, "bob") == 10,
        "ada 0, bob 10 (a missing dst counts as 0)",
        _both(ctx),
    )


@check(E, "transfer_points", "transfer_points refuses when src has too little, changing nothing")
def _transfer_short(ctx: Ctx) -> None:
    _points(ctx, ada=3, bob=5)
    got = ctx.call("transfer_points", "ada", "bob", 4)
    ctx.expect_bool(got, False, "ada has only 3")
    ctx.expect(_balance(ctx, "ada") == 3 and _balance(ctx, "bob") == 5, "ada 3, bob 5", _both(ctx))
    ctx.reset()
    ctx.given("no points:ada, no points:bob")
    got = ctx.call("transfer_points", "ada", "bob", 1)
    ctx.expect_bool(got, False, "ada has nothing")
    ctx.expect(not ctx.all_keys(), "no key created", f"keys: {ctx.all_keys()}")


@check(E, "transfer_points", "transfer_points raises ValueError for amount <= 0, sending nothing")
def _transfer_invalid(ctx: Ctx) -> None:
    _points(ctx, ada=10)
    for amount in (0, -5):
        try:
            ctx.call("transfer_points", "ada", "bob", amount)
        except ValueError:
            pass
        else:
            ctx.fail(f"ValueError for amount {amount}", "no ValueError")
    sent = ctx.probe.steps
    ctx.expect(not sent, "no command sent", f"sent {sent}")


def _transfer_race(ctx: Ctx, ada: int, verify: Callable[[Any, Any], None]) -> None:
    """ada -> bob 7 (yours) racing ada -> cy 7 (theirs), ada starting at ``ada``."""
    race(
        ctx,
        setup=lambda: _points(ctx, ada=ada),
        mine=lambda: ctx.call("transfer_points", "ada", "bob", 7),
        theirs=lambda: ctx.func("transfer_points")(ctx.raw, "ada", "cy", 7),
        theirs_text="another caller's transfer_points(client, 'ada', 'cy', 7)",
        verify=verify,
    )


@check(E, "transfer_points", "transfer_points never lets two transfers spend the same points")
def _transfer_race_one(ctx: Ctx) -> None:
    def verify(mine: Any, theirs: Any) -> None:
        ada, bob, cy = (_balance(ctx, u) for u in ("ada", "bob", "cy"))
        ok = [mine, theirs].count(True) == 1 and ada == 3 and (bob or 0) + (cy or 0) == 7
        ctx.expect(
            ok,
            "exactly one True; ada 3; bob + cy = 7",
            f"yours {show(mine)}, theirs {show(theirs)}; ada {ada}, bob {bob}, cy {cy}",
        )

    _transfer_race(ctx, 10, verify)


@check(E, "transfer_points", "transfer_points retries after a conflict when there is enough")
def _transfer_race_both(ctx: Ctx) -> None:
    def verify(mine: Any, theirs: Any) -> None:
        got = (mine, theirs, _balance(ctx, "ada"), _balance(ctx, "bob"), _balance(ctx, "cy"))
        ctx.expect(got == (True, True, 6, 7, 7), "both True; ada 6, bob 7, cy 7", show(got))

    _transfer_race(ctx, 20, verify)


@check(E, "transfer_points", "transfer_points never shows the points in neither or both keys")
def _transfer_observed(ctx: Ctx) -> None:
    def look() -> str | None:
        total = (_balance(ctx, "ada") or 0) + (_balance(ctx, "bob") or 0)
        return None if total == 15 else f"{_both(ctx)} (total {total})"

    observe(
        ctx,
        setup=lambda: _points(ctx, ada=10, bob=5),
        mine=lambda: ctx.call("transfer_points", "ada", "bob", 4),
        look=look,
        expected="ada + bob = 15 at every moment",
    )


@check(E, "transfer_points", "transfer_points loses no points when the process dies mid-way")
def _transfer_crash(ctx: Ctx) -> None:
    interrupted(
        ctx,
        setup=lambda: _points(ctx, ada=10, bob=5),
        mine=lambda: ctx.call("transfer_points", "ada", "bob", 4),
        after_crash=lambda: ctx.expect(
            (_balance(ctx, "ada"), _balance(ctx, "bob")) in {(10, 5), (6, 9)},
            "ada 10, bob 5 (nothing moved) or ada 6, bob 9 (all moved)",
            _both(ctx),
        ),
        expire=False,
    )


@check(E, "transfer_points", "transfer_points keeps the total exact under 8 threads both ways")
def _transfer_threads(ctx: Ctx) -> None:
    _points(ctx, ada=10, bob=10)
    move = ctx.func("transfer_points")
    pairs = [("ada", "bob"), ("bob", "ada")] * 4
    ctx.called("transfer_points(client, ada->bob / bob->ada, 3), 4 threads each way")
    results = in_threads(
        ctx, 8, lambda i, c: move(c, *pairs[i], 3), what="transfers of 3 both ways"
    )
    ada, bob = _balance(ctx, "ada"), _balance(ctx, "bob")
    moved = 3 * sum(1 if pairs[i][0] == "ada" else -1 for i, r in enumerate(results) if r)
    ctx.expect(
        ada == 10 - moved and bob == 10 + moved and min(ada, bob) >= 0,
        f"ada {10 - moved}, bob {10 + moved} (from the transfers that returned True)",
        f"{_both(ctx)}; results {results}",
    )


# --- bulk_load ---------------------------------------------------------------------

ITEMS = {f"page:{i}": f"<html>{i}</html>" for i in range(1, 51)}


@check(E, "bulk_load", "bulk_load writes every item with the TTL and returns the count")
def _bulk_writes(ctx: Ctx) -> None:
    ctx.raw.set("page:2", "old")
    ctx.given("page:2 = 'old' (no TTL)")
    items = {"page:1": "one", "page:2": "two", "page:3": "three"}
    got = ctx.call("bulk_load", items, 100)
    ctx.expect(got == 3 and type(got) is int, "3 (an int)", got)
    for key, value in items.items():
        stored, ttl = ctx.get(key), ctx.pttl(key)
        ctx.expect(stored == value, f"{key} = {value!r}", f"{key} = {stored!r}")
        ctx.expect(90_000 < ttl <= 100_000, f"{key} to expire in 100 s", f"PTTL {key} = {ttl}")


@check(E, "bulk_load", "bulk_load uses one round trip for 50 items")
def _bulk_round_trip(ctx: Ctx) -> None:
    got = ctx.call("bulk_load", ITEMS, 100)
    ctx.expect(got == 50, "50", got)
    trips = ctx.probe.round_trips
    ctx.expect(trips == 1, "1 round trip (one pipeline, executed once)", f"{trips} round trips")
    ctx.expect(len(ctx.all_keys()) == 50, "50 keys written", f"{len(ctx.all_keys())} keys")


@check(E, "bulk_load", "bulk_load returns 0 for no items")
def _bulk_empty(ctx: Ctx) -> None:
    got = ctx.call("bulk_load", {}, 100)
    ctx.expect(got == 0 and type(got) is int, "0", got)


@check(E, "bulk_load", "bulk_load never leaves a key without a TTL, even if the process dies")
def _bulk_crash(ctx: Ctx) -> None:
    items = {"page:1": "one", "page:2": "two", "page:3": "three"}
    interrupted(
        ctx, setup=lambda: None, mine=lambda: ctx.call("bulk_load", items, 100), expire=False
    )
