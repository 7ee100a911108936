"""SessionStore on a real 3-primary Valkey Cluster: create, get, update, rotate, destroy(_all).

Users' sessions land in buckets on every primary; each script's keys share the
bucket's hash tag, so none of these may raise CROSSSLOT.
"""

from __future__ import annotations

import pytest
from redis.cluster import RedisCluster

from valkey_redis import SessionStore

pytestmark = pytest.mark.cluster


@pytest.fixture
def store(cluster_client: RedisCluster) -> SessionStore:
    """A session store on the cluster client."""
    return SessionStore(cluster_client, ttl=60, prefix="csession")


def _node_port(client: RedisCluster, store: SessionStore, sid: str) -> int:
    bucket, secret = sid.split(".", 1)
    return int(client.get_node_from_key(store._session_key(bucket, secret)).port)


def test_sessions_of_many_users_live_on_every_primary(
    store: SessionStore, cluster_client: RedisCluster
) -> None:
    """Twenty users' sessions spread over all three primaries and each reads back."""
    sids = {user: store.create(user_id=user, data={"theme": "dark"}) for user in range(20)}
    assert len({_node_port(cluster_client, store, sid) for sid in sids.values()}) == 3
    for user, sid in sids.items():
        assert store.get(sid) == {"user_id": user, "theme": "dark"}
        remaining = store.ttl_of(sid)
        assert remaining is not None
        assert 0 < remaining <= 60


def test_update_rotate_destroy(store: SessionStore) -> None:
    """update changes one field, rotate moves the data to a new id, destroy ends it."""
    sid = store.create(user_id="ada", data={"theme": "dark", "cart": [1, 2]})
    assert store.update(sid, theme="light") is True
    new_sid = store.rotate(sid)
    assert new_sid is not None
    assert new_sid != sid
    assert store.get(sid) is None
    assert store.get(new_sid) == {"user_id": "ada", "theme": "light", "cart": [1, 2]}
    assert store.update(sid, theme="dark") is False
    assert store.rotate(sid) is None
    assert store.destroy(new_sid) is True
    assert store.destroy(new_sid) is False
    assert store.get(new_sid) is None


def test_destroy_all_removes_only_that_users_sessions(store: SessionStore) -> None:
    """destroy_all logs one user out everywhere and leaves other users' sessions alone."""
    mine = [store.create(user_id=42, data={"device": d}) for d in ("phone", "laptop", "tv")]
    others = [store.create(user_id=user) for user in range(100, 110)]
    rotated = store.rotate(mine[0])
    assert rotated is not None
    assert store.destroy_all(user_id=42) == 3
    assert [store.get(sid) for sid in [rotated, *mine[1:]]] == [None, None, None]
    assert all(store.get(sid) is not None for sid in others)
    assert store.destroy_all(user_id=42) == 0
