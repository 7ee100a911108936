"""``make check-exercises``: the exercises as shipped are what the curriculum promises.

Use :func:`check_exercises` in CI: every stub is "not started" on every backend
and identical to its packaged copy, every reference solution passes every check
on every backend, every task has at least two hints, and ruff and mypy --strict
are clean on stubs and solutions.

How it fails: it prints each problem (and a failing solution's first failed
check in plain words) and returns 1.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from valkey_redis.grading.harness import Backend
from valkey_redis.grading.hints import load_hints
from valkey_redis.grading.report import Style, render_failure
from valkey_redis.grading.runner import ExerciseResult, Status, grade_exercise, tasks_of
from valkey_redis.grading.workspace import EXERCISES, exercise_path, grading_backends, stub_text

__all__ = ["check_exercises"]

Out = Callable[[str], None]


def _tool(args: list[str], root: Path) -> tuple[bool, str]:
    result = subprocess.run(  # noqa: S603 - our own interpreter running ruff/mypy on our files
        [sys.executable, "-m", *args], cwd=root, capture_output=True, text=True, check=False
    )
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def _exercise_problems(
    n: int, root: Path, backends: Sequence[Backend], hints: dict[int, dict[str, list[str]]]
) -> tuple[list[str], ExerciseResult]:
    """What is wrong with exercise ``n`` as shipped (nothing: an empty list)."""
    stub_path = exercise_path(root, n)
    stub = grade_exercise(n, stub_path, backends)
    solution = grade_exercise(n, exercise_path(root, n, solutions=True), backends)
    problems: list[str] = []
    if stub.status is not Status.NOT_STARTED:
        problems.append(f"exercises/exercise_{n}.py is {stub.status}, not 'not started'")
    if not stub_path.exists() or stub_path.read_text(encoding="utf-8") != stub_text(n):
        problems.append(
            f"exercises/exercise_{n}.py differs from its packaged copy "
            f"src/valkey_redis/grading/stubs/exercise_{n}.py: edit both together"
        )
    if solution.status is not Status.PASSED:
        problems.append(f"exercises/solutions/exercise_{n}.py is {solution.status}")
    thin = [t for t in tasks_of(n) if len(hints.get(n, {}).get(t, [])) < 2]
    if thin:
        problems.append(f"hints.toml: fewer than 2 hints for {', '.join(thin)}")
    return problems, solution


def check_exercises(
    *,
    root: Path,
    numbers: Sequence[int] = EXERCISES,
    which: str = "both",
    lint: bool = True,
    out: Out = print,
) -> int:
    """Check the exercises as shipped; 0 iff all hold.

    Every stub is "not started" (on every backend) and equal to its packaged
    copy, every reference solution passes every check on every backend, every
    task has at least two hints, and ruff and mypy --strict pass on stubs and
    solutions.
    """
    style = Style.for_stream(sys.stdout)
    problems: list[str] = []
    hints = load_hints(root)
    with grading_backends(which) as (backends, where):
        out(f"Checking the exercises {where}")
        for n in numbers:
            found, solution = _exercise_problems(n, root, backends, hints)
            mark = style.mark(Status.FAILED if found else Status.PASSED)
            summary = "; ".join(found) or "stub not started, solution passes, hints present"
            out(f"{mark} exercise {n}: {summary}")
            for failed in solution.failures[:1]:
                out("\n".join(render_failure(failed, style, indent=4)))
            problems += found
    files = [f"exercises/exercise_{n}.py" for n in numbers]
    files += [f"exercises/solutions/exercise_{n}.py" for n in numbers]
    for name, args in (
        ()
        if not lint
        else (
            ("ruff check", ["ruff", "check", *files]),
            ("ruff format --check", ["ruff", "format", "--check", *files]),
            ("mypy --strict", ["mypy", *files]),
        )
    ):
        ok, text = _tool(args, root)
        out(f"{style.mark(Status.PASSED if ok else Status.FAILED)} {name} on stubs and solutions")
        if not ok:
            problems.append(f"{name} failed")
            out(text)
    out("All good." if not problems else f"{len(problems)} problem(s).")
    return 0 if not problems else 1
