"""Lock acquire + release, uncontended: ours vs redis-py's ``Lock`` vs python-redis-lock.

Each operation is what ``with Lock(...)`` does: build the lock object, acquire,
release. redis-py's lock is SET NX PX with a random token, then a Lua
compare-and-delete: two round trips. Ours also issues a strictly increasing
fencing token (an INCR inside the acquire script) and must stay at two round
trips and at least redis-py's speed (DESIGN target). python-redis-lock (SET NX,
then a release script that also pushes a wake-up signal) is shown for reference.
"""

from __future__ import annotations

import redis_lock

from benchmarks.context import BenchContext
from benchmarks.harness import Comparison, Contender, Target, each
from valkey_redis.lock import Lock

__all__ = ["build"]

LEASE = 10


def build(ctx: BenchContext) -> list[Comparison]:
    """One comparison: three ways to take and drop an uncontended lock."""
    client = ctx.client
    names = {who: ctx.name("lock", who) for who in ("redispy", "ours", "prl")}

    def redis_py() -> None:
        lock = client.lock(names["redispy"], timeout=LEASE)
        assert lock.acquire()
        lock.release()

    def ours() -> None:
        lock = Lock(client, names["ours"], timeout=LEASE)
        assert lock.acquire()
        assert lock.release()

    def python_redis_lock() -> None:
        lock = redis_lock.Lock(client, names["prl"], expire=LEASE)
        assert lock.acquire()
        lock.release()

    return [
        Comparison(
            name="lock acquire + release",
            lesson="Build a lock, acquire it uncontended, release it (the `with` block's work).",
            baseline=Contender("redis-py Lock", each(redis_py)),
            contenders=[
                Contender("valkey_redis.Lock", each(ours), note="with a fencing token"),
                Contender("python-redis-lock", each(python_redis_lock)),
            ],
            ops=ctx.ops(600),
            target=Target(
                ">= redis-py Lock ops/s; 2 round trips",
                min_ratio=1.0,
                round_trips=2,
                applies_to=("valkey_redis.Lock",),
            ),
        )
    ]
