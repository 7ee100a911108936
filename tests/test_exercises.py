"""The exercises inside `make test`: your files are graded, the reference solutions always.

A task whose function still raises NotImplementedError is skipped as "not
started", so a fresh clone passes; once you start a task, a wrong answer fails
here with the same plain-words explanation as `make grade`.
"""

from __future__ import annotations

import ast
import functools
import inspect
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from valkey_redis.grader import EXERCISES, stub_text
from valkey_redis.grading.harness import Backend
from valkey_redis.grading.report import Style, render_failure
from valkey_redis.grading.runner import (
    LoadError,
    Status,
    TaskResult,
    grade_task,
    load_exercise,
    tasks_of,
)

ROOT = Path(__file__).resolve().parents[1]
STUBS = ROOT / "src" / "valkey_redis" / "grading" / "stubs"
CASES = [pytest.param(n, t, id=f"ex{n}-{t}") for n in EXERCISES for t in tasks_of(n)]


@pytest.fixture(params=["fakeredis", pytest.param("valkey", marks=pytest.mark.real)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each task on fakeredis and on the session's real Valkey."""
    if request.param == "fakeredis":
        return Backend("fakeredis")
    server = request.getfixturevalue("valkey_server")
    return Backend("valkey", server.url)


@functools.cache
def _module(path: Path) -> ModuleType:
    return load_exercise(path)


def _explain(result: TaskResult) -> str:
    style = Style(color=False)
    lines = [f"exercise {result.exercise}, {result.task}:"]
    for failed in (r for r in result.results if r.status is Status.FAILED):
        lines += render_failure(failed, style)
    return "\n".join(lines)


@pytest.mark.parametrize(("number", "task"), CASES)
def test_your_exercise(number: int, task: str, backend: Backend) -> None:
    """Your exercises/exercise_N.py: every started task passes every check."""
    try:
        module = _module(ROOT / "exercises" / f"exercise_{number}.py")
    except LoadError as error:
        pytest.fail(f"exercises/exercise_{number}.py does not import: {error.failure.got}")
    result = grade_task(number, task, module, [backend])
    if result.status is Status.NOT_STARTED:
        pytest.skip("not started")
    assert result.status is Status.PASSED, _explain(result)


@pytest.mark.parametrize(("number", "task"), CASES)
def test_reference_solution(number: int, task: str, backend: Backend) -> None:
    """exercises/solutions/exercise_N.py passes every check of every task."""
    module = _module(ROOT / "exercises" / "solutions" / f"exercise_{number}.py")
    result = grade_task(number, task, module, [backend])
    assert result.status is Status.PASSED, _explain(result)


@pytest.mark.parametrize("number", EXERCISES)
def test_packaged_stub_is_not_started(number: int) -> None:
    """The stub `make reset` restores raises NotImplementedError in every task."""
    module = load_exercise(STUBS / f"exercise_{number}.py")
    for task in tasks_of(number):
        result = grade_task(number, task, module, [Backend("fakeredis")])
        assert result.status is Status.NOT_STARTED, f"{task}: {result.status}"


def _definitions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """Top-level functions by name, and methods of top-level classes as ``Class.method``."""
    found: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    found[f"{node.name}.{item.name}"] = item
    return found


def _resolve(module: ModuleType, task: str) -> Callable[..., Any]:
    """``LocalCache.get`` -> the attribute chain, a plain name -> the function."""
    found: object = module
    for part in task.split("."):
        found = getattr(found, part)
    return cast("Callable[..., Any]", found)


@pytest.mark.parametrize("number", EXERCISES)
def test_stub_has_docstring_todo_and_raise_in_every_task(number: int) -> None:
    """Each task function (or method) of a stub has a docstring, a # TODO, and a raise.

    A class's ``__init__`` counts as an edit point too: it needs a # TODO and the raise.
    """
    source = stub_text(number)
    tree = ast.parse(source)
    assert ast.get_docstring(tree), "the module docstring states the exercise"
    defs = _definitions(tree)
    graded = sorted(name for name in defs if not name.rsplit(".", 1)[-1].startswith("_"))
    assert graded == sorted(tasks_of(number))
    lines = source.splitlines()
    edit_points = [*tasks_of(number), *(name for name in defs if name.endswith(".__init__"))]
    for name in edit_points:
        func = defs[name]
        body = "\n".join(lines[func.lineno - 1 : func.end_lineno])
        assert name.endswith("__init__") or ast.get_docstring(func), f"{name} has no docstring"
        assert "# TODO:" in body, f"{name} has no # TODO edit point"
        last = func.body[-1]
        assert isinstance(last, ast.Raise), f"{name} does not end with raise NotImplementedError"
        assert "NotImplementedError" in ast.unparse(last)


@pytest.mark.parametrize("number", EXERCISES)
def test_stub_and_solution_share_every_signature(number: int) -> None:
    """The signatures in the curriculum are part of the task: stub and solution agree."""
    stub = load_exercise(STUBS / f"exercise_{number}.py")
    solution = _module(ROOT / "exercises" / "solutions" / f"exercise_{number}.py")
    # A class's constructor (``LocalCache(client, channel)``) is part of the contract too.
    names = {*tasks_of(number), *(t.split(".")[0] for t in tasks_of(number) if "." in t)}
    for task in sorted(names):
        expected = inspect.signature(_resolve(stub, task))
        assert expected == inspect.signature(_resolve(solution, task)), task


def test_hints_cover_every_task_with_two_or_more() -> None:
    """hints.toml has every exercise, each task with at least two hints."""
    data = tomllib.loads((ROOT / "exercises" / "hints.toml").read_text(encoding="utf-8"))
    assert sorted(int(n) for n in data) == list(EXERCISES)
    for number in EXERCISES:
        tasks = data[str(number)]["tasks"]
        assert sorted(tasks) == sorted(tasks_of(number)), f"exercise {number}"
        assert all(len(hints) >= 2 for hints in tasks.values()), f"exercise {number}"
