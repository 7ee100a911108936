"""Stampedes and outages on the real server: one loader call across threads and processes,
lock takeover, bounded waits, and a cache server that dies mid-test.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import redis

from valkey_redis import Cache, connect
from valkey_redis.cache.stampede import SingleFlight
from valkey_redis.server import EmbeddedValkey

SLOW_QUERY = 0.3  # seconds: a loader slow enough that every caller piles up behind it


def _wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


# --- in-process merging ---------------------------------------------------------------


def test_single_flight_shares_one_result() -> None:
    """Seven callers merged onto a blocked call all get its single result."""
    flight: SingleFlight[int] = SingleFlight()
    go = threading.Event()
    calls: list[int] = []
    results: queue.Queue[int] = queue.Queue()

    def work() -> int:
        calls.append(1)
        go.wait(10)
        return 42

    threads = [
        threading.Thread(target=lambda: results.put(flight.run("k", work, timeout=10)))
        for _ in range(8)
    ]
    threads[0].start()
    _wait_until(lambda: flight.busy("k"))
    for thread in threads[1:]:
        thread.start()
    _wait_until(lambda: flight.waiters("k") == 7)
    go.set()
    for thread in threads:
        thread.join()
    assert [results.get_nowait() for _ in range(8)] == [42] * 8
    assert len(calls) == 1
    assert not flight.busy("k")


def test_single_flight_gives_every_waiter_the_same_error() -> None:
    """When the call raises, each merged caller gets that same exception; then it is forgotten."""
    flight: SingleFlight[int] = SingleFlight()
    go = threading.Event()
    boom = RuntimeError("loader failed")
    errors: queue.Queue[BaseException] = queue.Queue()

    def work() -> int:
        go.wait(10)
        raise boom

    def call() -> None:
        try:
            flight.run("k", work, timeout=10)
        except RuntimeError as exc:
            errors.put(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    threads[0].start()
    _wait_until(lambda: flight.busy("k"))
    for thread in threads[1:]:
        thread.start()
    _wait_until(lambda: flight.waiters("k") == 3)
    go.set()
    for thread in threads:
        thread.join()
    assert [boom] * 4 == [errors.get_nowait() for _ in range(4)]
    assert flight.run("k", lambda: 7, timeout=1) == 7


# --- stampedes on the real server -------------------------------------------------------


@pytest.mark.real
def test_32_threads_on_a_cold_key_call_the_loader_once(real_client: redis.Redis) -> None:
    """32 threads miss together: exactly one loader call, every thread gets the value."""
    cache = Cache(real_client, namespace="stampede", ttl=60, wait_timeout=60)
    calls: list[int] = []
    barrier = threading.Barrier(32)
    results: queue.Queue[Any] = queue.Queue()

    def loader() -> dict[str, int]:
        calls.append(1)
        time.sleep(SLOW_QUERY)  # the slow query being protected
        return {"answer": 42}

    def caller() -> None:
        barrier.wait(10)
        results.put(cache.get_or_set("cold", loader))

    threads = [threading.Thread(target=caller) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert [results.get_nowait() for _ in range(32)] == [{"answer": 42}] * 32
    assert cache.stats.loads == 1
    assert cache.stats.hits + cache.stats.misses == 32


def _process_worker(
    url: str,
    calls: Any,
    barrier: Any,
    results: Any,
) -> None:
    # Under `make coverage`, coverage.py warns when it saves a forked child's data;
    # the inherited filterwarnings=error would turn that into exit code 1.
    warnings.filterwarnings("ignore", message=r"Module .* was previously imported")
    client = connect(url)
    cache = Cache(client, namespace="stampede", ttl=60, wait_timeout=60)

    def loader() -> dict[str, int]:
        with calls.get_lock():
            calls.value += 1
        time.sleep(SLOW_QUERY)  # the slow query being protected
        return {"answer": 42}

    def caller() -> None:
        barrier.wait(30)
        results.put(cache.get_or_set("cold", loader))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()


@pytest.mark.real
def test_4_processes_of_8_threads_call_the_loader_once(
    valkey_server: EmbeddedValkey, real_client: redis.Redis
) -> None:
    """32 callers in 4 processes miss together: one loader call in total, all get the value."""
    ctx = multiprocessing.get_context("fork")
    calls = ctx.Value("i", 0)
    barrier = ctx.Barrier(32)
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_process_worker, args=(valkey_server.url, calls, barrier, results))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    answers = [results.get(timeout=60) for _ in range(32)]
    for process in processes:
        process.join(30)
    assert [process.exitcode for process in processes] == [0] * 4
    assert calls.value == 1
    assert answers == [{"answer": 42}] * 32
    assert not [key for key in real_client.scan_iter() if key.endswith(":lock")]


@pytest.mark.real
def test_a_dead_loaders_lock_is_taken_over_when_it_expires(real_client: redis.Redis) -> None:
    """A lock left by a crashed process delays the next caller only until it expires."""
    cache = Cache(real_client, namespace="takeover", ttl=60)
    real_client.set("takeover:{k}:lock", "crashed-process", px=300)
    calls: list[int] = []
    assert cache.get_or_set("k", lambda: calls.append(1) or "fresh") == "fresh"
    assert len(calls) == 1
    assert real_client.exists("takeover:{k}:lock") == 0


@pytest.mark.real
def test_wait_timeout_bounds_the_wait_for_a_stuck_loader(real_client: redis.Redis) -> None:
    """When another holder keeps the lock, the caller loads itself after wait_timeout."""
    cache = Cache(real_client, namespace="stuck", ttl=60, wait_timeout=0.2)
    real_client.set("stuck:{k}:lock", "slow-process", px=60_000)
    assert cache.get_or_set("k", lambda: "mine") == "mine"
    assert cache.stats.loads == 1
    assert real_client.get("stuck:{k}:lock") == "slow-process"  # not ours to delete


@pytest.mark.real
def test_early_refresh_never_blocks_a_hit(real_client: redis.Redis) -> None:
    """If the refresh lock is taken elsewhere, a hit due for refresh returns the current value."""
    cache = Cache(real_client, namespace="ahead", ttl=60, rand=lambda: 0.0)
    cache.get_or_set("k", lambda: "current")  # loaded, so it records a load time
    real_client.set("ahead:{k}:lock", "refresher", px=60_000)
    calls: list[int] = []
    assert cache.get_or_set("k", lambda: calls.append(1) or "new") == "current"
    assert calls == []


# --- outages -------------------------------------------------------------------------------


@pytest.mark.real
def test_dead_server_falls_back_to_the_loader(caplog: pytest.LogCaptureFixture) -> None:
    """After the server stops: loaders answer, reads degrade, writes raise, one warning logged."""
    with EmbeddedValkey() as server:
        client = connect(server.url, retries=1, socket_timeout=1, socket_connect_timeout=1)
        cache = Cache(client, namespace="outage", ttl=60)

        @cache.cached(ttl=60)
        def price(sku: str) -> float:
            return 9.5

        assert cache.get_or_set("k", lambda: "cached") == "cached"
        server.stop()
        with caplog.at_level(logging.WARNING, logger="valkey_redis.cache"):
            assert cache.get_or_set("k", lambda: "from-source") == "from-source"
            assert price("a") == 9.5
            assert cache.get("k", "default") == "default"
            assert cache.get_many(["k"]) == {}
            saved: list[str] = []
            assert not cache.write_through("k", "new", saved.append)
        assert saved == ["new"]
        assert cache.stats.errors >= 5
        assert cache.stats.loads == 3
        warnings = [r for r in caplog.records if r.name == "valkey_redis.cache"]
        assert len(warnings) == 1  # rate-limited: one warning, not one per call
        assert "serving without the cache" in caplog.records[0].getMessage()
        with pytest.raises(redis.exceptions.ConnectionError):
            cache.set("k", 1)
        with pytest.raises(redis.exceptions.ConnectionError):
            cache.delete("k")
        with pytest.raises(KeyError):
            cache.get_or_set("k", lambda: {}["missing"])
        client.close()
