"""Cache hits and batches: ``Cache`` vs the raw redis-py code it replaces.

A cache hit through the helper (``get``, ``get_or_set``, the ``@cached``
decorator) must cost no more than about a raw ``GET`` + ``json.loads`` of the
same value: one round trip, and at least 0.9x its operations per second
(DESIGN target). ``get_many``/``set_many`` of 1,000 keys must be at least 10x
faster than 1,000 single calls: one round trip instead of 1,000 (``set_many``
is one Lua script call, ``get_many`` one MGET). Raw MGET and a raw pipeline of
SETs, with no envelope to encode or parse, are shown for reference.
"""

from __future__ import annotations

import json
from typing import Any, cast

from benchmarks.context import BenchContext
from benchmarks.harness import Comparison, Contender, Target, each
from valkey_redis.cache import Cache

__all__ = ["PAYLOAD", "build"]

TTL = 600
BATCH = 1000
#: A typical small cached object: a user profile of about 250 bytes of JSON.
PAYLOAD: dict[str, Any] = {
    "id": 42,
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "roles": ["admin", "author"],
    "active": True,
    "score": 98.5,
    "address": {"city": "London", "country": "UK"},
    "preferences": {"theme": "dark", "language": "en", "newsletter": False},
}


def _hit(ctx: BenchContext) -> Comparison:
    client = ctx.client
    cache = Cache(client, namespace=ctx.name("cache"), ttl=TTL)
    raw_key = ctx.name("raw", "user", "42")

    loading = {"allowed": True}

    def loader() -> dict[str, Any]:
        # Setup fills the entries through the helper itself; after that, every
        # timed call must be a hit.
        if not loading["allowed"]:
            msg = "a cache hit must not call the loader"
            raise AssertionError(msg)
        return PAYLOAD

    @cache.cached(ttl=TTL)
    def load_user(user_id: int) -> dict[str, Any]:
        return loader()

    def setup() -> None:
        client.set(raw_key, json.dumps(PAYLOAD), ex=TTL)
        cache.set("user:42", PAYLOAD)
        cache.get_or_set("gos:42", loader, ttl=TTL)
        load_user(42)
        loading["allowed"] = False

    def raw() -> None:
        assert json.loads(cast(str, client.get(raw_key)))["id"] == 42

    def get() -> None:
        assert cache.get("user:42")["id"] == 42

    def get_or_set() -> None:
        assert cache.get_or_set("gos:42", loader, ttl=TTL)["id"] == 42

    def decorated() -> None:
        assert load_user(42)["id"] == 42

    return Comparison(
        name="cache hit",
        lesson="Read one cached ~250-byte JSON object that is present.",
        baseline=Contender("raw GET + json.loads", each(raw)),
        contenders=[
            Contender("Cache.get", each(get)),
            Contender("Cache.get_or_set", each(get_or_set)),
            Contender("@cache.cached", each(decorated)),
        ],
        ops=ctx.ops(2000),
        target=Target(">= 0.9x raw GET + json.loads; 1 round trip", min_ratio=0.9, round_trips=1),
        setup=setup,
    )


def _batches(ctx: BenchContext) -> list[Comparison]:
    client = ctx.client
    cache = Cache(client, namespace=ctx.name("batch"), ttl=TTL)
    names = [f"item:{i}" for i in range(BATCH)]
    values: dict[str | int, Any] = {name: {**PAYLOAD, "id": i} for i, name in enumerate(names)}
    raw_keys = [ctx.name("rawbatch", str(i)) for i in range(BATCH)]
    encoded = [json.dumps(value) for value in values.values()]

    def set_loop(n: int) -> None:
        for _ in range(n):
            for name, value in values.items():
                cache.set(name, value)

    def set_many(n: int) -> None:
        for _ in range(n):
            cache.set_many(values)

    def raw_pipeline_set(n: int) -> None:
        for _ in range(n):
            with client.pipeline(transaction=False) as pipe:
                for key, text in zip(raw_keys, encoded, strict=True):
                    pipe.set(key, text, ex=TTL)
                pipe.execute()

    def fill() -> None:
        set_many(1)
        raw_pipeline_set(1)

    def get_loop(n: int) -> None:
        for _ in range(n):
            found = [cache.get(name) for name in names]
            assert found[-1]["id"] == BATCH - 1

    def get_many(n: int) -> None:
        for _ in range(n):
            assert len(cache.get_many(names)) == BATCH

    def raw_mget(n: int) -> None:
        for _ in range(n):
            texts = cast(list[str], client.mget(raw_keys))
            assert len([json.loads(text) for text in texts]) == BATCH

    ops = ctx.ops(4)
    unit = f"{BATCH:,} keys"
    target = Target(">= 10x a loop of single calls; 1 round trip", min_ratio=10, round_trips=1)
    return [
        Comparison(
            name=f"set_many of {BATCH:,} keys",
            lesson=f"Write {BATCH:,} cached objects with a TTL.",
            baseline=Contender(f"{BATCH:,} x Cache.set", set_loop),
            contenders=[
                Contender("Cache.set_many", set_many),
                Contender("raw pipeline of SET EX", raw_pipeline_set, note="reference"),
            ],
            ops=ops,
            unit=unit,
            target=Target(target.text, 10, 1, applies_to=("Cache.set_many",)),
        ),
        Comparison(
            name=f"get_many of {BATCH:,} keys",
            lesson=f"Read {BATCH:,} cached objects that are all present.",
            baseline=Contender(f"{BATCH:,} x Cache.get", get_loop),
            contenders=[
                Contender("Cache.get_many", get_many),
                Contender("raw MGET + json.loads", raw_mget, note="reference"),
            ],
            ops=ops,
            unit=unit,
            target=Target(target.text, 10, 1, applies_to=("Cache.get_many",)),
            setup=fill,
        ),
    ]


def build(ctx: BenchContext) -> list[Comparison]:
    """The hit comparison and the two batch comparisons."""
    return [_hit(ctx), *_batches(ctx)]
