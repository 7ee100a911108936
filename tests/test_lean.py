"""The sync lean command path and its lane (``valkey_redis._lean``), on a real Valkey."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from valkey_redis import Cache, FixedWindow, _lean, connect

pytestmark = pytest.mark.real


def _connections(admin: redis.Redis, name: str) -> int:
    return sum(1 for c in admin.client_list() if c.get("name") == name)


def test_sequential_helper_calls_share_the_lane_and_close_closes_it(
    valkey_server: Any, real_client: redis.Redis
) -> None:
    """Cache reads and limiter hits in a row use one connection; close() leaves none."""
    client = connect(valkey_server.url, client_name="sync-lane")
    cache = Cache(client, namespace="sync-lane", ttl=60)
    cache.set("k", {"n": 1})
    assert [cache.get("k") for _ in range(20)] == [{"n": 1}] * 20
    assert FixedWindow(client, limit=5, window=60).hit("u").allowed
    assert _connections(real_client, "sync-lane") == 1
    client.close()
    deadline = time.monotonic() + 10
    while _connections(real_client, "sync-lane") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _connections(real_client, "sync-lane") == 0


def test_threads_beyond_the_lane_use_the_pool(valkey_server: Any) -> None:
    """16 threads x 50 reads of their own keys: every read gets its own value."""
    client = connect(valkey_server.url)
    cache = Cache(client, namespace="sync-threads", ttl=60)
    cache.set_many({i: i for i in range(16)})
    wrong: list[Any] = []
    start = threading.Barrier(16)

    def reader(i: int) -> None:
        start.wait()
        wrong.extend(got for got in (cache.get(i) for _ in range(50)) if got != i)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert cache.stats.errors == 0
    client.close()


def test_a_killed_lane_connection_is_replaced(valkey_server: Any, real_client: redis.Redis) -> None:
    """The server closes the lane's connection: the next read reconnects and answers."""
    client = connect(valkey_server.url, client_name="sync-killed")
    cache = Cache(client, namespace="sync-killed", ttl=60)
    cache.set("k", "v")
    assert cache.get("k") == "v"
    real_client.execute_command("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
    assert cache.get("k") == "v"
    assert cache.stats.errors == 0
    client.close()


def test_single_connection_and_patched_clients_keep_their_path(valkey_server: Any) -> None:
    """A single-connection client, and one whose execute_command a test patched, are called."""
    seen: list[Any] = []
    patched = connect(valkey_server.url)
    original = patched.execute_command

    def spy(*args: Any, **options: Any) -> Any:
        seen.append(args[0])
        return original(*args, **options)

    patched.execute_command = spy  # type: ignore[method-assign]
    patched.set("lean-k", "v")
    assert _lean.command(patched, "GET", "lean-k") == "v"
    single = redis.Redis(connection_pool=patched.connection_pool, single_connection_client=True)
    assert _lean.command(single, "GET", "lean-k") == "v"
    assert single.connection is not None  # its own connection answered
    assert seen == ["SET", "GET"]
    single.close()
    patched.close()


def test_a_small_pool_lends_no_lane(valkey_server: Any) -> None:
    """max_connections below 100: every command checks a connection out of the pool."""
    client = connect(valkey_server.url, max_connections=8)
    cache = Cache(client, namespace="sync-small", ttl=60)
    cache.set("k", 1)
    assert cache.get("k") == 1
    assert client.connection_pool not in _lean._LANES
    client.close()


@pytest.mark.parametrize("failures", [0, 1, 2])
def test_a_failed_first_attempt_gets_exactly_redis_pys_retries(
    valkey_server: Any, monkeypatch: pytest.MonkeyPatch, failures: int
) -> None:
    """retries=1: no failure, 1 attempt; one, a retry answers; two, raised after 2 attempts."""
    client = connect(valkey_server.url, retries=1)
    client.set("lean-retry", "v")
    attempts: list[int] = []
    real = _lean._attempt

    def flaky(*args: Any) -> Any:
        attempts.append(1)
        if len(attempts) <= failures:
            raise redis.exceptions.ConnectionError("cut")
        return real(*args)

    monkeypatch.setattr(_lean, "_attempt", flaky)
    if failures < 2:
        assert _lean.command(client, "GET", "lean-retry") == "v"
        assert len(attempts) == failures + 1
    else:
        with pytest.raises(redis.exceptions.ConnectionError):
            _lean.command(client, "GET", "lean-retry")
        assert len(attempts) == 2  # the first, and the one retry
    client.close()
