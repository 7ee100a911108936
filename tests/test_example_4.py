"""Example 4 (rate limiting) narrates each algorithm, the boundary burst, refill and headers."""

from __future__ import annotations

import re

import pytest
import redis

from valkey_redis.client import connect


def check_narration(out: str) -> None:
    """Assert the parts of the output that do not depend on scheduling jitter."""
    for name in ("FixedWindow", "SlidingWindowLog", "SlidingWindowCounter", "TokenBucket", "GCRA"):
        assert re.search(rf"^   {name} +\+\+\+\+\+\.\.\. ", out, re.MULTILINE), name
    for name in ("FixedWindow", "SlidingWindowLog", "SlidingWindowCounter"):
        assert re.search(rf"^   {name} +\+{{5}}\.{{3}} +\.{{8}} +5$", out, re.MULTILINE), name
    assert re.search(r"^   FixedWindow +\+{5} +\+{5} +10 allowed in 0\.2 s$", out, re.MULTILINE)
    assert re.search(r"^   SlidingWindowLog +\+{5} +\.{5} +5 allowed in 0\.2 s$", out, re.MULTILINE)
    assert "burst of 4: empty, next token in 0.25 s" in out
    assert re.search(r"^   t=1\.\d\d s  ####  full again$", out, re.MULTILINE)
    expected = [
        "first request -> 200 OK",
        '      RateLimit: "default";r=4;t=12\n      RateLimit-Policy: "default";q=5;w=60\n',
        "sixth request -> 429 Too Many Requests",
        (
            '      RateLimit: "default";r=0;t=12\n      RateLimit-Policy: "default";q=5;w=60\n'
            "      Retry-After: 12\n"
        ),
        (
            "      RateLimit-Limit: 5\n      RateLimit-Remaining: 0\n      RateLimit-Reset: 60\n"
            "      Retry-After: 12\n"
        ),
        "on_error='raise' (default) -> ConnectionError",
        "on_error='allow' -> allowed=True, fallback=True",
        "on_error='deny' -> allowed=False, fallback=True",
        "Cleaned up",
    ]
    count = re.search(r"^Cleaned up (\d+) (keys?) under", out, re.MULTILINE)
    assert count
    assert count[2] == ("key" if count[1] == "1" else "keys")  # never "1 keys"
    assert [line for line in expected if line not in out] == []


@pytest.mark.real
def test_example_4_on_real_valkey_shows_every_lesson_and_cleans_up(
    run_example, valkey_server
) -> None:
    """Real Valkey: the table, the 2x boundary burst vs the log, refill, headers; no keys left."""
    out = run_example(4)
    assert out.splitlines()[1].startswith("[server] Valkey 9.")
    check_narration(out)
    client: redis.Redis = connect(valkey_server.url)
    assert list(client.scan_iter(match="ex4:*")) == []
    client.close()


def test_example_4_runs_on_fakeredis(run_example) -> None:
    """Forced to fakeredis (Lua and TIME emulated), the example tells the same story."""
    out = run_example(4, backend="fakeredis")
    assert "[server] fakeredis" in out
    check_narration(out)
