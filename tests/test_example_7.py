"""Example 7 (invalidation): pub/sub events, the near cache (real Valkey only), tag invalidation."""

from __future__ import annotations

import pytest
import redis

from valkey_redis.client import connect
from valkey_redis.server import EmbeddedValkey

EVENT = "{'namespace': 'ex7', 'keys': ['ex7:{product%3A1}'], 'tags': []}"
TAG_EVENT = "event keys: ['ex7:{product%3A1}', 'ex7:{product%3A2}'], tags: ['category:books']"
STILL_CACHED = "{'product:1': False, 'product:2': False, 'product:3': True}"


@pytest.mark.real
def test_example_7_on_real_valkey_shows_all_three_parts(
    run_example, valkey_server: EmbeddedValkey
) -> None:
    """Events arrive, the near cache hits/invalidates/flushes, tags delete their entries only."""
    out = run_example(7)
    expected = [
        f"the subscriber received: {EVENT}",
        "near.get('price-42') -> '9.99'  (miss: read from Valkey)",
        "near.get('price-42') -> '9.99'  (hit: from this process)",
        "ms after the SET was sent",
        "near.get('price-42') -> '7.49'  (miss: the fresh value)",
        "near-cache hit",
        "after CLIENT KILL, 0 copies are left",
        "the next read turns tracking on again -> '7.49'",
        "stats: 2002 hits, 3 misses, 1 invalidation, 1 flush",
        "invalidate_tags('category:books') -> 2 entries deleted",
        TAG_EVENT,
        f"still cached: {STILL_CACHED}",
    ]
    assert [line for line in expected if line not in out] == []
    client: redis.Redis = connect(valkey_server.url)
    assert list(client.scan_iter(match="ex7*")) == []
    client.close()


def test_example_7_on_fakeredis_skips_only_the_near_cache(run_example) -> None:
    """On fakeredis, parts 1 and 3 run and part 2 explains why it needs the real server."""
    out = run_example(7, backend="fakeredis")
    assert f"the subscriber received: {EVENT}" in out
    assert "skipped: the near cache needs a real Valkey server" in out
    assert "near-cache hit" not in out
    assert f"still cached: {STILL_CACHED}" in out
    assert out.rstrip().endswith("Done.")
