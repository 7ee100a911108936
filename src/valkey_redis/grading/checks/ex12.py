"""Checks of exercise 12: keys for a cluster.

``cart_keys`` is pure and graded by the slots its keys hash to. ``add_to_cart`` and
``checkout`` are graded on fakeredis and Valkey with the usual tools (a reader
after each command, a death after each command, a race after each command,
threads), and on the grader's own 3-primary cluster (``on=("cluster",)``):
there, keys in two slots raise CROSSSLOT, and a ``pipeline()`` without
``transaction=True`` is only a batch. Both tasks find the keys through the
learner's own ``cart_keys``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

from redis.crc import key_slot

from valkey_redis.cluster import slot_ranges
from valkey_redis.grading.cluster_env import PRIMARIES, ClusterEnv
from valkey_redis.grading.context import Ctx, in_threads, observe, race, show
from valkey_redis.grading.races import interrupted
from valkey_redis.grading.runner import check

E = 12
USER = 42
TTL_MS = 7 * 24 * 3600 * 1000
CLUSTER = ("cluster",)
WHY = "a hash slot only matters on a cluster"


def _slot(key: str) -> int:
    return key_slot(key.encode())


def _keys(ctx: Ctx, user: int) -> tuple[str, str]:
    """The learner's ``cart_keys(user)``, checked for shape (tasks 2 and 3 depend on it)."""
    got = ctx.func("cart_keys")(user)
    if (
        not isinstance(got, tuple)
        or len(got) != 2
        or not all(isinstance(k, str) for k in got)
        or got[0] == got[1]
    ):
        ctx.fail(
            "cart_keys to return two different str keys (the checks find your cart with it)",
            show(got),
        )
    return cast(tuple[str, str], got)


def _cart(ctx: Ctx, user: int, items: dict[str, int]) -> tuple[str, str]:
    """Put a cart in place with the grader's client; return its keys."""
    cart, count = _keys(ctx, user)
    if items:
        ctx.raw.hset(cart, mapping={sku: str(qty) for sku, qty in items.items()})
        ctx.raw.set(count, sum(items.values()), px=TTL_MS)
        ctx.raw.pexpire(cart, TTL_MS)
    ctx.given(f"{cart} = {items} and {count} = {sum(items.values())}" if items else "no cart")
    return cart, count


def _state(ctx: Ctx, cart: str, count: str) -> tuple[dict[str, int], int | None]:
    items = {k: int(v) for k, v in ctx.hgetall(cart).items()}
    total = ctx.get(count)
    return items, None if total is None else int(total)


# --- cart_keys ---------------------------------------------------------------------


@check(E, "cart_keys", "cart_keys returns two different keys in one hash slot")
def _same_slot(ctx: Ctx) -> None:
    for user in (1, 7, USER, 1000, 987654):
        got = ctx.call_pure("cart_keys", user)
        cart, count = _keys(ctx, user)
        ctx.expect(
            _slot(cart) == _slot(count),
            "both keys in one slot: the same non-empty {hash tag} in each",
            f"{got}: slots {_slot(cart)} and {_slot(count)}",
        )


#: Families of 200 user ids: consecutive, and strides that a tag made from a
#: remainder or a few digits (``user_id % 256``, the last digits) collapses.
_FAMILIES = (
    ("1 to 200", [*range(1, 201)]),
    ("256, 512, … (stride 256)", [256 * k for k in range(1, 201)]),
    ("1000, 2000, … (stride 1000)", [1000 * k for k in range(1, 201)]),
    ("16384, 32768, … (stride 16384)", [16384 * k for k in range(1, 201)]),
    ("2**20, 2 * 2**20, … (stride 2**20)", [(1 << 20) * k for k in range(1, 201)]),
    ("10**12 + 7919 k (large ids)", [10**12 + 7919 * k for k in range(1, 201)]),
)


def _primary(slot: int) -> int:
    return next(i for i, (lo, hi) in enumerate(slot_ranges(PRIMARIES)) if lo <= slot <= hi)


