"""Hints, one at a time, for the task you are on (``make hint EX=N``).

Use :func:`hint`: it finds the first task of your exercise that does not pass
yet, and prints its next unseen hint from ``exercises/hints.toml`` (from a nudge
to nearly the answer); progress is kept in the git-ignored
``exercises/.progress.json``. ``show_all`` prints every hint.

How it fails: a file that does not import gets the first task's hints; after
the last hint you are pointed to the reference solution.
"""

from __future__ import annotations

import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path

from valkey_redis.grading.progress import load_state, save_state
from valkey_redis.grading.runner import LoadError, Status, grade_task, load_exercise, tasks_of
from valkey_redis.grading.workspace import EXERCISES, exercise_path, grading_backends

__all__ = ["hint", "load_hints", "load_progress", "save_progress", "textwrap_hint"]

Out = Callable[[str], None]


def load_hints(root: Path) -> dict[int, dict[str, list[str]]]:
    """``{exercise: {task: [hint, ...]}}`` from ``exercises/hints.toml``."""
    data = tomllib.loads((root / "exercises" / "hints.toml").read_text(encoding="utf-8"))
    return {
        int(number): {task: list(hints) for task, hints in section.get("tasks", {}).items()}
        for number, section in data.items()
    }


def load_progress(root: Path) -> dict[str, dict[str, int]]:
    """``{exercise: {task: hints shown}}`` from ``exercises/.progress.json`` ({} if none)."""
    hints = load_state(root).get("hints", {})
    return hints if isinstance(hints, dict) else {}


def save_progress(root: Path, hints: dict[str, dict[str, int]]) -> None:
    """Write the hint progress back (what was solved stays as it is)."""
    state = load_state(root)
    state["hints"] = hints
    save_state(root, state)


def _current_task(root: Path, number: int) -> str | None:
    """The first task of the learner's file that does not pass (None: all pass)."""
    tasks = tasks_of(number)
    try:
        module = load_exercise(exercise_path(root, number))
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
    progress = load_progress(root)
    seen = progress.setdefault(str(number), {})
    texts = hints.get(current, [])
    shown = seen.get(current, 0)
    if shown >= len(texts):
        out(f"No more hints for {current}. Read {solution}, close it, then write yours.")
        return 0
    seen[current] = shown + 1
    save_progress(root, progress)
    out(f"Hint {shown + 1}/{len(texts)} for exercise {number}, {current}:\n")
    out(textwrap_hint(texts[shown]))
    more = "the next one: run it again · " if shown + 1 < len(texts) else ""
    out(f"\n({more}all hints: `make hint EX={number} ALL=1`)")
    return 0


def textwrap_hint(text: str) -> str:
    """Indent and wrap a hint, keeping its line breaks (for code)."""
    lines: list[str] = []
    for paragraph in text.strip().splitlines():
        wrapped = textwrap.wrap(paragraph, 92, initial_indent="  ", subsequent_indent="  ")
        lines += wrapped or [""]
    return "\n".join(lines)
