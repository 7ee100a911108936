"""Example 10 (Valkey 8 and 9): each new command, its reply, and what Redis answers instead."""

from __future__ import annotations

import re

import pytest
import redis

from valkey_redis.client import connect
from valkey_redis.server import EmbeddedValkey

EXPECTED = [
    # hash field expiration (9.0)
    "HSETEX ex10:product:7 EX 3600 FIELDS 2 name desc -> 1",
    "once the price expired: HGETALL -> {'name': 'Lamp', 'desc': 'A desk lamp'}",
    "HSETEX ex10:session:abc FNX EX 300 FIELDS 1 otp ... -> 1, a second one -> 0",
    "HGETEX ex10:session:abc EX 1800 FIELDS 1 user_id -> ['42']",
    "HTTL user_id otp -> [1800, 300]",
    # compare-and-set (8.1) and compare-and-delete (9.0)
    "token-b IFEQ token-b PX 10000 -> None (not the owner)",
    "token-a IFEQ token-a PX 30000 -> True",
    "PTTL -> about 30000 ms",
    "DELIFEQ ex10:lock:report token-b -> 0 (kept: not B's)",
    "DELIFEQ ex10:lock:report token-a -> 1",
    "valkey_redis.Lock's release sent DELIFEQ 1 time",
    "which this server answers with: unknown command 'DELEX'",
    # the MSETEX part (Valkey 9.1)
    "MSETEX 3 <header> h <body> b <footer> f EX 60 -> 1",
    "TTLs -> [60, 60, 60]",
    "NX EX 60 -> 0: one exists, so neither\n   is written (GET sidebar -> None)",
    # the COMMANDLOG part (Valkey 8.1)
    "COMMANDLOG GET -1 large-request -> SET (",
    "COMMANDLOG GET -1 large-reply   -> GET (",
    "On Redis: unknown command 'COMMANDLOG'; Redis has SLOWLOG only.",
    "io-threads 1:",
    "cluster-databases 1:",
]


@pytest.mark.real
def test_example_10_on_real_valkey(run_example, valkey_server: EmbeddedValkey) -> None:
    """Each command gives the narrated reply, what Redis answers is said, no key is left."""
    out = run_example(10)
    assert out.splitlines()[1].startswith("[server] Valkey 9.")
    assert [line for line in EXPECTED if line not in out] == []
    ttls = re.search(r"HPTTL name price nothing -> \[(\d+), (\d+), -2\]", out)
    assert ttls is not None
    assert 3_590_000 <= int(ttls[1]) <= 3_600_000
    assert 0 <= int(ttls[2]) <= 200
    large = re.search(r"large-reply   -> GET \(([\d,]+) bytes; logged over 1,048,576\)", out)
    assert large is not None
    assert int(large[1].replace(",", "")) > 1_048_576
    slow = re.search(r"slow          -> (EVAL \([\d,]+ us; logged over 10,000\)|not logged)", out)
    assert slow is not None  # logged, or said not to be on a very fast machine
    for redis_answer in ("7.2 answers unknown command", "'syntax error' to IFEQ", "Redis 8.4"):
        assert redis_answer in out
    client: redis.Redis = connect(valkey_server.url)
    assert list(client.scan_iter(match="ex10:*")) == []
    client.close()


def test_example_10_skips_on_fakeredis(run_example) -> None:
    """fakeredis has none of these commands: the example says why and exits 0."""
    out = run_example(10, backend="fakeredis")
    assert "needs a real Valkey server: these commands are Valkey 8/9's" in out
    assert "HSETEX" not in out
