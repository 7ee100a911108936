"""The exercise commands: ``valkey-redis grade | hint | watch | reset | check-exercises``.

Use these through make: ``make grade [EX=N]``, ``make hint EX=N``, ``make watch``,
``make reset EX=N``, ``make check-exercises``. They work from the repository root
(or any folder below it): exercises live in ``exercises/``, hints in
``exercises/hints.toml``, hint progress in the git-ignored ``exercises/.progress.json``.

Grading runs every check on fakeredis and on a throw-away embedded Valkey (one
per run, on a free port). It never uses ``VALKEY_URL``: checks empty the server.

How it fails: ``grade`` exits 1 unless every selected exercise passes every
check (so a fresh clone, all stubs, exits 1: nothing is solved yet);
``reset`` refuses to discard work without ``--yes`` or a typed confirmation
(answering "no" keeps the file and exits 0).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from valkey_redis.grading.course import next_exercise, show_results
from valkey_redis.grading.hints import hint, load_hints, load_progress, save_progress
from valkey_redis.grading.maintenance import check_exercises
from valkey_redis.grading.progress import unsolve
from valkey_redis.grading.workspace import (
    EXERCISES,
    cluster_note,
    exercise_path,
    find_root,
    grading_backends,
    relative,
    stub_text,
)

if TYPE_CHECKING:
    from valkey_redis.grading.harness import Backend
    from valkey_redis.grading.runner import ExerciseResult

__all__ = [
    "EXERCISES",
    "check_exercises",
    "find_root",
    "grade",
    "grading_backends",
    "hint",
    "load_hints",
    "next_exercise",
    "register",
    "reset",
    "stub_text",
    "watch",
]

Out = Callable[[str], None]


def _grade_many(
    numbers: Sequence[int], paths: dict[int, Path], backends: Sequence[Backend]
) -> list[ExerciseResult]:
    from valkey_redis.grading.runner import grade_exercise  # noqa: PLC0415

    return [grade_exercise(n, paths[n], backends) for n in numbers]


def grade(
    numbers: Sequence[int],
    *,
    root: Path,
    solutions: bool = False,
    file: Path | None = None,
    which: str = "both",
    out: Out = print,
) -> int:
    """Grade exercises and print the report; 0 iff every one passes every check.

    Grading your own files (not ``solutions`` or ``file``) records what passes in
    ``exercises/.progress.json``, and the report shows the course's progress.
    """
    from valkey_redis.grading.runner import Status  # noqa: PLC0415

    paths = {n: file or exercise_path(root, n, solutions=solutions) for n in numbers}
    started = time.monotonic()
    with grading_backends(which) as (backends, described):
        results = _grade_many(numbers, paths, backends)
        where = described + cluster_note(backends)
    files = (
        ", ".join(str(relative(paths[n], root)) for n in numbers)
        if len(numbers) <= 2
        else f"exercises {min(numbers)}-{max(numbers)}"
    )
    header = f"Grading {files} {where} — {time.monotonic() - started:.1f} s"
    show_results(results, root=root, header=header, mine=not solutions and file is None, out=out)
    return 0 if all(r.status is Status.PASSED for r in results) else 1


# --- watch and reset -----------------------------------------------------------------


def _stamps(paths: dict[int, Path]) -> dict[int, tuple[int, int]]:
    stamps: dict[int, tuple[int, int]] = {}
    for number, path in paths.items():
        try:
            stat = path.stat()
            stamps[number] = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamps[number] = (0, 0)
    return stamps


def watch(
    numbers: Sequence[int],
    *,
    root: Path,
    interval: float = 0.5,
    which: str = "both",
    stop: threading.Event | None = None,
    out: Out = print,
) -> int:
    """Grade, then re-grade each exercise file when it changes (polls mtimes).

    The standard library's polling, so no file-watching package is needed:
    every ``interval`` seconds the files' modification times and sizes are
    compared. Ctrl-C (or setting ``stop``) ends it.
    """
    from valkey_redis.grading.report import render  # noqa: PLC0415

    paths = {n: exercise_path(root, n) for n in numbers}
    try:
        with grading_backends(which) as (backends, where):
            results = dict(zip(numbers, _grade_many(numbers, paths, backends), strict=True))
            stamps = _stamps(paths)
            while True:
                for result in results.values():
                    result.path = relative(result.path, root)
                header = (
                    f"Watching {', '.join(str(relative(p, root)) for p in paths.values())} {where}"
                )
                out(render(list(results.values()), header=header).rstrip("\n"))
                out("\n(re-grading on every save; Ctrl-C to stop)")
                changed: list[int] = []
                while not changed:
                    if stop is not None and stop.wait(interval):
                        return 0
                    if stop is None:
                        time.sleep(interval)
                    now = _stamps(paths)
                    changed = [n for n in numbers if now[n] != stamps[n]]
                    stamps = now
                out(
                    f"\n{'=' * 30} {time.strftime('%H:%M:%S')} re-grading exercise "
                    f"{', '.join(map(str, changed))} {'=' * 30}\n"
                )
                results.update(zip(changed, _grade_many(changed, paths, backends), strict=True))
    except KeyboardInterrupt:
        out("\nstopped watching.")
        return 0


def reset(
    number: int,
    *,
    root: Path,
    yes: bool = False,
    ask: Callable[[str], str] | None = None,
    out: Out = print,
) -> int:
    """Restore ``exercises/exercise_N.py`` to its stub (asking first) and reset its hints."""
    path = exercise_path(root, number)
    stub = stub_text(number)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current == stub:
        out(f"{relative(path, root)} is already the untouched stub.")
        return 0
    if current is not None and not yes:
        if ask is None and not sys.stdin.isatty():
            out(f"This discards your work in {relative(path, root)}.")
            out(f"Confirm with `make reset EX={number} FORCE=1`.")
            return 1
        question = f"Discard your work in {relative(path, root)} and restore the stub? [y/N] "
        answer = (ask or input)(question)
        if answer.strip().lower() not in {"y", "yes"}:
            out("Kept your file: nothing was changed.")
            return 0  # a "no" is an answer, not an error
    path.write_text(stub, encoding="utf-8")
    unsolve(root, number)
    progress = load_progress(root)
    if progress.pop(str(number), None) is not None:
        save_progress(root, progress)
    out(f"Restored {relative(path, root)} to the stub (hints for exercise {number} start over).")
    return 0


# --- the CLI -----------------------------------------------------------------------


def _exercise_number(text: str) -> int:
    if not text.strip().isdigit() or int(text) not in EXERCISES:
        msg = f"there is no exercise {text.strip()}: pick one of {', '.join(map(str, EXERCISES))}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def register(commands: Any) -> None:
    """Add the exercise sub-commands to the ``valkey-redis`` parser's sub-parsers."""
    graded = commands.add_parser("grade", help="grade your exercises (all, or --ex N)")
    graded.add_argument("--ex", type=_exercise_number, help="only exercise N")
    graded.add_argument("--solutions", action="store_true", help="grade exercises/solutions/")
    graded.add_argument("--file", type=Path, help="grade this file as exercise --ex N")
    graded.add_argument("--backend", choices=["both", "fakeredis", "valkey"], default="both")
    graded.set_defaults(handler=_grade_cli)

    nexted = commands.add_parser("next", help="grade, and point at the first unsolved exercise")
    nexted.add_argument("--ex", type=_exercise_number, help="start at exercise N")
    nexted.add_argument("--backend", choices=["both", "fakeredis", "valkey"], default="both")
    nexted.set_defaults(
        handler=lambda a: next_exercise(root=find_root(), start=a.ex, which=a.backend)
    )

    hinted = commands.add_parser("hint", help="the next hint for exercise N")
    hinted.add_argument("number", type=_exercise_number)
    hinted.add_argument("--all", action="store_true", help="every hint of the exercise")
    hinted.set_defaults(handler=lambda a: hint(a.number, root=find_root(), show_all=a.all))

    watched = commands.add_parser("watch", help="re-grade on every save")
    watched.add_argument("--ex", type=_exercise_number, help="only exercise N")
    watched.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
    watched.set_defaults(
        handler=lambda a: watch(
            [a.ex] if a.ex else EXERCISES, root=find_root(), interval=a.interval
        )
    )

    reset_cmd = commands.add_parser("reset", help="restore the stub of exercise N")
    reset_cmd.add_argument("number", type=_exercise_number)
    reset_cmd.add_argument("--yes", action="store_true", help="do not ask before discarding work")
    reset_cmd.set_defaults(handler=lambda a: reset(a.number, root=find_root(), yes=a.yes))

    audited = commands.add_parser("grader-audit", help="mutation testing of the grader (slow)")
    audited.add_argument("--ex", type=_exercise_number, help="only exercise N")
    audited.add_argument("--jobs", type=int, default=2, help="worker processes")
    audited.add_argument("--backend", choices=["both", "fakeredis"], default="both")
    audited.add_argument("--only", help="only mutants whose id contains this text")
    audited.set_defaults(handler=_audit_cli)

    checked = commands.add_parser("check-exercises", help="stubs not started, solutions pass, lint")
    checked.set_defaults(handler=lambda a: check_exercises(root=find_root()))


def _audit_cli(args: argparse.Namespace) -> int:
    from valkey_redis.grading.audit import main  # noqa: PLC0415 - slow, rarely used

    return main(args, find_root())


def _grade_cli(args: argparse.Namespace) -> int:
    if args.file is not None and args.ex is None:
        print("--file needs --ex N: which exercise is it?", file=sys.stderr)  # noqa: T201
        return 2
    numbers = [args.ex] if args.ex else list(EXERCISES)
    return grade(
        numbers, root=find_root(), solutions=args.solutions, file=args.file, which=args.backend
    )
