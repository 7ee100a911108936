"""Measure every helper on a hung, a dead and a slow Valkey: the figures of docs/failure-modes.md.

Run: ``uv run python -m benchmarks.failure_modes`` (about two minutes; prints a
Markdown table, ``--json`` for the raw numbers). Each (fault, helper) pair gets
its own embedded server and a fresh ``connect(url)`` client with every default:

- **hung**: the server is SIGSTOPped (it accepts connections, answers nothing).
- **dead**: the server is stopped (connections refused), then restarted on its port.
- **slow**: every reply is delayed 1.5 s by a TCP proxy (``valkey_redis.faultproxy``).

For each pair: the first call's time, the median and worst of the calls made
every 50 ms over the next 3 s (probes of the circuit breaker included), what
the call gave (the fallback or the error), and, once the fault ends, how long
until a call is served by Valkey again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import redis

from valkey_redis import (
    GCRA,
    Cache,
    Lock,
    NearCache,
    SessionStore,
    TokenBucket,
    breaker_of,
    connect,
)
from valkey_redis.faultproxy import FaultProxy, paused
from valkey_redis.server import EmbeddedValkey

FAULTS = ("hung", "dead", "slow")
LATER_FOR, EVERY, RECOVERY_LIMIT = 3.0, 0.05, 30.0
SID = "abcd." + "a" * 43


@dataclass
class Row:
    """One (fault, helper) measurement, in milliseconds."""

    fault: str
    helper: str
    first_ms: float
    later_median_ms: float
    later_max_ms: float
    outcome: str
    recovery_s: float | None


# A probe returns (served by Valkey?, what the caller got).
Probe = Callable[[], tuple[bool, str]]


def _probes(client: redis.Redis) -> dict[str, Probe]:
    """One call per helper, each saying whether Valkey answered it."""
    cache = Cache(client, namespace="fm", ttl=60)
    allow = GCRA(client, limit=1000, window=60, on_error="allow")
    deny = TokenBucket(client, limit=1000, window=60, on_error="deny")
    sessions = SessionStore(client, ttl=60)
    near = NearCache(client, namespace="near")

    def get_or_set() -> tuple[bool, str]:
        errors = cache.stats.errors
        value = cache.get_or_set("k", lambda: "loader")
        return cache.stats.errors == errors, f"returns the loader's value ({value!r})"

    def get() -> tuple[bool, str]:
        errors = cache.stats.errors
        value = cache.get("missing", "default")
        return cache.stats.errors == errors, f"returns the default ({value!r})"

    def limiter(limiter: GCRA | TokenBucket) -> Probe:
        def hit() -> tuple[bool, str]:
            result = limiter.hit("user")
            verdict = "allowed" if result.allowed else "denied"
            return not result.fallback, f"{verdict}, fallback={result.fallback}"

        return hit

    def write_through() -> tuple[bool, str]:
        stored = cache.write_through("w", 1, lambda value: None)
        return stored, f"returns {stored}"

    def session() -> tuple[bool, str]:
        sessions.get(SID)
        return True, "returns None"

    def lock() -> tuple[bool, str]:
        held = Lock(client, "fm", timeout=5, blocking_timeout=1)
        if held.acquire():
            held.release()
        return True, "acquired"

    def near_get() -> tuple[bool, str]:
        near.get("missing")
        return True, "returns None"

    return {
        "Cache.get_or_set": get_or_set,
        "Cache.get(key, default)": get,
        'GCRA(on_error="allow").hit': limiter(allow),
        'TokenBucket(on_error="deny").hit': limiter(deny),
        "Cache.write_through": write_through,
        "SessionStore.get": session,
        "Lock(blocking_timeout=1).acquire": lock,
        "NearCache.get (miss)": near_get,
    }


def _call(probe: Probe) -> tuple[float, bool, str]:
    started = time.perf_counter()
    try:
        served, outcome = probe()
    except redis.exceptions.RedisError as exc:
        served, outcome = False, f"raises {type(exc).__name__}"
    return (time.perf_counter() - started) * 1000, served, outcome


@contextlib.contextmanager
def _fault(kind: str, server: EmbeddedValkey, proxy: FaultProxy) -> Iterator[None]:
    """Apply the fault for the block; undo it after."""
    if kind == "hung":
        with paused(server):
            yield
    elif kind == "dead":
        port = server.port
        server.stop()
        try:
            yield
        finally:
            server.port = port
            server.start()
    else:
        proxy.latency(1.5)
        try:
            yield
        finally:
            proxy.pass_through()


def measure(kind: str, helper: str) -> Row:
    """Measure one helper under one fault, on a server of its own."""
    with EmbeddedValkey() as server, FaultProxy("127.0.0.1", server.port or 0) as proxy:
        client = connect(proxy.url if kind == "slow" else server.url)
        probe = _probes(client)[helper]
        _call(probe)  # warm: connections, scripts, tracking
        with _fault(kind, server, proxy):
            first, _, outcome = _call(probe)
            later: list[float] = []
            end = time.monotonic() + LATER_FOR
            while time.monotonic() < end:
                later.append(_call(probe)[0])
                time.sleep(EVERY)
        recovered_at = time.monotonic()
        recovery: float | None = None
        while time.monotonic() - recovered_at < RECOVERY_LIMIT:
            if _call(probe)[1]:
                recovery = time.monotonic() - recovered_at
                break
            time.sleep(EVERY)
        breaker = breaker_of(client)
        if breaker is not None and breaker.snapshot().opened == 0:
            outcome += " (breaker never opened)"
        client.close()
    return Row(
        kind,
        helper,
        round(first, 1),
        round(statistics.median(later), 2),
        round(max(later), 1),
        outcome,
        None if recovery is None else round(recovery, 2),
    )


def markdown(rows: list[Row]) -> str:
    """The table of docs/failure-modes.md."""
    lines = [
        "| fault | call | first call | later calls: median (worst) | result | served again after |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        recovery = "not within 30 s" if row.recovery_s is None else f"{row.recovery_s:.1f} s"
        later = f"{row.later_median_ms:.2f} ms ({row.later_max_ms:.0f} ms)"
        lines.append(
            f"| {row.fault} | `{row.helper}` | {row.first_ms:.0f} ms | {later} | "
            f"{row.outcome} | {recovery} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure every pair and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the raw rows as JSON")
    parser.add_argument("--fault", choices=FAULTS, action="append", help="only these faults")
    parser.add_argument("--helper", action="append", help="only helpers containing this text")
    args = parser.parse_args(argv)
    helpers: list[str] = list(_helper_names())
    if args.helper:
        helpers = [h for h in helpers if any(part in h for part in args.helper)]
    rows = [measure(kind, helper) for kind in (args.fault or FAULTS) for helper in helpers]
    print(json.dumps([asdict(r) for r in rows], indent=2) if args.json else markdown(rows))
    return 0


def _helper_names() -> Iterator[str]:
    # The names only: no client is used, nothing is sent.
    yield from _probes(connect("redis://127.0.0.1:1/0")).keys()


if __name__ == "__main__":
    raise SystemExit(main())
