"""NearCache: local copies kept fresh by CLIENT TRACKING (real Valkey; fakeredis is refused)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from valkey_redis import keys
from valkey_redis.client import connect
from valkey_redis.near_cache import CLIENT_NAME, NearCache
from valkey_redis.server import EmbeddedValkey, free_port


def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(0.001)
    return True


@pytest.fixture
def near(real_client: redis.Redis) -> Iterator[NearCache]:
    """A near cache on the real server, namespace ``nc``."""
    cache = NearCache(real_client, namespace="nc", max_entries=100)
    yield cache
    cache.close()


@pytest.fixture
def other(valkey_server: EmbeddedValkey) -> Iterator[redis.Redis]:
    """Another client of the same server: the writer a near cache must hear about."""
    client = connect(valkey_server.url)
    yield client
    client.close()


def test_fakeredis_is_refused_with_a_reason(fake_client: redis.Redis) -> None:
    """fakeredis has no CLIENT TRACKING: the constructor says so instead of serving stale data."""
    with pytest.raises(TypeError, match="fakeredis has no CLIENT TRACKING"):
        NearCache(fake_client)


def test_bad_settings_are_rejected_without_network() -> None:
    """Invalid sizes, intervals and byte-returning clients fail at construction."""
    client = connect("redis://127.0.0.1:1/0")
    with pytest.raises(ValueError, match="max_entries"):
        NearCache(client, max_entries=0)
    with pytest.raises(ValueError, match="ping_interval"):
        NearCache(client, ping_interval=0)
    with pytest.raises(ValueError, match="decode_responses"):
        NearCache(redis.Redis(port=1))
    with pytest.raises(ValueError, match="ttl"):
        NearCache(client).set("k", "v", ttl=0)


@pytest.mark.parametrize("value", [1, 2.5, b"bytes", {"a": 1}, None])
def test_a_value_that_is_not_a_string_is_refused_before_any_write(value: Any) -> None:
    """set("k", 1) raises TypeError (it would read back as "1"), with no server contacted."""
    near = NearCache(connect("redis://127.0.0.1:1/0", retries=0))
    with pytest.raises(TypeError, match="near-cache values must be str"):
        near.set("k", value, ttl=60)
    near.close()


def test_keys_are_built_like_keys_join() -> None:
    """Keys match ``keys.join`` (escaping included); without a namespace they are raw."""
    client = connect("redis://127.0.0.1:1/0")
    for part in ("plain", "a:b", "{tag}", "100%", "x:{y}%z"):
        assert keys.join("nc", part) == NearCache(client, namespace="nc").key(part)
    assert NearCache(client).key("raw:key") == "raw:key"


def test_unreachable_server_raises_connection_error() -> None:
    """A miss with no server behind it raises ConnectionError, like a plain GET."""
    cache = NearCache(connect(f"redis://127.0.0.1:{free_port()}/0", retries=0), namespace="nc")
    with pytest.raises(redis.exceptions.ConnectionError):
        cache.get("k")
    cache.close()


@pytest.mark.real
def test_second_read_is_a_local_hit(near: NearCache, real_client: redis.Redis) -> None:
    """set() writes through with a TTL; the first get misses, the second is served locally."""
    near.set("k", "v", ttl=30)
    assert 0 < real_client.pttl("nc:k") <= 30_000
    assert [near.get("k"), near.get("k")] == ["v", "v"]
    assert near.get("absent") is None
    stats = near.stats
    assert (stats.hits, stats.misses, stats.size) == (1, 2, 1)
    assert stats.hit_ratio == 1 / 3


@pytest.mark.real
def test_another_clients_write_invalidates_within_100_ms(
    near: NearCache, other: redis.Redis
) -> None:
    """A write by another connection drops the local copy within 100 ms; the next get is fresh."""
    other.set("nc:k", "old", ex=30)
    assert near.get("k") == "old"
    other.set("nc:k", "new", ex=30)
    assert wait_for(lambda: len(near) == 0, timeout=0.1)
    assert near.get("k") == "new"
    assert near.stats.invalidations == 1


@pytest.mark.real
def test_keys_outside_the_namespace_are_not_tracked(near: NearCache, other: redis.Redis) -> None:
    """Only the namespace's prefix is tracked: other keys' writes do not count as invalidations."""
    other.set("nc:k", "v", ex=30)
    near.get("k")
    other.set("elsewhere:k", "x", ex=30)
    other.set("nc:k", "w", ex=30)  # after the unrelated write, so its message comes later
    assert wait_for(lambda: near.stats.invalidations == 1)
    assert len(near) == 0


@pytest.mark.real
def test_delete_removes_here_and_in_valkey(near: NearCache, real_client: redis.Redis) -> None:
    """delete() removes the key on the server and the local copy at once."""
    near.set("k", "v", ttl=30)
    near.get("k")
    assert near.delete("k") is True
    assert len(near) == 0
    assert real_client.exists("nc:k") == 0
    assert near.delete("k") is False


@pytest.mark.real
def test_killing_the_tracking_connection_flushes_and_tracking_resumes(
    near: NearCache, other: redis.Redis
) -> None:
    """CLIENT KILL of the tracking connection flushes every copy; the next miss re-tracks."""
    other.mset({"nc:a": "a", "nc:b": "b"})  # before tracking starts: no messages in flight
    for name in ("a", "b"):
        near.get(name)
    assert len(near) == 2
    killed = near.tracking_id
    assert other.execute_command("CLIENT", "KILL", "ID", killed) == 1
    assert wait_for(lambda: not near.is_tracking)
    assert (len(near), near.stats.flushes) == (0, 1)
    assert near.get("a") == "a"  # a miss: tracking is back, on a new connection
    assert near.tracking_id not in (None, killed)
    other.set("nc:a", "changed", ex=30)
    assert wait_for(lambda: len(near) == 0)
    assert near.get("a") == "changed"


@pytest.mark.real
def test_flushall_flushes_the_local_cache(near: NearCache, other: redis.Redis) -> None:
    """FLUSHALL arrives as a 'flush everything' message and empties the local cache."""
    other.set("nc:k", "v", ex=30)
    near.get("k")
    other.flushall()
    assert wait_for(lambda: near.stats.flushes == 1)
    assert len(near) == 0
    assert near.get("k") is None
    assert near.is_tracking


@pytest.mark.real
def test_a_read_overtaken_by_an_invalidation_is_not_stored(
    near: NearCache, other: redis.Redis
) -> None:
    """A write landing between the GET's reply and the local store leaves no stale copy."""
    other.set("nc:race", "old", ex=30)
    other.set("nc:calm", "calm", ex=30)

    def write_in_between(name: str) -> None:
        if name == "nc:race":
            other.set(name, "new", ex=30)
            assert wait_for(lambda: near.stats.invalidations == 1)

    near._before_store = write_in_between
    assert near.get("calm") == "calm"  # control: the hook alone does not prevent storing
    assert near.get("race") == "old"  # the value read before the write is returned...
    assert list(near._entries) == ["nc:calm"]  # ...but not kept
    near._before_store = None
    assert near.get("race") == "new"
    assert near.get("race") == "new"
    assert near.stats.hits == 1


