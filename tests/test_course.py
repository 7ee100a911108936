"""Progress that lasts: `make grade` remembers what was solved, `make next` resumes from it.

Run in a copy of exercises/ (stubs, solutions, hints), on fakeredis: the state
file exercises/.progress.json, the "N of M exercises solved" bar, the completion
message per solved exercise, `next` skipping what was solved and stopping at the
first exercise that does not pass, and `reset` forgetting a solved exercise.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from valkey_redis import cli
from valkey_redis.grader import EXERCISES, grade, hint, next_exercise, reset, stub_text
from valkey_redis.grading.progress import LEARNT, record, solved

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "exercises" / "solutions"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of exercises/ with every exercise a pristine stub and no state file."""
    shutil.copytree(ROOT / "exercises", tmp_path / "exercises", ignore=shutil.ignore_patterns(".*"))
    for number in EXERCISES:
        (tmp_path / "exercises" / f"exercise_{number}.py").write_text(
            stub_text(number), encoding="utf-8"
        )
    return tmp_path


def _collect() -> tuple[list[str], Callable[[str], None]]:
    lines: list[str] = []
    return lines, lines.append


def _solve(workspace: Path, number: int) -> None:
    shutil.copy(SOLUTIONS / f"exercise_{number}.py", workspace / "exercises")


def _state(workspace: Path) -> dict[str, object]:
    return dict(json.loads((workspace / "exercises" / ".progress.json").read_text()))


def test_grade_remembers_a_solved_exercise_and_shows_the_course(workspace: Path) -> None:
    """A solved exercise goes to the state file; the report says N of M, and what was learnt."""
    _solve(workspace, 6)
    lines, out = _collect()
    assert grade([6], root=workspace, which="fakeredis", out=out) == 0
    text = "\n".join(lines)
    assert _state(workspace) == {"solved": [6]}
    assert f"[#---------] 1 of {len(EXERCISES)} exercises solved (the course)" in text
    assert "learnt: " + LEARNT[6][0].split(",")[0] in text
    assert f"read next: {LEARNT[6][1]}" in text
    assert "Next: exercise 7" in text


def test_a_fresh_start_names_the_page_to_read(workspace: Path) -> None:
    """Nothing started: the next step names exercise 1's page, not just "docs/"."""
    lines, out = _collect()
    assert grade([1], root=workspace, which="fakeredis", out=out) == 1
    text = "\n".join(lines)
    assert f"Read {LEARNT[1][1]};" in text
    assert "make example-1" in text


def test_grade_forgets_an_exercise_that_fails_again(workspace: Path) -> None:
    """Solved, then broken: the next grade removes it from the state file."""
    _solve(workspace, 6)
    grade([6], root=workspace, which="fakeredis", out=lambda _: None)
    (workspace / "exercises" / "exercise_6.py").write_text(stub_text(6), encoding="utf-8")
    assert grade([6], root=workspace, which="fakeredis", out=lambda _: None) == 1
    assert solved(workspace) == set()


def test_grading_the_solutions_records_nothing(workspace: Path) -> None:
    """`grade --solutions` (and --file) is not your progress: no state file is written."""
    grade([6], root=workspace, solutions=True, which="fakeredis", out=lambda _: None)
    assert not (workspace / "exercises" / ".progress.json").exists()


def test_next_skips_what_was_solved_and_stops_at_the_first_unsolved(workspace: Path) -> None:
    """`make next`: solved ones are skipped, passing ones recorded, the first failing one shown."""
    record(workspace, [1], [])
    _solve(workspace, 2)
    lines, out = _collect()
    status = next_exercise(root=workspace, which="fakeredis", out=out)
    text = "\n".join(lines)
    assert status == 1
    assert "Solved before: exercise 1 " in text
    assert "exercise 2 passes every check. Learnt: " in text
    assert "Grading exercises/exercise_3.py" in text
    assert f"[##--------] 2 of {len(EXERCISES)} exercises solved (the course)" in text
    assert "replace the `raise NotImplementedError` in create_session" in text
    assert solved(workspace) == {1, 2}


