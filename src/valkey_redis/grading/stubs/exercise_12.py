"""Exercise 12 — keys for a cluster.

Before you start: read "Cluster: slots and hash tags" in docs/concepts.md and
"Cluster-safe key design" in docs/patterns.md, run `make example-8`.
Then replace each `raise NotImplementedError` and run `make grade EX=12`.
Stuck? `make hint EX=12`. Solved? Compare with exercises/solutions/exercise_12.py.

A Valkey Cluster splits the keys over 16384 hash slots, each owned by one primary.
A transaction or a script may only touch keys of one slot (else: CROSSSLOT), so
keys used together must share a hash tag: the part of the key between the first
`{` and the next `}` is all that is hashed. A shopping cart is two keys (the
items, and their count) that change together.
`client` is a redis-py client with `decode_responses=True`: a plain `redis.Redis`
on one server, or a `redis.cluster.RedisCluster`; the grader uses both, and its
own 3-primary cluster for the cluster checks (started when you grade this one).

Tasks:
1. cart_keys   — the two keys of a user's cart, in one hash slot.
2. add_to_cart — add to the cart and its count, atomically, with a TTL.
3. checkout    — return the cart and empty it, atomically.
"""

from __future__ import annotations

import redis

#: How long an untouched cart lives: every add_to_cart sets both keys' TTL to this.
CART_TTL = 7 * 24 * 3600


def cart_keys(user_id: int) -> tuple[str, str]:
    """Return ``(cart_key, count_key)``: the user's cart hash and its item count.

    Two different keys with the same, non-empty hash tag, so that they live in
    one hash slot; a tag naming the user (not one tag for everyone), so that
    different users' carts spread over the slots and the cluster's nodes,
    whatever their ids (ids 256 or 1000 apart too: the whole user id goes in the
    tag, not a remainder such as ``user_id % 256``). The same user always gets
    the same keys. For example ``cart:{42}`` and ``cart:{42}:count``.
    """
    # TODO: build both keys around a hash tag that names the user.
    raise NotImplementedError


def add_to_cart(client: redis.Redis, user_id: int, sku: str, qty: int) -> int:
    """Add ``qty`` of ``sku`` to the user's cart and return the cart's new item count.

    The cart hash maps sku -> quantity (HINCRBY); the count key holds the total
    quantity of every sku in the cart (INCRBY). Both change in one atomic step (a
    MULTI/EXEC transaction or a Lua script: no other client ever sees one without
    the other, even on a cluster), and both keys get the TTL ``CART_TTL`` in that
    same step, so a crash can never leave a key without one. On a
    ``RedisCluster``, ``client.pipeline()`` is *not* a transaction unless you
    pass ``transaction=True``.
    """
    # TODO: the keys from cart_keys(user_id).
    # TODO: HINCRBY, INCRBY and both EXPIREs in one transaction; return the new count.
    raise NotImplementedError


def checkout(client: redis.Redis, user_id: int) -> dict[str, int]:
    """Return the user's cart as ``{sku: quantity}`` (ints) and delete both keys.

    Atomic: an item another client adds while you check out is either in what
    you return or still in the cart afterwards, never lost (reading with HGETALL
    and then deleting in a second step loses it). An empty or missing cart
    returns ``{}``. The cart is the hash: what it holds is returned even if the
    count key is gone (an eviction policy may drop one key of the pair).
    """
    # TODO: read the cart and delete both keys in one transaction (or a script).
    # TODO: turn the quantities into ints.
    raise NotImplementedError
