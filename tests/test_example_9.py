"""Example 9 (when Valkey fails): each helper's fallback or error, breaker states, recovery."""

from __future__ import annotations

import re

import pytest

from valkey_redis.examples import example_9_failures
from valkey_redis.server import binary_can_run

pytestmark = pytest.mark.real

RESULTS = [
    ("first cache.get_or_set('price:7', load)", "9.5"),
    ("next cache.get_or_set (breaker open)", "9.5"),
    ("cache.get('price:7', 'n/a')", "'n/a'"),
    ("cache.get_many(['a', 'b'])", "{}"),
    ("GCRA(on_error='allow').hit(...).allowed", "True"),
    ("TokenBucket(on_error='deny').hit(...).allowed", "False"),
    ("cache.write_through(..., save)", "False"),
    ("sessions.get(sid)", "raises CircuitOpenError"),
    ("Lock(..., blocking_timeout=1).acquire()", "raises CircuitOpenError"),
    ("cache.set('price:7', 9.5)", "raises CircuitOpenError"),
]


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str]) -> str:
    """What the example printed (it starts its own servers)."""
    if not binary_can_run():
        pytest.skip("the bundled valkey-server cannot run on this machine")
    assert example_9_failures.main() == 0
    return capsys.readouterr().out


def test_every_helper_falls_back_or_raises(output: str) -> None:
    """With the breaker open each helper shows its documented fallback or CircuitOpenError."""
    for what, result in RESULTS:
        line = re.search(rf"^   {re.escape(what)} +-> (.+?) +[0-9.]+ ms$", output, re.MULTILINE)
        assert line is not None, what
        assert line[1] == result, what


def test_three_faults_open_then_close_the_breaker(output: str) -> None:
    """Each part logs open, then half_open and closed once the server answers again."""
    states = re.findall(r"\[breaker -> (\w+)\]", output)
    assert states == ["open", "half_open", "closed"] * 3
    assert len(re.findall(r"the cache is used again after [0-9.]+ s", output)) == 3
    assert "breaker: open, 3 failures," in output
    assert "for /healthz: breaker_of(client).snapshot().state == 'closed'" in output
