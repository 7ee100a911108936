"""Sentinel high availability: a primary, a replica and three sentinels on loopback, and URLs.

Use this when you want the topology most deployments run -- one primary, its
replicas, and Sentinel processes that watch it and promote a replica when it
dies -- without Docker: :class:`EmbeddedSentinel` lives for one ``with`` block
on free ports (the fault suite's failovers); :func:`sentinel_up` /
:func:`sentinel_down` / :func:`sentinel_status` (``make sentinel-up`` ...) keep
one running in the background. Every process is the bundled ``valkey-server``
(``--sentinel`` for the sentinels). ``connect("redis+sentinel://h1:p1,h2:p2/
service/0")`` (:func:`connect_sentinel`) returns a client that asks the
sentinels where the primary is and follows it after a failover.

Not for: production on one machine (one host is one failure), or durability:
replication is asynchronous, so a failover loses what the replica had not yet
received. ``WAIT`` (:func:`wait_for_replicas`) or ``min-replicas-to-write``
narrow that window; docs/failure-modes.md has the figures.

How it fails: :class:`~valkey_redis.server.ServerError` when a process cannot
start or the sentinels do not agree in time (everything started is stopped, by
pid). During a failover commands raise ``redis.exceptions.ConnectionError``
(after the client's retries); the first command after it reaches the new
primary with no user action. A write the old primary acknowledged but never
replicated is gone.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, cast
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel, SentinelConnectionPool

from valkey_redis import server
from valkey_redis.server import EmbeddedValkey, ServerError

__all__ = [
    "SENTINEL_DIR",
    "SERVICE",
    "EmbeddedSentinel",
    "connect_sentinel",
    "parse_sentinel_url",
    "sentinel_down",
    "sentinel_status",
    "sentinel_up",
    "wait_for_replicas",
]

SERVICE = "mymaster"
SENTINEL_DIR = server.STATE_DIR / "sentinel"
#: ``make sentinel-up`` ports: the primary, the replica; sentinels at 26390 and up.
DATA_PORT, SENTINEL_PORT = 6390, 26390
DEFAULT_SENTINEL_PORT = 26379
#: Seconds between two questions of a client's pool to Sentinel: where is the primary?
FOLLOW_EVERY = 1.0
SETTLE_TIMEOUT = 30.0
# Replicas sync over the socket at once (no RDB file, no 5 s wait for more replicas).
NODE_CONFIG = {"repl-diskless-sync-delay": "0", "repl-diskless-load": "on-empty-db"}


def parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, int, dict[str, str]]:
    """Split ``redis+sentinel://[user:pass@]h1:p1,h2:p2/service[/db]``.

    Returns:
        ``(sentinels, service, db, auth)``; ``auth`` holds ``username``/``password``
        for the data nodes when the URL has them. A host without a port uses 26379.

    Raises:
        ValueError: for another scheme, no host, or no service name.
    """
    parts = urlsplit(url)
    if parts.scheme != "redis+sentinel":
        msg = f"{url!r} is not a redis+sentinel:// URL"
        raise ValueError(msg)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels = []
    for item in filter(None, hosts.split(",")):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        sentinels.append((host or item, int(port) if port else DEFAULT_SENTINEL_PORT))
    path = [p for p in parts.path.split("/") if p]
    if not sentinels or not path:
        msg = (
            f"{url!r} needs sentinels and a service: redis+sentinel://h1:26379,h2:26379/mymaster/0"
        )
        raise ValueError(msg)
    db = int(path[1]) if len(path) > 1 else 0
    auth: dict[str, str] = {}
    if userinfo:
        user, _, password = userinfo.partition(":")
        if user:
            auth["username"] = unquote(user)
        if password:
            auth["password"] = unquote(password)
    return sentinels, unquote(path[0]), db, auth


class _FollowingPool(SentinelConnectionPool):
    """A Sentinel pool that asks where the primary is at most once per ``FOLLOW_EVERY`` s.

    redis-py's pool asks only when it opens a connection, so pooled connections
    keep talking to a demoted primary until Sentinel reconfigures it (seconds
    later) or a write fails: reads are stale meanwhile, and a rate-limit hit that
    is denied (it writes nothing) is decided on old data. Asking on use, about
    once a second, closes the idle connections to the old primary within a second.
    """

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        parent: Any = super()  # redis-py's Sentinel classes are untyped
        parent.__init__(service_name, sentinel_manager, **kwargs)
        self._next_ask = 0.0
        self._asking = threading.Lock()

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now >= self._next_ask and self._asking.acquire(blocking=False):
            try:
                self._next_ask = now + FOLLOW_EVERY
                with contextlib.suppress(redis.RedisError):  # no answer: keep what we know
                    cast("Any", self).get_master_address()  # drops idle connections if it moved
            finally:
                self._asking.release()
        return super().get_connection(*args, **kwargs)


def connect_sentinel(url: str, **options: Any) -> redis.Redis:
    """A client of the primary of the service named in ``url``; it follows failovers.

    ``options`` are :func:`valkey_redis.connect`'s redis-py settings (timeouts, retry,
    ``decode_responses``); the sentinels are asked with the same timeouts.
    """
    sentinels, service, db, auth = parse_sentinel_url(url)
    asking = {k: v for k, v in options.items() if k.startswith("socket_")}
    factory: Any = Sentinel  # untyped in redis-py
    manager = factory(sentinels, sentinel_kwargs={**asking, "decode_responses": True})
    client = manager.master_for(
        service, connection_pool_class=_FollowingPool, db=db, **auth, **options
    )
    return cast("redis.Redis", client)


def wait_for_replicas(client: redis.Redis, replicas: int = 1, timeout: float = 1.0) -> int:
    """``WAIT replicas timeout``: block until the writes so far reach ``replicas`` replicas.

    Returns how many replicas acknowledged them (possibly fewer, after ``timeout``
    seconds). Use it after a write that must survive a failover before you answer.
    Sent as WAITs of at most half a second each, so no single one outlasts the
    client's socket timeout.
    """
    execute = cast("Callable[..., object]", client.execute_command)
    reply_timeout = client.connection_pool.connection_kwargs.get("socket_timeout") or 1.0
    longest = min(0.5, reply_timeout / 2)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        step = max(1, round(min(left, longest) * 1000))  # WAIT n 0 would block for ever
        acked = int(cast("int", execute("WAIT", replicas, step)))
        if acked >= replicas or left <= longest:
            return acked


def _node(port: int) -> Any:
    """A plain client of one process (its sentinel and ROLE methods are untyped: Any)."""
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=2)


def _conf(port: int, primary_port: int, workdir: Path, down_after_ms: int, extra: str = "") -> str:
    return (
        f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
        f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
        f"sentinel failover-timeout {SERVICE} 10000\n"
        f"sentinel parallel-syncs {SERVICE} 1\n{extra}"
    )


def _settled(sentinel_ports: list[int], primary_port: int, replicas: int) -> bool:
    """Every sentinel sees the primary, its replicas in sync, and the other sentinels."""
    for port in sentinel_ports:
        client = _node(port)
        try:
            addr: Any = client.sentinel_get_master_addr_by_name(SERVICE)
            seen: list[Any] = client.sentinel_slaves(SERVICE)
            others: list[Any] = client.sentinel_sentinels(SERVICE)
        except redis.RedisError:
            return False
        finally:
            client.close()
        healthy = [r for r in seen if "s_down" not in r["flags"] and not r["master-link-down-time"]]
        if int(addr[1]) != primary_port or len(healthy) < replicas or len(others) < 2:
            return False
    return True


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    msg = f"the sentinels did not settle within {timeout:.0f}s: {what}"
    raise ServerError(msg)


@dataclass
class EmbeddedSentinel(server.LocalService):
    """A primary, ``replicas`` replicas and three sentinels on free ports of 127.0.0.1.

    Use as a context manager; every process stops (by pid) on exit.

    Args:
        replicas: how many replicas of the primary.
        down_after_ms: how long a primary must be silent before it counts as down.
        config: extra ``valkey-server`` settings for the data nodes (e.g. ``AOF``).
    """

    replicas: int = 1
    down_after_ms: int = 1000
    config: dict[str, str] = field(default_factory=dict)
    nodes: list[EmbeddedValkey] = field(default_factory=list, init=False)
    sentinel_ports: list[int] = field(default_factory=list, init=False)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False, repr=False)
    _dir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:p1,...,127.0.0.1:p3/mymaster/0``."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> Self:
        """Start the nodes and the sentinels; wait until the sentinels agree on everything."""
        if self.nodes:
            return self
        try:
            primary = EmbeddedValkey(config={**NODE_CONFIG, **self.config}).start()
            self.nodes.append(primary)
            upstream = f"127.0.0.1 {primary.port}"
            replica_config = {**NODE_CONFIG, **self.config, "replicaof": upstream}
            for _ in range(self.replicas):
                self.nodes.append(EmbeddedValkey(config=replica_config).start())
            self._dir = tempfile.TemporaryDirectory(prefix="valkey-sentinel-")
            for index in range(3):
                self._start_sentinel(Path(self._dir.name), index, cast("int", primary.port))
            _wait(
                "replicas and sentinels not all seen",
                lambda: _settled(self.sentinel_ports, cast("int", primary.port), self.replicas),
                SETTLE_TIMEOUT,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _start_sentinel(self, root: Path, index: int, primary_port: int) -> None:
        port = server.free_port()
        workdir = root / f"s{index}"
        workdir.mkdir()
        conf = workdir / "sentinel.conf"
        conf.write_text(_conf(port, primary_port, workdir, self.down_after_ms))
        args = [str(server.find_binary()), str(conf), "--sentinel"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        self._procs.append(proc)
        self.sentinel_ports.append(port)
        server._wait_ready(port, proc, server.READY_TIMEOUT)

    def primary_port(self) -> int:
        """The primary's port, as the first sentinel that answers says."""
        for port in self.sentinel_ports:
            client = _node(port)
            try:
                return int(client.sentinel_get_master_addr_by_name(SERVICE)[1])
            except redis.RedisError:
                continue
            finally:
                client.close()
        msg = "no sentinel answers"
        raise ServerError(msg)

    def node(self, port: int) -> EmbeddedValkey:
        """The data node on ``port``."""
        return next(node for node in self.nodes if node.port == port)

    @property
    def primary(self) -> EmbeddedValkey:
        """The data node the sentinels call the primary now."""
        return self.node(self.primary_port())

    def wait_settled(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until every sentinel sees the primary, every replica healthy, and its peers."""
        _wait(
            "replicas and sentinels not all seen",
            lambda: _settled(self.sentinel_ports, self.primary_port(), self.replicas),
            timeout,
        )

    def failover(self, timeout: float = SETTLE_TIMEOUT) -> int:
        """``SENTINEL FAILOVER``: promote a replica now; return the new primary's port.

        Retried while the sentinels answer NOGOODSLAVE / INPROG (a replica that just
        came back is not yet known healthy; a failover is still finishing).
        """
        old = self.primary_port()
        deadline = time.monotonic() + timeout
        client = _node(self.sentinel_ports[0])
        try:
            while True:
                try:
                    client.sentinel_failover(SERVICE)
                    break
                except redis.ResponseError as exc:
                    busy = str(exc).startswith(("NOGOODSLAVE", "INPROG"))
                    if not busy or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        finally:
            client.close()
        return self.wait_for_new_primary(old, timeout)

    def wait_for_new_primary(self, old: int, timeout: float = SETTLE_TIMEOUT) -> int:
        """Wait until every sentinel names a primary other than ``old`` that says it is one."""

        def moved() -> bool:
            try:
                ports = {self._ask(port) for port in self.sentinel_ports}
            except redis.RedisError:
                return False
            if len(ports) != 1 or old in ports:
                return False
            return _role(ports.pop()) == "master"

        _wait(f"no new primary after {old}", moved, timeout)
        return self.primary_port()

    def _ask(self, port: int) -> int:
        client = _node(port)
        try:
            return int(client.sentinel_get_master_addr_by_name(SERVICE)[1])
        finally:
            client.close()

    def stop(self) -> None:
        """Stop every sentinel and node (each by its pid) and remove the temp dirs."""
        procs, self._procs = self._procs, []
        for proc in procs:
            server.stop_process(proc)
        for node in self.nodes:
            node.stop()
        self.nodes.clear()
        self.sentinel_ports.clear()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def _role(port: int) -> str:
    client = _node(port)
    try:
        return str(cast("list[Any]", client.execute_command("ROLE"))[0])
    except redis.RedisError:
        return "unreachable"
    finally:
        client.close()


# --- the `make sentinel-up` topology ---------------------------------------------


def _our_ports(state_dir: Path) -> list[int]:
    found = (pidfile.stem.removeprefix("valkey-") for pidfile in state_dir.glob("valkey-*.pid"))
    return sorted(int(port) for port in found if port.isdigit())


def sentinel_up(
    port: int = DATA_PORT, sentinel_port: int = SENTINEL_PORT, state_dir: Path = SENTINEL_DIR
) -> str:
    """Start a primary (``port``), a replica (``port + 1``) and three sentinels in the background.

    Returns:
        A short report with the ``VALKEY_URL`` to use.

    Raises:
        ServerError: when ours already runs, a port is taken, or the sentinels do
            not settle (everything started is stopped again).
    """
    data, watchers = [port, port + 1], [sentinel_port + i for i in range(3)]
    if [p for p in _our_ports(state_dir) if server._read_pid(server._pidfile(state_dir, p))]:
        msg = "a Sentinel setup of ours already runs; `make sentinel-down` stops it"
        raise ServerError(msg)
    taken = [p for p in data + watchers if server._port_in_use(p)]
    if taken:
        msg = f"ports {taken} on 127.0.0.1 are in use by another program; stop it first"
        raise ServerError(msg)
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        for node_port, role in zip(data, ["primary", "replica"], strict=True):
            extra = {**NODE_CONFIG, "dbfilename": f"dump-{node_port}.rdb"}
            if role == "replica":
                extra["replicaof"] = f"127.0.0.1 {port}"
            server.daemon_start(node_port, state_dir, extra)
        root = state_dir.resolve()
        for watcher in watchers:
            pidfile, log = root / f"valkey-{watcher}.pid", root / f"valkey-{watcher}.log"
            conf = root / f"sentinel-{watcher}.conf"
            daemon = f"daemonize yes\npidfile {pidfile}\nlogfile {log}\n"
            conf.write_text(_conf(watcher, port, root, 1000, daemon))
            args = [str(server.find_binary()), str(conf), "--sentinel"]
            subprocess.run(args, capture_output=True, check=True, timeout=30)  # noqa: S603
            server._wait_ready(watcher, None, server.READY_TIMEOUT)
        _wait("replica and sentinels not all seen", lambda: _settled(watchers, port, 1), 60)
    except (ServerError, subprocess.SubprocessError):
        sentinel_down(state_dir)
        raise
    hosts = ",".join(f"127.0.0.1:{w}" for w in watchers)
    return (
        f"started primary :{port}, replica :{port + 1}, sentinels :{watchers[0]}-{watchers[-1]} "
        f"(logs in {state_dir}/)\n"
        f"connect with VALKEY_URL=redis+sentinel://{hosts}/{SERVICE}/0 "
        "(`make sentinel-down` stops it)"
    )


def sentinel_down(state_dir: Path = SENTINEL_DIR) -> str:
    """Stop every process started by :func:`sentinel_up` (ours only, each by its pid)."""
    ports = _our_ports(state_dir)
    if not ports:
        return "not running: no Sentinel setup of ours (nothing to stop)"
    for port in ports:
        server.daemon_stop(port, state_dir)
        (state_dir / f"sentinel-{port}.conf").unlink(missing_ok=True)
        (state_dir / f"dump-{port}.rdb").unlink(missing_ok=True)
    return f"stopped the Sentinel setup on 127.0.0.1 ports {ports}"


def sentinel_status(state_dir: Path = SENTINEL_DIR, sentinel_port: int = SENTINEL_PORT) -> str:
    """Describe the background setup: who is primary, the replicas, the sentinels."""
    ports = _our_ports(state_dir)
    if not ports:
        return "stopped: no Sentinel setup of ours (start one with `make sentinel-up`)"
    watchers = [p for p in ports if (state_dir / f"sentinel-{p}.conf").exists()]
    up = [p for p in watchers if server.port_answers(p)]
    rows = [f"running: {len(up)} of {len(watchers)} sentinels answer ({watchers})"]
    if up:
        client = _node(up[0])
        try:
            host, primary = client.sentinel_get_master_addr_by_name(SERVICE)
            replicas = client.sentinel_slaves(SERVICE)
        finally:
            client.close()
        rows.append(f"  primary  {host}:{primary} ({_role(int(primary))})")
        for replica in replicas:
            raw = replica.get("flags", "?")
            flags = raw if isinstance(raw, str) else ",".join(sorted(raw))
            rows.append(f"  replica  {replica['ip']}:{replica['port']} ({flags})")
        hosts = ",".join(f"127.0.0.1:{p}" for p in watchers)
        rows.append(f"  VALKEY_URL=redis+sentinel://{hosts}/{SERVICE}/0")
    return "\n".join(rows)
