"""The pipelining lesson: N round trips vs one pipeline vs one MGET, for N = 10, 100, 1000.

Reading N keys one GET at a time pays N network round trips; a pipeline sends
the N commands in one write and reads N replies; MGET is a single command with
one reply. On loopback a round trip costs tens of microseconds of mostly
Python and system-call work, so the gap grows with N even here; over a real
network (0.2-1 ms per round trip) it is much larger.
"""

from __future__ import annotations

import json
from typing import cast

from benchmarks.context import BenchContext
from benchmarks.harness import Comparison, Contender

__all__ = ["build"]

SIZES = (10, 100, 1000)
# Batches per round, so each N costs about the same time on the loop baseline.
BATCHES = {10: 300, 100: 30, 1000: 3}


def _comparison(ctx: BenchContext, n: int) -> Comparison:
    client = ctx.client
    keys = [ctx.name("pipe", str(n), str(i)) for i in range(n)]
    value = json.dumps({"id": 1, "name": "Ada", "tags": ["a", "b"]})

    def setup() -> None:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(key, value, ex=600)
            pipe.execute()

    def loop(batches: int) -> None:
        for _ in range(batches):
            values = [client.get(key) for key in keys]
            assert len(values) == n

    def pipeline(batches: int) -> None:
        for _ in range(batches):
            with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                values = pipe.execute()
            assert len(values) == n

    def mget(batches: int) -> None:
        for _ in range(batches):
            values = cast(list[str | None], client.mget(keys))
            assert len(values) == n

    return Comparison(
        name=f"pipelining, N = {n}",
        lesson=f"Read {n} keys: {n} GET round trips vs one pipeline vs one MGET.",
        baseline=Contender(f"{n} x GET (N round trips)", loop),
        contenders=[
            Contender(f"pipeline of {n} GET", pipeline),
            Contender(f"MGET of {n} keys", mget),
        ],
        ops=ctx.ops(BATCHES[n]),
        unit=f"{n} keys",
        setup=setup,
        teardown=lambda: client.unlink(*keys),
    )


def build(ctx: BenchContext) -> list[Comparison]:
    """One comparison per N."""
    return [_comparison(ctx, n) for n in SIZES]
