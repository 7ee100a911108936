"""The exercise commands: ``valkey-redis grade | hint | watch | reset | check-exercises``.

Use these through make: ``make grade [EX=N]``, ``make hint EX=N``, ``make watch``,
``make reset EX=N``, ``make check-exercises``. They work from the repository root
(or any folder below it): exercises live in ``exercises/``, hints in
``exercises/hints.toml``, hint progress in the git-ignored ``exercises/.progress.json``.

Grading runs every check on fakeredis and on a throw-away embedded Valkey (one
per run, on a free port). It never uses ``VALKEY_URL``: checks empty the server.

How it fails: ``grade`` exits 1 unless every selected exercise passes every
check (so a fresh clone, all stubs, exits 1: nothing is solved yet);
``reset`` refuses to discard work without ``--yes`` or a typed confirmation.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from valkey_redis.server import EmbeddedValkey, ServerError, binary_can_run

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
    "register",
    "reset",
    "stub_text",
    "watch",
]

EXERCISES = (1, 2, 3, 4, 5, 6)
Out = Callable[[str], None]


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder (upwards) holding ``exercises/``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "exercises").is_dir():
            return folder
    return here


def stub_text(number: int) -> str:
    """The pristine stub of exercise ``number``, shipped inside the package."""
    stub = resources.files("valkey_redis.grading") / "stubs" / f"exercise_{number}.py"
    return stub.read_text(encoding="utf-8")


@contextmanager
def grading_backends(which: str = "both") -> Iterator[tuple[list[Backend], str]]:
    """Yield the backends to grade on, and a line describing them.

    ``which``: "both", "fakeredis" or "valkey". Real Valkey is an embedded server
    started once for the whole run; where the bundled binary cannot run,
    grading continues on fakeredis and says so.
    """
    from valkey_redis.grading.harness import Backend  # noqa: PLC0415 - keep `--help` fast

    backends: list[Backend] = []
    notes: list[str] = []
    if which in {"both", "fakeredis"}:
        if importlib.util.find_spec("fakeredis") is None:
            notes.append("fakeredis skipped: not installed (`make setup` installs it)")
        else:
            backends.append(Backend("fakeredis", None, "fakeredis"))
    server: EmbeddedValkey | None = None
    if which in {"both", "valkey"}:
        try:
            if not binary_can_run():
                msg = "the bundled valkey-server cannot run here"
                raise ServerError(msg)
            server = EmbeddedValkey().start()
            version = _server_version(server.url)
            text = f"Valkey {version} (embedded, port {server.port})"
            backends.append(Backend("valkey", server.url, text))
        except ServerError as exc:
            notes.append(f"real Valkey skipped: {str(exc).splitlines()[0]}")
    try:
        names = " and ".join(b.description for b in backends) or "nothing"
        yield backends, f"on {names}" + (f" ({'; '.join(notes)})" if notes else "")
    finally:
        if server is not None:
            server.stop()


def _server_version(url: str) -> str:
    import redis  # noqa: PLC0415

    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        info: dict[str, Any] = client.info("server")
        return str(info.get("valkey_version", info.get("redis_version", "?")))
    finally:
        client.close()


def _paths(root: Path, number: int, *, solutions: bool) -> Path:
    folder = root / "exercises" / ("solutions" if solutions else "")
    return folder / f"exercise_{number}.py"


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
    """Grade exercises and print the report; 0 iff every one passes every check."""
    from valkey_redis.grading.report import render  # noqa: PLC0415
    from valkey_redis.grading.runner import Status  # noqa: PLC0415

    paths = {n: file or _paths(root, n, solutions=solutions) for n in numbers}
    shown = {n: _relative(p, root) for n, p in paths.items()}
    started = time.monotonic()
    with grading_backends(which) as (backends, where):
        results = _grade_many(numbers, paths, backends)
    for result in results:
        result.path = shown[result.number]
    files = ", ".join(str(shown[n]) for n in numbers) if len(numbers) <= 2 else "exercises 1-6"
    header = f"Grading {files} {where} — {time.monotonic() - started:.1f} s"
    hint_dir = None if solutions or file else "exercises/solutions"
    out(render(results, header=header, solutions_hint=hint_dir).rstrip("\n"))
    return 0 if all(r.status is Status.PASSED for r in results) else 1


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.resolve().relative_to(root)
    except ValueError:
        return path


# --- hints -------------------------------------------------------------------------


def load_hints(root: Path) -> dict[int, dict[str, list[str]]]:
    """``{exercise: {task: [hint, ...]}}`` from ``exercises/hints.toml``."""
    data = tomllib.loads((root / "exercises" / "hints.toml").read_text(encoding="utf-8"))
    return {
        int(number): {task: list(hints) for task, hints in section.get("tasks", {}).items()}
        for number, section in data.items()
    }


def _progress_file(root: Path) -> Path:
    return root / "exercises" / ".progress.json"


def _load_progress(root: Path) -> dict[str, dict[str, int]]:
    try:
        data = json.loads(_progress_file(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("hints", {}) if isinstance(data, dict) else {}


def _save_progress(root: Path, hints: dict[str, dict[str, int]]) -> None:
    _progress_file(root).write_text(json.dumps({"hints": hints}, indent=2) + "\n", encoding="utf-8")


def _current_task(root: Path, number: int) -> str | None:
    """The first task of the learner's file that does not pass (None: all pass)."""
    from valkey_redis.grading.runner import (  # noqa: PLC0415
        LoadError,
        Status,
        grade_task,
        load_exercise,
        tasks_of,
    )

    tasks = tasks_of(number)
    try:
        module = load_exercise(_paths(root, number, solutions=False))
    except LoadError:
        return tasks[0]
    with grading_backends() as (backends, _):
        for task in tasks:
            if grade_task(number, task, module, backends).status is not Status.PASSED:
                return task
    return None


