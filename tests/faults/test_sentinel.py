"""Sentinel: connect() follows the primary through real failovers; what a failover loses.

One primary, one replica and three sentinels for the module (``EmbeddedSentinel``);
failovers are SENTINEL FAILOVER and kill -9 of the primary, some with the replica
cut off first (``replication_cut``) so that it lags.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from valkey_redis import Cache, FixedWindow, Lock, NearCache, SessionStore, WriteBehind
from valkey_redis.client import connect
from valkey_redis.faultproxy import replication_cut
from valkey_redis.sentinel import (
    EmbeddedSentinel,
    parse_sentinel_url,
    wait_for_replicas,
)
from valkey_redis.server import binary_can_run
from valkey_redis.write_behind import Write


@pytest.fixture(scope="module")
def ha() -> Iterator[EmbeddedSentinel]:
    """A primary, a replica and three sentinels on free ports, for this module."""
    if not binary_can_run():
        pytest.skip("the bundled valkey-server cannot run on this machine")
    with EmbeddedSentinel() as setup:
        yield setup


@pytest.fixture
def client(ha: EmbeddedSentinel) -> Iterator[redis.Redis]:
    """connect() of the Sentinel URL, the database flushed and replicated before the test."""
    valkey = connect(ha.url)
    valkey.flushall()
    assert wait_for_replicas(valkey, 1, 60) == 1  # after a failover: the old primary rejoined
    ha.wait_settled()  # ... and every sentinel knows it is healthy again
    yield valkey
    valkey.close()


def test_parse_sentinel_url() -> None:
    """Hosts, default port, service, db and credentials come out of the URL."""
    sentinels, service, db, auth = parse_sentinel_url("redis+sentinel://:s3cret@a:1,b/svc/2")
    assert (sentinels, service, db, auth) == (
        [("a", 1), ("b", 26379)],
        "svc",
        2,
        {"password": "s3cret"},
    )
    with pytest.raises(ValueError, match="service"):
        parse_sentinel_url("redis+sentinel://a:1")


def test_valkey_url_may_be_a_sentinel_url(
    ha: EmbeddedSentinel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VALKEY_URL=redis+sentinel://... makes connect() a client of the current primary."""
    monkeypatch.setenv("VALKEY_URL", ha.url)
    valkey = connect()
    assert valkey.execute_command("ROLE")[0] == "master"
    assert int(valkey.connection_pool.get_master_address()[1]) == ha.primary_port()


def _follow(valkey: redis.Redis) -> None:
    """Ask Sentinel now, as the client's pool does at most FOLLOW_EVERY s after a failover."""
    pool: Any = valkey.connection_pool
    pool.get_master_address()


def _every_helper_works(valkey: redis.Redis, tag: str) -> None:
    cache = Cache(valkey, namespace=f"ha-{tag}", ttl=60)
    assert cache.get_or_set("k", lambda: {"v": 1}) == {"v": 1}
    cache.set("t", 2, tags=["x"])
    assert cache.invalidate_tags("x") == 1
    with Lock(valkey, f"job-{tag}", timeout=10) as lock:
        assert lock.fencing_token > 0
    sessions = SessionStore(valkey, ttl=60)
    sid = sessions.create(user_id=7, data={"cart": [1]})
    assert sessions.get(sid) == {"user_id": 7, "cart": [1]}
    assert FixedWindow(valkey, limit=5, window=60).hit(tag).allowed
    applied: list[Write] = []
    queue = WriteBehind(valkey, name=f"ha-{tag}", apply_batch=applied.extend)
    queue.submit("k", 1)
    assert queue.flush() == 1
    with NearCache(valkey, namespace=f"near-{tag}") as near:
        near.set("k", "v", ttl=60)
        assert near.get("k") == "v"


def test_every_helper_works_through_sentinel(client: redis.Redis) -> None:
    """Cache, Lock, SessionStore, a limiter, WriteBehind and NearCache all work on it."""
    _every_helper_works(client, "plain")


