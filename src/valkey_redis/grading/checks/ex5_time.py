"""Checks of exercise 5 over time: seeded random scenarios against a model of each algorithm.

Each scenario picks a limit (or capacity), a window (or rate), and a sequence
of gaps and bursts; time passes by :func:`~valkey_redis.grading.travel.travel`.
The model tracks what the answer must be, with the real time between calls
(and a margin for latency) as an interval: a decision the model cannot settle
accepts either answer and follows it. A limiter that is right only at a few
rates and gaps (a bucket whose key expires early, a log that forgets too soon
or too late) disagrees with the model somewhere.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from valkey_redis.grading.context import Ctx
from valkey_redis.grading.runner import check
from valkey_redis.grading.travel import travel

SCENARIOS = 6
STEPS = 9
#: Seconds of latency allowed between the grader's clock and the server's TIME.
MARGIN = 0.1


@dataclass
class _Story:
    """What happened so far in one scenario, for the report."""

    head: str
    events: list[str] = field(default_factory=list)

    def line(self) -> str:
        shown = self.events[-8:]
        return f"{self.head}: " + ", ".join((["…"] if len(self.events) > 8 else []) + shown)


class _Model:
    """What a limiter must answer; ``lo``/``hi`` bound the server's time of the call."""

    head = ""
    gaps: tuple[float, ...] = ()

    def decide(self, lo: float, hi: float) -> bool | None:
        """True / False when settled, None when either answer is right."""
        raise NotImplementedError

    def record(self, got: bool, lo: float, hi: float) -> None:
        """Follow the learner's answer."""
        raise NotImplementedError


class Bucket(_Model):
    def __init__(self, capacity: int, rate: float) -> None:
        self.capacity, self.rate = float(capacity), rate
        self.head = f"capacity {capacity}, {rate} tokens/s"
        self.gaps = (0.0, 0.3 / rate, 0.7 / rate, 1.5 / rate, 4.0 / rate, 30.0)
        self.lo = self.hi = self.capacity
        self.at_lo = self.at_hi = 0.0

    def decide(self, lo: float, hi: float) -> bool | None:
        self.lo = min(self.capacity, self.lo + max(0.0, lo - self.at_hi) * self.rate)
        self.hi = min(self.capacity, self.hi + max(0.0, hi - self.at_lo) * self.rate)
        self.at_lo, self.at_hi = lo, hi
        if self.lo >= 1:
            return True
        return False if self.hi < 1 else None

    def record(self, got: bool, lo: float, hi: float) -> None:
        if got:
            self.lo, self.hi = max(self.lo, 1.0) - 1, self.hi - 1
        else:
            self.hi = min(self.hi, 1.0)


class Log(_Model):
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.head = f"limit {limit}, window {window} s"
        self.gaps = (0.0, window * 0.2, window * 0.45, window * 0.8, window * 1.3)
        self.allowed: list[tuple[float, float]] = []

    def decide(self, lo: float, hi: float) -> bool | None:
        surely = sum(hi - a_lo < self.window - MARGIN for a_lo, _ in self.allowed)
        maybe = sum(lo - a_hi < self.window + MARGIN for _, a_hi in self.allowed)
        if surely >= self.limit:
            return False
        return True if maybe < self.limit else None

    def record(self, got: bool, lo: float, hi: float) -> None:
        if got:
            self.allowed.append((lo, hi))


class _Fixed(_Model):
    def __init__(self, limit: int, window: int) -> None:
        self.limit, self.window = limit, window
        self.head = f"limit {limit}, window {window} s"
        self.gaps = (0.0, window * 0.3, window * 0.55, window * 1.2)
        self.start: tuple[float, float] | None = None
        self.count = 0
        self.unsure = False

    def decide(self, lo: float, hi: float) -> bool | None:
        start, end = self.start, float(self.window)
        if start is not None and hi > start[0] + end - MARGIN and lo < start[1] + end + MARGIN:
            self.unsure = True  # right at the end of a window: from here on, either answer
        elif start is None or lo >= start[1] + end:
            self.start, self.count = (lo, hi), 0
        return None if self.unsure else self.count + 1 <= self.limit

    def record(self, got: bool, lo: float, hi: float) -> None:
        self.count += 1


def _caller(ctx: Ctx, task: str, args: tuple[Any, ...]) -> Callable[[], Any]:
    return lambda: ctx.call(task, *args)


def _run(ctx: Ctx, seed: int, model: _Model, call: Callable[[], Any]) -> None:
    """Play one seeded scenario against ``model``."""
    rng = random.Random(seed)
    steps = [(rng.choice(model.gaps), rng.choice((1, 1, 2, 3))) for _ in range(STEPS)]
    play(ctx, f"seeded scenario {seed}", model, call, steps)


def play(
    ctx: Ctx,
    label: str,
    model: _Model,
    call: Callable[[], Any],
    steps: list[tuple[float, int]],
) -> None:
    """Play ``steps`` (a gap in seconds, then that many calls) against ``model``."""
    story = _Story(model.head)
    started = time.monotonic()
    virtual = 0.0
    for gap, burst in steps:
        if gap:
            travel(ctx.raw, gap)
            virtual += gap
        for _ in range(burst):
            real = time.monotonic() - started
            lo, hi = virtual + max(0.0, real - MARGIN), virtual + real + MARGIN
            want = model.decide(lo, hi)
            got = call()
            story.events.append(f"t={virtual:.2f} s {'allow' if got is True else 'refuse'}")
            if want is not None and got is not want:
                ctx.given(story.line())
                ctx.fail(f"{want} at t={virtual:.2f} s ({label})", f"{got!r}")
            model.record(bool(got), lo, hi)


def _scenarios(
    ctx: Ctx,
    task: str,
    first_seed: int,
    make: Callable[[random.Random], tuple[_Model, tuple[Any, ...]]],
) -> None:
    """Play SCENARIOS seeded scenarios of ``task``; ``make`` picks a model and its arguments."""
    for seed in range(first_seed, first_seed + SCENARIOS):
        ctx.reset()
        model, args = make(random.Random(seed))
        _run(ctx, seed, model, _caller(ctx, task, ("user42", *args)))


def _bucket(rng: random.Random) -> tuple[_Model, tuple[Any, ...]]:
    capacity, rate = rng.choice((1, 2, 3, 5)), rng.choice((0.25, 0.5, 1.0, 2.0))
    return Bucket(capacity, rate), (capacity, rate)


def _log(rng: random.Random) -> tuple[_Model, tuple[Any, ...]]:
    limit, window = rng.choice((1, 2, 3, 4)), rng.choice((1.0, 2.5, 5.0, 30.0))
    return Log(limit, window), (limit, window)


def _fixed(rng: random.Random) -> tuple[_Model, tuple[Any, ...]]:
    limit, window = rng.choice((1, 2, 3, 5)), rng.choice((2, 10, 60))
    return _Fixed(limit, window), (limit, window)


@check(5, "allow_token_bucket", "allow_token_bucket matches the model at varied rates and gaps")
def _bucket_model(ctx: Ctx) -> None:
    _scenarios(ctx, "allow_token_bucket", 1000, _bucket)


@check(5, "allow_sliding_log", "allow_sliding_log matches the model at varied limits and gaps")
def _log_model(ctx: Ctx) -> None:
    _scenarios(ctx, "allow_sliding_log", 2000, _log)


@check(5, "allow_fixed_window", "allow_fixed_window matches the model at varied limits and gaps")
def _fixed_model(ctx: Ctx) -> None:
    _scenarios(ctx, "allow_fixed_window", 3000, _fixed)