def hint(number: int, *, root: Path, show_all: bool = False, out: Out = print) -> int:
    """Print the next hint for the task you are on (or every hint with ``show_all``)."""
    hints = load_hints(root).get(number)
    if not hints:
        out(f"No hints for exercise {number}: pick one of {', '.join(map(str, EXERCISES))}.")
        return 2
    solution = f"exercises/solutions/exercise_{number}.py"
    if show_all:
        for task, texts in hints.items():
            out(f"exercise {number}, {task}:")
            for index, text in enumerate(texts, 1):
                out(textwrap_hint(f"{index}. {text}"))
        out(f"\nThe reference solution: {solution}")
        return 0
    current = _current_task(root, number)
    if current is None:
        out(f"Exercise {number} passes every check. Compare with {solution}.")
        out(f"Every hint: `make hint EX={number} ALL=1`.")
        return 0
    progress = _load_progress(root)
    seen = progress.setdefault(str(number), {})
    texts = hints.get(current, [])
    shown = seen.get(current, 0)
    if shown >= len(texts):
        out(f"No more hints for {current}. Read {solution}, close it, then write yours.")
        return 0
    seen[current] = shown + 1
    _save_progress(root, progress)
    out(f"Hint {shown + 1}/{len(texts)} for exercise {number}, {current}:\n")
    out(textwrap_hint(texts[shown]))
    more = "the next one: run it again · " if shown + 1 < len(texts) else ""
    out(f"\n({more}all hints: `make hint EX={number} ALL=1`)")
    return 0


def textwrap_hint(text: str) -> str:
    """Indent and wrap a hint, keeping its line breaks (for code)."""
    import textwrap  # noqa: PLC0415

    lines: list[str] = []
    for paragraph in text.strip().splitlines():
        wrapped = textwrap.wrap(paragraph, 92, initial_indent="  ", subsequent_indent="  ")
        lines += wrapped or [""]
    return "\n".join(lines)


