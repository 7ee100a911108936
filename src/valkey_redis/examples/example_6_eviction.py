"""Example 6 — the eviction lab: what Valkey throws away when memory is full.

Run it with ``make example-6`` or ``python -m valkey_redis.examples.example_6_eviction``.
Real Valkey only (fakeredis has no ``maxmemory``): the lab starts its own small
embedded server, so your data is never evicted, and stops it at the end.

The workload, the same for every policy (seeded): a web shop reads products
with a skewed popularity (Zipf: product 1 is read twice as often as product 2,
three times as often as product 3, ...) through a read-through cache. Then a
crawler reads each one-off report page once — a scan — and afterwards the
shoppers come back. The hit ratio after the scan shows which policy kept the
hot products.
"""

from __future__ import annotations

import bisect
import importlib
import itertools
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from valkey_redis import keys
from valkey_redis.client import connect
from valkey_redis.examples.runner import example_backend, plural
from valkey_redis.server import EmbeddedValkey, ServerError

PRODUCTS, REPORTS = 1_000, 800
WARM_READS, MEASURED_READS = 2_000, 1_000
DATA_BUDGET = 150 * 1024  # bytes above an empty server's own use: room for ~500 values
VALUE = "x" * 200
PRODUCT_TTL, REPORT_TTL = 3600, 600  # one-off report pages get the shorter TTL
BATCH = 100
SEED = 7
_ROOM_TRIES = 8  # how often the noeviction step may raise maxmemory before giving up


@dataclass(frozen=True)
class Outcome:
    """One policy's result on the workload."""

    policy: str
    note: str
    hit_ratio: float
    evicted_keys: int
    used_memory: int
    refused_writes: int


def zipf_reads(rng: random.Random, count: int) -> list[str]:
    """``count`` product keys drawn with Zipf popularity (weight of product n is 1/n)."""
    cumulative = list(itertools.accumulate(1 / rank for rank in range(1, PRODUCTS + 1)))
    return [
        keys.join("ex6", "product", bisect.bisect_left(cumulative, rng.random() * cumulative[-1]))
        for _ in range(count)
    ]


def read_through(client: redis.Redis, names: list[str], ttl: int | None) -> tuple[int, int]:
    """Read each key; on a miss, "load" it and SET it (with ``ttl``, or none).

    Batched in pipelines of :data:`BATCH` to keep the lab fast. Returns
    ``(hits, writes refused with an OOM error)``.
    """
    hits = refused = 0
    for start in range(0, len(names), BATCH):
        chunk = names[start : start + BATCH]
        with client.pipeline(transaction=False) as pipe:
            for name in chunk:
                pipe.get(name)
            values = pipe.execute()
        missing = [name for name, value in zip(chunk, values, strict=True) if value is None]
        hits += len(chunk) - len(missing)
        with client.pipeline(transaction=False) as pipe:
            for name in missing:
                pipe.set(name, VALUE, ex=ttl)
            results = pipe.execute(raise_on_error=False)
        refused += sum(isinstance(result, redis.exceptions.OutOfMemoryError) for result in results)
    return hits, refused


def wait_for_lru_clock() -> None:
    """Wait for the next whole second: Valkey's LRU clock ticks once per second."""
    time.sleep(1.0 - time.time() % 1.0 + 0.15)  # +0.15 s: the clock is refreshed by a 10 Hz timer


def empty(client: redis.Redis) -> None:
    """Delete every key and free the memory now.

    Valkey 8+ flushes in a background thread by default (``lazyfree-lazy-user-flush
    yes``): a plain FLUSHALL returns while the memory is still in use, and on a busy
    machine the next writes would find the server still full. ``SYNC`` waits.
    """
    execute: Callable[..., Any] = client.execute_command  # untyped in redis-py
    execute("FLUSHALL", "SYNC")


