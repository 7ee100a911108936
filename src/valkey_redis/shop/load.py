"""``make load``: the shop under load, scenario by scenario, with the figures that matter.

Use: ``make load`` (``LOAD_SECONDS=20`` per scenario, ``LOAD_USERS=16`` concurrent
users, ``LOAD_ONLY=a,b`` for some scenarios). It starts its own embedded Valkey and,
per scenario, the shop as a real uvicorn process (as ``make app`` does), drives it
over HTTP with :mod:`~valkey_redis.shop.load_driver`, and prints per scenario
requests/s, p50/p95/p99/max latency, database queries/s and the hit ratio.

Scenarios: (a) no cache; (b) cache-aside; (c) every user on one hot key that
expires every 2 s, with stampede protection on, then off; (d) Valkey hung
mid-run (SIGSTOP for the middle third), then back (SIGCONT); (e) one abusive
client over its limit among polite users.

Not for: comparing machines (the driver shares the CPU with the app).

How it fails: a scenario whose app does not come up stops the run with the app's
output; Valkey is always resumed (SIGCONT) and every process stopped by its pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from valkey_redis.server import EmbeddedValkey, free_port
from valkey_redis.shop.load_driver import Tally, run_users, zipf_picker
from valkey_redis.shop.valkey import CALL_BUDGET

__all__ = ["SCENARIOS", "Scenario", "Served", "main", "served_app"]

_NO_LIMIT = "1000000/1"


@dataclass(frozen=True)
class Scenario:
    """One load scenario: the app's settings and what happens during the run."""

    key: str
    title: str
    env: dict[str, str] = field(default_factory=dict)
    hot: bool = False
    hang: bool = False
    abusive: bool = False


SCENARIOS = [
    Scenario("a", "no cache", {"SHOP_CACHE": "off"}),
    Scenario("b", "cache-aside"),
    Scenario("c-on", "hot key expiring, stampede protection on", {"SHOP_CACHE_TTL": "2"}, hot=True),
    Scenario(
        "c-off",
        "hot key expiring, stampede protection off",
        {"SHOP_CACHE_TTL": "2", "SHOP_STAMPEDE": "off"},
        hot=True,
    ),
    Scenario("d", "Valkey hung mid-run (SIGSTOP), then back", hang=True),
    Scenario("e", "one abusive client over its limit", {"SHOP_RATE_LIMIT": "20/1"}, abusive=True),
]


@dataclass(frozen=True)
class Served:
    """A running shop process: its URL and the first lines it printed (the banner)."""

    url: str
    banner: list[str]


@contextlib.contextmanager
def served_app(valkey_url: str, env: dict[str, str]) -> Iterator[Served]:
    """Run the shop (``python -m valkey_redis.shop``) on a free port until the block ends.

    The process is stopped by its pid (SIGTERM, then SIGKILL after 20 s).
    """
    port = free_port()
    settings = {"SHOP_RATE_LIMIT": _NO_LIMIT, **env}
    full_env = {**os.environ, "PORT": str(port), "VALKEY_URL": valkey_url, **settings}
    with tempfile.TemporaryDirectory(prefix="shop-load-") as tmp:
        log = Path(tmp) / "app.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "valkey_redis.shop"],
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc, log)
            yield Served(url, log.read_text().splitlines()[:2])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"the shop exited with {proc.returncode}:\n{log.read_text()}"
            raise RuntimeError(msg)
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    msg = f"the shop did not answer at {url} within 60 s:\n{log.read_text()}"
    raise RuntimeError(msg)


def _db_queries(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "shop_db_queries":
            return float(family.samples[0].value)
    return 0.0


@dataclass
class Outcome:
    """The figures of one scenario."""

    scenario: Scenario
    tally: Tally
    db_rate: float
    notes: list[str]


async def _hang(pid: int, seconds: float, url: str, notes: list[str]) -> None:
    """SIGSTOP Valkey for the middle third of the run; note the breaker state meanwhile."""
    await asyncio.sleep(seconds / 3)
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds / 6)
        async with httpx.AsyncClient(timeout=5) as client:
            health = (await client.get(f"{url}/healthz")).json()
        notes.append(
            f"during the hang /healthz said valkey={health['valkey']}, breaker={health['breaker']}"
        )
        await asyncio.sleep(seconds / 6)
    finally:
        os.kill(pid, signal.SIGCONT)