def test_next_from_a_chosen_exercise(workspace: Path) -> None:
    """`make next EX=N` starts at N, even when exercises before it are unsolved."""
    lines, out = _collect()
    assert next_exercise(root=workspace, start=6, which="fakeredis", out=out) == 1
    assert "Grading exercises/exercise_6.py" in "\n".join(lines)


def test_next_when_everything_is_solved(workspace: Path) -> None:
    """Nothing left: exit 0 and a full bar."""
    record(workspace, EXERCISES, [])
    lines, out = _collect()
    assert next_exercise(root=workspace, which="fakeredis", out=out) == 0
    assert f"[##########] {len(EXERCISES)} of {len(EXERCISES)} solved." in lines


def test_reset_forgets_a_solved_exercise_and_hints_keep_the_solved_list(workspace: Path) -> None:
    """The state file holds hints and solved exercises side by side; reset clears one exercise."""
    record(workspace, [3, 4], [])
    hint(1, root=workspace, out=lambda _: None)
    assert _state(workspace) == {"solved": [3, 4], "hints": {"1": {"save_profile": 1}}}
    (workspace / "exercises" / "exercise_3.py").write_text("# mine\n", encoding="utf-8")
    assert reset(3, root=workspace, yes=True, out=lambda _: None) == 0
    assert solved(workspace) == {4}


def test_an_unreadable_state_file_counts_as_nothing_solved(workspace: Path) -> None:
    """A corrupt state file is no crash: nothing solved, and the next grade rewrites it."""
    (workspace / "exercises" / ".progress.json").write_text("{not json", encoding="utf-8")
    assert solved(workspace) == set()
    _solve(workspace, 6)
    grade([6], root=workspace, which="fakeredis", out=lambda _: None)
    assert solved(workspace) == {6}


def test_every_exercise_has_a_completion_message() -> None:
    """Each exercise names what was learnt and a page to read next that exists."""
    assert sorted(LEARNT) == sorted(EXERCISES)
    for what, read in LEARNT.values():
        assert what
        page = read.split()[0].split("#")[0].rstrip(",")
        assert (ROOT / page).is_file(), page


def test_cli_next_is_registered(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`valkey-redis next` runs from the repository root and exits 1 on a fresh clone."""
    monkeypatch.chdir(workspace)
    assert cli.main(["next", "--backend", "fakeredis"]) == 1


def test_an_exercise_fakeredis_cannot_grade_is_not_graded_and_not_forgotten(
    workspace: Path,
) -> None:
    """Exercise 11 on fakeredis alone: "not graded here", exit 1, and a solved record stays."""
    _solve(workspace, 11)
    record(workspace, [11], [])
    lines, out = _collect()
    assert grade([11], root=workspace, which="fakeredis", out=out) == 1
    text = "\n".join(lines)
    assert "not graded here" in text
    assert "some checks could not run here: they need real Valkey" in text
    assert "could not be graded here" in text
    assert solved(workspace) == {11}


@pytest.mark.real
@pytest.mark.cluster
def test_the_grader_starts_its_own_cluster_for_exercise_12_and_says_so(workspace: Path) -> None:
    """Grading exercise 12 starts a 3-primary cluster on free ports, names it, and passes."""
    _solve(workspace, 12)
    lines, out = _collect()
    assert grade([12], root=workspace, out=out) == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert "and a 3-primary Valkey Cluster (embedded, ports " in text.splitlines()[0]
    assert "graded on a 3-primary Valkey Cluster too" in text


@pytest.mark.real
def test_valkey_only_checks_are_named_in_the_report(workspace: Path) -> None:
    """Exercise 11 on both backends: solved, and the report says it ran on real Valkey only."""
    _solve(workspace, 11)
    lines, out = _collect()
    assert grade([11], root=workspace, out=out) == 0, "\n".join(lines)
    assert "graded on real Valkey only (fakeredis has no INFO and no eviction)" in "\n".join(lines)