@check(E, "cart_keys", "cart_keys spreads different users over the slots and the primaries")
def _spread(ctx: Ctx) -> None:
    for family, users in _FAMILIES:
        ctx.called(f"cart_keys(user_id) for 200 user ids {family}")
        slots = [_slot(_keys(ctx, user)[0]) for user in users]
        distinct = len(set(slots))
        ctx.expect(
            distinct >= 190,
            f"at least 190 different slots for the 200 users {family} (a tag that names the"
            " whole user id, not a remainder or some of its digits)",
            f"{distinct} different slot(s), e.g. {_keys(ctx, users[0])[0]!r} and"
            f" {_keys(ctx, users[1])[0]!r}",
        )
        owner = Counter(_primary(s) for s in slots)
        ctx.expect(
            min(owner[i] for i in range(PRIMARIES)) >= 40,
            f"every one of {PRIMARIES} primaries to own some of the carts of users {family}",
            f"carts per primary: {[owner[i] for i in range(PRIMARIES)]}",
        )


@check(E, "cart_keys", "cart_keys gives the same user the same keys every time")
def _stable(ctx: Ctx) -> None:
    first = ctx.call_pure("cart_keys", USER)
    again = ctx.call_pure("cart_keys", USER)
    ctx.expect(first == again, f"{first} again", again)


# --- add_to_cart -------------------------------------------------------------------


@check(E, "add_to_cart", "add_to_cart adds quantities and returns the cart's new item count")
def _adds(ctx: Ctx) -> None:
    cart, count = _keys(ctx, USER)
    returned = [
        ctx.call("add_to_cart", USER, "apple", 2),
        ctx.call("add_to_cart", USER, "pear", 1),
        ctx.call("add_to_cart", USER, "apple", 3),
    ]
    ctx.expect(returned == [2, 3, 6], "2, 3, 6 (the total quantity after each add)", returned)
    items, total = _state(ctx, cart, count)
    ctx.expect(
        items == {"apple": 5, "pear": 1} and total == 6,
        f"{cart} = {{'apple': 5, 'pear': 1}} and {count} = 6",
        f"{cart} = {items}, {count} = {total}",
    )


@check(E, "add_to_cart", "add_to_cart gives both keys the TTL CART_TTL on every add")
def _ttl(ctx: Ctx) -> None:
    cart, count = _cart(ctx, USER, {"apple": 1})
    ctx.raw.pexpire(cart, 60_000)
    ctx.raw.pexpire(count, 60_000)
    ctx.given("both keys expire in 60 s")
    ctx.call("add_to_cart", USER, "pear", 1)
    for key in (cart, count):
        ttl = ctx.pttl(key)
        ctx.expect(
            TTL_MS - 60_000 < ttl <= TTL_MS,
            f"{key} to expire CART_TTL (7 days) from now",
            f"PTTL {key} = {ttl}",
        )


@check(E, "add_to_cart", "add_to_cart is atomic: no reader sees the items and the count disagree")
def _atomic(ctx: Ctx) -> None:
    cart, count = _keys(ctx, USER)

    def look() -> str | None:
        items, total = _state(ctx, cart, count)
        if sum(items.values()) != (total or 0):
            return f"{cart} = {items} but {count} = {total}"
        return None

    observe(
        ctx,
        setup=lambda: _cart(ctx, USER, {"apple": 1}),
        mine=lambda: ctx.call("add_to_cart", USER, "pear", 2),
        look=look,
        expected="the items and the count to change together (one MULTI/EXEC or a script)",
    )


@check(E, "add_to_cart", "add_to_cart never leaves a key without a TTL, even if it dies")
def _no_bare_keys(ctx: Ctx) -> None:
    interrupted(
        ctx,
        setup=lambda: _keys(ctx, USER),
        mine=lambda: ctx.call("add_to_cart", USER, "apple", 2),
    )


