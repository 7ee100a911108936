"""The grader fails realistic wrong solutions with the right first check, and accepts correct ones.

Cases are small edits of exercises/solutions/exercise_N.py, applied here at run
time: tests/wrong_solutions/wrong.toml (each names the check that must be the
first to fail) and tests/alt_solutions/alt.toml (correct solutions written
another way, which must pass every check on both backends).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from valkey_redis.grading.checks import ex10
from valkey_redis.grading.harness import Backend
from valkey_redis.grading.runner import (
    Status,
    all_checks,
    checks_for,
    grade_exercise,
    grade_task,
    run_check,
    tasks_of,
)
from valkey_redis.grading.variants import apply_edits, load_variant, reference_path

ROOT = Path(__file__).resolve().parents[1]
FAKE = Backend("fakeredis")


def _cases(relative: str, table: str) -> list[dict[str, Any]]:
    data = tomllib.loads((ROOT / "tests" / relative).read_text(encoding="utf-8"))
    return list(data.get(table, []))


# wrong.toml holds exercises 1-6; later exercises keep theirs in exercise_N.toml.
WRONG = [
    case
    for path in sorted((ROOT / "tests" / "wrong_solutions").glob("*.toml"))
    for case in _cases(f"wrong_solutions/{path.name}", "wrong")
]
ALT = _cases("alt_solutions/alt.toml", "alt")
CORE = (1, 2, 3, 4, 5, 6)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [f"ex{c['exercise']}-{c['name']}" for c in cases]


def _variant(case: dict[str, Any], folder: Path) -> Any:
    number = int(case["exercise"])
    text = apply_edits(reference_path(ROOT, number).read_text(encoding="utf-8"), case["edit"])
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


def test_at_least_four_wrong_solutions_per_task() -> None:
    """Every task of exercises 1-6 has four or more wrong solutions that fail it first."""
    per_task = Counter(_check(c["first_failure"]).task for c in WRONG)
    tasks = {c.task for c in all_checks() if c.exercise in CORE}
    assert {t: per_task[t] for t in tasks if per_task[t] < 4} == {}


def test_four_wrong_solutions_per_task_of_exercises_with_their_own_file() -> None:
    """Each task of an exercise with its own exercise_N.toml is the first failure of four cases."""
    folder = ROOT / "tests" / "wrong_solutions"
    numbers = [int(p.stem.removeprefix("exercise_")) for p in folder.glob("exercise_*.toml")]
    per_task = Counter(
        (int(c["exercise"]), _check(c["first_failure"]).task)
        for c in WRONG
        if int(c["exercise"]) in numbers
    )
    thin = {(n, t): per_task[n, t] for n in numbers for t in tasks_of(n) if per_task[n, t] < 4}
    assert thin == {}


def test_four_wrong_solutions_per_task_of_exercises_7_to_9() -> None:
    """Each task of exercises 7-9 has four or more wrong solutions aimed at it."""
    per_task = Counter(
        (_check(c["first_failure"]).exercise, _check(c["first_failure"]).task) for c in WRONG
    )
    tasks = {(c.exercise, c.task) for c in all_checks() if 7 <= c.exercise <= 9}
    assert {t: per_task[t] for t in tasks if per_task[t] < 4} == {}


@pytest.mark.real
@pytest.mark.parametrize("case", WRONG, ids=_ids(WRONG))
def test_wrong_solution_fails_first_with_its_check(
    case: dict[str, Any],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The named check is the first to fail (fakeredis, Valkey, then a cluster if the task has one).

    A check that fails first on fakeredis must fail on Valkey too.
    """
    # A wrong listener never catches up: no need to wait a learner's full 3 s for it.
    monkeypatch.setattr(ex10, "WAIT", 1.0)
    chk = _check(case["first_failure"])
    assert chk.exercise == case["exercise"]
    module = _variant(case, tmp_path)
    server = request.getfixturevalue("valkey_server")
    valkey = Backend("valkey", server.url)
    backends = [FAKE, valkey]
    if any("cluster" in c.on for c in checks_for(chk.exercise, chk.task)):
        cluster = request.getfixturevalue("valkey_cluster")
        backends.append(Backend("cluster", cluster.url))
    result = grade_task(chk.exercise, chk.task, module, backends, stop_on_failure=True)
    first = result.first_failure
    got = "nothing" if first is None else f"{first.check.name!r} on {first.backend}"
    assert first is not None, f"{case['name']} passed every check of {chk.task}"
    assert first.check.name == chk.name, f"first failure: {got}: {first.failure}"
    assert first.failure is not None
    assert first.failure.expected
    assert first.failure.got
    if first.backend != "valkey" and "valkey" in chk.on:
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
