"""``make grader-audit``: mutation testing of the grader, for every exercise with a solution.

Use it after changing checks or solutions: every mutant of each reference
solution ``exercises/solutions/exercise_N.py`` (see
:mod:`~valkey_redis.grading.mutants`; exercises added later are covered
automatically) is graded like a learner's file, fakeredis first, then a real
Valkey. A mutant is *killed* when some check fails it. The report gives the kill
rate per exercise and lists every surviving mutant; survivors that cannot be
told apart from the reference by any caller are listed with the reason in
``tests/grader_audit_equivalent.toml`` and reported as *equivalent*.

Runs in ``--jobs`` worker processes, each with its own embedded Valkey (checks
empty the server they use). A check that hangs is cut after
``AUDIT_CHECK_TIMEOUT`` seconds.

How it fails: exits 1 while any non-equivalent mutant survives (or an
equivalent listed no longer exists); each is printed with what it changed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valkey_redis.grading import runner
from valkey_redis.grading.harness import Backend
from valkey_redis.grading.mutants import Mutant, mutants
from valkey_redis.grading.runner import LoadError, Status, grade_task, tasks_of
from valkey_redis.grading.variants import load_variant

__all__ = ["AUDIT_CHECK_TIMEOUT", "Verdict", "audit", "grade_mutant", "main"]

AUDIT_CHECK_TIMEOUT = 6.0
EQUIVALENT_FILE = Path("tests") / "grader_audit_equivalent.toml"
Out = Callable[[str], None]

_BACKENDS: list[Backend] = []


@dataclass(frozen=True)
class Verdict:
    """What the grader made of one mutant."""

    exercise: int
    ident: str
    description: str
    killed_by: str | None
    seconds: float


def _order(exercise: int, function: str) -> list[str]:
    tasks = tasks_of(exercise)
    # A method "Class.m" belongs to the task "Class.m", or to the class task "Class".
    first = [
        t
        for t in tasks
        if function in {t, t.split(".")[0]} or t == function.split(".", maxsplit=1)[0]
    ]
    return first + [t for t in tasks if t not in first]


def grade_mutant(exercise: int, mutant: Mutant, backends: Sequence[Backend]) -> Verdict:
    """Grade ``mutant`` until a check fails it (its own task first, fakeredis first)."""
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="valkey-redis-audit-"))
    killed: str | None = None
    try:
        module = load_variant(mutant.text, exercise, folder)
    except LoadError as error:
        killed = f"does not import: {error.failure.got}"
    else:
        for backend in backends:
            for task in _order(exercise, mutant.function):
                result = grade_task(exercise, task, module, [backend], stop_on_failure=True)
                first = result.first_failure
                if result.status is Status.FAILED and first is not None:
                    killed = f"{first.check.name} (on {first.backend})"
                    break
            if killed:
                break
    seconds = time.monotonic() - started
    return Verdict(exercise, mutant.ident, mutant.description, killed, seconds)


def _start_worker(which: str) -> None:
    """Worker process: shorter check timeout, and its own embedded Valkey."""
    import multiprocessing.util  # noqa: PLC0415 - only in the workers

    from valkey_redis.server import EmbeddedValkey, binary_can_run  # noqa: PLC0415

    runner.CHECK_TIMEOUT = AUDIT_CHECK_TIMEOUT
    _BACKENDS.append(Backend("fakeredis"))
    if which == "both" and binary_can_run():
        server = EmbeddedValkey().start()
        multiprocessing.util.Finalize(None, server.stop, exitpriority=10)
        _BACKENDS.append(Backend("valkey", server.url))


def _work(exercise: int, mutant: Mutant) -> Verdict:
    return grade_mutant(exercise, mutant, _BACKENDS)


def _equivalents(root: Path) -> dict[str, str]:
    path = root / EQUIVALENT_FILE
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {str(e["ident"]): str(e["reason"]) for e in data.get("equivalent", [])}


def _numbers(root: Path) -> list[int]:
    found = (root / "exercises" / "solutions").glob("exercise_*.py")
    return sorted(int(p.stem.removeprefix("exercise_")) for p in found)


def audit(
    root: Path,
    *,
    numbers: Sequence[int] | None = None,
    jobs: int = 2,
    which: str = "both",
    only: str | None = None,
    out: Out = print,
) -> int:
    """Grade every mutant; print kill rates and survivors; 0 iff none survives."""
    started = time.monotonic()
    equivalent = _equivalents(root)
    work: list[tuple[int, Mutant]] = []
    for number in numbers or _numbers(root):
        source = (root / "exercises" / "solutions" / f"exercise_{number}.py").read_text("utf-8")
        work += [(number, m) for m in mutants(source, number) if not only or only in m.ident]
    out(f"Auditing the grader: {len(work)} mutants, {jobs} worker(s), backends: {which}")
    with concurrent.futures.ProcessPoolExecutor(
        jobs, initializer=_start_worker, initargs=(which,)
    ) as pool:
        futures = [pool.submit(_work, number, mutant) for number, mutant in work]
        verdicts = [future.result() for future in futures]
    return _report(verdicts, equivalent, time.monotonic() - started, partial=bool(only), out=out)


def _report(
    verdicts: list[Verdict], equivalent: dict[str, str], seconds: float, *, partial: bool, out: Out
) -> int:
    problems = 0
    for number in sorted({v.exercise for v in verdicts}):
        mine = [v for v in verdicts if v.exercise == number]
        killed = [v for v in mine if v.killed_by]
        same = [v for v in mine if not v.killed_by and v.ident in equivalent]
        alive = [v for v in mine if not v.killed_by and v.ident not in equivalent]
        real = len(mine) - len(same)
        rate = 100.0 * len(killed) / real if real else 100.0
        out(
            f"exercise {number}: {len(killed)}/{real} non-equivalent mutants killed ({rate:.0f}%),"
            f" {len(same)} equivalent, {len(alive)} surviving"
        )
        for v in alive:
            out(f"  SURVIVES {v.ident}\n           {v.description}")
        for v in same:
            out(f"  equivalent {v.ident}: {equivalent[v.ident]}")
        problems += len(alive)
    stale = [] if partial else sorted(set(equivalent) - {v.ident for v in verdicts})
    for ident in stale:
        if int(ident.split(":")[0].removeprefix("ex")) in {v.exercise for v in verdicts}:
            out(f"  stale equivalent (no such mutant any more): {ident}")
            problems += 1
    slowest = max(verdicts, key=lambda v: v.seconds, default=None)
    if slowest is not None:
        out(f"{len(verdicts)} mutants in {seconds:.0f} s (slowest {slowest.seconds:.1f} s)")
    out("No mutant survives." if not problems else f"{problems} problem(s).")
    return 0 if not problems else 1


def main(args: argparse.Namespace, root: Path) -> int:
    """The ``valkey-redis grader-audit`` command."""
    numbers: Any = [args.ex] if args.ex else None
    return audit(root, numbers=numbers, jobs=args.jobs, which=args.backend, only=args.only)
