"""Rate limiters under real concurrency: threads and processes on the real server, exact counts."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from valkey_redis import (
    GCRA,
    FixedWindow,
    RateLimitResult,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
)

pytestmark = pytest.mark.real

ALGORITHMS = [FixedWindow, SlidingWindowLog, SlidingWindowCounter, TokenBucket, GCRA]
THREADS = 40


def calm_window(client: redis.Redis) -> int:
    """A window length (s) whose current clock-aligned window has over a minute left."""
    seconds, _ = client.time()
    return next(w for w in range(3600, 3700) if w - seconds % w > 60)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_forty_threads_limit_ten_exactly_ten_allowed(real_client, algorithm) -> None:
    """40 threads hit one key at once: exactly 10 pass; every denial says remaining 0, retry > 0."""
    limiter = algorithm(real_client, limit=10, window=calm_window(real_client))
    barrier = threading.Barrier(THREADS)

    def one_hit(_: int) -> RateLimitResult:
        barrier.wait()
        return limiter.hit("shared")

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(one_hit, range(THREADS)))
    allowed = [r for r in results if r.allowed]
    denied = [r for r in results if not r.allowed]
    assert len(allowed) == 10
    assert sorted(r.remaining for r in allowed) == list(range(10))  # each unit handed out once
    assert {(r.remaining, r.retry_after > 0) for r in denied} == {(0, True)}


@pytest.mark.parametrize("algorithm", [SlidingWindowLog, GCRA])
def test_forty_threads_with_mixed_costs_never_exceed_the_limit(real_client, algorithm) -> None:
    """Costs 1-3 from 40 threads: allowed units add up to at most the limit, and fill it."""
    limiter = algorithm(real_client, limit=25, window=calm_window(real_client))
    barrier = threading.Barrier(THREADS)

    def one_hit(i: int) -> tuple[int, bool]:
        barrier.wait()
        return i % 3 + 1, limiter.hit("shared", cost=i % 3 + 1).allowed

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(one_hit, range(THREADS)))
    used = sum(cost for cost, allowed in outcomes if allowed)
    assert 23 <= used <= 25  # a refused cost of 3 may leave up to 2 units over
    assert limiter.peek("shared").remaining == 25 - used


WORKER = """
import sys
from valkey_redis import SlidingWindowCounter, connect
client = connect(sys.argv[1])
limiter = SlidingWindowCounter(client, limit=10, window=int(sys.argv[2]))
limiter.peek("warm-up")  # connect and load the script before the start signal
client.blpop(["ratelimit-test:go"], timeout=30)
print(sum(limiter.hit("shared").allowed for _ in range(8)))
"""


def test_two_processes_share_one_limit(real_client, valkey_server) -> None:
    """Two processes x 8 hits on one key with limit 10: exactly 10 allowed in total."""
    window = str(calm_window(real_client))
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, valkey_server.url, window],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    real_client.lpush("ratelimit-test:go", *["go"] * len(workers))
    totals = [int(worker.communicate(timeout=60)[0]) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]
    assert sum(totals) == 10