@pytest.mark.real
def test_size_bound_keeps_the_most_recently_used(near: NearCache, other: redis.Redis) -> None:
    """With max_entries=100, reading 150 keys keeps the last 100 and counts 50 evictions."""
    other.mset({f"nc:{i}": str(i) for i in range(150)})
    for i in range(150):
        near.get(str(i))
    assert (len(near), near.stats.evictions) == (100, 50)
    assert [str(i) for i in range(50, 150)] == [near.get(str(i)) for i in range(50, 150)]
    assert near.stats.hits == 100
    assert near.get("0") == "0"
    assert near.stats.evictions - 50 == 1


@pytest.mark.real
def test_threads_count_every_read_and_end_fresh(near: NearCache, other: redis.Redis) -> None:
    """8 threads x 300 reads while a writer changes keys: exact read count, final values fresh."""
    names = [f"k{i}" for i in range(10)]
    other.mset({f"nc:{name}": "0" for name in names})
    start = threading.Barrier(9)
    errors: list[BaseException] = []

    def reader() -> None:
        start.wait()
        try:
            for i in range(300):
                near.get(names[i % len(names)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    start.wait()
    for version in range(1, 21):
        other.set(f"nc:{names[version % len(names)]}", str(version))
    for thread in threads:
        thread.join()
    assert errors == []
    stats = near.stats
    assert stats.hits + stats.misses == 8 * 300
    final = {name: other.get(f"nc:{name}") for name in names}
    assert wait_for(lambda: {name: near.get(name) for name in names} == final)


@pytest.mark.real
def test_silent_connection_is_detected_by_ping(valkey_server: EmbeddedValkey) -> None:
    """PINGs keep a quiet connection alive; when the server stops answering, copies are flushed."""
    with EmbeddedValkey() as frozen:  # our own server, so that we may SIGSTOP it
        writer = connect(frozen.url)
        cache = NearCache(frozen.url, namespace="nc", ping_interval=0.05)
        writer.set("nc:k", "v", ex=30)
        cache.get("k")

        def commands() -> int:
            entry = next(c for c in writer.client_list() if c["name"] == CLIENT_NAME)
            return int(entry["tot-cmds"])

        seen = commands()
        assert wait_for(lambda: commands() >= seen + 3)  # three PINGs answered...
        assert (cache.is_tracking, len(cache)) == (True, 1)  # ...and nothing flushed
        assert frozen.pid is not None
        os.kill(frozen.pid, signal.SIGSTOP)  # the socket stays open, nothing answers
        try:
            assert wait_for(lambda: not cache.is_tracking)
            assert (len(cache), cache.stats.flushes) == (0, 1)
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
        cache.close()
        writer.close()


@pytest.mark.real
def test_close_ends_tracking_and_later_reads_fail(
    valkey_server: EmbeddedValkey, other: redis.Redis
) -> None:
    """close() drops the tracking connection and the listener thread; get() then refuses."""
    cache = NearCache(valkey_server.url, namespace="nc")
    cache.get("k")
    thread = cache._thread
    assert thread is not None
    cache.close()
    assert not thread.is_alive()
    assert wait_for(lambda: all(c["name"] != CLIENT_NAME for c in other.client_list()))
    with pytest.raises(RuntimeError, match="closed"):
        cache.get("k")
