"""Exercise 2 — cache-aside, serialization, invalidation (reference solution).

The cache is a copy: the source (``load``/``save``) is the truth, every cached
entry has a TTL, and a write goes to the source first and then drops the copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, cast

import redis

from valkey_redis.keys import join

#: "Not found" is cached too, but briefly: the product may be created soon.
NOT_FOUND_TTL = 60


def _key(product_id: int) -> str:
    return join("product", product_id)


def _decode(raw: str) -> tuple[bool, dict[str, Any] | None]:
    """Return (hit, product); JSON ``null`` is the not-found marker, garbage is a miss."""
    try:
        value = json.loads(raw)
    except ValueError:
        return False, None  # never crash on bytes someone else put there
    if value is None or isinstance(value, dict):
        return True, cast(dict[str, Any] | None, value)
    return False, None


def get_product(
    client: redis.Redis,
    product_id: int,
    load: Callable[[int], dict[str, Any] | None],
    ttl: int,
) -> dict[str, Any] | None:
    """Cache-aside read of ``product:{product_id}`` (JSON), caching misses briefly."""
    key = _key(product_id)
    raw = cast(str | None, client.get(key))
    if raw is not None:
        hit, product = _decode(raw)
        if hit:
            return product  # a hit never reaches the source
    product = load(product_id)
    # Negative caching: "null" for at most a minute, so a flood of lookups for a
    # missing id costs one source query per minute instead of one per lookup.
    expiry = ttl if product is not None else min(ttl, NOT_FOUND_TTL)
    client.set(key, json.dumps(product), ex=expiry)  # value and TTL in one command
    return product


def update_product(
    client: redis.Redis,
    product_id: int,
    data: dict[str, Any],
    save: Callable[[int, dict[str, Any]], None],
) -> None:
    """Save to the source, then invalidate the cached copy."""
    # Source first: if save raises, we stop here and the cache still matches the
    # source. Deleting first would let a reader re-cache the old row before save.
    save(product_id, data)
    client.delete(_key(product_id))


def get_product_or_fallback(
    client: redis.Redis,
    product_id: int,
    load: Callable[[int], dict[str, Any] | None],
    ttl: int,
) -> dict[str, Any] | None:
    """Like :func:`get_product`, but an unreachable cache falls back to ``load`` (once)."""
    loaded: list[dict[str, Any] | None] = []

    def load_once(pid: int) -> dict[str, Any] | None:
        loaded.append(load(pid))
        return loaded[0]

    try:
        return get_product(client, product_id, load_once, ttl)
    except (redis.ConnectionError, redis.TimeoutError):
        # redis.ConnectionError is not Python's builtin ConnectionError. If the
        # server died after the miss (between GET and SET), load already ran:
        # reuse its answer rather than hitting the source a second time.
        return loaded[0] if loaded else load(product_id)


def get_products(
    client: redis.Redis,
    ids: Sequence[int],
    load_many: Callable[[list[int]], dict[int, dict[str, Any]]],
    ttl: int,
) -> dict[int, dict[str, Any]]:
    """Read many products: one MGET, one ``load_many`` for the misses, one pipeline."""
    wanted = list(dict.fromkeys(ids))  # drop duplicates, keep order
    if not wanted:
        return {}
    raws = cast(list[str | None], client.mget([_key(i) for i in wanted]))
    found: dict[int, dict[str, Any]] = {}
    missing: list[int] = []
    for product_id, raw in zip(wanted, raws, strict=True):
        hit, product = _decode(raw) if raw is not None else (False, None)
        if not hit:
            missing.append(product_id)
        elif product is not None:
            found[product_id] = product  # a cached "null" means known to be missing
    if not missing:
        return found  # no call to the source at all
    loaded = load_many(missing)
    # One round trip for all the writes; each SET carries its own TTL.
    with client.pipeline(transaction=False) as pipe:
        for product_id in missing:
            if product_id in loaded:
                pipe.set(_key(product_id), json.dumps(loaded[product_id]), ex=ttl)
                found[product_id] = loaded[product_id]
        pipe.execute()
    return found
