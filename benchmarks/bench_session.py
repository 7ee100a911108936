"""Session reads: ``SessionStore.get`` vs the raw redis-py code for a sliding session.

A sliding session read returns every field and restarts the idle TTL. Raw
redis-py does that with a pipeline of HGETALL + PEXPIRE (one round trip) and
``json.loads`` of each field. ``SessionStore.get`` does it in one Lua script
that also keeps the per-user index in step (so ``destroy_all`` works), reads the
server clock, and refuses to touch unknown ids. DESIGN sets no speed target for
sessions; the documented one round trip is checked.
"""

from __future__ import annotations

import json
from typing import Any, cast

from benchmarks.context import BenchContext
from benchmarks.harness import Comparison, Contender, Target, each
from valkey_redis.session import SessionStore

__all__ = ["build"]

TTL = 1800
DATA = {"theme": "dark", "cart": [101, 205], "csrf": "k3J9x0Qw", "locale": "en-GB"}


def build(ctx: BenchContext) -> list[Comparison]:
    """One comparison: a sliding session read."""
    client = ctx.client
    store = SessionStore(client, ttl=TTL, prefix=ctx.name("session"))
    raw_key = ctx.name("rawsession", "abc")
    sid = {"value": ""}

    def setup() -> None:
        sid["value"] = store.create(user_id=42, data=DATA)
        fields: dict[Any, str] = {"user_id": "42", **{k: json.dumps(v) for k, v in DATA.items()}}
        client.hset(raw_key, mapping=fields)
        client.pexpire(raw_key, TTL * 1000)

    def raw() -> None:
        with client.pipeline(transaction=False) as pipe:
            pipe.hgetall(raw_key)
            pipe.pexpire(raw_key, TTL * 1000)
            fields, _ = pipe.execute()
        session = {k: json.loads(v) for k, v in cast(dict[str, str], fields).items()}
        assert session["user_id"] == 42

    def ours() -> None:
        session = store.get(sid["value"])
        assert session is not None
        assert session["user_id"] == 42

    return [
        Comparison(
            name="session read (sliding TTL)",
            lesson="Read a 5-field session and restart its idle timeout.",
            baseline=Contender("raw HGETALL + PEXPIRE pipeline", each(raw)),
            contenders=[Contender("SessionStore.get", each(ours))],
            ops=ctx.ops(1500),
            target=Target("1 round trip (documented; no speed target)", round_trips=1),
            setup=setup,
        )
    ]
