"""Example 1 (basics) runs on real Valkey and on fakeredis and narrates each step."""

from __future__ import annotations

import pytest
import redis

from valkey_redis.client import connect


@pytest.mark.real
def test_example_1_on_real_valkey_narrates_every_structure(run_example, valkey_server) -> None:
    """The output names the server and shows each data structure's result."""
    out = run_example(1)
    assert out.splitlines()[1].startswith("[server] Valkey 9.")
    expected = [
        "'hello, valkey'",
        "{'name': 'Ada', 'plan': 'pro', 'visits': '1'}",
        "['/blog', '/docs', '/pricing']",
        "['python']",
        "[('linus', 130), ('ada', 120)]",
        "TTL 30 s",
        "PERSIST -> TTL -1",
        "-> 14",
        "by worker-a -> True; by worker-b -> None",
        "1 pipeline:",
    ]
    missing = [line for line in expected if line not in out]
    assert missing == []


@pytest.mark.real
def test_example_1_removes_its_keys(run_example, valkey_server) -> None:
    """After the example, no ``ex1:`` key is left on the server."""
    run_example(1)
    client: redis.Redis = connect(valkey_server.url)
    assert list(client.scan_iter(match="ex1:*")) == []
    client.close()


def test_example_1_runs_on_fakeredis(run_example) -> None:
    """Forced to fakeredis, the example says so and still completes."""
    out = run_example(1, backend="fakeredis")
    assert "[server] fakeredis" in out
    assert "Cleaned up" in out