def test_helpers_recover_after_a_planned_failover(
    ha: EmbeddedSentinel, client: redis.Redis
) -> None:
    """After SENTINEL FAILOVER every helper works again on the first call, no user action."""
    cache = Cache(client, namespace="ha", ttl=60)
    cache.set("k", "before")
    assert wait_for_replicas(client, 1, 10) == 1
    old = ha.primary_port()
    new = ha.failover()
    assert new != old
    _follow(client)
    assert cache.get("k") == "before"  # replicated before the failover: kept
    assert client.execute_command("ROLE")[0] == "master"
    _every_helper_works(client, "planned")


def test_helpers_recover_after_the_primary_is_killed(
    ha: EmbeddedSentinel, client: redis.Redis
) -> None:
    """kill -9 of the primary: the sentinels promote the replica; helpers work again."""
    old = ha.primary
    client.set("k", "before")
    assert wait_for_replicas(client, 1, 10) == 1
    old.kill()
    new = ha.wait_for_new_primary(int(old.port or 0))
    assert new != old.port
    _follow(client)
    assert client.get("k") == "before"
    _every_helper_works(client, "killed")
    old.start()  # it comes back on its port; the sentinels make it a replica
    assert wait_for_replicas(client, 1, 30) == 1


def test_failover_onto_a_lagging_replica(ha: EmbeddedSentinel, client: redis.Redis) -> None:
    """A lagging replica promoted: what is lost; the fencing token rejects the stale holder."""
    limiter = FixedWindow(client, limit=10, window=300)
    queue = WriteBehind(client, name="ha-lag", apply_batch=lambda _: None)
    holder = Lock(client, "order", timeout=60)
    with replication_cut(ha.primary):
        allowed = sum(limiter.hit("user").allowed for _ in range(15))
        for i in range(20):
            queue.submit(f"k{i}", i)
        assert holder.acquire()
        assert wait_for_replicas(client, 1, 0.2) == 0  # WAIT tells: no replica has them
        ha.failover()
    _follow(client)
    # Another process (a fresh limiter: this one remembers locally that "user" is
    # denied, which would hide the loss from its own process only):
    after = FixedWindow(client, limit=10, window=300)
    allowed += sum(after.hit("user").allowed for _ in range(15))
    survivors = queue.backlog()
    second = Lock(client, "order", timeout=60, blocking=False)
    assert second.acquire()  # held twice: the first holder's lock was not replicated
    highest = second.fencing_token
    assert highest > holder.fencing_token  # a fenced resource refuses the stale holder
    # What this failover lost, as docs/failure-modes.md reports it:
    assert allowed == 20  # 20 allowed for a limit of 10: the first 10 hits were lost
    assert survivors == 0  # 0 of 20 accepted write-behind entries survived
    assert wait_for_replicas(client, 1, 30) == 1  # the old primary rejoined as a replica


def test_min_replicas_to_write_refuses_unreplicated_writes(
    ha: EmbeddedSentinel, client: redis.Redis
) -> None:
    """With min-replicas-to-write 1, a cut-off primary refuses writes instead of losing them."""
    primary = redis.Redis(port=ha.primary_port(), decode_responses=True)
    primary.config_set("min-replicas-to-write", 1)
    primary.config_set("min-replicas-max-lag", 1)
    queue = WriteBehind(client, name="ha-safe", apply_batch=lambda _: None)
    try:
        queue.submit("k", "replicated")
        with replication_cut(ha.primary):
            with pytest.raises(redis.ResponseError, match="NOREPLICAS"):
                queue.submit("k", "would be lost")
            with pytest.raises(redis.ResponseError, match="NOREPLICAS"):
                FixedWindow(client, limit=10, window=60).hit("user")
    finally:
        primary.config_set("min-replicas-to-write", 0)
        primary.close()
    assert wait_for_replicas(client, 1, 30) == 1
    assert queue.backlog() == 1
