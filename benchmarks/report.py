"""Turn results into the printed table, a Markdown table for the docs, and JSON.

Use :func:`text_report` for the terminal, :func:`markdown_report` for
``docs/benchmarks.md`` and :func:`to_json` for ``benchmarks/results/latest.json``.
Ratios are "times as many operations per second as the baseline": above 1 is
faster, below 1 slower; the bracket is the interquartile range over rounds.
"cpu py" is the CPU time of the benchmark's thread per operation (Python and
redis-py work, steady even on a busy machine); "cpu srv" is the server's CPU time
per operation (commands, Lua), both medians over rounds.
"""

from __future__ import annotations

import math
from typing import Any

from benchmarks.harness import ComparisonResult, CountResult

__all__ = ["Outcome", "markdown_report", "text_report", "to_json"]

Outcome = ComparisonResult | CountResult


def _ratio(result: Any, is_base: bool) -> str:
    if is_base:
        return "1.00 (baseline)"
    q1, q3 = result.ratio_quartiles
    return f"{result.ratio:.2f}x [{q1:.2f}-{q3:.2f}]"


def _us(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.1f}"


def _timed_rows(outcome: ComparisonResult) -> list[list[str]]:
    rows = []
    for index, result in enumerate(outcome.results):
        rows.append(
            [
                result.name,
                f"{result.median_us:,.1f}",
                f"{result.ops_per_s:,.0f}",
                _ratio(result, index == 0),
                f"{result.round_trips_per_op:.2f}",
                _us(result.median_client_cpu),
                _us(result.median_server_cpu),
                result.verdict,
            ]
        )
    return rows


def _count_rows(outcome: CountResult) -> list[list[str]]:
    rows = []
    for trial in outcome.comparison.trials:
        counts = outcome.counts[trial.name]
        shown = ", ".join(str(c) for c in counts)
        rows.append([trial.name, shown, outcome.verdict(trial)])
    return rows


def _title(outcome: Outcome) -> str:
    if isinstance(outcome, ComparisonResult):
        comp = outcome.comparison
        unit = "" if comp.unit == "op" else f", 1 op = {comp.unit}"
        runs = f"{comp.ops:,} ops x {outcome.rounds} rounds{unit}"
        return f"{comp.name} ({runs}, {outcome.seconds:.1f}s)"
    count = outcome.comparison
    return f"{count.name} ({count.repeats} repeats, {outcome.seconds:.1f}s)"


def _target(outcome: Outcome) -> str:
    if isinstance(outcome, ComparisonResult):
        target = outcome.comparison.target
        return target.text if target else ""
    return outcome.comparison.target


TIMED_HEADER = [
    "contender",
    "us/op",
    "ops/s",
    "ratio [IQR]",
    "RT/op",
    "cpu py",
    "cpu srv",
    "target",
]


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.ljust(width) if i == 0 else cell.rjust(width) if i < len(row) - 1 else cell
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def text_report(outcomes: list[Outcome], skipped: dict[str, str]) -> str:
    """The table printed at the end of ``make bench``."""
    lines = []
    for outcome in outcomes:
        lines.append("")
        lines.append(f"== {_title(outcome)}")
        lines.append(f"   {outcome.comparison.lesson}")
        if _target(outcome):
            lines.append(f"   target: {_target(outcome)}")
        if isinstance(outcome, ComparisonResult):
            lines.extend(_grid(TIMED_HEADER, _timed_rows(outcome)))
        else:
            header = ["contender", f"{outcome.comparison.unit} per repeat", "target"]
            lines.extend(_grid(header, _count_rows(outcome)))
    for name, why in skipped.items():
        lines.append(f"\n== {name}: skipped ({why})")
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(cell or " " for cell in row) + " |" for row in rows)
    return lines


def markdown_report(outcomes: list[Outcome], skipped: dict[str, str]) -> str:
    """The same tables in Markdown, for ``docs/benchmarks.md``."""
    lines: list[str] = []
    for outcome in outcomes:
        lines.append(f"### {_title(outcome)}")
        lines.append("")
        lines.append(
            outcome.comparison.lesson
            + (f" Target: {_target(outcome)}." if _target(outcome) else "")
        )
        lines.append("")
        if isinstance(outcome, ComparisonResult):
            header = [
                "contender",
                "µs/op",
                "ops/s",
                "ratio [IQR]",
                "RT/op",
                "cpu py µs",
                "cpu srv µs",
                "verdict",
            ]
            lines.extend(_md_table(header, _timed_rows(outcome)))
        else:
            header = ["contender", f"{outcome.comparison.unit} per repeat", "verdict"]
            lines.extend(_md_table(header, _count_rows(outcome)))
        lines.append("")
    for name, why in skipped.items():
        lines.append(f"- {name}: skipped ({why})")
    return "\n".join(lines).rstrip() + "\n"


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


def to_json(
    outcomes: list[Outcome], skipped: dict[str, str], meta: dict[str, Any]
) -> dict[str, Any]:
    """Everything measured, raw per-round samples included, for later analysis."""
    comparisons: list[dict[str, Any]] = []
    for outcome in outcomes:
        if isinstance(outcome, ComparisonResult):
            comp = outcome.comparison
            comparisons.append(
                {
                    "kind": "timed",
                    "name": comp.name,
                    "ops_per_round": comp.ops,
                    "unit": comp.unit,
                    "rounds": outcome.rounds,
                    "seconds": round(outcome.seconds, 3),
                    "baseline": comp.baseline.name,
                    "target": comp.target.text if comp.target else None,
                    "contenders": [
                        {
                            "name": r.name,
                            "median_us_per_op": round(r.median_us, 3),
                            "median_ops_per_s": round(r.ops_per_s, 1),
                            "ratio_median": round(r.ratio, 4),
                            "ratio_quartiles": [round(q, 4) for q in r.ratio_quartiles],
                            "round_trips_per_op": round(r.round_trips_per_op, 3),
                            "median_client_cpu_us": _num(r.median_client_cpu),
                            "median_server_cpu_us": _num(r.median_server_cpu),
                            "verdict": r.verdict or None,
                            "us_per_op_by_round": [round(s, 3) for s in r.us_per_op],
                        }
                        for r in outcome.results
                    ],
                }
            )
        else:
            count = outcome.comparison
            comparisons.append(
                {
                    "kind": "count",
                    "name": count.name,
                    "unit": count.unit,
                    "repeats": count.repeats,
                    "seconds": round(outcome.seconds, 3),
                    "target": count.target or None,
                    "contenders": [
                        {
                            "name": t.name,
                            "counts": outcome.counts[t.name],
                            "expected": t.expected,
                            "verdict": outcome.verdict(t) or None,
                        }
                        for t in count.trials
                    ],
                }
            )
    return {**meta, "comparisons": comparisons, "skipped": skipped}
