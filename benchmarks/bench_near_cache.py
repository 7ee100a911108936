"""Near cache: a hit served from this process vs a ``GET`` over the network.

``NearCache.get`` keeps hot values in an in-process LRU that Valkey keeps fresh
with ``CLIENT TRACKING`` invalidations, so a hit is a dictionary lookup under a
lock: no round trip at all. DESIGN target: at least 20x the ops/s of a network
``GET`` of the same value. Over a real network (0.2-1 ms per round trip) the gap
is far larger than on this loopback.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.context import BenchContext
from benchmarks.harness import Comparison, Contender, Target, each
from valkey_redis.near_cache import NearCache

__all__ = ["build"]

TTL = 600
VALUE = json.dumps({"id": 42, "name": "Ada Lovelace", "roles": ["admin", "author"]})


def build(ctx: BenchContext) -> list[Comparison]:
    """One comparison: a near-cache hit vs a raw GET."""
    client = ctx.client
    near = NearCache(client, namespace=ctx.name("near"))
    name = near.key("user:42")

    def setup() -> None:
        near.set("user:42", VALUE, ttl=TTL)
        assert near.get("user:42") == VALUE  # the miss that fills the local copy

    def raw() -> None:
        assert client.get(name) == VALUE

    def hit() -> None:
        assert near.get("user:42") == VALUE

    def teardown() -> Any:
        hits = near.stats.hits
        near.close()
        assert hits > 0, "the near cache never hit"
        return hits

    return [
        Comparison(
            name="near-cache hit",
            lesson="Read one hot ~80-byte value: from this process's memory vs over the network.",
            baseline=Contender("raw GET", each(raw)),
            contenders=[Contender("NearCache.get (hit)", each(hit))],
            ops=ctx.ops(3000),
            target=Target(">= 20x a network GET; 0 round trips", min_ratio=20, round_trips=0),
            setup=setup,
            teardown=teardown,
        )
    ]