# --- watch, reset, check-exercises -------------------------------------------------


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

    paths = {n: _paths(root, n, solutions=False) for n in numbers}
    try:
        with grading_backends(which) as (backends, where):
            results = dict(zip(numbers, _grade_many(numbers, paths, backends), strict=True))
            stamps = _stamps(paths)
            while True:
                for result in results.values():
                    result.path = _relative(result.path, root)
                header = (
                    f"Watching {', '.join(str(_relative(p, root)) for p in paths.values())} {where}"
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
    path = _paths(root, number, solutions=False)
    stub = stub_text(number)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current == stub:
        out(f"{_relative(path, root)} is already the untouched stub.")
        return 0
    if current is not None and not yes:
        if ask is None and not sys.stdin.isatty():
            out(f"This discards your work in {_relative(path, root)}.")
            out(f"Confirm with `make reset EX={number} FORCE=1`.")
            return 1
        question = f"Discard your work in {_relative(path, root)} and restore the stub? [y/N] "
        answer = (ask or input)(question)
        if answer.strip().lower() not in {"y", "yes"}:
            out("Kept your file.")
            return 1
    path.write_text(stub, encoding="utf-8")
    progress = _load_progress(root)
    if progress.pop(str(number), None) is not None:
        _save_progress(root, progress)
    out(f"Restored {_relative(path, root)} to the stub (hints for exercise {number} start over).")
    return 0


def _tool(args: list[str], root: Path) -> tuple[bool, str]:
    result = subprocess.run(  # noqa: S603 - our own interpreter running ruff/mypy on our files
        [sys.executable, "-m", *args], cwd=root, capture_output=True, text=True, check=False
    )
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def _exercise_problems(
    n: int, root: Path, backends: Sequence[Backend], hints: dict[int, dict[str, list[str]]]
) -> tuple[list[str], ExerciseResult]:
    """What is wrong with exercise ``n`` as shipped (nothing: an empty list)."""
    from valkey_redis.grading.runner import Status, grade_exercise, tasks_of  # noqa: PLC0415

    stub_path = _paths(root, n, solutions=False)
    stub = grade_exercise(n, stub_path, backends)
    solution = grade_exercise(n, _paths(root, n, solutions=True), backends)
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
    from valkey_redis.grading.report import Style, render_failure  # noqa: PLC0415
    from valkey_redis.grading.runner import Status  # noqa: PLC0415

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


# --- the CLI -----------------------------------------------------------------------


def _exercise_number(text: str) -> int:
    number = int(text)
    if number not in EXERCISES:
        msg = f"exercises are numbered 1 to {len(EXERCISES)}"
        raise argparse.ArgumentTypeError(msg)
    return number


def register(commands: Any) -> None:
    """Add the exercise sub-commands to the ``valkey-redis`` parser's sub-parsers."""
    graded = commands.add_parser("grade", help="grade your exercises (all, or --ex N)")
    graded.add_argument("--ex", type=_exercise_number, help="only exercise N")
    graded.add_argument("--solutions", action="store_true", help="grade exercises/solutions/")
    graded.add_argument("--file", type=Path, help="grade this file as exercise --ex N")
    graded.add_argument("--backend", choices=["both", "fakeredis", "valkey"], default="both")
    graded.set_defaults(handler=_grade_cli)

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

    checked = commands.add_parser("check-exercises", help="stubs not started, solutions pass, lint")
    checked.set_defaults(handler=lambda a: check_exercises(root=find_root()))


def _grade_cli(args: argparse.Namespace) -> int:
    if args.file is not None and args.ex is None:
        print("--file needs --ex N: which exercise is it?", file=sys.stderr)  # noqa: T201
        return 2
    numbers = [args.ex] if args.ex else list(EXERCISES)
    return grade(
        numbers, root=find_root(), solutions=args.solutions, file=args.file, which=args.backend
    )