def run_policy(client: redis.Redis, policy: str, *, report_ttl: int | None, note: str) -> Outcome:
    """Run the workload from an empty server under ``policy``."""
    empty(client)
    client.config_set("maxmemory-policy", policy)
    client.config_resetstat()
    rng = random.Random(SEED)
    warm, measured = zipf_reads(rng, WARM_READS), zipf_reads(rng, MEASURED_READS)
    scan = [keys.join("ex6", "report", n) for n in range(REPORTS)]
    _, refused_warm = read_through(client, warm, PRODUCT_TTL)
    if policy.endswith("lru"):
        wait_for_lru_clock()  # so that the scan is visibly more recent than the shoppers
    _, refused_scan = read_through(client, scan, report_ttl)
    hits, refused_after = read_through(client, measured, PRODUCT_TTL)
    info: dict[str, Any] = client.info()
    return Outcome(
        policy=policy,
        note=note,
        hit_ratio=hits / MEASURED_READS,
        evicted_keys=int(info["evicted_keys"]),
        used_memory=int(info["used_memory"]),
        refused_writes=refused_warm + refused_scan + refused_after,
    )


def print_table(outcomes: list[Outcome], maxmemory: int) -> None:
    """Print the policies side by side."""
    print(f"\n   {'policy':<14}{'hit ratio':>10}{'evicted':>9}{'used_memory':>13}{'OOM':>6}  keys")
    for o in outcomes:
        print(
            f"   {o.policy:<14}{o.hit_ratio:>10.1%}{o.evicted_keys:>9}"
            f"{o.used_memory / 1024:>10.0f} KB{o.refused_writes:>6}  {o.note}"
        )
    print(
        f"   (maxmemory {maxmemory / 1024:.0f} KB; hit ratio over the {MEASURED_READS} reads after"
    )
    print("    the scan; OOM = writes refused with an out-of-memory error)")


def explain() -> None:
    """Say why the numbers come out this way."""
    print("\n   Why:")
    print("   - allkeys-lfu keeps keys by how OFTEN they are read (a small counter per key;")
    print("     new keys start low). The reports were read once, so they went first and")
    print("     the hot products survived the scan.")
    print("   - allkeys-lru keeps keys by how RECENTLY they were read. The scan made every")
    print("     report newer than every product, so it pushed the hot products out; each")
    print("     of them then missed once. One large scan (a crawler, a report, a backfill)")
    print("     is enough to flush an LRU cache.")
    print("   - volatile-ttl evicts the key closest to expiry. The reports had the shorter")
    print("     TTL, so they went first: it works when TTLs say what is worth keeping.")
    print("     With one TTL for everything it degenerates to 'oldest write goes first'.")
    print("   - volatile-lru may evict ONLY keys with a TTL. The reports written without")
    print("     one could never leave, filled the memory, and the cache's writes failed")
    print("     with OOM errors: every key a cache writes needs a TTL.")
    print("   Valkey approximates LRU, LFU and volatile-ttl: each eviction samples")
    print("   maxmemory-samples (5) keys into a pool of the 16 best candidates seen so far")
    print("   and evicts the best of the pool. Its LRU clock ticks once a second — hence")
    print("   the lab's pauses.")


def fill_until_refused(client: redis.Redis) -> tuple[int, redis.exceptions.OutOfMemoryError]:
    """SET order keys (no TTL) until the server refuses one; return (how many fitted, the error)."""
    written = 0
    while True:
        try:
            client.set(keys.join("ex6", "order", written), VALUE)
        except redis.exceptions.OutOfMemoryError as exc:
            return written, exc
        written += 1


