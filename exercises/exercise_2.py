"""Exercise 2 — cache-aside, serialization, invalidation.

Before you start: read about cache-aside and invalidation in docs/, run `make example-2`.
Then replace each `raise NotImplementedError` and run `make grade EX=2`.
Stuck? `make hint EX=2`. Solved? Compare with exercises/solutions/exercise_2.py.

Products live in a slow source (`load`, `save`, `load_many` stand in for a
database); the cache keeps a JSON copy in `product:{product_id}` with a TTL.
`client` is a redis-py client with `decode_responses=True`.

Tasks:
1. get_product             — cache-aside; a hit does not call `load`; misses cached briefly.
2. update_product          — save to the source first, then delete the cached entry.
3. get_product_or_fallback — like get_product, but survives an unreachable cache.
4. get_products            — one MGET, one `load_many` for the missing ids, one pipeline.

How the grader checks (every task): each return value must have exactly the
type of the signature (a tuple is not a list, an int is not a bool or a str).
Where a key has a TTL, it replays your function once per command k that it
sends: "your process dies right after command k", and "every key you touched
expired (or another client deleted it) right after command k". No key may ever
be left without its TTL, and the answer must stay right. One MULTI/EXEC, one
Lua script or one command like SET ... EX has no such gap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis


def get_product(
    client: redis.Redis,
    product_id: int,
    load: Callable[[int], dict[str, Any] | None],
    ttl: int,
) -> dict[str, Any] | None:
    """Return product ``product_id`` through the cache key ``product:{product_id}`` (JSON).

    A hit does not call ``load``. A miss calls it once and caches the result for
    ``ttl`` seconds; an empty product ``{}`` is a product like any other (test
    ``is None``, not falsiness). When ``load`` returns None, cache a "not found"
    marker for at most ``min(ttl, 60)`` seconds (so repeated lookups of a missing
    product do not reach the source) and return None. A cached value that is not
    a JSON object (nor your marker) is a miss: never a crash.
    """
    # TODO: GET the key; on a hit, decode the JSON and return it.
    # TODO: on a miss, call load once and cache the result (or a not-found marker) with a TTL.
    raise NotImplementedError


def update_product(
    client: redis.Redis,
    product_id: int,
    data: dict[str, Any],
    save: Callable[[int, dict[str, Any]], None],
) -> None:
    """Save ``data`` to the source, then delete the cached ``product:{product_id}``.

    If ``save`` raises, the cache is left as it was and the error propagates.
    """
    # TODO: save first, then invalidate.
    raise NotImplementedError


def get_product_or_fallback(
    client: redis.Redis,
    product_id: int,
    load: Callable[[int], dict[str, Any] | None],
    ttl: int,
) -> dict[str, Any] | None:
    """Like :func:`get_product`, but return ``load(product_id)`` when the cache is unreachable.

    ``load`` is called at most once per call, even when the server dies between
    your GET and your SET: keep what it returned. Unreachable means redis-py
    raises ``redis.ConnectionError`` or
    ``redis.TimeoutError`` (not Python's builtin ``ConnectionError``).
    """
    # TODO: try the cache; fall back to the source when the server cannot be reached.
    raise NotImplementedError


def get_products(
    client: redis.Redis,
    ids: Sequence[int],
    load_many: Callable[[list[int]], dict[int, dict[str, Any]]],
    ttl: int,
) -> dict[int, dict[str, Any]]:
    """Return ``{id: product}`` for ``ids``, reading the cache first.

    One MGET for all ids; one ``load_many`` call with only the missing ids (no call
    when none is missing); the loaded products cached with TTL ``ttl`` in one
    pipeline. Ids found nowhere are absent from the result; no ids: ``{}``, and
    no command at all.
    """
    # TODO: one MGET for every id.
    # TODO: one load_many call for the missing ids only, then cache them in one pipeline.
    raise NotImplementedError
