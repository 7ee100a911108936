"""SessionStore: unguessable ids, sliding TTL, field-level atomic updates, rotation, logout."""

from __future__ import annotations

import base64
import re
import threading
import time
from typing import Any

import fakeredis
import pytest
import redis
from pydantic import BaseModel, ValidationError
from redis.cluster import RedisCluster
from redis.crc import key_slot

from valkey_redis import SessionStore
from valkey_redis.client import connect

SID = re.compile(r"[0-9a-f]{4}\.[A-Za-z0-9_-]{43}")
TTL = 1800


def _key(store: SessionStore, sid: str) -> str:
    """The hash holding session ``sid``."""
    key = store.key(sid)
    assert key is not None
    return key


def _index(store: SessionStore, sid: str) -> str:
    """The index hash of the bucket ``sid`` lives in."""
    return store._index_key(sid.split(".", maxsplit=1)[0])


def _wait_until_expired(client: redis.Redis, key: str) -> None:
    """Poll until the server has expired ``key`` on its own."""
    deadline = time.monotonic() + 5
    while client.exists(key) and time.monotonic() < deadline:
        time.sleep(0.002)
    assert client.exists(key) == 0


def _same_bucket_users(store: SessionStore) -> tuple[int, int]:
    """Two different user ids whose sessions share a bucket (and an index)."""
    seen: dict[str, int] = {}
    for user in range(1, 100_000):
        bucket = store._bucket(str(user))
        if bucket in seen:
            return seen[bucket], user
        seen[bucket] = user
    raise AssertionError("no two users share a bucket")  # pragma: no cover


# -- configuration ----------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -5, True, "60", float("nan")])
def test_bad_ttl_is_rejected(fake_client: redis.Redis, bad: Any) -> None:
    """A missing, zero, negative or non-numeric TTL raises ValueError."""
    with pytest.raises(ValueError, match="ttl"):
        SessionStore(fake_client, ttl=bad)


def test_constructor_needs_no_server() -> None:
    """Building a store talks to nobody; the first call surfaces ConnectionError."""
    store = SessionStore(connect("redis://127.0.0.1:1/0", retries=0), ttl=TTL)
    with pytest.raises(redis.ConnectionError):
        store.create(user_id=1)


def test_session_and_index_share_one_cluster_slot(fake_client: redis.Redis) -> None:
    """Every key a script touches together hashes to the same slot."""
    store = SessionStore(fake_client, ttl=TTL)
    sid = store.create(user_id="alice")
    slots = {key_slot(key.encode()) for key in fake_client.scan_iter("*")}
    assert len(slots) == 1
    assert key_slot(_key(store, sid).encode()) == key_slot(_index(store, sid).encode())


# -- ids --------------------------------------------------------------------------


def test_ids_are_long_random_and_unique(client: redis.Redis) -> None:
    """Ids carry 256 random url-safe bits after a 4-hex bucket, and never repeat."""
    store = SessionStore(client, ttl=TTL)
    sids = [store.create(user_id=user % 50) for user in range(500)]
    assert all(SID.fullmatch(sid) for sid in sids)
    assert len(set(sids)) == 500
    secrets = {sid.split(".")[1] for sid in sids}
    assert len(secrets) == 500
    raw = base64.urlsafe_b64decode(sids[0].split(".")[1] + "=")
    assert len(raw) * 8 >= 128
    # Every url-safe character shows up somewhere: the ids are not from a small alphabet.
    assert len(set("".join(secrets))) == 64


# -- create and get ---------------------------------------------------------------


def test_values_round_trip_as_json(client: redis.Redis) -> None:
    """Strings, numbers, booleans, None, lists and dicts come back with their types."""
    store = SessionStore(client, ttl=TTL)
    data = {"theme": "dark", "n": 3, "ok": False, "none": None, "cart": [1, 2], "d": {"a": "b"}}
    sid = store.create(user_id=42, data=data)
    assert {"user_id": 42, **data} == store.get(sid)
    assert client.hget(_key(store, sid), "theme") == '"dark"'


