"""Run the benchmark suites, print the table, write ``benchmarks/results/latest.json``.

Usage (``make bench`` runs the first line)::

    uv run --locked --group bench python -m benchmarks.run
    uv run --locked --group bench python -m benchmarks.run --only cache lock --rounds 15
    uv run --locked --group bench python -m benchmarks.run --quick   # a fast, rough pass

The server is ``VALKEY_URL`` when set and answering, else an embedded Valkey.
A suite whose helper module or peer library cannot be imported is skipped and
named in the report, so a partial checkout still runs the rest.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.context import BenchContext, machine_info, open_server
from benchmarks.harness import Comparison, CountComparison, run_comparison, run_counts
from benchmarks.report import Outcome, markdown_report, text_report, to_json

__all__ = ["SUITES", "Report", "main", "run"]

#: Suite names; each is the module ``benchmarks.bench_<name>`` with ``build(ctx)``.
SUITES = (
    "pipelining",
    "cache",
    "near_cache",
    "session",
    "lock",
    "ratelimit",
    "write_behind",
    "stampede",
    "aio",
)
DEFAULT_JSON = Path(__file__).parent / "results" / "latest.json"


@dataclass
class Report:
    """Everything one run produced."""

    outcomes: list[Outcome] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """The printed table."""
        return text_report(self.outcomes, self.skipped)

    def markdown(self) -> str:
        """The Markdown tables for the docs."""
        return markdown_report(self.outcomes, self.skipped)

    def json(self) -> dict[str, Any]:
        """The JSON document written to ``latest.json``."""
        return to_json(self.outcomes, self.skipped, self.meta)


def _load(suite: str, ctx: BenchContext) -> list[Comparison | CountComparison]:
    module = importlib.import_module(f"benchmarks.bench_{suite}")
    build: Callable[[BenchContext], list[Comparison | CountComparison]] = module.build
    return build(ctx)


def run(
    url: str | None = None,
    *,
    rounds: int = 9,
    scale: float = 1.0,
    only: Sequence[str] = (),
    seed: int = 0,
    echo: Callable[[str], object] = print,
) -> Report:
    """Run the selected suites and return the report (nothing is printed but progress).

    Args:
        url: the server; ``VALKEY_URL`` or an embedded Valkey when None.
        rounds: rounds per timed comparison (medians need 5 or more to mean much).
        scale: multiplies every operation count; 1.0 is the documented run.
        only: suite names to run (all when empty).
        seed: seeds the shuffled order of contenders in each round.
        echo: receives one progress line per comparison.
    """
    report = Report()
    started = time.perf_counter()
    with open_server(url) as (server_url, how):
        ctx = BenchContext(server_url, scale=scale)
        try:
            report.meta = {
                "machine": machine_info(ctx.client, how),
                "settings": {"rounds": rounds, "scale": scale, "seed": seed, "run_id": ctx.run_id},
            }
            echo(f"[bench] {how}; {rounds} rounds per comparison, scale {scale:g}")
            for suite in SUITES:
                if only and suite not in only:
                    continue
                try:
                    comparisons = _load(suite, ctx)
                except ImportError as exc:
                    if (exc.name or "").startswith("benchmarks"):
                        raise  # our own bug, not a missing helper or peer library
                    report.skipped[suite] = f"cannot import: {exc}"
                    echo(f"[bench] {suite}: skipped ({exc})")
                    continue
                for comparison in comparisons:
                    echo(f"[bench] {comparison.name} ...")
                    if isinstance(comparison, Comparison):
                        report.outcomes.append(
                            run_comparison(comparison, rounds, seed, ctx.server_cpu)
                        )
                    else:
                        report.outcomes.append(run_counts(comparison, seed))
        finally:
            ctx.cleanup()
            ctx.close()
    report.meta["seconds"] = round(time.perf_counter() - started, 1)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns 0 (missed targets are reported, not fatal)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--url", help="server URL (default: VALKEY_URL, else embedded Valkey)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds per comparison (default 9)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply operation counts")
    parser.add_argument("--quick", action="store_true", help="3 rounds at scale 0.2: rough numbers")
    parser.add_argument("--only", nargs="+", choices=SUITES, default=(), help="suites to run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round shuffle")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON")
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    args = parser.parse_args(argv)
    rounds, scale = (3, 0.2) if args.quick else (args.rounds, args.scale)
    if rounds < 1 or scale <= 0:
        parser.error("--rounds must be >= 1 and --scale > 0")
    report = run(args.url, rounds=rounds, scale=scale, only=args.only, seed=args.seed)
    print(report.text())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report.json(), indent=2) + "\n")
    print(f"\n[bench] {report.meta['seconds']}s; JSON written to {args.json}")
    if args.markdown:
        args.markdown.write_text(report.markdown())
        print(f"[bench] Markdown tables written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
