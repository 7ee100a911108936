"""Exercise 12 — keys for a cluster (reference solution).

Only the hash tag, the text between the first ``{`` and the next ``}``, decides
a key's slot. Putting the user id in the tag of both keys keeps one user's cart
in one slot (so MULTI/EXEC works on a cluster) while different users land on
different slots, spread over the primaries.
"""

from __future__ import annotations

from typing import cast

import redis

from valkey_redis.keys import tagged

#: How long an untouched cart lives: every add_to_cart sets both keys' TTL to this.
CART_TTL = 7 * 24 * 3600


def cart_keys(user_id: int) -> tuple[str, str]:
    """Return ``(cart_key, count_key)``: the user's cart hash and its item count."""
    # tagged("cart", 42) is "cart:{42}"; the count key repeats the tag.
    cart = tagged("cart", user_id)
    return cart, f"{cart}:count"


def add_to_cart(client: redis.Redis, user_id: int, sku: str, qty: int) -> int:
    """Add ``qty`` of ``sku`` to the user's cart and return the cart's new item count."""
    cart, count = cart_keys(user_id)
    # transaction=True matters on a RedisCluster, whose pipeline() only batches;
    # on one server it is the default. Same slot, so the cluster accepts it.
    with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(cart, sku, qty)
        pipe.incrby(count, qty)
        pipe.expire(cart, CART_TTL)
        pipe.expire(count, CART_TTL)
        results = pipe.execute()
    return int(results[1])


def checkout(client: redis.Redis, user_id: int) -> dict[str, int]:
    """Return the user's cart as ``{sku: quantity}`` and delete both keys."""
    cart, count = cart_keys(user_id)
    # HGETALL and DEL in one MULTI/EXEC: nothing can be added in between, so
    # nothing added meanwhile is deleted without being returned.
    with client.pipeline(transaction=True) as pipe:
        pipe.hgetall(cart)
        pipe.delete(cart, count)
        items, _ = pipe.execute()
    return {sku: int(qty) for sku, qty in cast(dict[str, str], items).items()}