def test_user_id_types_are_kept_apart(client: redis.Redis) -> None:
    """User 42 and user "42" are different users."""
    store = SessionStore(client, ttl=TTL)
    number, text = store.create(user_id=42), store.create(user_id="42")
    assert store.get(number) == {"user_id": 42}
    assert store.get(text) == {"user_id": "42"}
    assert store.destroy_all(user_id="42") == 1
    assert store.get(number) == {"user_id": 42}


def test_foreign_plain_text_fields_read_as_strings(client: redis.Redis) -> None:
    """A field another program wrote as plain text comes back as that string."""
    store = SessionStore(client, ttl=TTL)
    sid = store.create(user_id=1)
    client.hset(_key(store, sid), "legacy", "not json {")
    assert store.get(sid) == {"user_id": 1, "legacy": "not json {"}


def test_bad_data_is_rejected_before_writing(client: redis.Redis) -> None:
    """Unserializable values and a user_id inside data raise and write nothing."""
    store = SessionStore(client, ttl=TTL)
    with pytest.raises(TypeError, match="JSON"):
        store.create(user_id=1, data={"when": object()})
    with pytest.raises(ValueError, match="user_id"):
        store.create(user_id=1, data={"user_id": 2})
    with pytest.raises(ValueError, match="empty"):
        store.create(user_id="")
    assert client.dbsize() == 0


def test_get_slides_the_ttl(client: redis.Redis) -> None:
    """A read restores the full TTL of the session and keeps its index alive as long."""
    store = SessionStore(client, ttl=TTL)
    sid = store.create(user_id=7)
    client.pexpire(_key(store, sid), 5_000)
    client.pexpire(_index(store, sid), 5_000)
    assert store.get(sid) is not None
    assert 5_000 < client.pttl(_key(store, sid)) <= TTL * 1000
    assert client.pttl(_index(store, sid)) >= client.pttl(_key(store, sid))
    assert store.ttl_of(sid) == pytest.approx(TTL, abs=5)


@pytest.mark.parametrize(
    "sid",
    [
        "",
        "nope",
        "0000." + "A" * 43,  # well-formed, unknown
        "0000.index",
        "{0000}." + "A" * 43,
        "0000." + "A" * 42 + "*",
        "0000." + "A" * 44,
    ],
)
def test_unknown_or_malformed_ids_read_as_none_and_create_nothing(
    client: redis.Redis, sid: str
) -> None:
    """Forged ids get None/False from every call and leave the server empty."""
    store = SessionStore(client, ttl=TTL)
    assert store.get(sid) is None
    assert store.update(sid, theme="x") is False
    assert store.rotate(sid) is None
    assert store.destroy(sid) is False
    assert store.ttl_of(sid) is None
    if sid.count(".") != 1 or len(sid) != 48 or "{" in sid:
        assert store.key(sid) is None
    assert client.dbsize() == 0


def test_non_string_ids_raise(fake_client: redis.Redis) -> None:
    """An id that is not a string is a programming error, reported as TypeError."""
    store = SessionStore(fake_client, ttl=TTL)
    with pytest.raises(TypeError, match="strings"):
        store.get(42)  # type: ignore[arg-type]


def test_expired_session_is_gone_for_good(client: redis.Redis) -> None:
    """After expiry, get is None and update/rotate do not resurrect it."""
    store = SessionStore(client, ttl=TTL)
    sid = store.create(user_id=7, data={"theme": "dark"})
    client.delete(_key(store, sid))  # what expiry does
    assert store.get(sid) is None
    assert store.update(sid, theme="light") is False
    assert store.rotate(sid) is None
    assert client.exists(_key(store, sid)) == 0
    assert [k for k in client.scan_iter("*") if k != _index(store, sid)] == []


def test_ttl_expiry_on_the_server(client: redis.Redis) -> None:
    """A session whose TTL runs out on the server reads as None."""
    store = SessionStore(client, ttl=0.05)
    sid = store.create(user_id=7)
    _wait_until_expired(client, _key(store, sid))
    assert store.get(sid) is None


# -- update -----------------------------------------------------------------------


