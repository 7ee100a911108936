"""A TCP fault proxy for Valkey: delay, blackhole, reset or cut replies on purpose.

Use this when you want to see what your code does on a bad network, in a test or
an exercise: point a client at the proxy instead of the server and switch faults
at run time. The proxy listens on 127.0.0.1 on a free port and forwards every
connection to the upstream server byte for byte until told otherwise::

    with EmbeddedValkey() as server, FaultProxy("127.0.0.1", server.port) as proxy:
        client = connect(proxy.url, retries=0)
        proxy.latency(0.5)              # every reply 0.5 s late
        proxy.blackhole()               # accept, never answer (commands do not run)
        proxy.reset_before_reply(times=1, match="EVALSHA")  # it ran; its reply is lost
        proxy.close_mid_reply()         # half a reply, then the connection closes
        proxy.pass_through()            # back to normal

API: ``FaultProxy(upstream_host, upstream_port, *, port=None)`` (a context manager;
``start()``/``stop()`` otherwise) with ``.host``, ``.port``, ``.url``; the modes
:meth:`~FaultProxy.pass_through`, :meth:`~FaultProxy.latency`,
:meth:`~FaultProxy.blackhole`, :meth:`~FaultProxy.reset_before_reply` and
:meth:`~FaultProxy.close_mid_reply`, each optionally limited to the next
``times`` requests whose bytes contain ``match`` (case-insensitive), after which
the proxy passes through again; :meth:`~FaultProxy.drop_connections`;
``.applied`` counts faults applied and :meth:`~FaultProxy.wait_applied` waits
for one. For the server side: :func:`paused` (SIGSTOP, then SIGCONT) and
:func:`kill_and_restart` (kill -9, then a restart on the same port, with the
same data directory, so an AOF is replayed: start the server with :data:`AOF`).

Not for: load testing or anything outside a test (it is a thread per
connection), TLS, or faults inside one reply of a pipeline (a fault applies to
the next chunk of reply bytes after a matching request).

How it fails: a mode applies to replies of requests forwarded after it was set;
a reply already on its way is not caught. The unlimited ``blackhole()`` drops
requests too (a partition: nothing runs); with ``match`` or ``times`` the
matching request is forwarded first (it runs) and that connection then goes
silent (a lost reply seen as a timeout). :meth:`stop` closes every connection.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Self

from valkey_redis.server import EmbeddedValkey, LocalService

__all__ = ["AOF", "FaultProxy", "kill_and_restart", "paused", "replication_cut"]

#: ``EmbeddedValkey(config=AOF)``: append-only file, fsync every second.
AOF = {"appendonly": "yes", "appendfsync": "everysec"}

Kind = Literal["pass", "latency", "blackhole", "reset", "close"]
_POLL = 0.02  # seconds between checks of the stop flag and of mode changes
_CHUNK = 65536


@dataclass
class _Rule:
    kind: Kind
    delay: float = 0.0
    times: int | None = None  # None: every matching request
    match: bytes | None = None

    @property
    def partition(self) -> bool:
        return self.kind == "blackhole" and self.times is None and self.match is None


class _Pair:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.armed: _Rule | None = None  # the fault for the next reply bytes
        self.silent = False  # blackholed for good
        self.closed = False

    def close(self, *, reset: bool = False) -> None:
        self.closed = True
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                if reset:  # SO_LINGER 0: close() sends RST instead of FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()


class FaultProxy(LocalService):
    """Forward TCP connections to ``upstream_host:upstream_port``, injecting faults on demand.

    Args:
        upstream_host: the server's host.
        upstream_port: the server's port.
        port: the port to listen on (127.0.0.1); a free one when None.
    """

    def __init__(self, upstream_host: str, upstream_port: int, *, port: int | None = None) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.host = "127.0.0.1"
        self._wanted_port = port or 0
        self.port = 0
        self._rule = _Rule("pass")
        self._state = threading.Condition()
        self._pairs: set[_Pair] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        #: Number of faults applied so far (each reset, cut, silenced or delayed reply).
        self.applied = 0

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``: give it to :func:`valkey_redis.connect`."""
        return f"redis://{self.host}:{self.port}/0"

    # --- modes --------------------------------------------------------------------

    def _set(self, rule: _Rule) -> None:
        if rule.times is not None and rule.times < 1:
            msg = f"times must be >= 1 or None, got {rule.times}"
            raise ValueError(msg)
        with self._state:
            self._rule = rule

    def pass_through(self) -> None:
        """Forward everything unchanged (the initial mode)."""
        self._set(_Rule("pass"))

    def latency(
        self, seconds: float, *, times: int | None = None, match: str | None = None
    ) -> None:
        """Delay each reply by ``seconds`` (the command runs at once; its answer is late)."""
        if not seconds >= 0:
            msg = f"latency must be >= 0 seconds, got {seconds!r}"
            raise ValueError(msg)
        self._set(_Rule("latency", seconds, times, _bytes(match)))

    def blackhole(self, *, times: int | None = None, match: str | None = None) -> None:
        """Accept and never answer; see the module docstring for what is forwarded."""
        self._set(_Rule("blackhole", 0.0, times, _bytes(match)))

    def reset_before_reply(self, *, times: int | None = None, match: str | None = None) -> None:
        """Forward the request, wait for the server's reply, then reset (RST) the connection."""
        self._set(_Rule("reset", 0.0, times, _bytes(match)))

    def close_mid_reply(self, *, times: int | None = None, match: str | None = None) -> None:
        """Forward the request and the first half of its reply, then close the connection."""
        self._set(_Rule("close", 0.0, times, _bytes(match)))

    def drop_connections(self) -> None:
        """Reset every open connection now (clients reconnect through the proxy)."""
        with self._state:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.close(reset=True)

    @property
    def connections(self) -> int:
        """How many client connections are open through the proxy."""
        with self._state:
            return len(self._pairs)

    def wait_for_connections(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` connections are open; False on timeout."""
        with self._state:
            return self._state.wait_for(lambda: len(self._pairs) >= count, timeout)

    def wait_applied(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Wait until ``applied >= count``; False if ``timeout`` seconds passed first."""
        with self._state:
            return self._state.wait_for(lambda: self.applied >= count, timeout)

    # --- life cycle ---------------------------------------------------------------

    def start(self) -> Self:
        """Listen and start forwarding (returns self)."""
        if self._listener is not None:
            return self
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self._wanted_port))
        listener.listen(128)
        listener.settimeout(_POLL * 5)
        self._listener, self.port = listener, int(listener.getsockname()[1])
        self._stopping.clear()
        self._spawn(self._accept_loop, listener)
        return self

    def stop(self) -> None:
        """Stop listening, close every connection and wait for the threads."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self.drop_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    # --- forwarding ---------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="fault-proxy")
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.upstream_host, self.upstream_port), 5)
            except OSError:  # upstream down: reset the client, as a dead server would
                _Pair(client, client).close(reset=True)
                continue
            pair = _Pair(client, upstream)
            with self._state:
                self._pairs.add(pair)
                self._state.notify_all()
            self._spawn(self._pump, pair)

    def _on_request(self, pair: _Pair, data: bytes) -> bool:
        """Arm the pair for the reply to ``data``; False when ``data`` must be dropped."""
        with self._state:
            rule = self._rule
            if rule.partition:
                return False
            if rule.kind != "pass" and (rule.match is None or rule.match in data.lower()):
                pair.armed = rule
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rule = _Rule("pass")
        return True

    def _count(self) -> None:
        with self._state:
            self.applied += 1
            self._state.notify_all()

    def _on_reply(self, pair: _Pair, data: bytes) -> None:
        rule, pair.armed = pair.armed, None
        with self._state:
            partition = self._rule.partition
        if pair.silent or partition:
            return
        if rule is None:
            pair.client.sendall(data)
        elif rule.kind == "latency":
            self._count()
            time.sleep(rule.delay)
            pair.client.sendall(data)
        elif rule.kind == "blackhole":
            self._count()
            pair.silent = True
        elif rule.kind == "reset":
            self._count()
            pair.close(reset=True)
        else:  # close mid-reply
            self._count()
            pair.client.sendall(data[: max(1, len(data) // 2)])
            pair.close()

    def _pump(self, pair: _Pair) -> None:
        try:
            while not pair.closed and not self._stopping.is_set():
                ready, _, _ = select.select([pair.client, pair.upstream], [], [], _POLL)
                for sock in ready:
                    data = sock.recv(_CHUNK)
                    if not data:
                        pair.close()
                        break
                    if sock is pair.client:
                        if not pair.silent and self._on_request(pair, data):
                            pair.upstream.sendall(data)
                    else:
                        self._on_reply(pair, data)
                    if pair.closed:
                        break
        except (OSError, ValueError):  # a socket closed under us (stop, drop, reset)
            pass
        finally:
            pair.close()
            with self._state:
                self._pairs.discard(pair)


def _bytes(match: str | None) -> bytes | None:
    return None if match is None else match.lower().encode()


@contextlib.contextmanager
def paused(server: EmbeddedValkey) -> Iterator[None]:
    """SIGSTOP ``server`` for the block, SIGCONT after it (even if the block raises).

    A stopped server accepts TCP connections (the kernel does) and answers nothing:
    the classic hung server, a GC pause or a frozen VM.
    """
    pid = server.pid
    if pid is None:
        msg = "the server is not running"
        raise RuntimeError(msg)
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def kill_and_restart(server: EmbeddedValkey, *, restart: bool = True) -> None:
    """kill -9 ``server``, then (by default) start it again on the same port and directory.

    Without persistence the restarted server is empty; with :data:`AOF` it replays
    its append-only file (writes of the last second may be lost with ``everysec``).
    """
    server.kill()
    if restart:
        server.start()


@contextlib.contextmanager
def replication_cut(primary: EmbeddedValkey) -> Iterator[None]:
    """Stop ``primary`` from feeding its replicas for the block: they lag from here on.

    The replicas' links are killed and re-syncing is refused (``ACL SETUSER default
    -psync -sync``), so writes acknowledged meanwhile exist on the primary alone --
    what a failover then loses. On exit the ACL is restored if the node is alive.
    """
    import redis  # noqa: PLC0415 - the proxy itself needs no client

    client: Any = redis.Redis(host="127.0.0.1", port=primary.port or 0, socket_timeout=2)
    try:
        client.execute_command("ACL", "SETUSER", "default", "-psync", "-sync")
        client.execute_command("CLIENT", "KILL", "TYPE", "replica")
        yield
    finally:
        with contextlib.suppress(redis.RedisError):
            client.execute_command("ACL", "SETUSER", "default", "+psync", "+sync")
        client.close()
