"""Register checks, load an exercise file by path, and grade it on each backend.

Use :func:`grade_exercise` (all tasks of one exercise) or :func:`grade_task`
(one task, for pytest) with a module from :func:`load_exercise`. A task whose
first check meets ``NotImplementedError`` is "not started" and the rest of its
checks are skipped; otherwise every check runs on every backend, each on a
clean server, each in its own thread with a timeout.

How it fails: never with an exception from learner code. A file that does not
load, a missing function, a crash, a hang: each becomes a failed check whose
text says what was called, what was expected and what came back.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
import traceback
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import ModuleType

from valkey_redis.grading.context import Ctx, Failure
from valkey_redis.grading.harness import Backend, CheckAborted, Env, NeedsValkey

__all__ = [
    "CHECK_TIMEOUT",
    "SERVERS",
    "Check",
    "CheckResult",
    "ExerciseResult",
    "LoadError",
    "Status",
    "TaskResult",
    "all_checks",
    "check",
    "checks_for",
    "grade_exercise",
    "grade_task",
    "load_exercise",
    "run_check",
    "tasks_of",
]

CHECK_TIMEOUT = 15.0
CheckFn = Callable[[Ctx], None]
#: Where a check runs unless it says otherwise: both single-server backends.
SERVERS = ("fakeredis", "valkey")


class Status(StrEnum):
    """The verdict on a check, a task or an exercise."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_STARTED = "not started"
    IN_PROGRESS = "in progress"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    """One behaviour of one task, named so that its name alone says what it verifies."""

    exercise: int
    task: str
    name: str
    fn: CheckFn = field(repr=False)
    #: The backends it runs on ("fakeredis", "valkey", "cluster").
    on: tuple[str, ...] = SERVERS
    #: Why it runs only there (shown in the report), e.g. "fakeredis has no INFO".
    why: str = ""


_CHECKS: list[Check] = []


def check(
    exercise: int, task: str, name: str, *, on: tuple[str, ...] = SERVERS, why: str = ""
) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as a check of ``task`` in ``exercise``.

    ``on`` restricts it to some backends (say, real Valkey for a command
    fakeredis lacks), and ``why`` says why, for the report.
    """

    def register(fn: CheckFn) -> CheckFn:
        if any(c.name == name for c in _CHECKS):
            msg = f"duplicate check name: {name}"
            raise ValueError(msg)
        _CHECKS.append(Check(exercise, task, name, fn, on, why))
        return fn

    return register


def _ensure_loaded() -> None:
    from valkey_redis.grading import checks  # noqa: F401, PLC0415 - registers on import


def all_checks() -> list[Check]:
    """Every registered check, in order."""
    _ensure_loaded()
    return list(_CHECKS)


def checks_for(exercise: int, task: str | None = None) -> list[Check]:
    """The checks of an exercise (or of one of its tasks), in order."""
    _ensure_loaded()
    return [c for c in _CHECKS if c.exercise == exercise and task in {None, c.task}]


def tasks_of(exercise: int) -> list[str]:
    """The task (function) names of an exercise, in order."""
    return list(dict.fromkeys(c.task for c in checks_for(exercise)))


@dataclass
class CheckResult:
    """One check on one backend."""

    check: Check
    backend: str
    status: Status
    failure: Failure | None = None
    seconds: float = 0.0
    timed_out: bool = False
    #: Set on fakeredis when the learner's code used a command only Valkey has
    #: (the check did not count there: the task is graded on Valkey only).
    valkey_only: str | None = None


@dataclass
class TaskResult:
    """Every check of one task, on every backend."""

    exercise: int
    task: str
    results: list[CheckResult]
    #: Checks that did not run: none of their backends was available.
    skipped: list[Check] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """FAILED if any check failed or none ran, NOT_STARTED if not started, else PASSED.

        SKIPPED when no check could run here (each needs a backend that is missing).
        """
        if not self.results and self.skipped:
            return Status.SKIPPED
        if not self.results or any(r.status is Status.FAILED for r in self.results):
            return Status.FAILED
        if any(r.status is Status.NOT_STARTED for r in self.results):
            return Status.NOT_STARTED
        return Status.PASSED

    @property
    def valkey_only(self) -> str | None:
        """The Valkey-only command that made this task skip fakeredis, if any."""
        return next((r.valkey_only for r in self.results if r.valkey_only), None)

    @property
    def first_failure(self) -> CheckResult | None:
        """The first failed check in check order (fakeredis before Valkey)."""
        return next((r for r in self.results if r.status is Status.FAILED), None)


@dataclass
class ExerciseResult:
    """One exercise file, graded."""

    number: int
    path: Path
    tasks: list[TaskResult]
    load_error: Failure | None = None
    seconds: float = 0.0

    @property
    def status(self) -> Status:
        """Solved (PASSED), FAILED, NOT_STARTED, or IN_PROGRESS (some tasks not started).

        Tasks that could not be graded here (SKIPPED) do not count; when none
        could, the exercise is SKIPPED.
        """
        states = {t.status for t in self.tasks} - {Status.SKIPPED}
        if self.load_error is not None or Status.FAILED in states:
            return Status.FAILED
        if not states:
            return Status.SKIPPED
        if states == {Status.PASSED}:
            return Status.PASSED
        if states == {Status.NOT_STARTED}:
            return Status.NOT_STARTED
        return Status.IN_PROGRESS

    @property
    def failures(self) -> list[CheckResult]:
        """Every failed check."""
        return [r for t in self.tasks for r in t.results if r.status is Status.FAILED]


class LoadError(Exception):
    """An exercise file that cannot be imported."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.got)
        self.failure = failure


