"""The grader fails realistic wrong solutions with the right first check, and accepts correct ones.

Cases are small edits of exercises/solutions/exercise_N.py, applied here at run
time: tests/wrong_edits/exercise_N.toml (here: the check named in `check` must be
the first to fail, for exercises 1-6) and tests/alt_solutions/alt.toml (correct
solutions written another way, which must pass every check on both backends).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from valkey_redis.grading.harness import Backend
from valkey_redis.grading.runner import Status, all_checks, grade_exercise, grade_task, run_check
from valkey_redis.grading.variants import apply_edits, load_variant, reference_path

ROOT = Path(__file__).resolve().parents[1]
FAKE = Backend("fakeredis")


CORE = (1, 2, 3, 4, 5, 6)


def _wrong_cases() -> list[dict[str, Any]]:
    cases = []
    for number in CORE:
        path = ROOT / "tests" / "wrong_edits" / f"exercise_{number}.toml"
        found = tomllib.loads(path.read_text(encoding="utf-8"))["wrong"]
        cases.extend({**case, "exercise": number} for case in found)
    return cases


WRONG = _wrong_cases()
ALT = list(tomllib.loads((ROOT / "tests/alt_solutions/alt.toml").read_text("utf-8"))["alt"])


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [f"ex{c['exercise']}-{c['name']}" for c in cases]


def _variant(case: dict[str, Any], folder: Path) -> Any:
    number = int(case["exercise"])
    edits = case.get("edits", case.get("edit", []))
    text = apply_edits(reference_path(ROOT, number).read_text(encoding="utf-8"), edits)
    return load_variant(text, number, folder)


def _check(name: str) -> Any:
    found = [c for c in all_checks() if c.name == name]
    assert found, f"no check named {name!r}"
    return found[0]


def test_case_names_are_unique() -> None:
    """No two wrong (or alternative) cases share a name within an exercise."""
    for cases in (WRONG, ALT):
        names = Counter(_ids(cases))
        assert [n for n, count in names.items() if count > 1] == []


@pytest.mark.real
@pytest.mark.parametrize("case", WRONG, ids=_ids(WRONG))
def test_wrong_solution_fails_first_with_its_check(
    case: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The named check is the first to fail (fakeredis first), and it fails on Valkey too."""
    chk = _check(case["check"])
    assert chk.exercise == case["exercise"]
    module = _variant(case, tmp_path)
    server = request.getfixturevalue("valkey_server")
    valkey = Backend("valkey", server.url)
    result = grade_task(chk.exercise, chk.task, module, [FAKE, valkey], stop_on_failure=True)
    first = result.first_failure
    got = "nothing" if first is None else f"{first.check.name!r} on {first.backend}"
    assert first is not None, f"{case['name']} passed every check of {chk.task}"
    assert first.check.name == chk.name, f"first failure: {got}: {first.failure}"
    assert first.failure is not None
    assert first.failure.expected
    assert first.failure.got
    if first.backend != "valkey":
        on_valkey = run_check(chk, module, valkey)
        assert on_valkey.status is Status.FAILED, f"{case['name']} passed {chk.name!r} on Valkey"


@pytest.mark.real
@pytest.mark.parametrize("case", ALT, ids=_ids(ALT))
def test_alternative_edit_passes(
    case: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A correct variant of the reference passes every check on both backends."""
    module = _variant(case, tmp_path)
    server = request.getfixturevalue("valkey_server")
    backends = [FAKE, Backend("valkey", server.url)]
    path = tmp_path / f"exercise_{case['exercise']}.py"
    result = grade_exercise(int(case["exercise"]), path, backends, module)
    failures = [f"{r.check.name} ({r.backend}): {r.failure}" for r in result.failures]
    assert result.status is Status.PASSED, failures
    wanted = case.get("valkey_only")
    if wanted:
        notes = {t.valkey_only for t in result.tasks if t.valkey_only}
        assert wanted in notes, f"expected a Valkey-only note for {wanted}, got {notes}"
