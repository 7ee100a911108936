"""Example 6 (eviction lab) on a dedicated embedded Valkey; on fakeredis it explains and exits 0."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from valkey_redis.client import connect
from valkey_redis.examples import example_6_eviction
from valkey_redis.server import EmbeddedValkey


def parse_table(out: str) -> dict[str, tuple[float, int]]:
    """Map each policy row of the printed table to (hit ratio, OOM-refused writes)."""
    rows = re.findall(r"^\s+(\S+-\S+)\s+([\d.]+)%\s+\d+\s+\d+ KB\s+(\d+)", out, re.MULTILINE)
    return {policy: (float(ratio) / 100, int(oom)) for policy, ratio, oom in rows}


@pytest.mark.real
def test_lab_ordering_and_noeviction(run_example) -> None:
    """LFU and volatile-ttl beat LRU; no-TTL keys cause OOM; noeviction refuses writes only."""
    out = run_example(6)
    table = parse_table(out)
    assert sorted(table) == ["allkeys-lfu", "allkeys-lru", "volatile-lru", "volatile-ttl"]
    lru, lfu, ttl, vlru = (
        table[p] for p in ("allkeys-lru", "allkeys-lfu", "volatile-ttl", "volatile-lru")
    )
    assert lfu[0] > lru[0] + 0.1  # measured: LFU ~0.80, LRU ~0.55
    assert ttl[0] > lru[0]
    assert vlru[0] < lru[0]
    assert (lru[1], lfu[1], ttl[1]) == (0, 0, 0)
    assert vlru[1] > 0
    # noeviction: a SET fails with the OOM error while GET and DEL still work
    assert "then: OutOfMemoryError: command not allowed when used memory > 'maxmemory'" in out
    assert "GET ex6:order:0 still works -> 200 characters" in out
    assert "a SET fits again" in out
    assert out.rstrip().endswith("Done.")


def test_on_fakeredis_it_explains_and_exits_zero(run_example) -> None:
    """fakeredis has no maxmemory: the example says it needs the real server and stops."""
    out = run_example(6, backend="fakeredis")
    assert "needs a real Valkey server: eviction needs maxmemory" in out
    assert "hit ratio" not in out


@pytest.mark.real
def test_noeviction_step_adapts_when_no_write_fits() -> None:
    """A server already at maxmemory (a loaded machine): the step makes room, never crashes."""
    with EmbeddedValkey() as server:
        client = connect(server.url)
        example_6_eviction.empty(client)
        full = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory", full)  # not even one SET fits
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            example_6_eviction.noeviction(client, full)
        text = out.getvalue()
        assert "only 0 SET(s) fitted; raising maxmemory" in text
        assert "then: OutOfMemoryError" in text
        assert "a SET fits again" in text
        assert client.get("ex6:order:new") == example_6_eviction.VALUE
        client.close()
