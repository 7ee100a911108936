"""Wrong solutions written as small edits of the reference: the grader fails each one.

tests/wrong_edits/exercise_N.toml lists, per mistake, the edits that turn
exercises/solutions/exercise_N.py into that mistake and the check that must
catch it. Each edit's `old` text must still be in the solution, so a change to
the reference that makes an edit stale fails here instead of passing silently.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from valkey_redis.grading.harness import Backend
from valkey_redis.grading.runner import Status, all_checks, load_exercise, run_check, tasks_of

ROOT = Path(__file__).resolve().parents[1]
EDITS = sorted((ROOT / "tests" / "wrong_edits").glob("exercise_*.toml"))


def _number(path: Path) -> int:
    return int(path.stem.removeprefix("exercise_"))


def _cases() -> list[Any]:
    cases = []
    for path in EDITS:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for wrong in data["wrong"]:
            number = _number(path)
            cases.append(pytest.param(number, wrong, id=f"ex{number}-{wrong['name']}"))
    return cases


CASES = _cases()


def _apply(number: int, wrong: dict[str, Any]) -> str:
    source = (ROOT / "exercises" / "solutions" / f"exercise_{number}.py").read_text("utf-8")
    for edit in wrong["edits"]:
        assert edit["old"] in source, f"{wrong['name']}: stale edit, {edit['old']!r} not found"
        source = source.replace(edit["old"], edit["new"])
    return source


def _check(name: str) -> Any:
    found = [c for c in all_checks() if c.name == name]
    assert found, f"no check named {name!r}"
    return found[0]


def test_at_least_four_wrong_solutions_per_task() -> None:
    """Every task of an exercise with an edits file is the target of four or more mistakes."""
    for path in EDITS:
        number = _number(path)
        wrongs = tomllib.loads(path.read_text(encoding="utf-8"))["wrong"]
        counts = Counter(_check(w["check"]).task for w in wrongs)
        assert all(counts[task] >= 4 for task in tasks_of(number)), (number, counts)
        names = [w["name"] for w in wrongs]
        assert len(names) == len(set(names)), names


@pytest.mark.real
@pytest.mark.parametrize(("number", "wrong"), CASES)
def test_wrong_edit_fails_its_check(
    number: int, wrong: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The edited solution fails the check named for its mistake, on both backends."""
    path = tmp_path / f"exercise_{number}.py"
    path.write_text(_apply(number, wrong), encoding="utf-8")
    module = load_exercise(path)
    chk = _check(wrong["check"])
    assert chk.exercise == number
    server = request.getfixturevalue("valkey_server")
    for backend in (Backend("fakeredis"), Backend("valkey", server.url)):
        result = run_check(chk, module, backend)
        assert result.status is Status.FAILED, f"{wrong['name']} passed on {backend.name}"
        assert result.failure is not None
        assert result.failure.expected
        assert result.failure.got
