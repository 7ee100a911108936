"""The measuring loop: contenders interleaved in rounds, medians and ratios, round trips.

Use this to compare operations that talk to the same server from the same
process. A *comparison* has one baseline and some contenders; each round runs
every one of them for the same number of operations, cut into a few slices
that each run every contender once in a freshly shuffled order, so a burst of
noise from a neighbour (this machine is shared) lands on all of them instead of
on whoever happened to run then. The report keeps the
median over rounds of each contender's time per operation and of its ratio to
the baseline *measured in the same round*; ratios survive a noisy machine far
better than absolute numbers do.

Not for: micro-benchmarks below a microsecond (the loop and the clock cost
that much) or for claims about absolute latency on other machines.

How it fails: a contender that raises stops the whole run with its traceback;
a slow machine makes the run longer, never wrong. Round trips are counted by a
connection class that every benchmark client uses: each write of a packed
command (a single command, or a whole pipeline) counts one. Besides wall time,
each batch records the CPU time of this thread and, when given a probe, of the
server: on a busy machine those two say *where* a contender spends its time
(Python work vs Lua or command work) far more steadily than the clock does.
"""

from __future__ import annotations

import gc
import math
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

__all__ = [
    "Comparison",
    "ComparisonResult",
    "Contender",
    "ContenderResult",
    "CountComparison",
    "CountResult",
    "CountTrial",
    "CountingConnection",
    "Target",
    "each",
    "run_comparison",
    "run_counts",
]