def test_update_changes_only_the_given_fields(client: redis.Redis) -> None:
    """update() sets its fields, leaves the others, and keeps the TTL running."""
    store = SessionStore(client, ttl=TTL)
    sid = store.create(user_id=1, data={"theme": "dark", "lang": "en"})
    client.pexpire(_key(store, sid), 10_000)
    assert store.update(sid, theme="light", seen=3) is True
    assert store.get(sid) == {"user_id": 1, "theme": "light", "lang": "en", "seen": 3}
    assert client.pttl(_key(store, sid)) > 0


def test_update_refuses_user_id_and_empty_calls(client: redis.Redis) -> None:
    """The owner of a session cannot change, and an update needs a field."""
    store = SessionStore(client, ttl=TTL)
    sid = store.create(user_id=1)
    with pytest.raises(ValueError, match="user_id"):
        store.update(sid, user_id=2)
    with pytest.raises(ValueError, match="at least one"):
        store.update(sid)
    assert store.get(sid) == {"user_id": 1}


@pytest.mark.real
def test_concurrent_field_updates_both_survive(real_client: redis.Redis) -> None:
    """Two threads writing different fields at once lose none of them."""
    store = SessionStore(real_client, ttl=TTL)
    sid = store.create(user_id=1)
    start = threading.Barrier(2)

    def writer(name: str) -> None:
        start.wait()
        for i in range(50):
            assert store.update(sid, **{f"{name}{i}": i})

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    session = store.get(sid)
    assert session is not None
    assert len(session) == 101
    assert session["a49"] == 49
    assert session["b49"] == 49


# -- rotate, destroy --------------------------------------------------------------


def test_rotate_moves_the_data_to_a_new_id(client: redis.Redis) -> None:
    """Rotation gives a new id with the same data and a fresh TTL; the old id is dead."""
    store = SessionStore(client, ttl=TTL)
    old = store.create(user_id=9, data={"role": "user"})
    client.pexpire(_key(store, old), 5_000)
    new = store.rotate(old)
    assert new is not None
    assert SID.fullmatch(new)
    assert new != old
    assert store.get(old) is None
    assert store.get(new) == {"user_id": 9, "role": "user"}
    assert client.pttl(_key(store, new)) > 5_000
    index = client.hgetall(_index(store, new))
    assert set(index) == {new.split(".")[1]}
    assert store.destroy_all(user_id=9) == 1
    assert store.get(new) is None


def test_destroy_logs_out_one_session(client: redis.Redis) -> None:
    """destroy() removes the session and its index entry; a second call returns False."""
    store = SessionStore(client, ttl=TTL)
    sid = store.create(user_id=3)
    other = store.create(user_id=3)
    assert store.destroy(sid) is True
    assert store.destroy(sid) is False
    assert store.get(sid) is None
    assert store.get(other) == {"user_id": 3}
    assert sid.split(".")[1] not in client.hgetall(_index(store, sid))


def test_destroy_all_logs_out_every_device(client: redis.Redis) -> None:
    """destroy_all removes exactly the user's sessions, also a user sharing the bucket."""
    store = SessionStore(client, ttl=TTL)
    alice, bob = _same_bucket_users(store)
    phones = [store.create(user_id=alice, data={"device": d}) for d in ("phone", "laptop", "tv")]
    bobs = store.create(user_id=bob)
    assert _index(store, phones[0]) == _index(store, bobs)
    assert store.destroy_all(user_id=alice) == 3
    assert [store.get(sid) for sid in phones] == [None, None, None]
    assert store.get(bobs) == {"user_id": bob}
    assert store.destroy_all(user_id=alice) == 0


def test_index_is_cleaned_of_dead_ids(client: redis.Redis) -> None:
    """Expired sessions are pruned from the index on create; destroy_all drops dead ones."""
    short = SessionStore(client, ttl=0.05)
    dead = short.create(user_id=5)
    _wait_until_expired(client, _key(short, dead))
    # The index entry recorded the same 50 ms expiry, so it is past by now.
    store = SessionStore(client, ttl=TTL)
    alive = store.create(user_id=5)
    assert set(client.hgetall(_index(store, alive))) == {alive.split(".")[1]}
    client.delete(_key(store, alive))  # gone without destroy(): only the index remembers it
    assert store.destroy_all(user_id=5) == 0
    assert client.exists(_index(store, alive)) == 0


