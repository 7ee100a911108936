"""Wrong solutions as small edits of the reference: the grader must fail every one.

Each entry of tests/wrong_edits/exercise_N.toml names a mistake a real person
makes, the text of exercises/solutions/exercise_N.py it changes (found exactly
once) and the check that must catch it. The test applies the edit, grades the
result with that check on every backend the check runs on, and expects a failure
with both sides in words. A reference solution that drifts so an edit no longer
applies fails here too, rather than the wrong solution silently passing.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from valkey_redis.grading.checks import ex10
from valkey_redis.grading.harness import Backend
from valkey_redis.grading.runner import (
    Check,
    Status,
    all_checks,
    load_exercise,
    run_check,
    tasks_of,
)

ROOT = Path(__file__).resolve().parents[1]
EDITS = ROOT / "tests" / "wrong_edits"
SOLUTIONS = ROOT / "exercises" / "solutions"


@dataclass(frozen=True)
class Wrong:
    """One wrong solution: the reference with ``edits`` applied."""

    exercise: int
    name: str
    mistake: str
    check: str
    edits: tuple[tuple[str, str], ...]

    def source(self) -> str:
        """The reference solution with every edit applied (each must match exactly once)."""
        text = (SOLUTIONS / f"exercise_{self.exercise}.py").read_text(encoding="utf-8")
        for old, new in self.edits:
            assert text.count(old) == 1, f"{self.name}: {old!r} found {text.count(old)} times"
            text = text.replace(old, new)
        return text


def _load() -> list[Wrong]:
    found: list[Wrong] = []
    for path in sorted(EDITS.glob("exercise_*.toml")):
        number = int(path.stem.removeprefix("exercise_"))
        for entry in tomllib.loads(path.read_text(encoding="utf-8"))["wrong"]:
            edits = [(entry["old"], entry["new"])]
            edits += [(also["old"], also["new"]) for also in entry.get("also", [])]
            found.append(
                Wrong(number, entry["name"], entry["mistake"], entry["check"], tuple(edits))
            )
    return found


WRONG = _load()
NUMBERS = sorted({w.exercise for w in WRONG})


def _check(name: str) -> Check:
    matches = [c for c in all_checks() if c.name == name]
    assert matches, f"no check named {name!r}"
    return matches[0]


def test_every_task_has_four_wrong_solutions() -> None:
    """Each task of exercises 10-12 is the target of at least four wrong solutions."""
    counts = Counter((w.exercise, _check(w.check).task) for w in WRONG)
    thin = {(n, t): counts[n, t] for n in NUMBERS for t in tasks_of(n) if counts[n, t] < 4}
    assert thin == {}
    assert all(_check(w.check).exercise == w.exercise for w in WRONG)


def test_names_are_unique() -> None:
    """No two wrong solutions share a name (the test ids)."""
    names = Counter((w.exercise, w.name) for w in WRONG)
    assert [n for n, c in names.items() if c > 1] == []


@pytest.mark.real
@pytest.mark.parametrize("wrong", WRONG, ids=[f"ex{w.exercise}-{w.name}" for w in WRONG])
def test_wrong_solution_fails_its_check(
    wrong: Wrong, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edited solution fails the named check on every backend that check runs on."""
    # A wrong listener never converges: no need to wait the learner's full 5 s for it.
    monkeypatch.setattr(ex10, "WAIT", 1.5)
    path = tmp_path / f"exercise_{wrong.exercise}.py"
    path.write_text(wrong.source(), encoding="utf-8")
    module = load_exercise(path)
    chk = _check(wrong.check)
    server = request.getfixturevalue("valkey_server")
    backends = [Backend("fakeredis"), Backend("valkey", server.url)]
    ran = 0
    for backend in (b for b in backends if b.name in chk.on):
        result = run_check(chk, module, backend)
        assert result.status is Status.FAILED, f"{wrong.name} passed {chk.name!r} on {backend.name}"
        assert result.failure is not None
        assert result.failure.expected
        assert result.failure.got
        ran += 1
    assert ran, f"{chk.name!r} ran on no backend"
