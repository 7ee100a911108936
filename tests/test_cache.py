"""Cache: get/set, batches, get_or_set, negative caching, XFetch, tags, events, write-through.

Each test runs on fakeredis and on real Valkey (the ``client`` fixture). Concurrency,
outages and stampedes are in ``test_cache_stampede.py``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import BaseModel

from valkey_redis import Cache, CacheStats, PydanticSerializer, connect, keys
from valkey_redis.cache.stampede import should_refresh_early


def _keys_with_ttl(client: redis.Redis) -> dict[str, int]:
    return {key: int(client.pttl(key)) for key in client.scan_iter(count=1000)}


class Counter:
    """A loader that counts its calls."""

    def __init__(self, value: Any = "loaded") -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.value


@pytest.fixture
def cache(client: redis.Redis) -> Cache:
    """A cache with the default settings on the parametrized backend."""
    return Cache(client, namespace="test", ttl=60)


class RoundTrips:
    """Counts requests sent to the server (a pipeline is one)."""

    def __init__(self, client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
        client.ping()  # connect first: the connection handshake is not ours to count
        self.count = 0
        cls = client.connection_pool.connection_class
        original = cls.send_packed_command

        def counting(conn: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            original(conn, command, check_health)

        monkeypatch.setattr(cls, "send_packed_command", counting)


# --- plain get / set / delete ---------------------------------------------------


def test_set_then_get_round_trips_json(cache: Cache) -> None:
    """A stored dict comes back equal; a missing key gives the default."""
    cache.set("k", {"a": [1, 2], "b": None})
    assert cache.get("k") == {"a": [1, 2], "b": None}
    assert cache.get("missing") is None
    assert cache.get("missing", "fallback") == "fallback"


def test_keys_are_namespaced_and_escaped(cache: Cache, client: redis.Redis) -> None:
    """The value lives at ``namespace:{key}`` with the key escaped."""
    cache.set("user:1", 1)
    assert list(client.scan_iter()) == ["test:{user%3A1}"]
    assert cache.redis_key("user:1") == "test:{user%3A1}"


@pytest.mark.parametrize(
    "key", ["plain", "a:b", "{tag}", "100%", "é✓", 42, "".join(map(chr, range(1, 800)))]
)
def test_redis_key_matches_keys_tagged(fake_client: redis.Redis, key: str | int) -> None:
    """The fast key builder gives exactly keys.tagged's escaping of keys.typed(key)."""
    expected = f"{keys.escape('n:s')}:{{{keys.typed(key)}}}"
    assert Cache(fake_client, namespace="n:s", ttl=1).redis_key(key) == expected
    if isinstance(key, str):
        assert expected == keys.tagged("n:s", key)


def test_delete_counts_existing_entries(cache: Cache) -> None:
    """delete returns how many entries existed and removes them."""
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.delete("a", "b", "never-set") == 2
    assert cache.get("a") is None
    assert cache.delete() == 0


def test_every_key_written_has_a_ttl(client: redis.Redis) -> None:
    """Whatever the cache writes -- values, tags, markers -- expires; no lock is left behind."""
    cache = Cache(client, namespace="ttl", ttl=30, negative_ttl=5)
    cache.set("a", 1, tags=["t1", "t2"])
    cache.set_many({"b": 2, "c": 3})
    cache.get_or_set("d", lambda: 4, tags=["t3"])
    cache.get_or_set("e", lambda: None)
    cache.write_through("f", 6, lambda _value: None, tags=["t1"])

    @cache.cached(ttl=10)
    def g(x: int) -> int:
        return x

    g(1)
    ttls = _keys_with_ttl(client)
    assert len(ttls) == 10  # a..f, g(1), and the tag sets t1, t2, t3
    assert all(ttl > 0 for ttl in ttls.values()), ttls
    assert not [key for key in ttls if key.endswith(":lock")]


def test_ttl_jitter_shortens_but_never_lengthens(client: redis.Redis) -> None:
    """With jitter 0.5 every TTL is in (ttl/2, ttl] and they are not all equal."""
    cache = Cache(client, namespace="jit", ttl=100, jitter=0.5)
    cache.set_many({i: i for i in range(50)})
    ttls = _keys_with_ttl(client).values()
    assert all(49_000 <= ttl <= 100_000 for ttl in ttls)  # 1 s of slack for slow runs
    assert len(set(ttls)) > 1


