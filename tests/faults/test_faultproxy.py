"""The fault proxy itself: each mode does what it says, and the server-side helpers work."""

from __future__ import annotations

import time

import pytest
import redis

from valkey_redis.client import connect
from valkey_redis.faultproxy import AOF, FaultProxy, kill_and_restart, paused
from valkey_redis.server import EmbeddedValkey


@pytest.fixture
def bare(proxy: FaultProxy) -> redis.Redis:
    """A client through the proxy that never retries, so each fault is seen once."""
    return connect(proxy.url, retries=0, socket_timeout=0.5, socket_connect_timeout=0.5)


def test_pass_through_forwards(bare: redis.Redis, direct: redis.Redis) -> None:
    """Without a fault, commands reach the server and replies come back."""
    assert bare.set("k", "v")
    assert direct.get("k") == "v"
    assert bare.get("k") == "v"


def test_latency_delays_replies(bare: redis.Redis, proxy: FaultProxy) -> None:
    """latency() delays the reply by at least the delay (a lower bound, never an upper)."""
    proxy.latency(0.2)
    started = time.monotonic()
    assert bare.ping()
    assert time.monotonic() - started >= 0.2
    assert proxy.applied >= 1


def test_blackhole_runs_nothing_and_answers_nothing(
    bare: redis.Redis, proxy: FaultProxy, direct: redis.Redis
) -> None:
    """An unlimited blackhole times out the client and the command never runs."""
    proxy.blackhole()
    with pytest.raises(redis.TimeoutError):
        bare.incr("n")
    proxy.pass_through()
    assert direct.get("n") is None


def test_matched_blackhole_runs_the_command_but_loses_its_reply(
    bare: redis.Redis, proxy: FaultProxy, direct: redis.Redis
) -> None:
    """blackhole(match=...) forwards the request (it runs), then never answers it."""
    proxy.blackhole(times=1, match="INCR")
    with pytest.raises(redis.TimeoutError):
        bare.incr("n")
    assert direct.get("n") == "1"
    assert bare.get("n") == "1"  # a new connection: the proxy passes through again


def test_reset_before_reply(bare: redis.Redis, proxy: FaultProxy, direct: redis.Redis) -> None:
    """reset_before_reply: the command ran, the client gets a ConnectionError, once."""
    proxy.reset_before_reply(times=1, match="INCR")
    with pytest.raises(redis.ConnectionError):
        bare.incr("n")
    assert direct.get("n") == "1"
    assert bare.incr("n") == 2
    assert proxy.applied == 1


def test_close_mid_reply(bare: redis.Redis, proxy: FaultProxy, direct: redis.Redis) -> None:
    """close_mid_reply: half a reply, then the connection closes; the client raises."""
    direct.set("k", "x" * 1000)
    proxy.close_mid_reply(times=1, match="GET")
    with pytest.raises(redis.ConnectionError):
        bare.get("k")
    assert bare.get("k") == "x" * 1000


def test_match_leaves_other_commands_alone(bare: redis.Redis, proxy: FaultProxy) -> None:
    """A fault limited to one command does not touch the others."""
    proxy.reset_before_reply(match="XADD")
    assert bare.set("k", "v")
    assert bare.get("k") == "v"
    assert proxy.applied == 0


def test_drop_connections(bare: redis.Redis, proxy: FaultProxy) -> None:
    """drop_connections() resets open connections; the next command reconnects."""
    assert bare.ping()
    assert proxy.wait_for_connections(1)
    proxy.drop_connections()
    with pytest.raises(redis.ConnectionError):
        bare.ping()
    assert bare.ping()


def test_times_must_be_positive(proxy: FaultProxy) -> None:
    """times=0 is refused (it would be a no-op that looks like a fault)."""
    with pytest.raises(ValueError, match="times"):
        proxy.reset_before_reply(times=0)


def test_paused_server_accepts_and_hangs(server: EmbeddedValkey) -> None:
    """A SIGSTOPped server times the client out; after SIGCONT it answers again."""
    client = connect(server.url, retries=0, socket_timeout=0.3)
    client.ping()
    with paused(server), pytest.raises(redis.TimeoutError):
        client.get("k")
    assert client.ping()


def test_kill_and_restart_without_persistence_is_empty(server: EmbeddedValkey) -> None:
    """kill -9 and restart on the same port: the client reconnects, the data is gone."""
    client = connect(server.url)
    client.set("k", "v")
    port = server.port
    kill_and_restart(server)
    assert server.port == port
    assert client.get("k") is None


def test_kill_and_restart_with_aof_replays_it() -> None:
    """With AOF (fsync always here, so the test needs no wait), a write survives kill -9."""
    with EmbeddedValkey(config={**AOF, "appendfsync": "always"}) as server:
        client = connect(server.url)
        client.set("k", "v")
        kill_and_restart(server)
        assert client.get("k") == "v"
