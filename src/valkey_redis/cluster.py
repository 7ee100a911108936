"""Run a local Valkey Cluster from Python: three primaries, optionally a replica each.

Use this when you need a real cluster without Docker or ``valkey-cli``: the
cluster tests, example 8, a workshop. :class:`EmbeddedCluster` lives for one
``with`` block on free ports; :func:`cluster_up` / :func:`cluster_down` /
:func:`cluster_status` (``make cluster-up`` / ``cluster-down`` / ``cluster-status``)
keep one running in the background on 127.0.0.1:7000 and up.

The cluster is formed the way ``valkey-cli --cluster create`` does it, in plain
commands a learner can read: ``CLUSTER SET-CONFIG-EPOCH`` (distinct epochs, so
nodes need not negotiate), ``CLUSTER ADDSLOTSRANGE`` (16384 slots split evenly),
``CLUSTER MEET`` (introduce the nodes to each other), ``CLUSTER REPLICATE``, then
a wait until every node reports ``cluster_state:ok`` and all agree on who owns
which slots.

Not for production: every node is on one machine and keeps no data on disk, so
the machine is a single point of failure and a restart loses everything.

How it fails: :class:`~valkey_redis.server.ServerError` with a plain-language
reason when a node cannot start, a port (or its cluster bus port, port + 10000)
is taken, or the nodes do not agree within the timeout. Nodes already started
are then stopped, each by its pid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self, cast

import redis
from redis.cluster import ClusterNode

from valkey_redis import server
from valkey_redis.server import EmbeddedValkey, ServerError

__all__ = [
    "CLUSTER_PORT",
    "EmbeddedCluster",
    "cluster_down",
    "cluster_status",
    "cluster_up",
    "form_cluster",
    "slot_ranges",
    "wait_for_agreement",
]

SLOTS = 16384
CLUSTER_PORT = 7000
CLUSTER_DIR = server.STATE_DIR / "cluster"
FORM_TIMEOUT = 30.0
BUS_OFFSET = 10000

# Settings every node needs. A node unreachable for cluster-node-timeout ms is
# failed over (5 s: quick for a demo, long enough for a busy laptop); replicas
# sync over the socket at once (no 5 s wait for more replicas, no RDB file).
NODE_CONFIG = {
    "cluster-enabled": "yes",
    "cluster-node-timeout": "5000",
    "repl-diskless-sync-delay": "0",
    "repl-diskless-load": "on-empty-db",
    "cluster-allow-replica-migration": "no",
}


def slot_ranges(primaries: int) -> list[tuple[int, int]]:
    """Split the 16384 hash slots into ``primaries`` contiguous ranges.

    >>> slot_ranges(3)
    [(0, 5460), (5461, 10922), (10923, 16383)]
    """
    if primaries < 1:
        msg = "a cluster needs at least one primary"
        raise ValueError(msg)
    bounds = [round(i * SLOTS / primaries) for i in range(primaries + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(primaries)]


def _node_client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=5)


def _cluster(client: redis.Redis, *args: str | int) -> str:
    """Send ``CLUSTER <args>`` to one node; the raw reply text."""
    execute = cast("Callable[..., object]", client.execute_command)  # untyped in redis-py
    return cast("str", execute("CLUSTER", *args))


def _topology(client: redis.Redis) -> tuple[frozenset[tuple[str, ...]], bool]:
    """One node's view: {(id, role, primary id, slots)} and whether it is settled."""
    view: set[tuple[str, ...]] = set()
    settled = True
    for line in _cluster(client, "NODES").splitlines():
        # <id> <ip:port@bus> <flags> <primary id> <ping> <pong> <epoch> <link> <slots...>
        parts = line.split()
        node_id, flags, primary, link = parts[0], set(parts[2].split(",")), parts[3], parts[7]
        if flags & {"handshake", "noaddr", "fail", "fail?"} or link != "connected":
            settled = False
        role = "primary" if "master" in flags else "replica"
        view.add((node_id, role, primary, " ".join(parts[8:])))
    return frozenset(view), settled


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    """Poll ``check()`` until it returns True; name ``what`` in the error otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    msg = f"the cluster did not settle within {timeout:.0f}s: {what}"
    raise ServerError(msg)


def _agreed(clients: Sequence[redis.Redis]) -> bool:
    views = [_topology(client) for client in clients]
    if not all(settled for _, settled in views) or len({view for view, _ in views}) != 1:
        return False
    if any("cluster_state:ok" not in _cluster(client, "INFO") for client in clients):
        return False
    replication = [client.info("replication") for client in clients]
    return all(r.get("master_link_status", "up") == "up" for r in replication)


def wait_for_agreement(ports: Sequence[int], timeout: float = FORM_TIMEOUT) -> None:
    """Wait until every node is ok, all agree on who owns which slots, and replicas are in sync.

    Use it after a topology change (a failover, a new replica) before relying on it.
    ``CLUSTER SLOTS`` may still omit a replica until it has replicated some data
    (``CLUSTER NODES`` lists it at once).

    Raises:
        ServerError: when that does not happen within ``timeout`` seconds.
    """
    clients = [_node_client(port) for port in ports]
    try:
        _wait(
            "no agreement on slots, or cluster_state is not ok", lambda: _agreed(clients), timeout
        )
    finally:
        for client in clients:
            client.close()


def form_cluster(ports: Sequence[int], primaries: int = 3, timeout: float = FORM_TIMEOUT) -> None:
    """Turn running cluster-enabled nodes into one cluster.

    Args:
        ports: the nodes on 127.0.0.1; the first ``primaries`` become primaries,
            the rest replicas, assigned to the primaries in turn.
        primaries: how many primaries share the slots.
        timeout: seconds to wait for every node to agree.

    Raises:
        ServerError: when the nodes do not reach ``cluster_state:ok`` in time.
    """
    clients = [_node_client(port) for port in ports]
    try:
        ids = [_cluster(client, "MYID") for client in clients]
        for epoch, client in enumerate(clients, start=1):
            _cluster(client, "SET-CONFIG-EPOCH", epoch)
        for client, (first, last) in zip(clients, slot_ranges(primaries), strict=False):
            _cluster(client, "ADDSLOTSRANGE", first, last)
        # One MEET would do (gossip spreads the rest), but meeting everyone directly
        # saves a second of waiting for gossip.
        for client, own in zip(clients, ports, strict=True):
            for port in ports:
                if port != own:
                    _cluster(client, "MEET", "127.0.0.1", port)

        def everyone_met() -> bool:
            views = [_topology(client) for client in clients]
            return all(settled and len(view) == len(ports) for view, settled in views)

        _wait("nodes did not all meet", everyone_met, timeout)
        for index, client in enumerate(clients[primaries:]):
            _cluster(client, "REPLICATE", ids[index % primaries])

        _wait(
            "no agreement on slots, or cluster_state is not ok", lambda: _agreed(clients), timeout
        )
    except redis.RedisError as exc:
        msg = f"could not form the cluster: {exc}"
        raise ServerError(msg) from exc
    finally:
        for client in clients:
            client.close()


def _start_node(config: dict[str, str], die_with_parent: bool) -> EmbeddedValkey:
    """Start one node, retrying on a fresh port if another program took ours meanwhile."""
    error: ServerError | None = None
    for _ in range(3):
        node = EmbeddedValkey(config=config, die_with_parent=die_with_parent)
        try:
            return node.start()
        except ServerError as exc:
            error = exc
    raise cast("ServerError", error)


@dataclass
class EmbeddedCluster(server.LocalService):
    """A throw-away Valkey Cluster on free ports of 127.0.0.1.

    Use as a context manager: on entry the nodes start and form a cluster, on
    exit every node stops (by its pid), even when the block raises.

    Args:
        primaries: how many primaries share the 16384 slots.
        replicas: replicas per primary (0 or more).
        config: extra ``valkey-server`` settings for every node.
        timeout: seconds to wait for the nodes to agree.
        die_with_parent: on Linux, nodes stop if the starting thread dies.
    """

    primaries: int = 3
    replicas: int = 0
    config: dict[str, str] = field(default_factory=dict)
    timeout: float = FORM_TIMEOUT
    die_with_parent: bool = True
    nodes: list[EmbeddedValkey] = field(default_factory=list, init=False)
    _stack: ExitStack | None = field(default=None, init=False, repr=False)

    @property
    def ports(self) -> list[int]:
        """Every node's port: primaries first, then replicas."""
        return [cast("int", node.port) for node in self.nodes]

    @property
    def pids(self) -> list[int]:
        """Every running node's process id."""
        return [pid for node in self.nodes if (pid := node.pid) is not None]

    @property
    def startup_nodes(self) -> list[ClusterNode]:
        """Fresh ``ClusterNode`` objects for ``RedisCluster(startup_nodes=...)``."""
        node: Callable[[str, int], ClusterNode] = ClusterNode  # untyped in redis-py
        return [node("127.0.0.1", port) for port in self.ports]

    @property
    def url(self) -> str:
        """A ``redis://`` URL of one node; ``connect(url, cluster=True)`` finds the rest."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    def start(self) -> Self:
        """Start the nodes, form the cluster and wait until every node agrees."""
        if self._stack is not None:
            return self
        config = {**NODE_CONFIG, "cluster-config-file": "nodes.conf", **self.config}
        try:
            with ExitStack() as stack:  # on any failure it stops the nodes started so far
                for _ in range(self.primaries * (1 + self.replicas)):
                    node = _start_node(config, self.die_with_parent)
                    stack.callback(node.stop)
                    self.nodes.append(node)
                form_cluster(self.ports, self.primaries, self.timeout)
                self._stack = stack.pop_all()
        except BaseException:
            self.nodes.clear()
            raise
        return self

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL) and remove their temp dirs."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()
        self.nodes.clear()


# --- the `make cluster-up` cluster ----------------------------------------------


def _our_ports(state_dir: Path) -> list[int]:
    """Ports of the nodes whose pidfiles are in ``state_dir`` (alive or not)."""
    found = (pidfile.stem.removeprefix("valkey-") for pidfile in state_dir.glob("valkey-*.pid"))
    return sorted(int(port) for port in found if port.isdigit())


def _stop_nodes(ports: Sequence[int], state_dir: Path) -> None:
    """Stop each node of ours (by the pid in its pidfile) and forget its cluster state."""
    for node_port in ports:
        server.daemon_stop(node_port, state_dir)
        (state_dir / f"nodes-{node_port}.conf").unlink(missing_ok=True)
        (state_dir / f"dump-{node_port}.rdb").unlink(missing_ok=True)


def cluster_up(
    port: int = CLUSTER_PORT, primaries: int = 3, replicas: int = 1, state_dir: Path = CLUSTER_DIR
) -> str:
    """Start a background cluster on ``port``, ``port + 1``, ... (pidfiles, logs: ``state_dir``).

    Returns:
        A short report: the nodes and how to connect.

    Raises:
        ServerError: when it already runs, a port or bus port is taken, or it
            fails to form (the nodes started are stopped again).
    """
    ports = list(range(port, port + primaries * (1 + replicas)))
    alive = [p for p in _our_ports(state_dir) if server._read_pid(server._pidfile(state_dir, p))]
    if alive:
        msg = f"a cluster of ours already runs on ports {alive}; `make cluster-down` stops it"
        raise ServerError(msg)
    taken = [p for p in ports + [p + BUS_OFFSET for p in ports] if server._port_in_use(p)]
    if taken:
        msg = (
            f"ports {taken} on 127.0.0.1 are in use by another program (a cluster needs "
            f"{ports[0]}-{ports[-1]} and each port + {BUS_OFFSET} for its bus); stop it, "
            "or start on other ports with `make cluster-up CLUSTER_PORT=N` and point the "
            "examples at it with VALKEY_CLUSTER_URL=redis://127.0.0.1:N"
        )
        raise ServerError(msg)
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        for node_port in ports:
            # A stale nodes file would make the node rejoin a cluster that is gone.
            (state_dir / f"nodes-{node_port}.conf").unlink(missing_ok=True)
            extra = {
                **NODE_CONFIG,
                "cluster-config-file": f"nodes-{node_port}.conf",
                "dbfilename": f"dump-{node_port}.rdb",
            }
            server.daemon_start(node_port, state_dir, extra)
        form_cluster(ports, primaries)
    except ServerError:
        _stop_nodes(ports, state_dir)  # each one that has a pidfile of ours, a slow one too
        raise
    return (
        f"started a Valkey Cluster on 127.0.0.1:{ports[0]}-{ports[-1]} ({primaries} primaries, "
        f"{primaries * replicas} replicas; logs in {state_dir}/)\n"
        f"connect with VALKEY_CLUSTER_URL=redis://127.0.0.1:{port} (`make cluster-down` stops it)"
    )


def cluster_down(state_dir: Path = CLUSTER_DIR) -> str:
    """Stop every node started by :func:`cluster_up` (ours only, each by its pid)."""
    ports = _our_ports(state_dir)
    if not ports:
        return "not running: no Valkey Cluster of ours (nothing to stop)"
    _stop_nodes(ports, state_dir)
    return f"stopped the Valkey Cluster on 127.0.0.1 ports {ports}"


def _describe_nodes(port: int) -> list[str]:
    """One line per node as ``port`` sees it: role, slots or primary."""
    client = _node_client(port)
    try:
        info = _cluster(client, "INFO")
        lines = _cluster(client, "NODES").splitlines()
    finally:
        client.close()
    state = next(line for line in info.splitlines() if line.startswith("cluster_state"))
    port_of = {parts[0]: parts[1].split("@")[0] for parts in (ln.split() for ln in lines)}
    rows = [f"  {state.strip()} (as seen by {port})"]
    for parts in sorted((ln.split() for ln in lines), key=lambda p: p[1]):
        address, flags = parts[1].split("@")[0], parts[2].split(",")
        if "master" in flags:
            what = f"primary  slots {' '.join(parts[8:]) or '-'}"
        else:
            what = f"replica  of {port_of.get(parts[3], parts[3])}"
        failing = " (FAILING)" if {"fail", "fail?"} & set(flags) else ""
        rows.append(f"  {address:<16} {what}{failing}")
    return rows


def cluster_status(state_dir: Path = CLUSTER_DIR, port: int = CLUSTER_PORT) -> str:
    """Describe the background cluster: each node's pid, role and slots."""
    ports = _our_ports(state_dir)
    if not ports:
        if server.port_answers(port):
            return f"not ours: something answers on 127.0.0.1:{port} (not started by cluster-up)"
        return "stopped: no Valkey Cluster of ours (start one with `make cluster-up`)"
    pids = {p: server._read_pid(server._pidfile(state_dir, p)) for p in ports}
    alive = [p for p in ports if pids[p] is not None and server.port_answers(p)]
    head = f"running: {len(alive)} of {len(ports)} nodes answer on 127.0.0.1 ports {ports}"
    if not alive:
        return f"{head}; `make cluster-down` cleans up"
    rows = [head, *_describe_nodes(alive[0])]
    rows.append(f"pids {[pids[p] for p in ports]}, logs in {state_dir}/")
    return "\n".join(rows)