async def _drive(scenario: Scenario, url: str, seconds: float, users: int, pid: int) -> Outcome:
    rng = random.Random(18)
    zipf = zipf_picker(200, 1.1, rng)
    pick: Callable[[], int] = (lambda: 1) if scenario.hot else zipf
    notes: list[str] = []
    began = time.perf_counter()
    before = _db_queries(url)
    jobs = []
    if scenario.abusive:
        jobs.append(run_users(url, users=users, seconds=seconds, pick=pick, pause=0.1, began=began))
        jobs.append(
            run_users(
                url,
                users=4,
                seconds=seconds,
                pick=pick,
                first_user=10_000,
                address="203.0.113.66",
                began=began,
            )
        )
    else:
        jobs.append(run_users(url, users=users, seconds=seconds, pick=pick, began=began))
    hang = asyncio.ensure_future(_hang(pid, seconds, url, notes)) if scenario.hang else None
    tallies = await asyncio.gather(*jobs)
    if hang is not None:
        await hang
    elapsed = time.perf_counter() - began
    db_rate = (_db_queries(url) - before) / elapsed
    tally = Tally(seconds, [s for t in tallies for s in t.samples])
    if scenario.abusive:
        polite, abuser = tallies
        refused = abuser.count(429) / max(1, len(abuser.samples))
        notes.append(
            f"abusive client: {abuser.rate:.0f} req/s, {refused:.0%} refused with 429, "
            f"p99 {abuser.percentile(99):.1f} ms"
        )
        notes.append(
            f"polite users: {polite.rate:.0f} req/s, {polite.count(429)} refused, "
            f"p99 {polite.percentile(99):.1f} ms"
        )
    if scenario.hang:
        third = seconds / 3
        during = tally.of(lambda s: third <= s.start < 2 * third)
        back = tally.of(lambda s: 2 * third <= s.start < 2 * third + 1)
        after = tally.of(lambda s: s.start >= 2 * third + 1)
        notes.append(
            f"while hung: {during.rate:.0f} req/s, p99 {during.percentile(99):.1f} ms, "
            f"max {during.max_ms:.0f} ms, hit ratio {during.hit_ratio:.0%}"
        )
        notes.append(
            f"its first second back: p99 {back.percentile(99):.1f} ms, max {back.max_ms:.0f} ms"
        )
        notes.append(
            f"longest wait for Valkey of any request: {tally.max_valkey_ms:.0f} ms"
            f" (the budget: {CALL_BUDGET * 1000:.0f} ms; the rest of a request is the database)"
        )
        notes.append(
            f"after it came back (+1 s): hit ratio {after.hit_ratio:.0%}, "
            f"p99 {after.percentile(99):.1f} ms"
        )
    return Outcome(scenario, tally, db_rate, notes)


HEADER = (
    f"{'scenario':<50}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    f"{'db q/s':>8}{'hits':>6}{'err':>6}"
)


def row(outcome: Outcome) -> str:
    """One line of the table."""
    t = outcome.tally
    name = f"({outcome.scenario.key}) {outcome.scenario.title}"
    return (
        f"{name:<50}{t.rate:>8.0f}{t.percentile(50):>9.1f}{t.percentile(95):>9.1f}"
        f"{t.percentile(99):>9.1f}{t.max_ms:>9.0f}{outcome.db_rate:>8.1f}"
        f"{t.hit_ratio:>6.0%}{t.errors:>6}"
    )


def main() -> int:
    """Run the selected scenarios and print the table."""
    seconds = float(os.environ.get("LOAD_SECONDS", "20"))
    users = int(os.environ.get("LOAD_USERS", "16"))
    only = {k.strip() for k in os.environ.get("LOAD_ONLY", "").split(",") if k.strip()}
    chosen = [s for s in SCENARIOS if not only or s.key in only or s.key.split("-")[0] in only]
    outcomes = []
    with EmbeddedValkey() as valkey:
        pid = valkey.pid or 0
        print(f"[server] embedded Valkey on 127.0.0.1:{valkey.port} (pid {pid}) for this run")
        print(
            f"[load] {len(chosen)} scenarios x {seconds:g} s, {users} users,"
            " Zipf(1.1) over 200 products"
        )
        print(HEADER)
        for scenario in chosen:
            admin = redis.Redis.from_url(valkey.url)
            admin.flushall()
            admin.close()
            with served_app(valkey.url, scenario.env) as app:
                outcome = asyncio.run(_drive(scenario, app.url, seconds, users, pid))
            outcomes.append(outcome)
            print(row(outcome), flush=True)
            for note in outcome.notes:
                print(f"    {note}", flush=True)
    by_key = {o.scenario.key: o for o in outcomes}
    if "a" in by_key and "b" in by_key:
        ratio = by_key["b"].tally.rate / max(by_key["a"].tally.rate, 1e-9)
        print(f"[load] cache-aside serves {ratio:.1f}x the requests/s of no cache")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