def test_zero_jitter_and_per_call_ttl(client: redis.Redis) -> None:
    """Without jitter the TTL is exactly the one asked for, per call."""
    cache = Cache(client, namespace="exact", ttl=100, jitter=0)
    cache.set("a", 1, ttl=7)
    assert 6_000 < client.pttl(cache.redis_key("a")) <= 7_000


# --- batches ----------------------------------------------------------------------


def test_set_many_and_get_many_are_one_round_trip_each(
    cache: Cache, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 keys go out in one request and come back in one (MGET)."""
    trips = RoundTrips(client, monkeypatch)
    cache.set_many({f"k{i}": i for i in range(1000)})
    assert trips.count == 1
    found = cache.get_many([f"k{i}" for i in range(1000)] + ["absent"])
    assert trips.count == 2
    assert {f"k{i}": i for i in range(1000)} == found


def test_get_is_one_round_trip(
    cache: Cache, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hit costs exactly one request, through get and through get_or_set."""
    cache.set("k", 1)
    trips = RoundTrips(client, monkeypatch)
    assert cache.get("k") == 1
    assert cache.get_or_set("k", lambda: 2) == 1
    assert trips.count == 2


def test_get_many_returns_found_keys_only(cache: Cache) -> None:
    """Missing keys are absent (not None); an empty request is an empty dict."""
    cache.set_many({"a": 1, "b": None})
    assert cache.get_many(["a", "b", "z"]) == {"a": 1, "b": None}
    assert cache.get_many([]) == {}
    stats = cache.stats
    assert (stats.hits, stats.misses) == (2, 1)


def test_set_many_is_one_command_with_a_ttl_per_entry(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,000 entries go out as one command; each lands with its own jittered TTL."""
    cache = Cache(client, namespace="big", ttl=100, jitter=0.5)
    trips = RoundTrips(client, monkeypatch)
    cache.set_many({i: {"n": i} for i in range(2000)}, ttl=50)
    assert trips.count == 1
    ttls = _keys_with_ttl(client)
    assert len(ttls) == 2000
    assert all(24_000 <= ttl <= 50_000 for ttl in ttls.values())  # 1 s of slack
    assert len(set(ttls.values())) > 100
    assert cache.get_many([0, 1999]) == {0: {"n": 0}, 1999: {"n": 1999}}


def test_xfetch_skip_bound_covers_every_default_draw() -> None:
    """random.random() is a multiple of 2**-53, so -log of any non-zero draw is below the bound."""
    import valkey_redis.cache._core as cache_module

    assert -math.log(2**-53) < cache_module._MAX_DRAW
    assert should_refresh_early(36.0, 1.0, rand=lambda: 2**-53)  # just inside: still due


def test_set_many_serializes_everything_before_writing(cache: Cache, client: redis.Redis) -> None:
    """One unserializable value means nothing is written."""
    with pytest.raises(TypeError):
        cache.set_many({"ok": 1, "bad": {1, 2}})
    assert list(client.scan_iter()) == []


# --- hostile and broken entries -----------------------------------------------------


class _Planted:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.path}",))


def _payloads(sentinel: Path) -> list[bytes | str]:
    evil = pickle.dumps(_Planted(sentinel))
    return [
        evil,
        b"c1:99999999999999:0:" + evil,
        b"\xff\xfe\x00 not utf-8",
        b"c1:99999999999999:0:v1:j:\xff",
        "plain text",
        "c1:not-a-number:0:v1:j:1",
        "c1:99999999999999:0:v9:x:1",
        "c1:99999999999999:0:v1:j:{",
        "c9:1:1:v1:j:1",
    ]


@pytest.mark.parametrize("index", range(9))
def test_unreadable_entries_are_a_miss_and_removed(
    client: redis.Redis, tmp_path: Path, index: int
) -> None:
    """Planted pickle, bad UTF-8 or garbage: get misses, the key is deleted, nothing runs."""
    sentinel = tmp_path / "pwned"
    cache = Cache(client, namespace="hostile", ttl=60)
    client.set(cache.redis_key("k"), _payloads(sentinel)[index])
    assert cache.get("k", "default") == "default"
    assert client.exists(cache.redis_key("k")) == 0
    assert not sentinel.exists()


def test_get_or_set_replaces_an_unreadable_entry(client: redis.Redis, tmp_path: Path) -> None:
    """A planted pickle under a key is overwritten by the loader's value."""
    cache = Cache(client, namespace="hostile", ttl=60)
    client.set(cache.redis_key("k"), pickle.dumps(_Planted(tmp_path / "pwned")))
    assert cache.get_or_set("k", lambda: "fresh") == "fresh"
    assert cache.get("k") == "fresh"
    assert not (tmp_path / "pwned").exists()


def test_get_many_skips_and_removes_unreadable_entries(client: redis.Redis) -> None:
    """One bad entry does not spoil the batch; it is deleted."""
    cache = Cache(client, namespace="hostile", ttl=60)
    cache.set_many({"a": 1, "c": 3})
    client.set(cache.redis_key("b"), b"\x80\x81")
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "c": 3}
    assert client.exists(cache.redis_key("b")) == 0


def test_works_with_a_bytes_client(fake_client: redis.Redis) -> None:
    """A decode_responses=False client works the same (tags included)."""
    import fakeredis

    raw = fakeredis.FakeRedis(connection_pool=None, server=fakeredis.FakeServer())
    cache = Cache(raw, namespace="b", ttl=60)
    cache.set("k", {"x": "ü"}, tags=["t"])
    cache.set_many({"m": [1], "é": "✓"})
    assert cache.get("k") == {"x": "ü"}
    assert cache.get_many(["k", "m", "é"]) == {"k": {"x": "ü"}, "m": [1], "é": "✓"}
    assert cache.get_or_set("m", lambda: [2]) == [1]
    assert cache.invalidate_tags("t") == 1


# --- get_or_set, negative caching, XFetch ---------------------------------------------


def test_get_or_set_loads_once_then_hits(cache: Cache) -> None:
    """The loader runs on the first call only; stats count one miss, one load, one hit."""
    loader = Counter({"v": 1})
    assert cache.get_or_set("k", loader) == {"v": 1}
    assert cache.get_or_set("k", loader) == {"v": 1}
    assert loader.calls == 1
    assert CacheStats(hits=1, misses=1, loads=1, errors=0) == cache.stats
    assert cache.stats.hit_ratio == 0.5


def test_failing_loader_caches_nothing_and_frees_the_lock(
    cache: Cache, client: redis.Redis
) -> None:
    """The error propagates, no key (value or lock) remains, the next call loads at once."""

    def broken() -> str:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        cache.get_or_set("k", broken)
    assert list(client.scan_iter()) == []
    loader = Counter("ok")
    assert cache.get_or_set("k", loader) == "ok"
    assert loader.calls == 1


def test_none_is_not_cached_without_negative_ttl(cache: Cache, client: redis.Redis) -> None:
    """Without negative caching every lookup of a missing row reaches the loader."""
    loader = Counter(None)
    assert cache.get_or_set("k", loader) is None
    assert cache.get_or_set("k", loader) is None
    assert loader.calls == 2
    assert list(client.scan_iter()) == []


def test_negative_caching_remembers_not_found_briefly(client: redis.Redis) -> None:
    """With negative_ttl, None is cached for that long; get treats it as missing."""
    cache = Cache(client, namespace="neg", ttl=600, negative_ttl=5)
    loader = Counter(None)
    assert cache.get_or_set("k", loader) is None
    assert cache.get_or_set("k", loader) is None
    assert loader.calls == 1
    assert 0 < client.pttl(cache.redis_key("k")) <= 5_000
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["k"]) == {}


