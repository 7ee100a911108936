"""Turn grading results into the report a learner reads after ``make grade``.

Use :func:`render`: a progress bar, one block per exercise (solved / failing /
in progress / not started, with a mark per task), then what to do next: the
first failing check in plain words (given, called, meanwhile, expected, got)
and "stuck? `make hint EX=N`", or where to start, or the next exercise.

Not for machines: the wording may change; use the exit status of ``make grade``.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from valkey_redis.grading.runner import CheckResult, ExerciseResult, Status

__all__ = [
    "EXAMPLES",
    "TITLES",
    "Progress",
    "Style",
    "progress_bar",
    "render",
    "render_failure",
]

TITLES = {
    1: "data structures, TTL, atomic operations",
    2: "cache-aside, serialization, invalidation",
    3: "sessions",
    4: "distributed lock",
    5: "rate limiting",
    6: "stampede protection",
    7: "circuit breaker",
    8: "transactions and pipelines",
    9: "write-behind on a Stream",
    10: "pub/sub invalidation and a local cache",
    11: "eviction and memory",
    12: "keys for a cluster",
    13: "the web shop: a cached endpoint over HTTP",
}
#: The example to run before each exercise (`make example-N`).
EXAMPLES = {1: 1, 2: 2, 3: 3, 4: 5, 5: 4, 6: 2, 7: 9, 8: 1, 9: 2, 10: 7, 11: 6, 12: 8, 13: 2}


@dataclass(frozen=True)
class Style:
    """Marks and colours; plain ASCII where the terminal cannot print the marks."""

    ok: str = "✓"
    bad: str = "✗"
    todo: str = "·"
    color: bool = False

    @classmethod
    def for_stream(cls, stream: TextIO) -> Style:
        """Pick marks the stream can encode, colour only on a terminal (and no NO_COLOR)."""
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "✓✗·".encode(encoding)
            marks = {}
        except (UnicodeEncodeError, LookupError):
            marks = {"ok": "+", "bad": "x", "todo": "."}
        color = (
            stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        )
        return cls(**marks, color=color)

    def paint(self, text: str, code: str) -> str:
        """Wrap ``text`` in an ANSI colour when colours are on."""
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def mark(self, status: Status) -> str:
        """The coloured mark for a status."""
        if status is Status.PASSED:
            return self.paint(self.ok, "32")
        if status is Status.FAILED:
            return self.paint(self.bad, "31")
        return self.paint(self.todo, "2")


def progress_bar(done: int, total: int, width: int = 10) -> str:
    """``[###-------]`` for 3 of 10."""
    filled = round(width * done / total) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + "]"


_WORDS = {
    Status.PASSED: "solved",
    Status.FAILED: "failing",
    Status.NOT_STARTED: "not started",
    Status.IN_PROGRESS: "in progress",
    Status.SKIPPED: "not graded here",
}


@dataclass(frozen=True)
class Progress:
    """The learner's course so far: what is solved (state file), and what just got solved."""

    solved: frozenset[int]
    exercises: tuple[int, ...]
    newly: frozenset[int] = frozenset()


def _where_notes(result: ExerciseResult) -> list[str]:
    """Which tasks ran on Valkey only or on the cluster too, and which could not run here."""
    ran = [r for t in result.tasks for r in t.results]
    declared = sorted({r.check.why for r in ran if r.check.on == ("valkey",)})
    every = all(r.check.on == ("valkey",) for r in ran)
    what = "graded on real Valkey only" if every else "some checks on real Valkey only"
    notes = [f"    {what} ({why})" for why in declared]
    if any(r.backend == "cluster" for r in ran):
        notes.append("    graded on a 3-primary Valkey Cluster too")
    needs = {
        "real Valkey" if "valkey" in c.on else "a Valkey Cluster"
        for t in result.tasks
        for c in t.skipped
    }
    notes += [f"    some checks could not run here: they need {what}" for what in sorted(needs)]
    return notes


def _learnt(number: int, style: Style) -> list[str]:
    from valkey_redis.grading.progress import LEARNT  # noqa: PLC0415 - progress is optional here

    if number not in LEARNT:
        return []
    what, read = LEARNT[number]
    lines = textwrap.wrap(
        f"{style.mark(Status.PASSED)} learnt: {what}.",
        92,
        initial_indent="    ",
        subsequent_indent="      ",
    )
    return [*lines, f"      read next: {read}"]


def _wrap(label: str, text: str, indent: int) -> list[str]:
    pad = " " * indent
    head = f"{pad}{label:<11}"
    body = textwrap.wrap(text, 96 - len(head), break_on_hyphens=False) or [""]
    return [head + body[0]] + [" " * len(head) + line for line in body[1:]]


def render_failure(result: CheckResult, style: Style, indent: int = 2) -> list[str]:
    """The failed check in plain words."""
    failure = result.failure
    lines = [
        f"{' ' * indent}{style.mark(Status.FAILED)} {result.check.name}  (on {result.backend})"
    ]
    if failure is None:
        return lines
    for number, given in enumerate(failure.given):
        lines += _wrap("given:" if number == 0 else "", given, indent + 4)
    for number, called in enumerate(failure.called[-4:]):
        lines += _wrap("called:" if number == 0 else "", called, indent + 4)
    if failure.note:
        lines += _wrap("meanwhile:", failure.note, indent + 4)
    lines += _wrap("expected:", failure.expected, indent + 4)
    lines += _wrap("got:", failure.got, indent + 4)
    return lines


def _exercise_block(
    result: ExerciseResult, style: Style, solutions_hint: str | None, *, learnt: bool = False
) -> list[str]:
    status = result.status
    passed = sum(t.status is Status.PASSED for t in result.tasks)
    detail = ""
    if status in {Status.FAILED, Status.IN_PROGRESS} and result.load_error is None:
        detail = f" ({passed}/{len(result.tasks)} tasks pass)"
    title = f"exercise {result.number}  {TITLES.get(result.number, '')}"
    lines = [f"{style.mark(status)} {title:<56} {_WORDS[status]}{detail}"]
    if result.load_error is not None:
        lines.append(f"    {result.path.name} does not import: {result.load_error.got}")
    else:
        marks = [f"{style.mark(t.status)} {t.task}" for t in result.tasks]
        lines += textwrap.wrap(
            "  ".join(marks), 96, initial_indent="    ", subsequent_indent="    "
        )
    for task in result.tasks:
        if task.valkey_only:
            real = any(r.backend != "fakeredis" for r in task.results)
            lines.append(
                f"    {task.task}: graded on Valkey only (fakeredis lacks {task.valkey_only})"
                if real
                else f"    {task.task}: not graded (fakeredis lacks {task.valkey_only}; no Valkey)"
            )
    lines += _where_notes(result)
    if status is Status.PASSED and learnt:
        lines += _learnt(result.number, style)
    if status is Status.PASSED and solutions_hint:
        lines.append(
            f"    compare with the reference: {solutions_hint}/exercise_{result.number}.py"
        )
    return lines


def _all_passed(results: Sequence[ExerciseResult], progress: Progress | None) -> list[str]:
    """What to do once every selected exercise passes: the next unsolved one, if any."""
    last = max(r.number for r in results)
    if progress is not None:
        open_ones = [n for n in progress.exercises if n not in progress.solved]
        if not open_ones:
            total = len(progress.exercises)
            return [f"All {total} exercises solved. Well done: `make grade` re-checks them."]
        later = [n for n in open_ones if n > last] or open_ones
    else:
        later = sorted(n for n in TITLES if n > last)
    if len(results) == 1 and later:
        n = later[0]
        return [f"Next: exercise {n} ({TITLES.get(n, '')}): `make grade EX={n}`."]
    return ["Every selected exercise passes every check."]


def _next_steps(
    results: Sequence[ExerciseResult], style: Style, progress: Progress | None = None
) -> list[str]:
    pending = [r for r in results if r.status is not Status.PASSED]
    if not pending:
        return _all_passed(results, progress)
    result = pending[0]
    n = result.number
    stuck = f"  stuck? `make hint EX={n}`"
    if result.load_error is not None:
        # The error and its line are printed once, in the exercise's block above.
        lines = [
            f"Next: exercise {n} — fix the error above so that {result.path.name} imports,",
            f"  then `make grade EX={n}`.",
        ]
        return [*lines, stuck]
    failing = next((t for t in result.tasks if t.status is Status.FAILED), None)
    if failing is not None and failing.first_failure is not None:
        lines = [f"Next: exercise {n}, {failing.task}"]
        return [*lines, *render_failure(failing.first_failure, style), stuck]
    if result.status is Status.SKIPPED:
        return [
            f"Exercise {n} could not be graded here: its checks need real Valkey, which did",
            f"  not run (the first line says why). Try `make grade EX={n}`.",
        ]
    todo = next(t for t in result.tasks if t.status is Status.NOT_STARTED)
    if result.status is Status.NOT_STARTED:
        from valkey_redis.grading.progress import LEARNT  # noqa: PLC0415 - as in _learnt

        page = LEARNT[n][1] if n in LEARNT else "the concept in docs/"
        lines = [
            f"Next: exercise {n} ({TITLES.get(n, '')}) — not started.",
            f"  Read {page};",
            f"  run `make example-{EXAMPLES.get(n, n)}`, then open {result.path}",
            f"  and replace the `raise NotImplementedError` in {todo.task}.",
        ]
    else:
        lines = [
            f"Next: exercise {n}, {todo.task} — not started yet: replace its",
            f"  `raise NotImplementedError` in {result.path}.",
        ]
    return [*lines, f"  Then `make grade EX={n}`.", stuck]


def render(
    results: Sequence[ExerciseResult],
    *,
    header: str,
    style: Style | None = None,
    solutions_hint: str | None = "exercises/solutions",
    progress: Progress | None = None,
) -> str:
    """The whole report, ending with a newline.

    With ``progress`` (grading the learner's own files) it also shows the course's
    "N of M exercises solved", a completion message for each exercise just solved
    (or for the one exercise graded), and points at the next unsolved exercise.
    """
    style = style or Style.for_stream(sys.stdout)
    course: list[str] = []
    if progress is not None:
        done = len(progress.solved & set(progress.exercises))
        total = len(progress.exercises)
        course = [f"{progress_bar(done, total)} {done} of {total} exercises solved (the course)"]
    if len(results) == 1:
        tasks = results[0].tasks
        done = sum(t.status is Status.PASSED for t in tasks)
        summary = f"{done}/{len(tasks)} tasks of exercise {results[0].number} pass"
        lines = [header, "", f"{progress_bar(done, len(tasks))} {summary}", *course, ""]
    else:
        done = sum(r.status is Status.PASSED for r in results)
        tasks_done = sum(t.status is Status.PASSED for r in results for t in r.tasks)
        tasks_total = sum(len(r.tasks) for r in results)
        summary = f"{done} of {len(results)} exercises solved ({tasks_done}/{tasks_total} tasks)"
        lines = [header, "", f"{progress_bar(done, len(results))} {summary}", ""]
    for result in results:
        learnt = progress is not None and (len(results) == 1 or result.number in progress.newly)
        lines += _exercise_block(result, style, solutions_hint, learnt=learnt)
    lines += ["", *_next_steps(results, style, progress)]
    return "\n".join(lines) + "\n"
