"""Rate limiters when the network fails: the on_error policy, lost replies, and the cluster.

A lost reply is simulated with a small TCP proxy in front of the real server that,
when armed, swallows the next reply (closing the connection, or staying silent
until the client times out). The server has run the script by then, so a client
that re-sends the command counts the hit twice; the limiters must not.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError

from valkey_redis import (
    GCRA,
    FixedWindow,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
    _run,
)
from valkey_redis.client import connect
from valkey_redis.server import EmbeddedValkey, free_port

ALGORITHMS = [FixedWindow, SlidingWindowLog, SlidingWindowCounter, TokenBucket, GCRA]


class ReplyDropper:
    """A TCP proxy to ``127.0.0.1:port`` that can lose the next reply on purpose."""

    def __init__(self, port: int, *, silent: bool) -> None:
        self._upstream = port
        self._silent = silent
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._upstream))
            self._sockets += [downstream, upstream]
            for src, dst, replies in ((downstream, upstream, False), (upstream, downstream, True)):
                threading.Thread(target=self._pump, args=(src, dst, replies), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if replies and self.armed.is_set():
                    self.armed.clear()
                    self.dropped.set()
                    if self._silent:
                        continue  # swallow it; the client times out
                    break
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop accepting and cut every connection."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture(params=["closed", "silent"])
def dropper(
    request: pytest.FixtureRequest, valkey_server: EmbeddedValkey
) -> Iterator[ReplyDropper]:
    """A proxy to the session's server that loses one reply when armed."""
    proxy = ReplyDropper(int(valkey_server.port or 0), silent=request.param == "silent")
    yield proxy
    proxy.close()


@pytest.mark.real
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_lost_reply_is_not_resent_so_the_hit_counts_once(real_client, dropper, algorithm) -> None:
    """The script ran, its reply was lost: hit() raises instead of retrying; one unit is used."""
    proxied = connect(dropper.url, socket_timeout=0.3, retries=3)
    limiter = algorithm(proxied, limit=5, window=3600)
    limiter.peek("warm-up")  # the script is loaded and a pooled connection is open
    dropper.armed.set()
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        limiter.hit("k")
    assert dropper.dropped.is_set()
    assert algorithm(real_client, limit=5, window=3600).peek("k").remaining == 4
    assert limiter.hit("k").remaining == 3  # and the limiter works again afterwards
    proxied.close()


@pytest.mark.real
def test_with_retries_a_lost_reply_would_count_twice(real_client, dropper) -> None:
    """The hazard is real: redis-py's own retry re-runs the script, spending two units."""
    limiter = GCRA(real_client, limit=5, window=3600)
    limiter.peek("warm-up")
    proxied = connect(dropper.url, socket_timeout=0.3, retries=3)
    proxied.ping()  # open the pooled connection first, so the reply lost is the script's
    script = limiter._script
    dropper.armed.set()
    proxied.evalsha(script.sha, 1, limiter.key_for("k"), 5, 3600 * 10**6, 1, "0", "")
    assert limiter.peek("k").remaining == 3
    proxied.close()


@pytest.mark.real
def test_a_lost_reply_with_on_error_allow_fails_open_and_counts_once(real_client, dropper) -> None:
    """on_error="allow" turns the lost reply into an allowed fallback; the server counted one."""
    proxied = connect(dropper.url, socket_timeout=0.3)
    limiter = SlidingWindowLog(proxied, limit=5, window=3600, on_error="allow")
    limiter.peek("warm-up")
    dropper.armed.set()
    result = limiter.hit("k")
    assert (result.allowed, result.fallback) == (True, True)
    assert SlidingWindowLog(real_client, limit=5, window=3600).peek("k").remaining == 4
    proxied.close()


@pytest.fixture
def dead_client() -> Iterator[redis.Redis]:
    """A client of a port where nothing listens (with redis-py retries left on)."""
    client = connect(f"redis://127.0.0.1:{free_port()}/0", retries=1, socket_connect_timeout=0.5)
    yield client
    client.close()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unreachable_server_raises_by_default(dead_client, algorithm) -> None:
    """on_error="raise": hit and peek surface redis-py's ConnectionError."""
    limiter = algorithm(dead_client, limit=3, window=1)
    with pytest.raises(redis.ConnectionError):
        limiter.hit("k")
    with pytest.raises(redis.ConnectionError):
        limiter.peek("k")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unreachable_server_fails_open_with_allow(dead_client, algorithm) -> None:
    """on_error="allow": every hit is allowed and marked as a fallback."""
    limiter = algorithm(dead_client, limit=3, window=1, on_error="allow")
    results = [limiter.hit("k", cost=2) for _ in range(5)]
    assert {(r.allowed, r.fallback, r.remaining, r.retry_after) for r in results} == {
        (True, True, 1, 0.0)
    }
    assert "Retry-After" not in limiter.headers(results[0])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unreachable_server_fails_closed_with_deny(dead_client, algorithm) -> None:
    """on_error="deny": every hit is denied with a Retry-After and marked as a fallback."""
    limiter = algorithm(dead_client, limit=3, window=1, on_error="deny")
    result = limiter.hit("k")
    assert (result.allowed, result.fallback, result.remaining) == (False, True, 0)
    assert result.retry_after > 0
    assert limiter.headers(result)["Retry-After"] == "1"
    assert not limiter.peek("k").allowed


