"""The Lua scripts agree with pure-Python reference models on random sequences (hypothesis).

Determinism: each step passes a pinned "now" (microseconds) to the script through the
limiters' test-only ``_decide(..., now=...)`` hook, so simulated time can jump
minutes ahead without sleeping. The models use the same arithmetic as the scripts
(integers for GCRA; IEEE doubles, in the same order, for the token bucket and the
sliding counter), so answers must match exactly, microseconds included.

TTLs count down in real time while the simulated clock jumps, so the models never
expire anything: a key that outlives its simulated lifetime is harmless, because every
script reads stale state as fresh (expiry is only garbage collection). The reverse, a
key expiring in real time mid-example, cannot happen: with windows of 10 s or more and
limits of at most 12, every TTL set is at least 0.8 s, far longer than an example runs.
Each allowed hit checks that the key has a TTL of at most two windows.
Besides the models, each run checks properties no implementation detail can fake:
the rate bound, and that a denied hit is allowed exactly ``retry_after`` later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from valkey_redis import GCRA, SlidingWindowCounter, SlidingWindowLog, TokenBucket

T0 = 1_700_000_123_456_789
Decision = tuple[bool, int, int, int]  # allowed, remaining, reset_after us, retry_after us


@dataclass
class GcraModel:
    """One theoretical arrival time (TAT); a burst of ``limit`` emission intervals."""

    limit: int
    window: int
    tat: int | None = None

    def decide(self, now: int, cost: int, dry: bool) -> Decision:
        interval = self.window // self.limit
        capacity = interval * self.limit
        debt = max(0, (now if self.tat is None else self.tat) - now)
        remaining = max(0, (capacity - debt) // interval)
        if debt + cost * interval > capacity:
            return False, remaining, debt, debt + cost * interval - capacity
        if dry:
            return True, remaining, debt, 0
        debt += cost * interval
        self.tat = now + debt
        return True, (capacity - debt) // interval, debt, 0


@dataclass
class TokenBucketModel:
    """Tokens refilled continuously; state changes only when a hit is allowed."""

    limit: int
    window: int
    tokens: float | None = None
    at: int = 0

    def level(self, t: int) -> float:
        """Tokens at time ``t``; a missing bucket is full."""
        if self.tokens is None:
            return float(self.limit)
        if t <= self.at:
            return self.tokens
        return min(self.limit, self.tokens + (t - self.at) * self.limit / self.window)

    def decide(self, now: int, cost: int, dry: bool) -> Decision:
        tokens = self.level(now)
        to_full = math.ceil((self.limit - tokens) * self.window / self.limit)
        if tokens < cost:
            retry = max(1, math.ceil((cost - tokens) * self.window / self.limit))
            for _ in range(3):  # the smallest whole microsecond at which it passes
                if self.level(now + retry) >= cost:
                    break
                retry += 1
            return False, math.floor(tokens), to_full, retry
        if dry:
            return True, math.floor(tokens), to_full, 0
        self.tokens, self.at = tokens - cost, max(now, self.at)
        return (
            True,
            math.floor(self.tokens),
            math.ceil((self.limit - self.tokens) * self.window / self.limit),
            0,
        )


@dataclass
class SlidingLogModel:
    """The times of every allowed unit; an entry counts for ``window`` after it."""

    limit: int
    window: int
    log: list[int] = field(default_factory=list)

    def decide(self, now: int, cost: int, dry: bool) -> Decision:
        now = max([now, *self.log])
        inside = [t for t in self.log if t > now - self.window]
        newest = max(self.log, default=None)
        reset = (
            newest + self.window - now if newest is not None and newest + self.window > now else 0
        )
        if len(inside) + cost > self.limit:
            freeing = inside[len(inside) + cost - self.limit - 1]
            return False, self.limit - len(inside), reset, freeing + self.window - now
        if dry:
            return True, self.limit - len(inside), reset, 0
        self.log = inside + [now] * cost
        return True, self.limit - len(inside) - cost, self.window, 0


@dataclass
class SlidingCounterModel:
    """Counts per aligned window; the previous one weighted by its overlap."""

    limit: int
    window: int
    counts: dict[int, int] = field(default_factory=dict)

    def used_at(self, t: int) -> float:
        """The weighted count at time ``t``."""
        index = t // self.window
        current, previous = self.counts.get(index, 0), self.counts.get(index - 1, 0)
        return previous * (self.window - (t - index * self.window)) / self.window + current

    def decide(self, now: int, cost: int, dry: bool) -> Decision:
        index, limit, window = now // self.window, self.limit, self.window
        elapsed = now - index * window
        current, previous = self.counts.get(index, 0), self.counts.get(index - 1, 0)
        used = self.used_at(now)
        reset = 2 * window - elapsed if current else (window - elapsed if previous else 0)
        if used + cost > limit:
            if current + cost <= limit:
                wait = window * (1 - (limit - cost - current) / previous) - elapsed
            else:
                wait = window - elapsed + window * max(0, 1 - (limit - cost) / current)
            retry = max(1, math.ceil(wait))
            for _ in range(3):  # the smallest whole microsecond at which it passes
                if self.used_at(now + retry) + cost <= limit:
                    break
                retry += 1
            return False, max(0, math.floor(limit - used)), reset, retry
        if dry:
            return True, math.floor(limit - used), reset, 0
        self.counts = {index: current + cost, index - 1: previous}
        return True, max(0, math.floor(limit - used - cost)), 2 * window - elapsed, 0


MODELS = {
    GCRA: GcraModel,
    TokenBucket: TokenBucketModel,
    SlidingWindowLog: SlidingLogModel,
    SlidingWindowCounter: SlidingCounterModel,
}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int, bool]]]:
    """A limit, a window (us, 10-120 s) and up to 30 steps of (gap us, cost, dry)."""
    limit = draw(st.integers(1, 12))
    window = draw(st.integers(10_000, 120_000)) * 1000
    gap = st.one_of(
        st.just(0),
        st.integers(1, 2_000),
        st.integers(0, window // limit * 2),
        st.integers(0, 3 * window),
    )
    steps = st.tuples(gap, st.integers(1, limit), st.booleans())
    return limit, window, draw(st.lists(steps, min_size=1, max_size=30))


def replay(client, algorithm, scenario) -> list[tuple[int, int, Decision]]:
    """Run ``scenario`` through the script and its model; return (time, cost, decision) per hit."""
    limit, window, steps = scenario
    limiter = algorithm(client, limit=limit, window=window / 1_000_000)
    key = limiter.key_for("model")
    limiter.reset("model")
    model = MODELS[algorithm](limit, window)
    now, hits = T0, []
    for gap, cost, dry in steps:
        now += gap
        got = limiter._decide("model", cost, dry=dry, now=now)
        as_us = (
            got.allowed,
            got.remaining,
            round(got.reset_after * 1e6),
            round(got.retry_after * 1e6),
        )
        expected = model.decide(now, cost, dry)
        assert as_us == expected, f"step at +{now - T0} us, cost {cost}, dry {dry}"
        if got.allowed and not dry:
            assert 0 < client.pttl(key) <= 2 * window // 1000
            hits.append((now, cost, expected))
        if not got.allowed:
            later = limiter._decide("model", cost, dry=True, now=now + expected[3])
            assert later.allowed, "a denied hit must be allowed retry_after later"
    return hits


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("algorithm", [GCRA, TokenBucket])
@SETTINGS
@given(scenario=scenarios())
def test_bucket_scripts_match_the_model_and_the_rate_bound(client, algorithm, scenario) -> None:
    """GCRA and token bucket: same answers as the model; never more than burst + rate x time."""
    limit, window, _ = scenario
    hits = replay(client, algorithm, scenario)
    rate = 1 / (window // limit) if algorithm is GCRA else limit / window
    for start, _, _ in hits:
        for end, _, _ in hits:
            if end >= start:
                units = sum(cost for t, cost, _ in hits if start <= t <= end)
                assert units <= limit + (end - start) * rate + 1e-9


@pytest.mark.parametrize("algorithm", [SlidingWindowLog, SlidingWindowCounter])
@SETTINGS
@given(scenario=scenarios())
def test_window_scripts_match_the_model(client, algorithm, scenario) -> None:
    """Sliding log and counter: same answers as the model; the log never exceeds the limit."""
    limit, window, _ = scenario
    hits = replay(client, algorithm, scenario)
    if algorithm is SlidingWindowLog:
        for end, _, _ in hits:
            assert sum(cost for t, cost, _ in hits if end - window < t <= end) <= limit
