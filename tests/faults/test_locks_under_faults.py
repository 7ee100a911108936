"""Locks under faults: fencing across a lagging failover and a restart, renewals under pressure."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from valkey_redis import Lock
from valkey_redis.client import connect
from valkey_redis.faultproxy import FaultProxy, kill_and_restart, paused
from valkey_redis.server import EmbeddedValkey


class FencedResource:
    """What a lock protects: it refuses a write with a token below the highest seen."""

    def __init__(self) -> None:
        self.highest = 0
        self.writes: list[int] = []

    def write(self, token: int) -> bool:
        """Apply the write of ``token``'s holder unless a newer holder already wrote."""
        if token < self.highest:
            return False
        self.highest = token
        self.writes.append(token)
        return True


Replication = tuple[EmbeddedValkey, FaultProxy, EmbeddedValkey]


@pytest.fixture
def replication(server: EmbeddedValkey) -> Iterator[Replication]:
    """``server`` as a primary, a replica of it in sync, the link through a fault proxy."""
    assert server.port is not None
    with (
        FaultProxy("127.0.0.1", server.port) as link,
        EmbeddedValkey(config={"replicaof": f"127.0.0.1 {link.port}"}) as replica,
    ):
        primary = connect(server.url)
        assert int(primary.execute_command("WAIT", 1, 10_000)) == 1
        primary.close()
        yield server, link, replica


def test_fencing_token_increases_across_a_failover_onto_a_lagging_replica(
    replication: Replication,
) -> None:
    """A replica promoted without the last acquisitions still hands out a higher token."""
    primary_server, link, replica_server = replication
    primary, replica = connect(primary_server.url), connect(replica_server.url)
    first = Lock(primary, "job", timeout=30)
    assert first.acquire()
    first.release()
    assert int(primary.execute_command("WAIT", 1, 10_000)) == 1  # the replica has token 1
    link.blackhole()  # replication stops: the replica lags from here
    for _ in range(2):
        other = Lock(primary, "job", timeout=30)
        assert other.acquire()
        other.release()
    holder = Lock(primary, "job", timeout=30)
    assert holder.acquire()  # held on its 30 s lease when the primary dies
    primary_server.kill()
    replica.execute_command("REPLICAOF", "NO", "ONE")  # the failover
    second = Lock(replica, "job", timeout=30)
    assert second.acquire()  # the lock is taken twice: replication was asynchronous
    assert second.fencing_token > holder.fencing_token
    resource = FencedResource()
    assert resource.write(second.fencing_token)
    assert not resource.write(holder.fencing_token)  # the stale holder is refused
    assert resource.writes == [second.fencing_token]


def test_fencing_token_increases_across_a_restart_without_persistence(
    server: EmbeddedValkey,
) -> None:
    """kill -9 and restart empty: the next token is still above every earlier one."""
    client = connect(server.url)
    before = Lock(client, "job", timeout=30)
    assert before.acquire()
    kill_and_restart(server)
    after = Lock(client, "job", timeout=30)
    assert after.acquire()
    assert after.fencing_token > before.fencing_token


def test_auto_renew_survives_local_errors(direct: redis.Redis) -> None:
    """A renewal that fails locally (a full pool) is retried; the lock is not marked lost."""
    lock = Lock(direct, "job", timeout=0.9, auto_renew=True)
    renewed = threading.Event()
    real_extend = lock._extend_flow
    calls: list[str] = []

    def flaky_extend(seconds: Any = None) -> Any:
        if not calls:
            calls.append("raised")
            raise redis.exceptions.MaxConnectionsError("Too many connections")
        calls.append("renewed")
        result = yield from real_extend(seconds)
        renewed.set()
        return result

    lock._extend_flow = flaky_extend  # type: ignore[method-assign]
    assert lock.acquire()
    try:
        assert renewed.wait(10), "the renewer gave up after a local error"
        assert not lock.lost
        assert lock.owned()
    finally:
        lock.release()
    assert calls[:2] == ["raised", "renewed"]


def test_auto_renew_marks_lost_when_the_server_refuses(direct: redis.Redis) -> None:
    """Only the server's refusal (the key is someone else's) marks an auto-renewed lock lost."""
    lock = Lock(direct, "job", timeout=0.9, auto_renew=True)
    assert lock.acquire()
    direct.set(lock.key, "someone-else", px=60_000)
    renewer = lock._renewer
    assert renewer is not None
    renewer.join(10)
    assert lock.lost
    assert not lock.release()
    assert direct.get(lock.key) == "someone-else"


def test_release_on_a_hung_server_raises_not_lost(server: EmbeddedValkey) -> None:
    """A release that cannot reach the server raises ConnectionError/TimeoutError, no LockLost."""
    client = connect(server.url, retries=0, socket_timeout=0.3)
    lock = Lock(client, "job", timeout=30)
    assert lock.acquire()
    with paused(server), pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        lock.release()