def test_xfetch_formula() -> None:
    """Refresh iff -delta*beta*log(rand) >= remaining; beta 0 never, expired always."""
    # remaining 10 s, delta 5 s: refresh iff rand <= e**-2 (about 0.135)
    assert should_refresh_early(10, 5, rand=lambda: 0.1)
    assert not should_refresh_early(10, 5, rand=lambda: 0.2)
    assert should_refresh_early(10, 5, beta=2, rand=lambda: 0.2)
    assert not should_refresh_early(10, 5, beta=0, rand=lambda: 1e-9)
    assert should_refresh_early(0, 5, rand=lambda: 1.0)
    assert should_refresh_early(10, 5, rand=lambda: 0.0)
    assert math.exp(-2) > 0.135


def test_xfetch_refreshes_early_only_when_the_dice_say_so(client: redis.Redis) -> None:
    """With rand=1 a hit never reloads; with rand=0 the next hit reloads and stores anew."""
    dice = [1.0]
    cache = Cache(client, namespace="xf", ttl=60, rand=lambda: dice[0])
    versions = iter(range(1, 10))
    assert cache.get_or_set("k", lambda: next(versions)) == 1
    assert cache.get_or_set("k", lambda: next(versions)) == 1
    dice[0] = 0.0
    assert cache.get_or_set("k", lambda: next(versions)) == 2
    dice[0] = 1.0
    assert cache.get_or_set("k", lambda: next(versions)) == 2
    assert cache.stats.loads == 2
    assert [key for key in client.scan_iter() if key.endswith(":lock")] == []