@pytest.mark.real
def test_a_server_that_stops_triggers_the_policy_and_recovery_needs_no_restart() -> None:
    """Hits work, the server stops (policy applies), a new server on the port works again."""
    server = EmbeddedValkey().start()
    client = connect(server.url, retries=1, socket_connect_timeout=0.5)
    strict = TokenBucket(client, limit=3, window=60)
    lenient = TokenBucket(client, limit=3, window=60, on_error="allow")
    assert strict.hit("k").allowed
    port = server.port
    server.stop()
    with pytest.raises(redis.ConnectionError):
        strict.hit("k")
    assert lenient.hit("k").fallback
    with EmbeddedValkey(port=port):
        # The circuit breaker opened while the server was down: lenient hits fall
        # back until its probe finds the server again (within its max cool-down).
        deadline = time.monotonic() + 15
        while lenient.hit("probe").fallback and time.monotonic() < deadline:
            time.sleep(0.05)
        result = strict.hit("k")  # a fresh, empty server: the script is reloaded on NOSCRIPT
        assert (result.allowed, result.remaining, result.fallback) == (True, 2, False)
    client.close()


def _hit_in_child(limiter: FixedWindow, parents: object, done: Any) -> None:
    from valkey_redis import _once

    result = limiter.hit("forked")
    lane = _once._LANES.get(limiter._client.connection_pool)
    done.put((result.remaining, lane is not None and lane.conn is not parents))


@pytest.mark.real
def test_a_forked_child_never_writes_on_its_parents_lane_connection(valkey_server) -> None:
    """A hit in a forked child opens its own connection; the parent's stays in step."""
    import multiprocessing

    from valkey_redis import _once

    client = connect(valkey_server.url)
    limiter = FixedWindow(client, limit=100, window=60, prefix="fork-" + str(time.time_ns()))
    assert limiter.hit("forked").remaining == 99
    parents = _once._LANES[client.connection_pool].conn
    context = multiprocessing.get_context("fork")
    done = context.Queue()
    child = context.Process(target=_hit_in_child, args=(limiter, parents, done))
    child.start()
    remaining, own_connection = done.get(timeout=30)
    child.join(timeout=30)
    assert (remaining, own_connection, child.exitcode) == (98, True, 0)
    assert limiter.hit("forked").remaining == 97  # the parent's connection still in step
    assert _once._LANES[client.connection_pool].conn is parents
    client.close()


@pytest.mark.cluster
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_limiters_work_on_a_cluster(cluster_client: RedisCluster, algorithm) -> None:
    """On a cluster, keys spread over nodes and each one gets exactly its limit."""
    limiter = algorithm(cluster_client, limit=3, window=3600)
    users = [f"user:{i}" for i in range(12)]
    allowed = {user: sum(limiter.hit(user).allowed for _ in range(4)) for user in users}
    assert set(allowed.values()) == {3}
    nodes = {cluster_client.get_node_from_key(limiter.key_for(u)).name for u in users}
    assert len(nodes) > 1
    assert all(cluster_client.pttl(limiter.key_for(u)) > 0 for u in users)


@pytest.mark.cluster
def test_a_stale_slot_map_is_followed_without_counting_twice(cluster_client: RedisCluster) -> None:
    """When the client's slot map points at the wrong node, MOVED is followed; one unit is used."""
    limiter = GCRA(cluster_client, limit=5, window=3600)
    key = limiter.key_for("k")
    slot = cluster_client.keyslot(key)
    owner = cluster_client.get_node_from_key(key)
    wrong = next(n for n in cluster_client.get_primaries() if n.name != owner.name)
    cluster_client.nodes_manager.slots_cache[slot] = [wrong]
    assert limiter.hit("k").remaining == 4
    assert cluster_client.get_node_from_key(key).name == owner.name
    assert limiter.peek("k").remaining == 4


@pytest.mark.parametrize("policy", ["allow", "deny"])
def test_cluster_down_counts_as_an_outage(fake_client, monkeypatch, policy) -> None:
    """CLUSTERDOWN (a failover in progress; the script did not run) goes to on_error too."""

    def cluster_down(*_: object) -> None:
        raise ClusterDownError("CLUSTERDOWN The cluster is down")

    monkeypatch.setattr(_run, "_send_once", cluster_down)
    result = GCRA(fake_client, limit=3, window=1, on_error=policy).hit("k")
    assert (result.allowed, result.fallback) == (policy == "allow", True)
    with pytest.raises(ClusterDownError):
        GCRA(fake_client, limit=3, window=1).hit("k")


@pytest.mark.cluster
def test_a_connection_error_on_a_cluster_refreshes_the_slot_map(
    cluster_client: RedisCluster, monkeypatch
) -> None:
    """After a node fails mid-hit, the slot map is reloaded (for the next hit); no re-send."""
    sent: list[object] = []
    refreshed: list[bool] = []

    def lost(*commands: object) -> None:
        sent.append(commands)
        raise redis.ConnectionError("connection reset")

    monkeypatch.setattr(_run, "_send_once", lost)
    monkeypatch.setattr(cluster_client.nodes_manager, "initialize", lambda: refreshed.append(True))
    with pytest.raises(redis.ConnectionError):
        FixedWindow(cluster_client, limit=3, window=60).hit("k")
    assert (len(sent), refreshed) == (1, [True])
