"""Fixtures: a fresh fakeredis per test and one real Valkey per test session.

The ``client`` fixture runs a test twice, on fakeredis and on real Valkey; tests
of features fakeredis lacks take ``real_client`` (marked ``real``). The real
server is started from the bundled binary on a free port and stopped at the end
of the session, even when tests fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis
from redis.cluster import RedisCluster

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
