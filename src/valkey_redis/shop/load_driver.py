"""The load generator's users and figures: concurrent async httpx clients on a Zipf workload.

Use through ``make load`` (:mod:`valkey_redis.shop.load`). Each simulated user is
a task with its own connection and its own client address (``X-Forwarded-For``,
which the app trusts from 127.0.0.1 only); it asks for products one after the
other (a closed loop), product ``k`` with probability proportional to ``1/k**s``.

Not for: absolute figures on another machine: the driver shares the CPU with the
app, so compare the scenarios of one run, not runs on different hardware.

How it fails: a request that errors (connection refused, timeout) is counted in
``errors`` with its time, never dropped, so an outage shows in the figures.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

__all__ = ["Sample", "Tally", "run_users", "zipf_picker"]


def zipf_picker(n: int, s: float, rng: random.Random) -> Callable[[], int]:
    """A function returning ids 1..n, id ``k`` with probability proportional to ``1/k**s``."""
    weights = list(itertools.accumulate(1 / k**s for k in range(1, n + 1)))
    ids = list(range(1, n + 1))
    return lambda: rng.choices(ids, cum_weights=weights)[0]


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: when it started (s since the run began), how long it took, what came back."""

    start: float
    seconds: float
    status: int  # 0 for a transport error
    cache: str
    user: int
    valkey_ms: float = 0.0  # the app's own account of its wait for Valkey (Server-Timing)


@dataclass
class Tally:
    """Every sample of one scenario, and the figures derived from them."""

    duration: float
    samples: list[Sample] = field(default_factory=list)

    def of(self, keep: Callable[[Sample], bool]) -> Tally:
        """The samples ``keep`` accepts, as a tally of the same duration."""
        return Tally(self.duration, [s for s in self.samples if keep(s)])

    @property
    def rate(self) -> float:
        """Requests completed per second."""
        return len(self.samples) / self.duration if self.duration else 0.0

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile of latency, in milliseconds (0 with no samples)."""
        times = sorted(s.seconds for s in self.samples)
        if not times:
            return 0.0
        if len(times) == 1:
            return times[0] * 1000
        return statistics.quantiles(times, n=1000, method="inclusive")[round(q * 10) - 1] * 1000

    @property
    def max_ms(self) -> float:
        """The slowest request, in milliseconds."""
        return max((s.seconds for s in self.samples), default=0.0) * 1000

    @property
    def max_valkey_ms(self) -> float:
        """The longest any request waited for Valkey, by the app's own account."""
        return max((s.valkey_ms for s in self.samples), default=0.0)

    @property
    def hit_ratio(self) -> float:
        """HIT / (HIT + MISS) over the answers that carried ``X-Cache``."""
        hits = sum(s.cache == "HIT" for s in self.samples)
        misses = sum(s.cache == "MISS" for s in self.samples)
        return hits / (hits + misses) if hits + misses else 0.0

    def count(self, status: int) -> int:
        """How many answers had ``status`` (0: transport errors)."""
        return sum(s.status == status for s in self.samples)

    @property
    def errors(self) -> int:
        """Transport errors and 5xx answers."""
        return sum(s.status == 0 or s.status >= 500 for s in self.samples)


def _valkey_ms(server_timing: str) -> float:
    """The ``valkey;dur=`` figure of a ``Server-Timing`` header (0 when absent)."""
    for metric in server_timing.split(","):
        name, _, params = metric.strip().partition(";")
        if name == "valkey" and params.startswith("dur="):
            return float(params.removeprefix("dur="))
    return 0.0


async def _user(
    number: int,
    base_url: str,
    pick: Callable[[], int],
    *,
    until: float,
    began: float,
    out: list[Sample],
    pause: float,
    address: str | None,
) -> None:
    address = address or f"10.{number // 62500 % 256}.{number // 250 % 250}.{number % 250 + 1}"
    headers = {"X-Forwarded-For": address}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10.0) as client:
        while (now := time.perf_counter()) < until:
            try:
                response = await client.get(f"/products/{pick()}")
                status, cache = response.status_code, response.headers.get("X-Cache", "-")
                valkey_ms = _valkey_ms(response.headers.get("Server-Timing", ""))
            except httpx.HTTPError:
                status, cache, valkey_ms = 0, "-", 0.0
            done = time.perf_counter()
            out.append(Sample(now - began, done - now, status, cache, number, valkey_ms))
            if pause:
                await asyncio.sleep(pause)


async def run_users(
    base_url: str,
    *,
    users: int,
    seconds: float,
    pick: Callable[[], int],
    first_user: int = 0,
    pause: float = 0.0,
    began: float | None = None,
    address: str | None = None,
) -> Tally:
    """Run ``users`` closed-loop users for ``seconds``.

    Args:
        base_url: the shop's URL.
        users: how many users (tasks, each with its own connection).
        seconds: how long.
        pick: the product id of the next request.
        first_user: number of the first user (users are told apart by number and address).
        pause: each user's think time between requests, in seconds.
        began: the run's start (``time.perf_counter()``) that sample times count from.
        address: one client address for every user (an abusive client); default one each.
    """
    start = time.perf_counter() if began is None else began
    until = time.perf_counter() + seconds
    out: list[Sample] = []
    await asyncio.gather(
        *(
            _user(
                first_user + i,
                base_url,
                pick,
                until=until,
                began=start,
                out=out,
                pause=pause,
                address=address,
            )
            for i in range(users)
        )
    )
    return Tally(seconds, out)