@check(E, "add_to_cart", "add_to_cart from 8 threads at once loses nothing")
def _threads(ctx: Ctx) -> None:
    cart, count = _keys(ctx, USER)
    add = ctx.func("add_to_cart")

    def body(index: int, client: Any) -> list[int]:
        return [add(client, USER, f"sku{index % 2}", 1) for _ in range(5)]

    ctx.called(f"add_to_cart(client, {USER}, 'sku0' or 'sku1', 1) five times in each of 8 threads")
    returned = sorted(n for part in in_threads(ctx, 8, body, what="add_to_cart") for n in part)
    items, total = _state(ctx, cart, count)
    ctx.expect(
        items == {"sku0": 20, "sku1": 20} and total == 40 and returned == list(range(1, 41)),
        "sku0 = 20, sku1 = 20, count 40, and each count 1..40 returned once",
        f"{cart} = {items}, {count} = {total}, returned {show(returned)}",
    )


def _any(client: object) -> Any:
    """A RedisCluster where ``ctx.call`` expects a ``redis.Redis``: the learner takes either."""
    return client


def _on_cluster(ctx: Ctx) -> ClusterEnv:
    cluster = ctx.env.cluster
    if cluster is None:
        ctx.fail("the grader's cluster", "no cluster on this backend")
    return cluster


def _cluster_error(ctx: Ctx, exc: Exception) -> None:
    text = f"{type(exc).__name__}: {exc}"
    hint = ""
    if "slot" in text.lower() or "CROSSSLOT" in text:
        hint = " (the two keys are in different slots: give them the same {hash tag})"
    elif "pipeline" in text.lower():
        hint = " (a RedisCluster's pipeline() is a batch: pass transaction=True)"
    ctx.fail("it to work on a cluster", f"it raised {text}{hint}")


@check(E, "add_to_cart", "add_to_cart works on a 3-primary Valkey Cluster", on=CLUSTER, why=WHY)
def _add_cluster(ctx: Ctx) -> None:
    cluster = _on_cluster(ctx)
    client = cluster.learner()
    for user in range(1, 10):
        try:
            first = ctx.call("add_to_cart", user, "apple", 2, client=_any(client))
            second = ctx.call("add_to_cart", user, "pear", user, client=_any(client))
        except Exception as exc:  # noqa: BLE001 - a cluster error, explained below
            _cluster_error(ctx, exc)
        ctx.expect((first, second) == (2, 2 + user), f"2 and {2 + user}", (first, second))
    owners = {cluster.slot_owner(_keys(ctx, user)[0]) for user in range(1, 10)}
    ctx.expect(len(owners) >= 2, "carts on more than one primary", f"all on {owners}")


def _transactions(ctx: Ctx, task: str) -> None:
    cluster = _on_cluster(ctx)
    client = cluster.learner()
    if task == "checkout":
        cart, count = _keys(ctx, USER)
        cluster.client.hset(cart, mapping={"apple": 2})
        cluster.client.set(count, 2, px=TTL_MS)
    try:
        if task == "checkout":
            ctx.call("checkout", USER, client=_any(client))
        else:
            ctx.call("add_to_cart", USER, "apple", 2, client=_any(client))
    except Exception as exc:  # noqa: BLE001 - a cluster error, explained below
        _cluster_error(ctx, exc)
    ctx.expect(
        all(client.pipelines),
        "MULTI/EXEC or a script: on a RedisCluster, pass pipeline(transaction=True)",
        f"pipelines opened, transaction or not: {client.pipelines} (a plain cluster pipeline"
        " only batches: other clients' commands run between yours)",
    )


@check(
    E,
    "add_to_cart",
    "add_to_cart sends a transaction, not a plain batch, on the cluster",
    on=CLUSTER,
    why=WHY,
)
def _add_cluster_tx(ctx: Ctx) -> None:
    _transactions(ctx, "add_to_cart")


# --- checkout ----------------------------------------------------------------------


