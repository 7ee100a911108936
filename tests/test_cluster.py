"""The local cluster: formed from Python, slots split evenly, clients route, nothing left behind."""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from valkey_redis import cluster as cluster_module
from valkey_redis.cli import main as cli_main
from valkey_redis.client import connect
from valkey_redis.cluster import (
    EmbeddedCluster,
    cluster_down,
    cluster_status,
    cluster_up,
    slot_ranges,
)
from valkey_redis.server import EmbeddedValkey, ServerError, binary_can_run, port_answers

pytestmark = pytest.mark.cluster


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _all_gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.02)
    return False


def _free_block(size: int) -> int:
    """A random base port whose next ``size`` ports and their bus ports are all free now.

    Picked below the kernel's ephemeral range (where outgoing connections take their
    local ports), so no other program grabs one of them between this check and use.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(100):
        base = rng.randrange(10000, min(low, 65536) - 10000 - size)
        ports = [base + i for i in range(size)]
        if all(_free(p) for p in ports + [p + 10000 for p in ports]):
            return base
    pytest.skip("no block of free ports on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_slot_ranges_cover_every_slot_once() -> None:
    """Any number of primaries splits 0..16383 into contiguous ranges with no gap or overlap."""
    assert slot_ranges(3) == [(0, 5460), (5461, 10922), (10923, 16383)]
    for primaries in range(1, 8):
        ranges = slot_ranges(primaries)
        covered = [slot for first, last in ranges for slot in range(first, last + 1)]
        assert covered == list(range(16384))
    with pytest.raises(ValueError, match="at least one primary"):
        slot_ranges(0)


def test_session_cluster_is_ok_on_every_node(valkey_cluster: EmbeddedCluster) -> None:
    """Every node reports cluster_state:ok and three primaries each own their range."""
    assert len(valkey_cluster.ports) == 6
    for port in valkey_cluster.ports:
        node = redis.Redis(port=port, decode_responses=True)
        assert "cluster_state:ok" in node.execute_command("CLUSTER", "INFO")
        node.close()
    client = connect(valkey_cluster.url, cluster=True)
    nodes = client.cluster_nodes()  # CLUSTER SLOTS may hide a replica that has no data yet
    client.close()
    port_of = {info["node_id"]: int(address.rsplit(":", 1)[1]) for address, info in nodes.items()}
    owners = sorted(
        (int(info["slots"][0][0]), int(info["slots"][0][1]), port_of[info["node_id"]])
        for info in nodes.values()
        if "master" in info["flags"]
    )
    replicas = sorted(
        (port_of[info["master_id"]], port_of[info["node_id"]])
        for info in nodes.values()
        if "slave" in info["flags"]
    )
    ports = valkey_cluster.ports
    assert owners == [
        (first, last, port) for (first, last), port in zip(slot_ranges(3), ports[:3], strict=True)
    ]
    assert replicas == sorted((ports[i], ports[i + 3]) for i in range(3))


def test_startup_nodes_and_url_reach_the_cluster(valkey_cluster: EmbeddedCluster) -> None:
    """Both ways of pointing redis-py at the cluster find all three primaries."""
    by_nodes = RedisCluster(startup_nodes=valkey_cluster.startup_nodes, decode_responses=True)
    by_url = connect(valkey_cluster.url, cluster=True)
    assert isinstance(by_url, RedisCluster)
    ports = valkey_cluster.ports[:3]
    assert sorted(n.port for n in by_nodes.get_primaries()) == sorted(ports)
    assert sorted(n.port for n in by_url.get_primaries()) == sorted(ports)
    by_nodes.close()
    by_url.close()


def test_keys_spread_over_slots_and_mget_needs_one_slot(cluster_client: RedisCluster) -> None:
    """Plain keys land on different primaries; MGET across slots fails, per-slot reads work."""
    keys = [f"user:{i}" for i in range(30)]
    for i, key in enumerate(keys):
        cluster_client.set(key, i, ex=60)
    owners = {cluster_client.get_node_from_key(key).port for key in keys}
    assert len(owners) == 3
    with pytest.raises(RedisClusterException, match="same key slot"):
        cluster_client.mget(keys)
    assert cluster_client.mget_nonatomic(keys) == [str(i) for i in range(30)]
    tagged = ["{user:1}:profile", "{user:1}:cart"]
    assert cluster_client.cluster_keyslot(tagged[0]) == cluster_client.cluster_keyslot(tagged[1])
    cluster_client.set(tagged[0], "a", ex=60)
    assert cluster_client.mget(tagged) == ["a", None]


def test_flush_between_tests_left_no_keys(cluster_client: RedisCluster) -> None:
    """The fixture hands every test an empty cluster (the previous test's keys are gone)."""
    sizes = cluster_client.dbsize(target_nodes=RedisCluster.PRIMARIES)
    assert sizes == 0


def test_embedded_cluster_stops_every_node_even_when_the_block_raises() -> None:
    """Leaving the block (here by an exception) stops each node's process."""
    if not binary_can_run():
        pytest.skip("the bundled valkey-server cannot run on this machine")
    small = EmbeddedCluster(primaries=1)
    pids: list[int] = []

    def crash() -> None:
        with small:
            pids.extend(small.pids)
            node = redis.Redis(port=small.ports[0], decode_responses=True)
            assert "cluster_state:ok" in node.execute_command("CLUSTER", "INFO")
            node.close()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        crash()
    assert len(pids) == 1
    assert _all_gone(pids)
    assert small.nodes == []


def test_a_cluster_that_cannot_settle_is_an_error_and_stops_its_nodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no time to agree, start() raises ServerError and stops the nodes it started."""
    if not binary_can_run():
        pytest.skip("the bundled valkey-server cannot run on this machine")
    started: list[int] = []
    real_start = cluster_module._start_node

    def spy(config: dict[str, str], die_with_parent: bool) -> EmbeddedValkey:
        node = real_start(config, die_with_parent)
        started.append(node.pid)
        return node

    monkeypatch.setattr(cluster_module, "_start_node", spy)
    with pytest.raises(ServerError, match="did not settle"):
        EmbeddedCluster(primaries=2, timeout=0).start()
    assert len(started) == 2
    assert _all_gone(started)


def test_cluster_up_status_down_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cluster up` forms a background cluster, refuses a second start, and `down` stops it all."""
    if not binary_can_run():
        pytest.skip("the bundled valkey-server cannot run on this machine")
    monkeypatch.chdir(tmp_path)
    base = _free_block(3)
    assert cli_main(["cluster", "up", "--port", str(base), "--replicas", "0"]) == 0
    try:
        assert f"VALKEY_CLUSTER_URL=redis://127.0.0.1:{base}" in capsys.readouterr().out
        assert cli_main(["cluster", "status", "--port", str(base)]) == 0
        status = capsys.readouterr().out
        assert "cluster_state:ok" in status
        assert status.count("primary  slots") == 3
        assert cli_main(["cluster", "up", "--port", str(base), "--replicas", "0"]) == 1
        assert "already runs" in capsys.readouterr().err
        pids = [int(p.read_text()) for p in (tmp_path / ".valkey/cluster").glob("*.pid")]
        assert len(pids) == 3
    finally:
        assert cli_main(["cluster", "down"]) == 0
    assert f"ports [{base}, {base + 1}, {base + 2}]" in capsys.readouterr().out
    assert _all_gone(pids)
    assert list((tmp_path / ".valkey/cluster").glob("nodes-*.conf")) == []
    assert "stopped: no Valkey Cluster of ours" in cluster_status(tmp_path / ".valkey/cluster")
    assert "not running" in cluster_down(tmp_path / ".valkey/cluster")


def test_cluster_up_reports_a_taken_bus_port(tmp_path: Path) -> None:
    """A program on a node's bus port (port + 10000) is named, and nothing is started."""
    base = _free_block(3)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", base + 1 + 10000))
        sock.listen()
        with pytest.raises(ServerError, match=rf"ports \[{base + 10001}\] .* in use"):
            cluster_up(base, replicas=0, state_dir=tmp_path)
    assert list(tmp_path.glob("*.pid")) == []
    assert not port_answers(base)


def test_cluster_up_that_fails_to_form_stops_its_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When forming fails, every node started so far is stopped and its files removed."""
    if not binary_can_run():
        pytest.skip("the bundled valkey-server cannot run on this machine")
    pids: list[int] = []

    def fail(ports: list[int], primaries: int) -> None:
        pids.extend(int(p.read_text()) for p in tmp_path.glob("valkey-*.pid"))
        raise ServerError("the cluster did not settle (simulated)")

    monkeypatch.setattr(cluster_module, "form_cluster", fail)
    base = _free_block(3)
    with pytest.raises(ServerError, match="simulated"):
        cluster_up(base, replicas=0, state_dir=tmp_path)
    assert len(pids) == 3
    assert _all_gone(pids)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".log")) == []
