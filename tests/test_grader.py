"""The grader itself: it fails plausible wrong solutions, accepts other correct ones,
and its commands (grade, hint, watch, reset, check-exercises) behave.

Wrong solutions are edits of the reference in tests/wrong_solutions/wrong.toml
(graded by tests/test_grader_cases.py); a full file
tests/wrong_solutions/exercise_N_<what_is_wrong>.py with an EXPECTED_FAILURE is
still graded here. tests/alt_solutions/exercise_N.py are correct solutions
written differently (Lua vs MULTI/WATCH, other token formats, extra keys).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
import threading
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from valkey_redis import cli
from valkey_redis.grader import EXERCISES, check_exercises, grade, hint, reset, stub_text, watch
from valkey_redis.grading import runner
from valkey_redis.grading.harness import Backend
from valkey_redis.grading.report import Style, progress_bar, render, render_failure
from valkey_redis.grading.runner import (
    Status,
    all_checks,
    checks_for,
    grade_exercise,
    grade_task,
    load_exercise,
    run_check,
    tasks_of,
)
from valkey_redis.grading.variants import apply_edits, reference_path

ROOT = Path(__file__).resolve().parents[1]
WRONG = sorted((ROOT / "tests" / "wrong_solutions").glob("exercise_*.py"))
ALT = ROOT / "tests" / "alt_solutions"
SOLUTIONS = ROOT / "exercises" / "solutions"
FAKE = Backend("fakeredis")


def _number(path: Path) -> int:
    match = re.match(r"exercise_(\d+)_", path.name)
    assert match, path.name
    return int(match.group(1))


def _backends(request: pytest.FixtureRequest) -> list[Backend]:
    server = request.getfixturevalue("valkey_server")
    return [FAKE, Backend("valkey", server.url)]


def _check_named(name: str) -> runner.Check:
    found = [c for c in all_checks() if c.name == name]
    assert found, f"no check named {name!r}"
    return found[0]


# --- wrong and alternative solutions -----------------------------------------------


def _wrong_file(name: str, folder: Path) -> Path:
    """Write the wrong.toml case ``exercise_N_<name>`` (the reference, edited) into ``folder``."""
    number, case_name = int(name.split("_")[1]), name.split("_", 2)[2]
    cases = tomllib.loads((ROOT / "tests" / "wrong_solutions" / "wrong.toml").read_text("utf-8"))
    case = next(c for c in cases["wrong"] if c["exercise"] == number and c["name"] == case_name)
    text = apply_edits(reference_path(ROOT, number).read_text(encoding="utf-8"), case["edit"])
    path = folder / f"wrong_{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def _targeted() -> list[tuple[int, str]]:
    """(exercise, task) of every wrong solution: full files, and edits in wrong_solutions/*.toml."""
    names = [load_exercise(path).EXPECTED_FAILURE for path in WRONG]
    for toml in sorted((ROOT / "tests" / "wrong_solutions").glob("*.toml")):
        cases = tomllib.loads(toml.read_text("utf-8"))
        names += [case["first_failure"] for case in cases["wrong"]]
    return [(_check_named(n).exercise, _check_named(n).task) for n in names]


def test_at_least_four_wrong_solutions_per_exercise() -> None:
    """Every exercise has four or more wrong solutions kept as test data."""
    counts = Counter(number for number, _ in _targeted())
    assert all(counts[n] >= 4 for n in EXERCISES), counts


def test_every_task_is_targeted_by_a_wrong_solution() -> None:
    """Each task has at least one wrong solution whose expected failure is one of its checks."""
    targeted = set(_targeted())
    missing = [(n, t) for n in EXERCISES for t in tasks_of(n) if (n, t) not in targeted]
    assert missing == []


@pytest.mark.real
@pytest.mark.parametrize("path", WRONG, ids=[p.stem for p in WRONG])
def test_wrong_solution_fails_its_check(path: Path, request: pytest.FixtureRequest) -> None:
    """Each wrong solution fails the check named in its EXPECTED_FAILURE, on both backends."""
    module = load_exercise(path)
    chk = _check_named(module.EXPECTED_FAILURE)
    assert chk.exercise == _number(path)
    for backend in _backends(request):
        result = run_check(chk, module, backend)
        assert result.status is Status.FAILED, f"{path.name} passed {chk.name!r} on {backend.name}"
        assert result.failure is not None
        assert result.failure.expected
        assert result.failure.got


@pytest.mark.real
@pytest.mark.parametrize("number", EXERCISES)
def test_alternative_solution_passes(number: int, request: pytest.FixtureRequest) -> None:
    """A correct solution written differently passes every check on both backends."""
    result = grade_exercise(number, ALT / f"exercise_{number}.py", _backends(request))
    failures = [f"{r.check.name} ({r.backend}): {r.failure}" for r in result.failures]
    assert result.status is Status.PASSED, failures


def test_check_names_are_unique_and_name_their_task() -> None:
    """Every check starts with its task's name, so a failure says what it is about."""
    names = [c.name for c in all_checks()]
    assert len(names) == len(set(names))
    assert all(c.name.startswith(c.task) for c in all_checks())


# --- the runner ----------------------------------------------------------------------


def test_same_named_files_load_as_separate_modules() -> None:
    """exercises/exercise_1.py and exercises/solutions/exercise_1.py never shadow each other."""
    stub = load_exercise(ROOT / "src" / "valkey_redis" / "grading" / "stubs" / "exercise_1.py")
    solution = load_exercise(SOLUTIONS / "exercise_1.py")
    assert stub is not solution
    assert grade_task(1, "load_profile", stub, [FAKE]).status is Status.NOT_STARTED
    assert grade_task(1, "load_profile", solution, [FAKE]).status is Status.PASSED


def test_a_file_that_does_not_import_fails_with_its_line(tmp_path: Path) -> None:
    """A syntax error is a failing exercise whose report names the line."""
    path = tmp_path / "exercise_1.py"
    path.write_text("def save_profile(:\n    pass\n", encoding="utf-8")
    result = grade_exercise(1, path, [FAKE])
    assert result.status is Status.FAILED
    assert result.load_error is not None
    assert "SyntaxError" in result.load_error.got
    assert result.load_error.got.count("line 1") == 1
    assert all(task.status is Status.FAILED for task in result.tasks)


def test_a_file_that_does_not_import_passes_no_task(tmp_path: Path) -> None:
    """A missing module fails the exercise and the report counts no task as passing."""
    path = tmp_path / "exercise_1.py"
    path.write_text("import no_such_module_here\n", encoding="utf-8")
    result = grade_exercise(1, path, [FAKE])
    assert result.status is Status.FAILED
    assert result.load_error is not None
    assert "ModuleNotFoundError" in result.load_error.got
    assert result.load_error.got.count("line 1") == 1
    text = render([result], header="grade", style=Style())
    assert f"0/{len(result.tasks)} tasks of exercise 1 pass" in text
    assert text.count("line 1") == 1


def test_a_missing_function_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    """A renamed function fails its checks with 'no such function'."""
    path = tmp_path / "exercise_6.py"
    path.write_text(
        "def should_refresh(remaining_ttl, delta):\n    return True\n", encoding="utf-8"
    )
    result = grade_task(6, "should_refresh_early", load_exercise(path), [FAKE])
    assert result.status is Status.FAILED
    first = result.first_failure
    assert first is not None
    assert first.failure is not None
    assert "no such function" in first.failure.got


def test_not_implemented_on_one_path_only_is_a_failure(tmp_path: Path) -> None:
    """A started task that still raises NotImplementedError somewhere fails, not skips."""
    source = (SOLUTIONS / "exercise_1.py").read_text(encoding="utf-8")
    source = source.replace(
        "    return fields or None\n",
        "    if not fields:\n        raise NotImplementedError\n    return fields\n",
    )
    path = tmp_path / "exercise_1.py"
    path.write_text(source, encoding="utf-8")
    result = grade_task(1, "load_profile", load_exercise(path), [FAKE])
    assert result.status is Status.FAILED


def test_closing_a_check_survives_a_straggler(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool that refuses to disconnect (a learner thread mid-command) does not crash close()."""
    from valkey_redis.grading.harness import Env

    env = Env(FAKE)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise ValueError("generator already executing")

    monkeypatch.setattr(env.pool, "disconnect", refuse)
    env.close()
    assert env.aborted


def test_a_hanging_function_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An endless loop fails its check after the timeout instead of hanging the grader."""
    monkeypatch.setattr(runner, "CHECK_TIMEOUT", 0.3)
    path = tmp_path / "exercise_1.py"
    path.write_text(
        "import time\n\ndef load_profile(client, user_id):\n"
        "    while True:\n        client.ping()\n        time.sleep(0.01)\n",
        encoding="utf-8",
    )
    result = grade_task(1, "load_profile", load_exercise(path), [FAKE, FAKE])
    assert len(result.results) == 1  # the other checks and backends were skipped
    first = result.first_failure
    assert first is not None
    assert first.failure is not None
    assert "still running" in first.failure.got
    planned = len(checks_for(1, "load_profile")) * 2 - 1
    assert f"({planned} more checks of load_profile skipped)" in first.failure.got


def test_failure_text_says_called_expected_and_got(tmp_path: Path) -> None:
    """The plain-words failure has the call, the expectation and what came back."""
    module = load_exercise(_wrong_file("exercise_4_release_any_token", tmp_path))
    chk = _check_named("release_lock refuses a token that is not the owner's")
    result = run_check(chk, module, FAKE)
    text = "\n".join(render_failure(result, Style()))
    assert "called:    release_lock(client, 'jobs', 'my-token-5f1c')" in text
    assert "expected:  False (not your lock)" in text
    assert "got:       True" in text


def test_progress_bar_and_ascii_marks() -> None:
    """The bar fills in tenths; terminals that cannot print check marks get ASCII."""
    assert progress_bar(3, 6) == "[#####-----]"
    assert progress_bar(0, 6) == "[----------]"
    assert progress_bar(6, 6) == "[##########]"

    style = Style.for_stream(io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    assert (style.ok, style.bad, style.todo, style.color) == ("+", "x", ".", False)


# --- the commands --------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of exercises/ (stubs, solutions, hints) to run commands in."""
    shutil.copytree(ROOT / "exercises", tmp_path / "exercises", ignore=shutil.ignore_patterns(".*"))
    for number in EXERCISES:
        (tmp_path / "exercises" / f"exercise_{number}.py").write_text(
            stub_text(number), encoding="utf-8"
        )
    return tmp_path


def _collect() -> tuple[list[str], Callable[[str], None]]:
    lines: list[str] = []
    return lines, lines.append


def test_grade_a_stub_exits_1_and_says_where_to_start(workspace: Path) -> None:
    """A fresh stub: not started, exit 1, where to begin and how to get a hint."""
    lines, out = _collect()
    status = grade([1], root=workspace, which="fakeredis", out=out)
    text = "\n".join(lines)
    assert status == 1
    assert "[----------] 0/6 tasks of exercise 1 pass" in text
    assert "not started" in text
    assert "stuck? `make hint EX=1`" in text


@pytest.mark.real
def test_grade_a_wrong_solution_shows_the_first_failing_check(workspace: Path) -> None:
    """A wrong solution: exit 1, the task marked ✗, the failing check in plain words."""
    shutil.copy(
        _wrong_file("exercise_1_claim_check_then_set", workspace),
        workspace / "exercises" / "exercise_1.py",
    )
    lines, out = _collect()
    status = grade([1], root=workspace, out=out)
    text = "\n".join(lines)
    assert status == 1
    assert "failing (5/6 tasks pass)" in text
    assert "claim_username lets exactly one of two racing callers win" in text
    assert "meanwhile:" in text
    assert "got:       yours True, theirs True" in text
    assert "stuck? `make hint EX=1`" in text


def test_grade_a_solved_exercise_exits_0_and_points_to_the_solution(workspace: Path) -> None:
    """A solved exercise: exit 0, every task ✓, a pointer to the reference solution."""
    shutil.copy(SOLUTIONS / "exercise_6.py", workspace / "exercises" / "exercise_6.py")
    lines, out = _collect()
    status = grade([6], root=workspace, which="fakeredis", out=out)
    text = "\n".join(lines)
    assert status == 0
    assert "[##########] 2/2 tasks of exercise 6 pass" in text
    assert "compare with the reference: exercises/solutions/exercise_6.py" in text


def test_grade_all_counts_solved_exercises(workspace: Path) -> None:
    """`make grade` over all six: the bar counts solved exercises; one unsolved -> exit 1."""
    shutil.copy(SOLUTIONS / "exercise_6.py", workspace / "exercises" / "exercise_6.py")
    lines, out = _collect()
    status = grade([1, 6], root=workspace, which="fakeredis", out=out)
    assert status == 1
    assert "[#####-----] 1 of 2 exercises solved (2/8 tasks)" in "\n".join(lines)


def test_cli_grade_needs_ex_with_file_and_exits_by_result(tmp_path: Path) -> None:
    """`valkey-redis grade --file` needs --ex; a wrong file exits 1."""
    wrong = _wrong_file("exercise_6_xfetch_strict", tmp_path)
    assert cli.main(["grade", "--file", str(wrong)]) == 2
    args = ["grade", "--ex", "6", "--file", str(wrong), "--backend", "fakeredis"]
    assert cli.main(args) == 1
    with pytest.raises(SystemExit):
        cli.main(["hint", "99"])


@pytest.mark.parametrize("given", ["abc", "99", "", "-1"])
def test_cli_names_a_wrong_exercise_number_plainly(
    given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make grade EX=abc` lists the real exercises, not a Python function's name."""
    with pytest.raises(SystemExit):
        cli.main(["grade", "--ex", given])
    err = capsys.readouterr().err
    assert "pick one of 1, 2, 3" in err
    assert "_exercise_number" not in err


def test_hints_come_one_at_a_time_for_the_current_task(workspace: Path) -> None:
    """`make hint` shows the next hint of the first unsolved task and remembers it."""
    lines, out = _collect()
    hint(1, root=workspace, out=out)
    hint(1, root=workspace, out=out)
    text = "\n".join(lines)
    assert "Hint 1/3 for exercise 1, save_profile" in text
    assert "Hint 2/3 for exercise 1, save_profile" in text
    progress = json.loads((workspace / "exercises" / ".progress.json").read_text())
    assert progress == {"hints": {"1": {"save_profile": 2}}}


def test_hints_move_on_when_a_task_passes(workspace: Path) -> None:
    """Once save_profile passes, the next hint is about load_profile."""
    source = (SOLUTIONS / "exercise_1.py").read_text(encoding="utf-8")
    start = source.index("def load_profile")
    end = source.index("def add_points")
    stubbed = (
        source[:start]
        + (
            "def load_profile(client: redis.Redis, user_id: int) -> dict[str, str] | None:\n"
            "    raise NotImplementedError\n\n\n"
        )
        + source[end:]
    )
    (workspace / "exercises" / "exercise_1.py").write_text(stubbed, encoding="utf-8")
    lines, out = _collect()
    hint(1, root=workspace, out=out)
    assert "Hint 1/2 for exercise 1, load_profile" in "\n".join(lines)


def test_hint_all_lists_every_hint(workspace: Path) -> None:
    """`make hint EX=N ALL=1` prints every task's hints and the solution's path."""
    lines, out = _collect()
    hint(4, root=workspace, show_all=True, out=out)
    text = "\n".join(lines)
    assert all(f"exercise 4, {task}:" in text for task in tasks_of(4))
    assert "exercises/solutions/exercise_4.py" in text


def test_reset_asks_before_discarding_work(workspace: Path) -> None:
    """`make reset` keeps the file unless confirmed; FORCE (yes) restores the stub."""
    path = workspace / "exercises" / "exercise_2.py"
    path.write_text("# my work\n", encoding="utf-8")
    (workspace / "exercises" / ".progress.json").write_text(
        json.dumps({"hints": {"2": {"get_product": 1}, "3": {"get_session": 1}}})
    )
    lines, out = _collect()
    assert reset(2, root=workspace, ask=lambda _: "n", out=out) == 0
    assert lines[-1] == "Kept your file: nothing was changed."
    assert path.read_text(encoding="utf-8") == "# my work\n"
    assert reset(2, root=workspace, ask=lambda _: "yes", out=out) == 0
    assert path.read_text(encoding="utf-8") == stub_text(2)
    progress = json.loads((workspace / "exercises" / ".progress.json").read_text())
    assert progress == {"hints": {"3": {"get_session": 1}}}


def test_reset_without_a_terminal_needs_force(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a terminal to ask on, reset refuses unless --yes (FORCE=1) is given."""
    path = workspace / "exercises" / "exercise_3.py"
    path.write_text("# my work\n", encoding="utf-8")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    lines, out = _collect()
    assert reset(3, root=workspace, out=out) == 1
    assert "FORCE=1" in "\n".join(lines)
    assert reset(3, root=workspace, yes=True, out=out) == 0
    assert path.read_text(encoding="utf-8") == stub_text(3)


def test_watch_regrades_when_the_file_changes(workspace: Path) -> None:
    """`make watch` grades, then re-grades an exercise when its file is saved."""
    seen = threading.Event()
    regraded = threading.Event()
    lines: list[str] = []

    def out(text: str) -> None:
        lines.append(text)
        if "not started" in text:
            seen.set()
        if "solved" in text:
            regraded.set()

    done: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: done.append(
            watch([6], root=workspace, interval=0.02, which="fakeredis", stop=stop, out=out)
        ),
        daemon=True,
    )
    thread.start()
    try:
        assert seen.wait(30)
        # The stamp is (mtime, size) and the solution is longer than the stub, so
        # the change is seen even where mtimes are coarse.
        shutil.copy(SOLUTIONS / "exercise_6.py", workspace / "exercises" / "exercise_6.py")
        assert regraded.wait(30), "\n".join(lines)
    finally:
        stop.set()
        thread.join(30)
    assert done == [0]
    assert any("re-grading exercise 6" in line for line in lines)


def test_check_exercises_flags_a_solved_stub(workspace: Path) -> None:
    """check-exercises fails when a shipped stub is not a stub any more."""
    shutil.copy(SOLUTIONS / "exercise_6.py", workspace / "exercises" / "exercise_6.py")
    lines, out = _collect()
    status = check_exercises(
        root=workspace,
        numbers=(6,),
        which="fakeredis",
        lint=False,
        out=out,
    )
    text = "\n".join(lines)
    assert status == 1
    assert "exercises/exercise_6.py is passed, not 'not started'" in text
    assert "differs from its packaged copy" in text


def test_check_exercises_passes_on_pristine_stubs(workspace: Path) -> None:
    """check-exercises passes on the shipped stubs and solutions (lint aside)."""
    lines, out = _collect()
    status = check_exercises(
        root=workspace,
        numbers=(1, 6),
        which="fakeredis",
        lint=False,
        out=out,
    )
    assert status == 0, "\n".join(lines)


def test_hints_run_out_then_point_to_the_solution(workspace: Path) -> None:
    """After the last hint of a task, `make hint` points to the reference solution."""
    lines, out = _collect()
    for _ in range(4):
        hint(1, root=workspace, out=out)
    assert "No more hints for save_profile" in lines[-1]
    assert "exercises/solutions/exercise_1.py" in lines[-1]


def test_hint_for_a_solved_exercise_says_so(workspace: Path) -> None:
    """A solved exercise gets no hint, only the way to the reference solution."""
    shutil.copy(SOLUTIONS / "exercise_6.py", workspace / "exercises" / "exercise_6.py")
    lines, out = _collect()
    assert hint(6, root=workspace, out=out) == 0
    assert "Exercise 6 passes every check" in lines[0]
    assert not (workspace / "exercises" / ".progress.json").exists()


def test_hint_for_a_file_that_does_not_import_starts_at_the_first_task(workspace: Path) -> None:
    """A broken file still gets a hint: the first task's."""
    (workspace / "exercises" / "exercise_2.py").write_text("def (\n", encoding="utf-8")
    lines, out = _collect()
    hint(2, root=workspace, out=out)
    assert "Hint 1/3 for exercise 2, get_product" in lines[0]


def test_grading_goes_on_without_a_runnable_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the bundled valkey-server cannot run, grading uses fakeredis and says why."""
    from valkey_redis.grading import workspace

    monkeypatch.setattr(workspace, "binary_can_run", lambda: False)
    with workspace.grading_backends() as (backends, where):
        assert [b.name for b in backends] == ["fakeredis"]
        assert "real Valkey skipped: the bundled valkey-server cannot run here" in where


def test_grading_goes_on_without_fakeredis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the dev dependency fakeredis, grading uses real Valkey and says so."""
    import importlib.util

    from valkey_redis.grading import workspace

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "fakeredis" else real_find_spec(name, *a),
    )
    with workspace.grading_backends() as (backends, where):
        assert [b.name for b in backends] == ["valkey", "cluster"]
        assert "fakeredis skipped: not installed" in where


def test_reset_of_an_untouched_or_missing_stub(workspace: Path) -> None:
    """Reset leaves an untouched stub alone and recreates a deleted file without asking."""
    lines, out = _collect()
    assert reset(4, root=workspace, out=out) == 0
    assert "already the untouched stub" in lines[-1]
    path = workspace / "exercises" / "exercise_4.py"
    path.unlink()
    assert reset(4, root=workspace, out=out) == 0
    assert path.read_text(encoding="utf-8") == stub_text(4)


def test_check_exercises_reports_failing_solutions_thin_hints_and_lint(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check-exercises names a failing solution, a task with too few hints, and lint errors."""
    from valkey_redis.grading import maintenance

    shutil.copy(
        _wrong_file("exercise_6_xfetch_strict", workspace),
        workspace / "exercises" / "solutions" / "exercise_6.py",
    )
    hints_file = workspace / "exercises" / "hints.toml"
    text = hints_file.read_text(encoding="utf-8")
    start = text.index("should_refresh_early = [")
    hints_file.write_text(text[:start] + 'should_refresh_early = ["one"]\n', encoding="utf-8")
    monkeypatch.setattr(maintenance, "_tool", lambda args, root: (False, f"{args[0]} says no"))
    lines, out = _collect()
    status = check_exercises(root=workspace, numbers=(6,), which="fakeredis", out=out)
    report = "\n".join(lines)
    assert status == 1
    assert "exercises/solutions/exercise_6.py is failed" in report
    assert "should_refresh_early refreshes at the boundary" in report
    assert "fewer than 2 hints for should_refresh_early" in report
    assert "ruff says no" in report
    assert "mypy says no" in report


def test_cli_hint_and_reset_work_from_the_repository(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`valkey-redis hint N --all` and `reset N --yes` find exercises/ from the current folder."""
    monkeypatch.chdir(workspace / "exercises")
    assert cli.main(["hint", "5", "--all"]) == 0
    assert "exercise 5, allow_token_bucket:" in capsys.readouterr().out
    (workspace / "exercises" / "exercise_5.py").write_text("# mine\n", encoding="utf-8")
    assert cli.main(["reset", "5", "--yes"]) == 0
    assert (workspace / "exercises" / "exercise_5.py").read_text(encoding="utf-8") == stub_text(5)


def test_find_root_falls_back_to_the_start(tmp_path: Path) -> None:
    """Outside a repository the current folder is used (and grading reports missing files)."""
    from valkey_redis.grading.workspace import find_root

    assert find_root(tmp_path) == tmp_path.resolve()