class CountingConnection(redis.Connection):
    """A redis-py connection that counts round trips (packed writes) in ``sent``."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """Count one round trip, then send as usual."""
        CountingConnection.sent += 1
        send: Callable[[Any, bool], None] = super().send_packed_command  # untyped in redis-py
        send(command, check_health)


def each(op: Callable[[], object]) -> Callable[[int], None]:
    """Turn a one-operation callable into a ``run(n)`` that performs it ``n`` times."""

    def run(n: int) -> None:
        for _ in range(n):
            op()

    return run


@dataclass(frozen=True)
class Contender:
    """One way to do the operation: ``run(n)`` performs ``n`` operations."""

    name: str
    run: Callable[[int], object]
    note: str = ""


@dataclass(frozen=True)
class Target:
    """A performance target from DESIGN.md, checked on the median ratio and round trips.

    Args:
        text: the target as DESIGN.md states it.
        min_ratio: the contender's ops/s divided by the baseline's must reach this.
        round_trips: round trips per operation the contender may use at most.
        applies_to: the contenders it concerns; empty means all but the baseline.
    """

    text: str
    min_ratio: float | None = None
    round_trips: float | None = None
    applies_to: tuple[str, ...] = ()


@dataclass
class Comparison:
    """A baseline and its contenders, each run for ``ops`` operations per round."""

    name: str
    lesson: str
    baseline: Contender
    contenders: list[Contender]
    ops: int
    unit: str = "op"
    target: Target | None = None
    setup: Callable[[], object] | None = None
    teardown: Callable[[], object] | None = None


@dataclass
class ContenderResult:
    """Per-round samples of one contender and their medians."""

    name: str
    note: str
    us_per_op: list[float]
    ratios: list[float]
    round_trips_per_op: float
    client_cpu_us: list[float] = field(default_factory=list)
    server_cpu_us: list[float] = field(default_factory=list)
    verdict: str = ""

    @property
    def median_client_cpu(self) -> float:
        """Median CPU time of this (client) thread per operation, in microseconds."""
        return statistics.median(self.client_cpu_us) if self.client_cpu_us else math.nan

    @property
    def median_server_cpu(self) -> float:
        """Median server CPU time per operation, in microseconds (nan without a probe)."""
        return statistics.median(self.server_cpu_us) if self.server_cpu_us else math.nan

    @property
    def median_us(self) -> float:
        """Median time per operation, in microseconds."""
        return statistics.median(self.us_per_op)

    @property
    def ops_per_s(self) -> float:
        """Operations per second at the median time."""
        return 1e6 / self.median_us

    @property
    def ratio(self) -> float:
        """Median over rounds of (baseline time / this time): > 1 means faster."""
        return statistics.median(self.ratios)

    @property
    def ratio_quartiles(self) -> tuple[float, float]:
        """First and third quartile of the per-round ratios (the spread)."""
        if len(self.ratios) < 2:
            return self.ratio, self.ratio
        q1, _, q3 = statistics.quantiles(self.ratios, n=4, method="inclusive")
        return q1, q3


@dataclass
class ComparisonResult:
    """What a comparison measured, ready for the table and the JSON."""

    comparison: Comparison
    rounds: int
    results: list[ContenderResult]
    seconds: float
    verdicts: list[str] = field(default_factory=list)


def _verdict(target: Target, result: ContenderResult) -> str:
    problems = []
    if target.min_ratio is not None and result.ratio < target.min_ratio:
        problems.append(f"{result.ratio:.3f}x < {target.min_ratio:g}x")
    # A stray health-check PING or script load may add a fraction of a trip.
    if target.round_trips is not None and result.round_trips_per_op > target.round_trips + 0.05:
        problems.append(f"{result.round_trips_per_op:.2f} RT > {target.round_trips:g}")
    return "met" if not problems else "MISSED: " + "; ".join(problems)


def _batch(
    contender: Contender, n: int, server_cpu: Callable[[], float] | None
) -> tuple[int, int, float, int]:
    """Run ``n`` operations; return wall ns, thread CPU ns, server CPU s, round trips."""
    server_before = server_cpu() if server_cpu else 0.0
    sent = CountingConnection.sent
    # Like timeit: no collector pauses inside the timed loop.
    gc.disable()
    try:
        cpu = time.thread_time_ns()
        begin = time.perf_counter_ns()
        contender.run(n)
        wall = time.perf_counter_ns() - begin
        cpu = time.thread_time_ns() - cpu
    finally:
        gc.enable()
    sent = CountingConnection.sent - sent
    server_s = server_cpu() - server_before if server_cpu else 0.0
    return wall, cpu, server_s, sent


def run_comparison(
    comparison: Comparison,
    rounds: int,
    seed: int = 0,
    server_cpu: Callable[[], float] | None = None,
    slices: int = 4,
) -> ComparisonResult:
    """Run every contender ``rounds`` times, interleaved in shuffled order; return medians.

    Args:
        comparison: what to run.
        rounds: how many rounds (each runs every contender once).
        seed: seeds the shuffled order.
        server_cpu: returns the server's CPU seconds so far (INFO cpu); optional.
        slices: each round runs each contender in this many interleaved slices.
    """
    contenders = [comparison.baseline, *comparison.contenders]
    ops = comparison.ops
    started = time.perf_counter()
    if comparison.setup is not None:
        comparison.setup()
    try:
        # Warm-up: load scripts, open pooled connections, fill CPU caches.
        for contender in contenders:
            contender.run(max(1, ops // 10))
        samples: dict[str, list[float]] = {c.name: [] for c in contenders}
        client_cpu: dict[str, list[float]] = {c.name: [] for c in contenders}
        server: dict[str, list[float]] = {c.name: [] for c in contenders}
        trips = dict.fromkeys(samples, 0)
        rng = random.Random(seed)
        # Each round is cut into slices, every slice running each contender once in a
        # new random order: a burst of noise from a neighbour then spreads over all
        # contenders of the round instead of landing on one of them.
        parts = min(slices, ops)
        sizes = [ops // parts + (1 if i < ops % parts else 0) for i in range(parts)]
        for _ in range(rounds):
            gc.collect()
            totals = {c.name: [0.0, 0.0, 0.0] for c in contenders}  # wall ns, cpu ns, server s
            for size in sizes:
                order = contenders[:]
                rng.shuffle(order)
                for contender in order:
                    wall, cpu, server_s, sent = _batch(contender, size, server_cpu)
                    total = totals[contender.name]
                    total[0] += wall
                    total[1] += cpu
                    total[2] += server_s
                    trips[contender.name] += sent
            for name, (wall_ns, cpu_ns, server_total) in totals.items():
                samples[name].append(wall_ns / 1000 / ops)
                client_cpu[name].append(cpu_ns / 1000 / ops)
                if server_cpu:
                    server[name].append(server_total * 1e6 / ops)
    finally:
        if comparison.teardown is not None:
            comparison.teardown()
    base = samples[comparison.baseline.name]
    results = []
    for contender in contenders:
        mine = samples[contender.name]
        result = ContenderResult(
            name=contender.name,
            note=contender.note,
            us_per_op=mine,
            ratios=[b / m for b, m in zip(base, mine, strict=True)],
            round_trips_per_op=trips[contender.name] / (rounds * ops),
            client_cpu_us=client_cpu[contender.name],
            server_cpu_us=server[contender.name],
        )
        target = comparison.target
        if target is not None and contender is not comparison.baseline:
            concerned = target.applies_to or tuple(c.name for c in comparison.contenders)
            if contender.name in concerned:
                result.verdict = _verdict(target, result)
        results.append(result)
    return ComparisonResult(comparison, rounds, results, time.perf_counter() - started)


@dataclass(frozen=True)
class CountTrial:
    """One contender of a counting comparison: ``run()`` returns the count of one trial."""

    name: str
    run: Callable[[], int]
    expected: int | None = None
    note: str = ""


@dataclass
class CountComparison:
    """Counts, not speed: e.g. loader calls when 32 callers meet a cold key."""

    name: str
    lesson: str
    trials: list[CountTrial]
    repeats: int
    unit: str
    target: str = ""


@dataclass
class CountResult:
    """The counts every trial of every contender produced."""

    comparison: CountComparison
    counts: dict[str, list[int]]
    seconds: float

    def verdict(self, trial: CountTrial) -> str:
        """``met`` when every repeat gave the expected count; empty when none is expected."""
        if trial.expected is None:
            return ""
        got = self.counts[trial.name]
        if all(count == trial.expected for count in got):
            return "met"
        return f"MISSED: {got} != {trial.expected}"


def run_counts(comparison: CountComparison, seed: int = 0) -> CountResult:
    """Run each trial ``repeats`` times, interleaved in shuffled order; collect the counts."""
    started = time.perf_counter()
    counts: dict[str, list[int]] = {t.name: [] for t in comparison.trials}
    rng = random.Random(seed)
    for _ in range(comparison.repeats):
        order = comparison.trials[:]
        rng.shuffle(order)
        for trial in order:
            counts[trial.name].append(trial.run())
    return CountResult(comparison, counts, time.perf_counter() - started)
