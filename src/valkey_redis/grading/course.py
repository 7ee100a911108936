"""The learner's way through the course: grade, remember what passed, go to the next one.

Use :func:`show_results` after grading (it records the learner's progress in
``exercises/.progress.json`` and prints the report with "N of M exercises solved"
and a completion message per exercise just solved) and :func:`next_exercise` for
``make next``: it grades, in course order, the exercises not recorded as solved
and stops at the first that does not pass every check, showing what to do there.

How it fails: like ``make grade``, never with the learner's exception; exit
status 1 while something is left to solve.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from valkey_redis.grading.progress import LEARNT, record, solved
from valkey_redis.grading.workspace import (
    EXERCISES,
    cluster_note,
    exercise_path,
    grading_backends,
    relative,
)

if TYPE_CHECKING:
    from valkey_redis.grading.runner import ExerciseResult

__all__ = ["next_exercise", "show_results"]

Out = Callable[[str], None]


def show_results(
    results: list[ExerciseResult], *, root: Path, header: str, mine: bool, out: Out
) -> None:
    """Record the learner's progress (``mine``), then print the report."""
    from valkey_redis.grading.report import Progress, render  # noqa: PLC0415
    from valkey_redis.grading.runner import Status  # noqa: PLC0415

    for result in results:
        result.path = relative(result.path, root)
    progress = None
    if mine:
        passed = [r.number for r in results if r.status is Status.PASSED]
        # Not graded here (no real Valkey) is no reason to forget an earlier success.
        failed = [r.number for r in results if r.status not in {Status.PASSED, Status.SKIPPED}]
        newly = record(root, passed, failed)
        progress = Progress(frozenset(solved(root)), tuple(EXERCISES), frozenset(newly))
    hint_dir = "exercises/solutions" if mine else None
    out(render(results, header=header, solutions_hint=hint_dir, progress=progress).rstrip("\n"))


def next_exercise(
    *, root: Path, start: int | None = None, which: str = "both", out: Out = print
) -> int:
    """Grade the exercises not yet solved, in order, and stop at the first that fails.

    Exercises recorded as solved are skipped (``make grade`` re-checks them); with
    ``start`` it begins there. 0 when every exercise from there on is solved.
    """
    from valkey_redis.grading.report import progress_bar  # noqa: PLC0415
    from valkey_redis.grading.runner import Status  # noqa: PLC0415

    done = solved(root)
    order = [n for n in EXERCISES if start is None or n >= start]
    todo = [n for n in order if n not in done or n == start]
    before = [n for n in order if n not in todo]
    if before:
        out(f"Solved before: exercise {', '.join(map(str, before))} (`make grade` re-checks).")
    started = time.monotonic()
    results: list[ExerciseResult] = []
    from valkey_redis.grading.runner import grade_exercise  # noqa: PLC0415

    with grading_backends(which) as (backends, described):
        for number in todo:
            results = [grade_exercise(number, exercise_path(root, number), backends)]
            if results[0].status is not Status.PASSED:
                break
            record(root, [number], [])
            what, read = LEARNT.get(number, ("", ""))
            learnt = f" Learnt: {what}. Read next: {read}." if what else ""
            out(f"exercise {number} passes every check.{learnt}")
        where = described + cluster_note(backends)
    if not results or results[0].status is Status.PASSED:
        total = len(EXERCISES)
        out(f"{progress_bar(len(solved(root)), total)} {len(solved(root))} of {total} solved.")
        out("Nothing left to solve from there: `make grade` re-checks everything.")
        return 0
    path = relative(exercise_path(root, results[0].number), root)
    header = f"Grading {path} {where} — {time.monotonic() - started:.1f} s"
    show_results(results, root=root, header=header, mine=True, out=out)
    return 1
