"""Example 5 (locks) shows lost increments without a lock, none with it, and fencing."""

from __future__ import annotations

import re
import sys
import types

import pytest
import redis

from valkey_redis.client import connect
from valkey_redis.examples.example_5_locks import FencedStorage
from valkey_redis.server import EmbeddedValkey

EXPECTED = [
    "with Lock(...): 40 of 40 (none lost)",
    "B writes with token",
    "accepted=True",
    'storage still holds "B\'s report"',
    "A.release() -> False (not A's lock any more; B's is untouched)",
    "A.extend()  -> False; B.owned() -> True",
    "B.release() -> True",
]


@pytest.fixture
def plain_main(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes skip re-running pytest's entry script: they need only our modules."""
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))


def _fencing(out: str) -> tuple[int, int, str]:
    """A's token, B's token and whether A's stale write was accepted, as printed."""
    a = re.search(r"A acquires with a 0\.2 s lease, fencing token (\d+)", out)
    b = re.search(r"B acquires, fencing token (\d+)", out)
    stale = re.search(r"A writes with token \d+: accepted=(\w+)", out)
    assert a is not None
    assert b is not None
    assert stale is not None
    return int(a[1]), int(b[1]), stale[1]


@pytest.mark.real
def test_example_5_on_real_valkey(
    run_example, valkey_server: EmbeddedValkey, plain_main: None
) -> None:
    """Threads and processes under the lock lose nothing; the stale write is rejected."""
    out = run_example(5)
    assert out.splitlines()[1].startswith("[server] Valkey 9.")
    assert [line for line in EXPECTED if line not in out] == []
    assert "with Lock(...): 20 of 20 (none lost)" in out
    assert "20 distinct fencing tokens" in out
    unlocked = re.search(r"without a lock: (\d+) of 40 \((\d+) lost\)$", out, re.MULTILINE)
    assert unlocked is not None  # one line, the parenthesis closed on it
    assert int(unlocked[1]) + int(unlocked[2]) == 40
    token_a, token_b, accepted = _fencing(out)
    assert token_a < token_b
    assert accepted == "False"
    client: redis.Redis = connect(valkey_server.url)
    assert list(client.scan_iter(match="ex5:*")) == []  # it cleaned up after itself
    client.close()


def test_example_5_runs_on_fakeredis(run_example) -> None:
    """On fakeredis the thread and fencing parts run; the process part says why it skips."""
    out = run_example(5, backend="fakeredis")
    assert "[server] fakeredis" in out
    assert [line for line in EXPECTED if line not in out] == []
    assert "skipped: fakeredis lives inside this process" in out


def test_fenced_storage_rejects_older_tokens() -> None:
    """The toy resource accepts equal or newer tokens and refuses older ones."""
    storage = FencedStorage()
    assert storage.write(5, "first") is True
    assert storage.write(5, "again") is True
    assert storage.write(4, "stale") is False
    assert storage.write(9, "newer") is True
    assert (storage.highest, storage.value) == (9, "newer")
