"""`make load`: the Zipf picker, the figures of a tally, and a short real run of the driver."""

from __future__ import annotations

import collections
import os
import random
import subprocess
import sys

import pytest

from valkey_redis.shop.load_driver import Sample, Tally, zipf_picker


def test_zipf_picker_favours_low_ids_within_range() -> None:
    """Ids stay in 1..n and id 1 is asked for far more often than id 10 or id 100."""
    pick = zipf_picker(200, 1.1, random.Random(7))
    counts = collections.Counter(pick() for _ in range(20_000))
    assert set(counts) <= set(range(1, 201))
    assert counts[1] > 5 * counts[10] > 0
    assert counts[10] > counts[100]


def test_server_timing_gives_the_valkey_wait() -> None:
    """The driver reads the app's `valkey;dur=` figure; absent means 0."""
    from valkey_redis.shop.load_driver import _valkey_ms

    assert _valkey_ms("app;dur=12.5, valkey;dur=3.2") == 3.2
    assert _valkey_ms("app;dur=12.5") == 0.0


def test_tally_figures_from_known_samples() -> None:
    """Rate, percentiles, max, hit ratio and error counts of a hand-made tally."""
    samples = [Sample(0.0, (i + 1) / 1000, 200, "HIT", 0) for i in range(99)]
    samples.append(Sample(0.0, 1.0, 200, "MISS", 1))
    samples += [Sample(0.0, 0.002, 429, "-", 2), Sample(0.0, 0.5, 0, "-", 3)]
    tally = Tally(2.0, samples)
    assert tally.rate == len(samples) / 2
    assert tally.max_ms == 1000.0
    assert tally.hit_ratio == 0.99
    assert tally.count(429) == 1
    assert tally.errors == 1
    assert 49 <= tally.percentile(50) <= 52
    assert tally.of(lambda s: s.user == 1).samples == [samples[99]]


@pytest.mark.real
@pytest.mark.slow
def test_a_short_load_run_prints_every_chosen_scenario() -> None:
    """`make load` with 2-second scenarios prints the table rows and the abusive client's line."""
    env = {**os.environ, "LOAD_SECONDS": "2", "LOAD_USERS": "4", "LOAD_ONLY": "b,e"}
    done = subprocess.run(
        [sys.executable, "-m", "valkey_redis.shop.load"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("[server] embedded Valkey on 127.0.0.1:")
    assert any(line.startswith("scenario") and "p99 ms" in line for line in lines)
    assert any(line.startswith("(b) cache-aside") for line in lines)
    assert any(line.startswith("(e) one abusive client") for line in lines)
    assert any("abusive client:" in line and "refused with 429" in line for line in lines)
    assert not any(line.startswith("(a)") for line in lines)
