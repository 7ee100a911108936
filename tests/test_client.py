"""connect(): URL precedence, safe defaults, laziness, and a friendly error when down."""

from __future__ import annotations

import re

import pytest
import redis

from valkey_redis import connect, describe
from valkey_redis.client import DEFAULT_URL, configured_url, redacted
from valkey_redis.server import EmbeddedValkey, free_port


def _kwargs(client: redis.Redis) -> dict[str, object]:
    return dict(client.connection_pool.connection_kwargs)


def test_url_argument_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit URL beats VALKEY_URL and REDIS_URL."""
    monkeypatch.setenv("VALKEY_URL", "redis://valkey-env:1/0")
    monkeypatch.setenv("REDIS_URL", "redis://redis-env:2/0")
    assert configured_url("redis://arg:3/0") == "redis://arg:3/0"


def test_valkey_url_before_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """VALKEY_URL is read before REDIS_URL."""
    monkeypatch.setenv("VALKEY_URL", "redis://valkey-env:1/0")
    monkeypatch.setenv("REDIS_URL", "redis://redis-env:2/0")
    assert _kwargs(connect())["host"] == "valkey-env"


def test_redis_url_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """REDIS_URL is used when VALKEY_URL is unset; the default after that."""
    monkeypatch.delenv("VALKEY_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://redis-env:2/0")
    assert _kwargs(connect())["host"] == "redis-env"
    monkeypatch.delenv("REDIS_URL")
    assert configured_url() == DEFAULT_URL


def test_safe_defaults() -> None:
    """Decoded strings, explicit timeouts, a retry policy and health checks."""
    kwargs = _kwargs(connect("redis://127.0.0.1:1/0", max_connections=20))
    assert kwargs["decode_responses"] is True
    assert kwargs["socket_timeout"] == 0.3
    assert kwargs["socket_connect_timeout"] == 0.3
    assert kwargs["health_check_interval"] == 30
    client = connect("redis://127.0.0.1:1/0", max_connections=20)
    assert client.connection_pool.max_connections == 20


def test_connect_talks_to_nobody() -> None:
    """Creating a client for a dead address does not raise: connections are lazy."""
    client = connect(f"redis://127.0.0.1:{free_port()}/0")
    assert isinstance(client, redis.Redis)


@pytest.mark.parametrize("name", ["socket_timeout", "socket_connect_timeout", "call_timeout"])
@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "1"])
def test_bad_timeouts_are_rejected_by_name(name: str, bad: object) -> None:
    """A zero, negative, NaN, infinite or string timeout is a ValueError naming the argument."""
    from valkey_redis import aio

    for make in (connect, aio.connect):
        with pytest.raises(ValueError, match=f"^{name} must be"):
            make(**{name: bad})


@pytest.mark.parametrize(
    ("name", "bad"), [("retries", 1.5), ("retries", -1), ("max_connections", 0)]
)
def test_bad_counts_are_rejected_by_name(name: str, bad: object) -> None:
    """retries=1.5 or max_connections=0 is refused at connect(), not at the first command."""
    from valkey_redis import aio

    for make in (connect, aio.connect):
        with pytest.raises(ValueError, match=f"^{name} must be"):
            make(**{name: bad})


def test_bad_arguments_are_rejected() -> None:
    """Non-positive timeouts and negative retry counts are a ValueError."""
    with pytest.raises(ValueError, match="timeout"):
        connect(socket_timeout=0)
    with pytest.raises(ValueError, match="retries"):
        connect(retries=-1)


def test_describe_explains_how_to_start_a_server() -> None:
    """With nothing listening, the error says how to start Valkey."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    client = connect(url, retries=0, socket_connect_timeout=0.2)
    with pytest.raises(redis.ConnectionError, match="make infra-up"):
        describe(client, url)


def test_describe_names_the_clients_own_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """describe(connect(url)) names url, not VALKEY_URL or the default, when nothing answers."""
    monkeypatch.setenv("VALKEY_URL", "redis://elsewhere:6379/0")
    url = f"redis://127.0.0.1:{free_port()}/3"
    with pytest.raises(redis.ConnectionError, match=re.escape(f"no Valkey answers at {url} ")):
        describe(connect(url, retries=0))
    with pytest.raises(redis.ConnectionError, match=re.escape("at rediss://127.0.0.1:1/0 ")):
        describe(connect("rediss://:secret@127.0.0.1:1/0", retries=0))


@pytest.mark.real
def test_describe_names_valkey_and_version(valkey_server: EmbeddedValkey) -> None:
    """The banner names Valkey, its version and the URL."""
    client = connect(valkey_server.url)
    text = describe(client, valkey_server.url)
    assert text.startswith("Valkey 9.")
    assert text.endswith(f"at {valkey_server.url}")
    assert describe(client) == text  # the client's own address, without being told


@pytest.mark.real
def test_connection_retry_survives_a_dropped_connection(valkey_server: EmbeddedValkey) -> None:
    """A killed connection is re-established transparently for the next command."""
    client = connect(valkey_server.url)
    client.set("k", "v")
    admin = connect(valkey_server.url)
    admin.client_kill_filter(_type="normal", skipme=True)
    assert client.get("k") == "v"
    client.delete("k")


def test_redacted_hides_passwords() -> None:
    """Passwords never appear in banners."""
    assert redacted("redis://user:secret@h:1/0") == "redis://user:***@h:1/0"
    assert redacted("redis://:secret@h:1/0") == "redis://***@h:1/0"
    assert redacted("redis://h:1/0") == "redis://h:1/0"


def test_cluster_flag_returns_a_cluster_client(valkey_server: EmbeddedValkey) -> None:
    """cluster=True builds a RedisCluster (its constructor contacts a node)."""
    with pytest.raises(redis.RedisClusterException):
        # A non-cluster server refuses cluster mode: the type is still RedisCluster.
        connect(valkey_server.url, cluster=True)


def test_a_url_without_scheme_gets_a_clear_error() -> None:
    """`localhost:6379` (no redis://) is a ValueError naming the fix."""
    with pytest.raises(ValueError, match="must start with redis://"):
        connect("localhost:6379")
