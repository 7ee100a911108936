"""Example 3 (sessions) narrates login, sliding TTL, updates, rotation and logout."""

from __future__ import annotations

import re

import pytest
import redis

from valkey_redis.client import connect
from valkey_redis.server import EmbeddedValkey

EXPECTED = [
    "(48 chars, 256 random bits from `secrets`)",
    "TTL 1800 s",
    "10 minutes later (fast-forwarded): TTL 1200 s",
    "get() -> {'user_id': 42, 'name': 'Ada', 'theme': 'dark', 'role': 'user'}",
    "TTL back to 1800 s",
    "(A's theme change is lost)",
    "{'theme': 'light', 'cart': ['book']} (both kept)",
    "update() of an unknown id -> False",
    "new id -> role 'admin', same data, fresh TTL",
    "destroy() -> True; get() afterwards -> None",
    "destroy_all(user_id=42) -> 3; Ada's sessions left: []",
    "user 7 is still logged in: True",
]


def _rotation(out: str) -> tuple[str, str, str]:
    """The new id, the old id and what reading the old id returned, as printed."""
    new = re.search(r"rotate\(\) -> new id (\S+)", out)
    old = re.search(r"old id (\S+) -> (\S+)", out)
    assert new is not None
    assert old is not None
    return new[1], old[1], old[2]


@pytest.mark.real
def test_example_3_on_real_valkey(run_example, valkey_server: EmbeddedValkey) -> None:
    """On Valkey the example names the server and shows every step's outcome."""
    out = run_example(3)
    assert out.splitlines()[1].startswith("[server] Valkey 9.")
    assert [line for line in EXPECTED if line not in out] == []
    new, old, old_read = _rotation(out)
    assert new != old
    assert old_read == "None"


@pytest.mark.real
def test_example_3_removes_its_keys(run_example, valkey_server: EmbeddedValkey) -> None:
    """After the example no ``ex3:`` key is left on the server."""
    run_example(3)
    client: redis.Redis = connect(valkey_server.url)
    assert list(client.scan_iter(match="ex3:*")) == []
    client.close()


def test_example_3_runs_on_fakeredis(run_example) -> None:
    """Forced to fakeredis, the example tells the same story."""
    out = run_example(3, backend="fakeredis")
    assert "[server] fakeredis" in out
    assert [line for line in EXPECTED if line not in out] == []
    assert "Cleaned up" in out
