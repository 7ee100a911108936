"""`make bench` does not crash: every suite runs with tiny counts on the session's real Valkey.

No timing is asserted here (speed belongs in `make bench`); these tests check the
harness's bookkeeping: rounds, round-trip counts, verdict fields, the JSON and
Markdown outputs, and that a run leaves none of its keys behind.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
import redis

from valkey_redis import aio
from valkey_redis.faultproxy import FaultProxy
from valkey_redis.server import EmbeddedValkey

# benchmarks/ is a folder of the repository, not part of the installed package.
ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.context import BenchContext, client_options  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    Comparison,
    Contender,
    CountingConnection,
    Target,
    each,
    run_comparison,
)
from benchmarks.run import SUITES, main, run  # noqa: E402

pytestmark = pytest.mark.real


def _quiet(_line: str) -> None:
    """Swallow progress lines."""


@pytest.mark.slow
def test_every_suite_runs_with_tiny_counts(
    valkey_server: EmbeddedValkey, real_client: redis.Redis
) -> None:
    """All suites run at scale 0.01 for 2 rounds; each timed contender has 2 samples."""
    report = run(valkey_server.url, rounds=2, scale=0.01, echo=_quiet)
    assert report.skipped == {}
    assert len(report.outcomes) >= len(SUITES)
    for outcome in report.json()["comparisons"]:
        for contender in outcome["contenders"]:
            if outcome["kind"] == "timed":
                assert len(contender["us_per_op_by_round"]) == 2
                assert contender["ratio_median"] > 0
            else:
                assert len(contender["counts"]) == outcome["repeats"]
    run_id = report.meta["settings"]["run_id"]
    assert list(real_client.scan_iter(match=f"*bench{run_id}*")) == []


def test_pipelining_round_trips_are_counted(valkey_server: EmbeddedValkey) -> None:
    """The N = 10 loop costs 10 round trips per batch; pipeline and MGET cost 1."""
    report = run(valkey_server.url, rounds=2, scale=0.01, only=["pipelining"], echo=_quiet)
    first = report.json()["comparisons"][0]
    trips = {c["name"]: c["round_trips_per_op"] for c in first["contenders"]}
    assert trips == {
        "10 x GET (N round trips)": 10.0,
        "pipeline of 10 GET": 1.0,
        "MGET of 10 keys": 1.0,
    }


def test_verdicts_follow_ratio_and_round_trip_targets(valkey_server: EmbeddedValkey) -> None:
    """A contender doing twice the work misses a >= 1x target; the baseline gets no verdict."""
    client = redis.Redis.from_url(valkey_server.url, connection_class=CountingConnection)
    try:
        comparison = Comparison(
            name="check",
            lesson="one PING vs two",
            baseline=Contender("one", each(client.ping)),
            contenders=[Contender("two", each(lambda: (client.ping(), client.ping())))],
            ops=50,
            target=Target("at least as fast", min_ratio=1.0, round_trips=1),
        )
        result = run_comparison(comparison, rounds=3)
    finally:
        client.close()
    base, two = result.results
    assert base.verdict == ""
    assert len(two.us_per_op) == 3
    assert two.round_trips_per_op == 2.0
    assert "2.00 RT > 1" in two.verdict


def test_main_writes_json_and_markdown(valkey_server: EmbeddedValkey, tmp_path: Path) -> None:
    """The command line writes the JSON and the Markdown tables where it is told."""
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    argv = ["--url", valkey_server.url, "--only", "pipelining", "--rounds", "2", "--scale", "0.01"]
    status = main([*argv, "--json", str(out_json), "--markdown", str(out_md)])
    assert status == 0
    data = json.loads(out_json.read_text())
    assert [c["name"] for c in data["comparisons"]] == [
        "pipelining, N = 10",
        "pipelining, N = 100",
        "pipelining, N = 1000",
    ]
    assert data["machine"]["server"].startswith("Valkey ")
    assert "| MGET of 1000 keys |" in out_md.read_text()


def test_bench_clients_outlast_slow_replies(valkey_server: EmbeddedValkey) -> None:
    """Replies 0.6 s late (a loaded machine): the sync and async bench clients still answer."""
    with FaultProxy("127.0.0.1", valkey_server.port or 0) as proxy:
        ctx = BenchContext(proxy.url)
        try:
            assert ctx.client.ping()
            proxy.latency(0.6)  # twice connect()'s 0.3 s default reply timeout
            for _ in range(6):  # more slow replies in a row than the default breaker allows
                assert ctx.client.set(ctx.name("slow"), "1", ex=60)

            async def async_round_trips() -> int:
                client = aio.connect(proxy.url, **client_options())
                try:
                    return sum([bool(await client.ping()) for _ in range(6)])
                finally:
                    await client.aclose()

            assert asyncio.run(async_round_trips()) == 6
            proxy.pass_through()
            assert ctx.cleanup() == 1
        finally:
            ctx.close()