def test_xfetch_disabled_with_beta_zero(client: redis.Redis) -> None:
    """early_refresh_beta=0 turns refresh-ahead off even for rand=0."""
    cache = Cache(client, namespace="xf", ttl=60, early_refresh_beta=0, rand=lambda: 0.0)
    loader = Counter()
    cache.get_or_set("k", loader)
    cache.get_or_set("k", loader)
    assert loader.calls == 1


# --- tags and events -----------------------------------------------------------------


def test_tags_invalidate_exactly_their_members(cache: Cache, client: redis.Redis) -> None:
    """Invalidating a tag deletes its members and nothing else, and drops the index."""
    cache.set("a", 1, tags=["t1"])
    cache.set("b", 2, tags=["t1", "t2"])
    cache.set("c", 3, tags=["t2"])
    cache.set("d", 4)
    assert cache.invalidate_tags("t1") == 2
    assert cache.get_many(["a", "b", "c", "d"]) == {"c": 3, "d": 4}
    assert client.exists("test:tags:t1") == 0
    assert cache.invalidate_tags("t2", "t1") == 1
    assert cache.invalidate_tags("unknown") == 0


def test_tag_index_outlives_its_members(client: redis.Redis) -> None:
    """The tag set's TTL is at least its longest member's (it only grows)."""
    cache = Cache(client, namespace="tl", ttl=10, jitter=0)
    cache.set("long", 1, ttl=100, tags=["t"])
    cache.set("short", 2, ttl=5, tags=["t"])
    assert client.pttl("tl:tags:t") >= client.pttl(cache.redis_key("long"))


def test_bad_tags_are_refused(cache: Cache) -> None:
    """A bare string (a common slip) or a non-string tag raises TypeError."""
    with pytest.raises(TypeError, match="list of strings"):
        cache.set("k", 1, tags="user:1")
    with pytest.raises(TypeError):
        cache.set("k", 1, tags=[42])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="empty"):
        cache.invalidate_tags("")


@pytest.fixture
def events(client: redis.Redis) -> Iterator[Callable[[], dict[str, Any]]]:
    """Subscribe to the 'test' cache's events; return a function reading the next one."""
    pubsub = client.pubsub()
    pubsub.subscribe(Cache(client, namespace="test", ttl=1).events_channel)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"

    def next_event() -> dict[str, Any]:
        message = pubsub.get_message(timeout=5)
        assert message is not None
        data: dict[str, Any] = json.loads(message["data"])
        return data

    yield next_event
    pubsub.close()


def test_invalidations_are_published(
    cache: Cache, client: redis.Redis, events: Callable[[], dict[str, Any]]
) -> None:
    """delete, invalidate_tags and write_through publish namespace, full keys and tags, in order."""
    assert cache.events_channel == "cache-events:test"
    cache.set("a", 1, tags=["t"])
    cache.delete("a", "b")
    assert events() == {"namespace": "test", "keys": ["test:{a}", "test:{b}"], "tags": []}
    cache.set("c", 1, tags=["u"])
    cache.invalidate_tags("u")
    assert events() == {"namespace": "test", "keys": ["test:{c}"], "tags": ["u"]}
    cache.write_through("d", 4, lambda _value: None)
    assert events() == {"namespace": "test", "keys": ["test:{d}"], "tags": []}
    quiet = Cache(client, namespace="test", ttl=1, publish_events=False)
    quiet.delete("x")
    cache.delete("y")
    assert events()["keys"] == ["test:{y}"]  # nothing from the quiet cache came first


