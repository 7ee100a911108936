"""Example 8 (cluster) narrates slots, hash tags, CROSSSLOT and a failover on a real cluster."""

from __future__ import annotations

import pytest
import redis

from valkey_redis.client import connect
from valkey_redis.cluster import EmbeddedCluster
from valkey_redis.examples import example_8_cluster
from valkey_redis.server import free_port


def _primaries(url: str) -> dict[tuple[int, int], int]:
    client = connect(url, cluster=True)
    ranges = client.cluster_slots()
    client.close()
    return {slots: owners["primary"][1] for slots, owners in ranges.items()}


@pytest.mark.cluster
def test_example_8_on_the_session_cluster(
    run_example, valkey_cluster: EmbeddedCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a running cluster it shows each lesson, loses the crashed write, and restores roles."""
    monkeypatch.setenv("VALKEY_CLUSTER_URL", valkey_cluster.url)
    before = _primaries(valkey_cluster.url)
    out = run_example(8)
    assert f"[cluster] using the Valkey Cluster at {valkey_cluster.url} (VALKEY_CLUSTER_URL)" in out
    expected = [
        "slots     0-5460  primary 127.0.0.1:",
        "slots 10923-16383 primary 127.0.0.1:",
        "CLUSTER KEYSLOT ex8:{user:42}:profile -> slot 15880",
        "CLUSTER KEYSLOT ex8:{user:42}:cart    -> slot 15880",
        "'ex8:{user%3A42}:cart'",
        "MGET a b: redis-py refuses before sending -> MGET - all keys must map to the same",
        "server error: CROSSSLOT Keys in request don't hash to the same slot",
        "script moving stock a -> b -> EVALSHA - all keys must map to the same key slot",
        "script moving 3 -> 1; MGET both -> ['7', '3']",
        "pipelines one MGET per slot -> ['0', '1', '2', '3', '4', '5']",
        "Cache.get_many(7 keys) -> 6 found",
        "invalidate_tags: 6 deleted",
        "get_or_set('report') x3 -> loader ran 1 time",
        "rotate -> new id, same data: {'user_id': 42, 'theme': 'dark'}",
        "destroy_all(user_id=42) -> 2 sessions removed",
        "ex8-lock:{invoice%3A7}:fence in one slot -> True",
        "x4 -> [True, True, True, False]",
        "SET status=paid; WAIT 1 replica -> 1",
        "WAIT 1 replica, 100 ms -> 0: no replica has it",
        "GET status -> 'paid': the acknowledged 'refunded' is gone",
        "the replica catches up before it takes over -> GET status 'shipped'",
    ]
    missing = [line for line in expected if line not in out]
    assert missing == []
    ports = out.split("Cache.set_many of 6 products -> keys on ports ", 1)[1].split("\n", 1)[0]
    assert len(ports.split(",")) == 3
    token_a = out.split("worker-a acquires Lock('order:7') -> fencing token ", 1)[1].split()[0]
    worker_b = "worker-b acquires Lock('order:7') -> True, fencing token "
    token_b = out.split(worker_b, 1)[1].split()[0]
    assert int(token_b) > int(token_a)  # fencing tokens never repeat across a failover
    assert "worker-b's token is higher -> True" in out
    assert "worker-a.release() -> False" in out
    assert _primaries(valkey_cluster.url) == before
    client = connect(valkey_cluster.url, cluster=True)
    assert list(client.scan_iter(match="ex8*")) == []
    client.close()


@pytest.mark.cluster
def test_example_8_starts_its_own_cluster_when_none_answers(
    run_example, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing at VALKEY_CLUSTER_URL it starts a local cluster, says so, and stops it."""
    monkeypatch.setenv("VALKEY_CLUSTER_URL", f"redis://127.0.0.1:{free_port()}")
    out = run_example(8)
    assert "starting a local one (3 primaries + 3 replicas)" in out
    assert "GET status -> 'paid': the acknowledged 'refunded' is gone" in out
    ports = [int(p) for p in out.split("ports [", 1)[1].split("]", 1)[0].split(", ")]
    assert len(ports) == 6
    for port in ports:
        probe = connect(f"redis://127.0.0.1:{port}", retries=0)
        with pytest.raises(redis.ConnectionError):
            probe.ping()
        probe.close()


@pytest.mark.real
def test_example_8_talks_to_no_existing_cluster_unless_told(
    run_example, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without VALKEY_CLUSTER_URL it probes no address (not 127.0.0.1:7000) and starts its own."""
    probed: list[str] = []
    started: list[bool] = []

    def probe(url: str) -> bool:
        probed.append(url)
        return True

    class NoCluster:
        """Stands in for EmbeddedCluster: records the start, then fails like a missing binary."""

        def __init__(self, **_: object) -> None:
            started.append(True)

        def __enter__(self) -> NoCluster:
            raise example_8_cluster.ServerError("not in this test")

        def __exit__(self, *_: object) -> None:
            return None

    monkeypatch.delenv("VALKEY_CLUSTER_URL", raising=False)
    monkeypatch.setattr(example_8_cluster, "_cluster_answers", probe)
    monkeypatch.setattr(example_8_cluster, "EmbeddedCluster", NoCluster)
    out = run_example(8)
    assert probed == []
    assert started == [True]
    assert "VALKEY_CLUSTER_URL is not set" in out
    assert "VALKEY_CLUSTER_URL=redis://127.0.0.1:7000 make example-8" in out


def test_example_8_skips_on_fakeredis(run_example) -> None:
    """Forced to fakeredis, it explains that a cluster needs real servers and exits 0."""
    out = run_example(8, backend="fakeredis")
    assert "This example needs a real Valkey server: a cluster is several real" in out
    assert "[cluster]" not in out