def noeviction(client: redis.Redis, maxmemory: int) -> None:
    """Show ``noeviction``: writes fail with an OOM error once full; reads and DEL still work.

    The server's own memory use (client buffers, allocator) moves by tens of KB on a
    busy machine, so the step adapts instead of assuming how much fits: it raises
    ``maxmemory`` a little when fewer than two writes fit, and deletes more keys when
    deleting half of them did not make room.
    """
    print("\n2. noeviction — the server refuses writes instead of dropping data")
    client.config_set("maxmemory-policy", "noeviction")
    for _ in range(_ROOM_TRIES):
        empty(client)
        written, error = fill_until_refused(client)
        if written >= 2:
            break
        maxmemory = make_room(client, maxmemory, f"only {written} SET(s) fitted")
    else:
        print("   the server's own memory use left no room for data; skipping this step")
        return
    first = keys.join("ex6", "order", 0)
    print(f"   {plural(written, 'SET')} succeeded, then: OutOfMemoryError: {error}")
    print(f"   GET {first} still works -> {len(client.get(first) or '')} characters")
    deleted = 0
    for _ in range(_ROOM_TRIES + 2):  # at most two deletions, then room-making
        try:
            client.set(keys.join("ex6", "order", "new"), VALUE)
            break
        except redis.exceptions.OutOfMemoryError:
            if deleted < written:  # half first, then the rest
                more = max(1, written // 2) if deleted == 0 else written - deleted
                client.delete(
                    *(keys.join("ex6", "order", n) for n in range(deleted, deleted + more))
                )
                deleted += more
            else:
                maxmemory = make_room(client, maxmemory, "still full after deleting them all")
    else:
        print("   the server stayed full even after deleting them; skipping the rest")
        return
    print(f"   DEL is allowed; after deleting {plural(deleted, 'key')} a SET fits again.")
    print("   Use noeviction for data that must not vanish (queues, sessions of record),")
    print("   with alerts on used_memory — never for a cache.")


def make_room(client: redis.Redis, maxmemory: int, why: str) -> int:
    """Raise ``maxmemory`` by a quarter of the data budget, say why, and return the new value."""
    maxmemory += DATA_BUDGET // 4
    client.config_set("maxmemory", maxmemory)
    print(f"   {why}; raising maxmemory to {maxmemory / 1024:.0f} KB")
    return maxmemory


def save_chart(outcomes: list[Outcome]) -> None:
    """Save a bar chart of the hit ratios when matplotlib is installed (it is optional)."""
    try:
        mpl = importlib.import_module("matplotlib")
    except ImportError:
        return
    mpl.use("Agg")  # no display needed
    plt = importlib.import_module("matplotlib.pyplot")
    path = Path(tempfile.gettempdir()) / "valkey-redis-eviction-lab.png"
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar([o.policy for o in outcomes], [o.hit_ratio for o in outcomes])
    ax.set_ylabel("hit ratio after the scan")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"\n   Chart saved to {path}")


def main() -> int:
    """Run the eviction lab on a dedicated embedded Valkey and return the exit status."""
    print("Example 6 — the eviction lab")
    with example_backend() as backend:
        if backend.skip_unless_real("eviction needs maxmemory, INFO and evicted_keys"):
            return 0
        try:
            lab = EmbeddedValkey().start()
        except ServerError as exc:
            print(f"The lab needs its own embedded Valkey, which could not start: {exc}")
            return 0
        with lab:
            client = connect(lab.url)
            empty = int(client.info("memory")["used_memory"])
            maxmemory = empty + DATA_BUDGET
            client.config_set("maxmemory", maxmemory)
            print(f"   a dedicated Valkey on port {lab.port}: maxmemory {maxmemory / 1024:.0f} KB")
            print(
                f"   (the empty server's {empty / 1024:.0f} KB + {DATA_BUDGET // 1024} KB for data)"
            )
            print(
                f"\n1. {WARM_READS} shopper reads of {PRODUCTS} products (Zipf), a crawler "
                f"scan of {REPORTS}\n   one-off reports, then {MEASURED_READS} more shopper reads"
            )
            outcomes = [
                run_policy(client, "allkeys-lru", report_ttl=REPORT_TTL, note="all with a TTL"),
                run_policy(client, "allkeys-lfu", report_ttl=REPORT_TTL, note="all with a TTL"),
                run_policy(
                    client, "volatile-ttl", report_ttl=REPORT_TTL, note="reports: shorter TTL"
                ),
                run_policy(client, "volatile-lru", report_ttl=None, note="reports: no TTL"),
            ]
            print_table(outcomes, maxmemory)
            explain()
            save_chart(outcomes)
            noeviction(client, maxmemory)
            client.close()
        print("\nThe lab's server is stopped; nothing was written to your server. Done.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