# --- write-through --------------------------------------------------------------------


def test_write_through_saves_first_then_caches(cache: Cache) -> None:
    """save sees the value before the cache does; afterwards the cache holds it."""
    seen: list[Any] = []

    def save(value: dict[str, int]) -> None:
        seen.append((value, cache.get("k")))

    assert cache.write_through("k", {"v": 2}, save)
    assert seen == [({"v": 2}, None)]
    assert cache.get("k") == {"v": 2}


def test_write_through_leaves_cache_alone_when_save_fails(cache: Cache) -> None:
    """A failing save propagates and the old cached value stays."""
    cache.set("k", "old")

    def save(_value: str) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cache.write_through("k", "new", save)
    assert cache.get("k") == "old"


def test_write_through_refuses_unserializable_before_saving(cache: Cache) -> None:
    """A value the cache cannot store is refused before the source is touched."""
    saved: list[Any] = []
    with pytest.raises(TypeError):
        cache.write_through("k", {1, 2}, saved.append)
    assert saved == []


def test_write_through_invalidates_when_the_cache_write_fails(
    cache: Cache, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Source saved, cache SET fails: no error raised, the stale entry is deleted, error counted."""
    cache.set("k", "old")
    saved: list[str] = []

    real = client.execute_command

    def failing_set(*args: Any, **kwargs: Any) -> Any:
        if args[0] == "SET":
            raise redis.exceptions.ConnectionError("cache gone")
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", failing_set)
    assert not cache.write_through("k", "new", saved.append)
    assert saved == ["new"]
    assert cache.get("k") is None
    assert cache.stats.errors == 1


# --- the decorator --------------------------------------------------------------------


def test_decorator_keys_are_stable_across_call_styles(cache: Cache) -> None:
    """f(1), f(x=1) and f(1, 2) with a default 2 share one entry; other args do not."""
    calls: list[tuple[int, int]] = []

    @cache.cached(ttl=60)
    def f(x: int, y: int = 2) -> int:
        """Add."""
        calls.append((x, y))
        return x + y

    assert [f(1), f(x=1), f(1, 2), f(2)] == [3, 3, 3, 4]
    assert calls == [(1, 2), (2, 2)]
    assert f.cache_key(1) == f.cache_key(x=1, y=2)
    assert f.cache_key(1) != f.cache_key(2)
    assert f.cache_key(1).startswith(f"{__name__}.")
    assert f.__name__ == "f"
    assert f.__doc__ == "Add."


def test_decorator_keeps_equal_but_different_scalars_apart(
    cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1, 1.0 and True hash alike in Python but get their own keys and entries."""
    import valkey_redis.cache.cached as cached_module

    monkeypatch.setattr(cached_module, "_MEMO_SIZE", 2)  # also exercise the memo reset
    calls: list[object] = []

    @cache.cached(ttl=60)
    def echo(x: object) -> str:
        calls.append(x)
        return repr(x)

    assert [
        echo(1),
        echo(1.0),
        echo(True),
        echo(x=1),
        echo(None),
        echo(x=1.0),
        echo(x=True),
    ] == ["1", "1.0", "True", "1", "None", "1.0", "True"]
    assert calls == [1, 1.0, True, None]
    assert len({echo.cache_key(1), echo.cache_key(1.0), echo.cache_key(True)}) == 3
    assert echo.cache_key(1).endswith(":" + keys.argument_key(echo.__wrapped__, (1,), {}))


def test_decorator_keys_unhashable_arguments(cache: Cache) -> None:
    """List and dict arguments get canonical keys: equal arguments hit, others miss."""
    calls: list[object] = []

    @cache.cached(ttl=60)
    def total(items: list[int], weights: dict[str, int]) -> int:
        calls.append(items)
        return sum(items) + sum(weights.values())

    assert total([1, 2], {"b": 1, "a": 2}) == 6
    assert total([1, 2], weights={"a": 2, "b": 1}) == 6
    assert total([2, 1], {"a": 2, "b": 1}) == 6
    assert calls == [[1, 2], [2, 1]]


def test_decorator_invalidate(cache: Cache) -> None:
    """invalidate(args) drops that entry only; the next call recomputes it."""
    calls: list[int] = []

    @cache.cached(ttl=60)
    def f(x: int) -> int:
        calls.append(x)
        return x

    f(1)
    f(2)
    assert f.invalidate(x=1) == 1
    f(1)
    f(2)
    assert calls == [1, 2, 1]
    assert cache.get(f.cache_key(1)) == 1


def test_decorator_custom_key_and_tags(cache: Cache) -> None:
    """key= picks the key part; tags= as a function tags each result by its arguments."""

    class Request(BaseModel):
        user_id: int
        trace: str

    @cache.cached(ttl=60, key=lambda req: req.user_id, tags=lambda req: [f"user:{req.user_id}"])
    def profile(req: Request) -> dict[str, int]:
        return {"id": req.user_id}

    profile(Request(user_id=7, trace="a"))
    assert profile.cache_key(Request(user_id=7, trace="b")).endswith(":7")
    assert cache.get(profile.cache_key(Request(user_id=7, trace="zzz"))) == {"id": 7}
    assert cache.invalidate_tags("user:7") == 1


def test_decorator_refuses_arguments_it_cannot_key(cache: Cache) -> None:
    """An argument without a stable JSON form is a TypeError, never a hash() key."""

    @cache.cached(ttl=60)
    def f(x: object) -> int:
        return 1

    with pytest.raises(TypeError, match="cache key"):
        f(object())


def test_decorator_with_pydantic_serializer(client: redis.Redis) -> None:
    """Models survive the round trip as models with a PydanticSerializer."""

    class Item(BaseModel):
        sku: str
        price: float

    cache = Cache(client, namespace="items", ttl=60, serializer=PydanticSerializer(Item))

    @cache.cached(ttl=60)
    def item(sku: str) -> Item:
        return Item(sku=sku, price=9.5)

    item("a")
    assert Item(sku="a", price=9.5) == item("a")
    assert isinstance(cache.get(item.cache_key("a")), Item)


# --- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"namespace": ""}, ValueError, "empty"),
        ({"namespace": 5}, TypeError, "namespace"),
        ({"ttl": 0}, ValueError, "ttl"),
        ({"ttl": -1}, ValueError, "ttl"),
        ({"ttl": math.inf}, ValueError, "finite"),
        ({"ttl": "60"}, TypeError, "ttl"),
        ({"ttl": True}, TypeError, "ttl"),
        ({"jitter": 1}, ValueError, "jitter"),
        ({"jitter": -0.1}, ValueError, "jitter"),
        ({"jitter": "0.1"}, TypeError, "jitter"),
        ({"negative_ttl": 0}, ValueError, "negative_ttl"),
        ({"lock_timeout": 0}, ValueError, "lock_timeout"),
        ({"wait_timeout": -1}, ValueError, "wait_timeout"),
        ({"early_refresh_beta": -1}, ValueError, "early_refresh_beta"),
        ({"serializer": object()}, TypeError, "serializer"),
    ],
)
def test_bad_settings_are_clear_errors(
    fake_client: redis.Redis, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Every bad setting fails in the constructor with a message naming it."""
    settings: dict[str, Any] = {"namespace": "n", "ttl": 60, **kwargs}
    with pytest.raises(error, match=match):
        Cache(fake_client, **settings)


def test_bad_client_and_bad_calls(fake_client: redis.Redis) -> None:
    """A non-client, a bad key, a bad per-call ttl or a decorator ttl of 0 raise at once."""
    with pytest.raises(TypeError, match="client"):
        Cache("redis://localhost", namespace="n", ttl=1)  # type: ignore[arg-type]
    cache = Cache(fake_client, namespace="n", ttl=1)
    with pytest.raises(ValueError, match="empty"):
        cache.get("")
    with pytest.raises(TypeError):
        cache.set(None, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        cache.set("k", 1, ttl=-5)
    with pytest.raises(ValueError, match="ttl"):
        cache.cached(ttl=0)


def test_constructor_never_touches_the_network() -> None:
    """A cache of a server that does not exist is built without error."""
    client = connect("redis://127.0.0.1:1/0", retries=0)
    cache = Cache(client, namespace="n", ttl=1)
    assert cache.namespace == "n"
    assert CacheStats() == cache.stats
    assert cache.stats.hit_ratio == 0.0
