"""Fixtures: a fresh fakeredis per test and one real Valkey per test session.

The ``client`` fixture runs a test twice, on fakeredis and on real Valkey; tests
of features fakeredis lacks take ``real_client`` (marked ``real``). The real
server is started from the bundled binary on a free port and stopped at the end
of the session, even when tests fail.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis
from redis.cluster import RedisCluster

import valkey_redis
from valkey_redis import aio
from valkey_redis.client import connect
from valkey_redis.cluster import EmbeddedCluster
from valkey_redis.server import EmbeddedValkey, binary_can_run


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[EmbeddedValkey]:
    """One real Valkey server for the whole session."""
    if not binary_can_run():
        pytest.skip("the bundled valkey-server cannot run on this machine")
    with EmbeddedValkey() as server:
        yield server


@pytest.fixture
def real_client(valkey_server: EmbeddedValkey) -> Iterator[redis.Redis]:
    """A client of the real server, flushed before and after the test."""
    client = connect(valkey_server.url)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[EmbeddedCluster]:
    """One local Valkey Cluster (3 primaries, a replica each) for the whole session."""
    if not binary_can_run():
        pytest.skip("the bundled valkey-server cannot run on this machine")
    with EmbeddedCluster(replicas=1) as cluster:
        yield cluster


@pytest.fixture
def cluster_client(valkey_cluster: EmbeddedCluster) -> Iterator[RedisCluster]:
    """A ``RedisCluster`` client of the session's cluster, every primary flushed around the test."""
    client = connect(valkey_cluster.url, cluster=True)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    client.close()


@pytest.fixture
def fake_client() -> Iterator[redis.Redis]:
    """A client of a brand-new fakeredis server."""
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    yield client
    client.close()


@pytest.fixture(params=["fakeredis", pytest.param("valkey", marks=pytest.mark.real)])
def client(request: pytest.FixtureRequest) -> redis.Redis:
    """The same test on fakeredis and on real Valkey."""
    name = "fake_client" if request.param == "fakeredis" else "real_client"
    backend: redis.Redis = request.getfixturevalue(name)
    return backend


class ExampleRun:
    """Runs a numbered example in-process and returns what it printed."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        request: pytest.FixtureRequest,
    ) -> None:
        self._monkeypatch = monkeypatch
        self._capsys = capsys
        self._request = request

    def __call__(self, number: int, *, backend: str = "valkey") -> str:
        """Run example ``number`` on ``backend`` ("valkey" or "fakeredis"); assert exit 0."""
        import importlib

        from valkey_redis.examples.runner import example_modules

        if backend == "valkey":
            server: EmbeddedValkey = self._request.getfixturevalue("valkey_server")
            self._monkeypatch.setenv("VALKEY_URL", server.url)
            self._monkeypatch.delenv("VALKEY_REDIS_BACKEND", raising=False)
        else:
            self._monkeypatch.setenv("VALKEY_REDIS_BACKEND", "fakeredis")
        module = importlib.import_module(example_modules()[number])
        self._capsys.readouterr()
        status = module.main()
        out = self._capsys.readouterr().out
        assert status == 0, out
        return out


@pytest.fixture
def run_example(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> ExampleRun:
    """Run an example in-process against the session's real server or fakeredis."""
    return ExampleRun(monkeypatch, capsys, request)


# -- sync and async faces on one server ------------------------------------------------


class Face:
    """One face ("sync" or "async") of the library on a server shared by both faces.

    ``face(x)`` returns ``x``, awaited first (on the test's event loop) when it is a
    coroutine, so one test body drives ``Cache`` or ``aio.Cache`` alike.
    """

    def __init__(self, kind: str, sync_client: Any, async_client: Any, loop: asyncio.Runner):
        self.kind = kind
        self.sync_client = sync_client
        self.async_client = async_client
        self.loop = loop
        self.module: Any = aio if kind == "async" else valkey_redis
        self.client = async_client if kind == "async" else sync_client

    def __call__(self, result: Any) -> Any:
        """Return ``result``, awaited first when it is awaitable."""
        return self.loop.run(result) if inspect.isawaitable(result) else result

    def make(self, helper: str, /, *args: Any, **kwargs: Any) -> Any:
        """Build ``valkey_redis.<name>`` or ``aio.<name>`` on this face's client."""
        return getattr(self.module, helper)(self.client, *args, **kwargs)

    def other(self) -> Face:
        """The other face, on the same server."""
        kind = "sync" if self.kind == "async" else "async"
        return Face(kind, self.sync_client, self.async_client, self.loop)


@pytest.fixture
def aio_loop() -> Iterator[asyncio.Runner]:
    """One event loop for the test (async clients are bound to the loop they first ran on)."""
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture(params=["fakeredis", pytest.param("valkey", marks=pytest.mark.real)])
def both_clients(request: pytest.FixtureRequest, aio_loop: asyncio.Runner) -> Iterator[Any]:
    """A sync and an async client of one server: a fresh fakeredis, or the real Valkey."""
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()
        sync_client: Any = fakeredis.FakeRedis(server=server, decode_responses=True)
        async_client: Any = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    else:
        valkey: EmbeddedValkey = request.getfixturevalue("valkey_server")
        sync_client, async_client = connect(valkey.url), aio.connect(valkey.url)
        sync_client.flushall()
    yield sync_client, async_client
    aio_loop.run(async_client.aclose())
    sync_client.flushall()
    sync_client.close()


@pytest.fixture(params=["sync", "async"])
def face(request: pytest.FixtureRequest, both_clients: Any, aio_loop: asyncio.Runner) -> Face:
    """The same test through the sync and the async helpers, on fakeredis and real Valkey."""
    return Face(request.param, *both_clients, aio_loop)