def test_every_key_has_a_ttl(client: redis.Redis) -> None:
    """After every kind of operation, no key is left without an expiry."""
    store = SessionStore(client, ttl=TTL)
    sids = [store.create(user_id=u, data={"x": 1}) for u in range(20)]
    store.get(sids[0])
    store.update(sids[1], x=2)
    store.rotate(sids[2])
    store.destroy(sids[3])
    store.destroy_all(user_id=4)
    ttls = {key: client.pttl(key) for key in client.scan_iter("*")}
    assert ttls
    assert [key for key, ttl in ttls.items() if not 0 < ttl <= TTL * 1000] == []


class _RetriedScripts(fakeredis.FakeRedis):
    """Runs every script twice, as a retry after a lost reply would."""

    def evalsha(self, *args: Any, **kwargs: Any) -> Any:
        super().evalsha(*args, **kwargs)
        return super().evalsha(*args, **kwargs)


def test_retried_scripts_are_harmless() -> None:
    """Create, update and rotate give the same outcome when their script runs twice."""
    client = _RetriedScripts(server=fakeredis.FakeServer(), decode_responses=True)
    store = SessionStore(client, ttl=TTL)
    sid = store.create(user_id=1, data={"a": 1})
    assert store.update(sid, a=2) is True
    new = store.rotate(sid)
    assert new is not None
    assert store.get(new) == {"user_id": 1, "a": 2}
    assert store.get(sid) is None
    assert client.hlen(_index(store, new)) == 1


# -- pydantic ---------------------------------------------------------------------


class Prefs(BaseModel):
    """Session data with types and defaults."""

    theme: str = "light"
    font_size: int = 12
    tags: list[str] = []


def test_model_validates_create_and_fills_defaults(client: redis.Redis) -> None:
    """With a model, bad data is refused unwritten and defaults are stored."""
    store = SessionStore(client, ttl=TTL, model=Prefs)
    with pytest.raises(ValidationError):
        store.create(user_id=1, data={"font_size": "huge"})
    assert client.dbsize() == 0
    sid = store.create(user_id=1, data={"theme": "dark"})
    expected = {"user_id": 1, "theme": "dark", "font_size": 12, "tags": []}
    assert expected == store.get(sid)
    from_model = store.create(user_id=2, data=Prefs(tags=["beta"]))
    assert Prefs(tags=["beta"]) == Prefs.model_validate(store.get(from_model))


def test_model_validates_each_updated_field(client: redis.Redis) -> None:
    """With a model, update coerces valid values and refuses bad or unknown fields."""
    store = SessionStore(client, ttl=TTL, model=Prefs)
    sid = store.create(user_id=1)
    assert store.update(sid, font_size="14") is True
    with pytest.raises(ValidationError):
        store.update(sid, font_size="huge")
    with pytest.raises(ValidationError):
        store.update(sid, unknown=1)
    session = store.get(sid)
    assert session is not None
    assert session["font_size"] == 14
    assert "unknown" not in session


@pytest.mark.cluster
def test_sessions_on_valkey_cluster(cluster_client: RedisCluster) -> None:
    """Create, get, update, rotate and destroy_all work on a 3-primary cluster."""
    store = SessionStore(cluster_client, ttl=TTL)
    sids = [store.create(user_id=user, data={"n": user}) for user in range(12)]
    assert store.get(sids[0]) == {"user_id": 0, "n": 0}
    assert store.update(sids[1], n=100)
    rotated = store.rotate(sids[2])
    assert rotated is not None
    assert store.get(rotated) == {"user_id": 2, "n": 2}
    extra = store.create(user_id=3)
    assert store.destroy_all(user_id=3) == 2
    assert store.get(extra) is None
    assert store.get(sids[1]) == {"user_id": 1, "n": 100}