@check(E, "checkout", "checkout returns the cart as ints and deletes both keys")
def _checkout(ctx: Ctx) -> None:
    cart, count = _cart(ctx, USER, {"apple": 5, "pear": 1})
    got = ctx.call("checkout", USER)
    ctx.expect(got == {"apple": 5, "pear": 1}, "{'apple': 5, 'pear': 1}", got)
    left = [key for key in (cart, count) if ctx.type_of(key) != "none"]
    ctx.expect(not left, "both keys gone: the cart is empty now", f"{left} still there")


@check(E, "checkout", "checkout of an empty cart returns {}")
def _empty(ctx: Ctx) -> None:
    _cart(ctx, USER, {})
    got = ctx.call("checkout", USER)
    ctx.expect(got == {}, "{}", got)


@check(E, "checkout", "checkout returns the items of the cart hash, even without its count key")
def _no_count(ctx: Ctx) -> None:
    cart, count = _cart(ctx, USER, {"apple": 5, "pear": 1})
    ctx.raw.delete(count)
    ctx.given(f"{count} was evicted (an allkeys-* policy evicts keys one by one)")
    got = ctx.call("checkout", USER)
    ctx.expect(
        got == {"apple": 5, "pear": 1},
        "{'apple': 5, 'pear': 1}: the cart is the hash, the count only a summary of it",
        got,
    )
    left = ctx.type_of(cart)
    ctx.expect(left == "none", f"{cart} deleted", f"{cart} still there ({left})")


@check(E, "checkout", "checkout never loses an item added meanwhile")
def _race(ctx: Ctx) -> None:
    cart, count = _keys(ctx, USER)

    def theirs() -> None:
        with ctx.raw.pipeline(transaction=True) as pipe:
            pipe.hincrby(cart, "pear", 1)
            pipe.incrby(count, 1)
            pipe.pexpire(cart, TTL_MS)
            pipe.pexpire(count, TTL_MS)
            pipe.execute()

    def verify(got: Any, _: object) -> None:
        items, _total = _state(ctx, cart, count)
        both = Counter(got) + Counter(items)
        ctx.expect(
            dict(both) == {"apple": 2, "pear": 1},
            "apple 2 and pear 1 between what you returned and what is left in the cart",
            f"returned {show(got)}, left {items}: the pear was lost",
        )

    race(
        ctx,
        setup=lambda: _cart(ctx, USER, {"apple": 2}),
        mine=lambda: ctx.call("checkout", USER),
        theirs=theirs,
        theirs_text="another client adding a pear to the cart",
        verify=verify,
    )


@check(E, "checkout", "checkout works on a 3-primary Valkey Cluster", on=CLUSTER, why=WHY)
def _checkout_cluster(ctx: Ctx) -> None:
    cluster = _on_cluster(ctx)
    client = cluster.learner()
    for user in range(1, 7):
        cart, count = _keys(ctx, user)
        cluster.client.hset(cart, mapping={"apple": user, "pear": 1})
        cluster.client.set(count, user + 1, px=TTL_MS)
        cluster.client.pexpire(cart, TTL_MS)
    ctx.given("carts {'apple': N, 'pear': 1} for users 1 to 6, spread over the primaries")
    for user in range(1, 7):
        try:
            got = ctx.call("checkout", user, client=_any(client))
        except Exception as exc:  # noqa: BLE001 - a cluster error, explained below
            _cluster_error(ctx, exc)
        ctx.expect(got == {"apple": user, "pear": 1}, f"{{'apple': {user}, 'pear': 1}}", got)
    left = cluster.keys()
    ctx.expect(not left, "no key left on any primary", f"{left}")


@check(
    E,
    "checkout",
    "checkout sends a transaction, not a plain batch, on the cluster",
    on=CLUSTER,
    why=WHY,
)
def _checkout_cluster_tx(ctx: Ctx) -> None:
    _transactions(ctx, "checkout")
