"""A correct exercise 12 written differently: another key shape, Lua, and WATCH/MULTI.

The tag ``{u42}`` is still the user; ``add_to_cart`` is one Lua script over both
keys (one slot, so the cluster runs it); ``checkout`` WATCHes the cart, reads it,
and deletes both keys in MULTI/EXEC, retrying when someone added meanwhile.
"""

from __future__ import annotations

from typing import cast

import redis

CART_TTL = 7 * 24 * 3600

_ADD = """
local total = redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return total
"""


def cart_keys(user_id: int) -> tuple[str, str]:
    """``cart:{u42}`` and ``cart-count:{u42}``: two names, one tag."""
    return f"cart:{{u{user_id}}}", f"cart-count:{{u{user_id}}}"


def add_to_cart(client: redis.Redis, user_id: int, sku: str, qty: int) -> int:
    """One script: both increments and both TTLs, atomically."""
    script = client.register_script(_ADD)
    return int(cast(int, script(keys=list(cart_keys(user_id)), args=[sku, qty, CART_TTL])))


def checkout(client: redis.Redis, user_id: int) -> dict[str, int]:
    """WATCH, HGETALL, MULTI DEL EXEC; again if the cart changed in between."""
    cart, count = cart_keys(user_id)
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(cart)
                items = cast(dict[str, str], pipe.hgetall(cart))
                pipe.multi()
                pipe.delete(cart, count)
                pipe.execute()
                return {sku: int(qty) for sku, qty in items.items()}
            except redis.WatchError:
                continue