_counter = itertools.count()


def load_exercise(path: Path) -> ModuleType:
    """Import an exercise file by path, freshly, under a unique module name.

    ``exercises/`` and ``exercises/solutions/`` share file names, so files are
    never imported by module name. The source is compiled here rather than by
    the import system, whose cached bytecode can miss an edit made within the
    same second (watch mode).

    Raises:
        LoadError: the file is missing or raises while importing.
    """
    name = f"_graded_{path.stem.replace('.', '_')}_{next(_counter)}"
    if not path.is_file():
        raise LoadError(Failure("the exercise file to exist", f"{path} not found"))
    # Any file name will do (`--file answer.txt`): no import machinery, just a module.
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses and typing look modules up here
    try:
        code = compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - running the learner's own file is the point
    except Exception as exc:
        # SyntaxError's own text already ends with "(file, line N)": use its bare message.
        text = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
        where = _where(exc, str(path))
        raise LoadError(
            Failure(f"{path.name} to import", f"{type(exc).__name__}: {text}{where}")
        ) from exc
    finally:
        sys.modules.pop(name, None)
    return module


def _where(exc: BaseException, filename: str | None) -> str:
    """`` (exercise_1.py, line 12)`` for the deepest frame in the learner's file."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f" (line {exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    if not frames:
        return ""
    return f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})"


def run_check(chk: Check, module: ModuleType, backend: Backend) -> CheckResult:
    """Run one check on a clean server of ``backend``, in a thread with a timeout."""
    started = time.monotonic()
    outcome: list[CheckResult] = []
    env = Env(backend)
    ctx = Ctx(module, env, chk.exercise)
    filename = getattr(module, "__file__", None)

    def target() -> None:
        try:
            with warnings.catch_warnings():
                # redis-py warns about "experimental" options (SET ... IFEQ): correct code.
                warnings.simplefilter("ignore")
                chk.fn(ctx)
            outcome.append(CheckResult(chk, backend.name, Status.PASSED))
        except NotImplementedError:
            outcome.append(CheckResult(chk, backend.name, Status.NOT_STARTED))
        except Failure as verdict:
            outcome.append(CheckResult(chk, backend.name, Status.FAILED, verdict))
        except NeedsValkey as needs:
            outcome.append(CheckResult(chk, backend.name, Status.PASSED, valkey_only=needs.command))
        except CheckAborted:
            pass
        except BaseException as exc:  # noqa: BLE001 - learner code may raise anything
            text = f"{type(exc).__name__}: {exc}".rstrip(": ")
            failure = ctx.failure(
                "it to run without raising", f"it raised {text}{_where(exc, filename)}"
            )
            outcome.append(CheckResult(chk, backend.name, Status.FAILED, failure))

    thread = threading.Thread(target=target, name=f"check {chk.name}", daemon=True)
    thread.start()
    thread.join(CHECK_TIMEOUT)
    env.close()
    seconds = time.monotonic() - started
    if thread.is_alive() or not outcome:
        failure = ctx.failure(
            f"the check to finish within {CHECK_TIMEOUT:.0f} s",
            "it was still running: an endless loop, or a wait that never ends?",
        )
        return CheckResult(chk, backend.name, Status.FAILED, failure, seconds, timed_out=True)
    result = outcome[0]
    result.seconds = seconds
    return result


def grade_task(
    exercise: int,
    task: str,
    module: ModuleType,
    backends: Sequence[Backend],
    *,
    stop_on_failure: bool = False,
) -> TaskResult:
    """Run every check of ``task`` on its backends (stopping early if not started or hung).

    A check runs on the backends named in its ``on`` that are here; one with none
    here is noted in ``skipped``. ``stop_on_failure`` stops at the first failed
    check (the grader's own tests and ``make grader-audit`` need only that one).
    """
    results: list[CheckResult] = []
    skipped: list[Check] = []
    runs = [(c, [b for b in backends if b.name in c.on]) for c in checks_for(exercise, task)]
    planned = sum(len(where) for _, where in runs)
    fake_skipped: str | None = None
    for chk, where in runs:
        if not where:
            skipped.append(chk)
        for backend in where:
            if fake_skipped and backend.fake:
                results.append(
                    CheckResult(chk, backend.name, Status.PASSED, valkey_only=fake_skipped)
                )
                continue
            result = run_check(chk, module, backend)
            if result.valkey_only:
                fake_skipped = result.valkey_only
                # Earlier fakeredis verdicts of this task do not count either.
                for earlier in results:
                    if earlier.backend == backend.name:
                        earlier.status, earlier.failure = Status.PASSED, None
                        earlier.valkey_only = fake_skipped
            if result.timed_out and result.failure is not None:
                # Every further check would most likely hang as long: skip them.
                left = planned - len(results) - 1
                if left:
                    result.failure.got += f" ({left} more checks of {task} skipped)"
                results.append(result)
                return TaskResult(exercise, task, results, skipped)
            if result.status is Status.NOT_STARTED and not results:
                return TaskResult(exercise, task, [result])  # the stub still raises
            if result.status is Status.NOT_STARTED:
                result.status = Status.FAILED  # started, but one path still raises
                result.failure = Failure(
                    "the function to be finished", "it raised NotImplementedError"
                )
            results.append(result)
            if stop_on_failure and result.status is Status.FAILED:
                return TaskResult(exercise, task, results, skipped)
    return TaskResult(exercise, task, results, skipped)


def grade_exercise(
    exercise: int, path: Path, backends: Sequence[Backend], module: ModuleType | None = None
) -> ExerciseResult:
    """Grade every task of exercise ``exercise`` as written in ``path``."""
    started = time.monotonic()
    try:
        loaded = module if module is not None else load_exercise(path)
    except LoadError as error:
        tasks = [TaskResult(exercise, t, []) for t in tasks_of(exercise)]
        return ExerciseResult(exercise, path, tasks, error.failure, time.monotonic() - started)
    tasks = [grade_task(exercise, t, loaded, backends) for t in tasks_of(exercise)]
    return ExerciseResult(exercise, path, tasks, None, time.monotonic() - started)
