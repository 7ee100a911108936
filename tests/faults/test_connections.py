"""A timed-out or interrupted command never desynchronises a pooled connection."""

from __future__ import annotations

import threading

import pytest
import redis

from valkey_redis import FixedWindow
from valkey_redis.client import connect
from valkey_redis.faultproxy import FaultProxy


def test_timed_out_reply_is_never_read_by_the_next_command(
    proxy: FaultProxy, direct: redis.Redis
) -> None:
    """After a GET times out, the next command on the pool gets its own reply, not the late one."""
    direct.set("a", "value-of-a")
    direct.set("b", "value-of-b")
    client = connect(proxy.url, retries=0, socket_timeout=0.3, max_connections=1)
    proxy.latency(1.0, times=1, match="GET")
    with pytest.raises(redis.TimeoutError):
        client.get("a")
    for _ in range(5):
        assert client.get("b") == "value-of-b"
    assert client.get("a") == "value-of-a"


def test_retried_timeout_returns_the_right_reply(proxy: FaultProxy, direct: redis.Redis) -> None:
    """connect()'s retry after a timeout answers with the command's own reply."""
    direct.set("a", "value-of-a")
    client = connect(proxy.url, socket_timeout=0.3, max_connections=1)
    proxy.latency(1.0, times=1, match="GET")
    assert client.get("a") == "value-of-a"
    assert client.incr("n") == 1


def test_interrupted_command_does_not_poison_the_pool(
    proxy: FaultProxy, direct: redis.Redis
) -> None:
    """An exception raised while a reply is awaited (a cancel) drops that connection."""
    direct.set("a", "value-of-a")
    client = connect(proxy.url, retries=0, socket_timeout=5, max_connections=1)
    proxy.latency(1.0, times=1, match="GET")
    connection = client.connection_pool.get_connection()
    client.connection_pool.release(connection)

    class Cancelled(BaseException):
        """Stands in for KeyboardInterrupt or a task cancellation."""

    parser = connection._parser
    original = parser.read_response
    started = threading.Event()

    def cancelled_read(*args: object, **kwargs: object) -> object:
        started.set()
        raise Cancelled  # while the (delayed) reply is still on its way

    parser.read_response = cancelled_read
    with pytest.raises(Cancelled):
        client.get("a")
    parser.read_response = original
    assert started.is_set()
    assert client.get("b") is None  # its own reply: the late "value-of-a" was discarded
    assert client.get("a") == "value-of-a"


def test_lost_rate_limit_reply_is_not_counted_twice(proxy: FaultProxy, direct: redis.Redis) -> None:
    """A hit whose reply is lost is counted once by the server and never re-sent."""
    client = connect(proxy.url, socket_timeout=1.0)
    limiter = FixedWindow(client, limit=10, window=60, on_error="deny")
    assert limiter.hit("u").allowed
    proxy.reset_before_reply(times=1, match="EVALSHA")
    assert limiter.hit("u").fallback
    result = limiter.hit("u")
    assert result.allowed
    assert result.remaining == 10 - 3  # the lost hit counted once: 3 hits, 3 units
