"""Example 2 (caching patterns) runs on real Valkey and on fakeredis and prints the key facts."""

from __future__ import annotations

import re

import pytest
import redis

from valkey_redis.client import connect

FACTS = [
    "database queries: 1 (only the miss reached the database)",
    "UPDATE price to 39.0 in SQLite, cache untouched -> 49.0 (stale!)",
    "cache.delete('product:1'), read again -> 39.0 (fresh; 1 query)",
    "write_through(product 2, price 15.0) -> cached: True",
    "database price: 15.0; read -> 15.0 (a hit)",
    "database queries for that read: 0",
    "submitted 6 price changes (2 per product, the last one wins); backlog: 6 writes",
    "cache already has the new prices:  [179.0, 55.0, 79.0]",
    "database still has the old prices: [199.0, 59.0, 89.0]",
    "flush() -> applied 6 writes in 2 batches",
    "database caught up: [179.0, 55.0, 79.0]; backlog: 0",
    "protected get_or_set:    1 loader call, 20 of 20 threads got the value",
    "1,000 asyncio tasks, aio.Cache.get_or_set: 1 loader call, 1,000 of 1,000 tasks",
    "hits=107 misses=2 loads=2 errors=0 -> hit ratio 98%",
    "these 100 reads ran 0 queries;",  # the count is said, not left next to loads=2
    "queries (loads, writes and the stampede of steps 1-6).",
]


def ttls(out: str, jitter: str) -> list[float]:
    """The six TTLs printed for one jitter setting."""
    found = re.search(rf"ttl=60 jitter={re.escape(jitter)}: expire in ([\d. ]+) s", out)
    assert found is not None, out
    values = [float(ttl) for ttl in found.group(1).split()]
    assert len(values) == 6
    return values


def check_facts(out: str) -> None:
    """Every fact is printed; jitter spreads TTLs below 60 s; the naive stampede loads often."""
    assert [fact for fact in FACTS if fact not in out] == []
    plain, jittered = ttls(out, "0.0"), ttls(out, "0.1")
    assert all(59.0 <= ttl <= 60.0 for ttl in plain), plain
    assert max(plain) - min(plain) <= 0.2  # written together, expiring together
    assert all(53.0 <= ttl <= 60.0 for ttl in jittered), jittered
    assert max(jittered) - min(jittered) > 0.2  # spread over up to 6 s
    naive = re.search(r"naive GET / query / SET: (\d+) loader calls, 20 of 20", out)
    assert naive is not None
    assert int(naive.group(1)) > 1


@pytest.mark.real
def test_example_2_on_real_valkey_prints_each_pattern(run_example, valkey_server) -> None:
    """On real Valkey: cache-aside, invalidation, write-through/-behind, jitter, stampede, stats."""
    out = run_example(2)
    assert out.splitlines()[1].startswith("[server] Valkey 9.")
    check_facts(out)


@pytest.mark.real
def test_example_2_removes_its_keys(run_example, valkey_server) -> None:
    """After the example, no ex2 key and no write-behind stream is left."""
    run_example(2)
    client: redis.Redis = connect(valkey_server.url)
    assert list(client.scan_iter(match="ex2*")) == []
    assert client.exists("wb:{ex2-prices}:stream") == 0
    client.close()


def test_example_2_on_fakeredis_prints_the_same_facts(run_example) -> None:
    """Forced to fakeredis, the example says so and shows the same results."""
    out = run_example(2, backend="fakeredis")
    assert "[server] fakeredis" in out
    check_facts(out)
