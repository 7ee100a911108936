"""A second correct solution of exercise 8, written differently: Lua scripts for the
read-modify-writes, and a MULTI/EXEC pipeline of SET PX for the bulk load.

Kept as test data: the grader must accept it as well as the reference.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

_RESERVE = """
local left = tonumber(redis.call('GET', KEYS[1]))
local qty = tonumber(ARGV[1])
if left == nil or left < qty then return 0 end
redis.call('DECRBY', KEYS[1], qty)
return 1
"""

_TRANSFER = """
local have = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if have < amount then return 0 end
redis.call('DECRBY', KEYS[1], amount)
redis.call('INCRBY', KEYS[2], amount)
return 1
"""


def reserve_stock(client: redis.Redis, sku: str, qty: int) -> bool:
    """One script: check and take together."""
    return client.register_script(_RESERVE)(keys=[f"stock:{sku}"], args=[qty]) == 1


def transfer_points(client: redis.Redis, src: str, dst: str, amount: int) -> bool:
    """One script: check and move together."""
    if not amount > 0:
        raise ValueError(amount)
    script = client.register_script(_TRANSFER)
    return script(keys=[f"points:{src}", f"points:{dst}"], args=[amount]) == 1


def bulk_load(client: redis.Redis, items: Mapping[str, str], ttl: int) -> int:
    """MULTI/EXEC of SET PX: atomic as a bonus."""
    pipe = client.pipeline()
    for key, value in items.items():
        pipe.set(key, value, px=ttl * 1000)
    return sum(1 for ok in pipe.execute() if ok)
