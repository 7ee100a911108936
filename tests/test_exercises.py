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


def _assert_stub_function(func: ast.FunctionDef, lines: list[str], name: str) -> None:
    body = "\n".join(lines[func.lineno - 1 : func.end_lineno])
    assert ast.get_docstring(func), f"{name} has no docstring"
    assert "# TODO:" in body, f"{name} has no # TODO edit point"
    last = func.body[-1]
    assert isinstance(last, ast.Raise), f"{name} does not end with raise NotImplementedError"
    assert "NotImplementedError" in ast.unparse(last)


def _task_classes(tree: ast.Module, number: int) -> dict[str, ast.ClassDef]:
    return {
        c.name: c for c in tree.body if isinstance(c, ast.ClassDef) and c.name in tasks_of(number)
    }


@pytest.mark.parametrize("number", EXERCISES)
def test_stub_has_docstring_todo_and_raise_in_every_task(number: int) -> None:
    """Each task function, task class method or ``Class.method`` task: docstring, # TODO, raise.

    A task may be a whole class (every method is an edit point) or one method of a
    class (``LocalCache.get``), whose ``__init__`` then needs a # TODO and the raise too.
    """
    source = stub_text(number)
    tree = ast.parse(source)
    assert ast.get_docstring(tree), "the module docstring states the exercise"
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    classes = _task_classes(tree, number)
    defs = _definitions(tree)
    methods = sorted(t for t in tasks_of(number) if "." in t)
    assert sorted([*functions, *classes, *methods]) == sorted(tasks_of(number))
    public = [n for n in defs if "." in n and not n.rsplit(".", 1)[-1].startswith("_")]
    assert sorted(n for n in public if n.split(".")[0] not in classes) == methods
    lines = source.splitlines()
    for name, func in functions.items():
        _assert_stub_function(func, lines, name)
    for name, cls in classes.items():
        assert ast.get_docstring(cls), f"{name} has no docstring"
        class_methods = [m for m in cls.body if isinstance(m, ast.FunctionDef)]
        assert class_methods, f"{name} has no methods"
        for method in class_methods:
            _assert_stub_function(method, lines, f"{name}.{method.name}")
    for name in methods:
        _assert_stub_function(defs[name], lines, name)
    for owner in {name.split(".")[0] for name in methods}:
        init = defs[f"{owner}.__init__"]
        body = "\n".join(lines[init.lineno - 1 : init.end_lineno])
        assert "# TODO:" in body, f"{owner}.__init__ has no # TODO edit point"
        assert isinstance(init.body[-1], ast.Raise), f"{owner}.__init__ does not raise"


@pytest.mark.parametrize("number", EXERCISES)
def test_stub_and_solution_share_every_signature(number: int) -> None:
    """The signatures (a class task's methods too) are part of the task: stub and solution agree."""
    stub = load_exercise(STUBS / f"exercise_{number}.py")
    solution = _module(ROOT / "exercises" / "solutions" / f"exercise_{number}.py")
    for task in tasks_of(number):
        expected, got = _resolve(stub, task), _resolve(solution, task)
        assert inspect.signature(expected) == inspect.signature(got), task
        if "." in task:  # a method task: its class's constructor is part of the contract
            owner = task.split(".")[0]
            mine, theirs = _resolve(stub, owner), _resolve(solution, owner)
            assert inspect.signature(mine) == inspect.signature(theirs), owner
        if inspect.isclass(expected):
            for name, member in vars(expected).items():
                if (callable(member) and not name.startswith("__")) or name == "__init__":
                    theirs = getattr(got, name)
                    assert inspect.signature(member) == inspect.signature(theirs), (task, name)
                if isinstance(member, property):
                    assert isinstance(getattr(got, name), property), (task, name)


def test_hints_cover_every_task_with_two_or_more() -> None:
    """hints.toml has every exercise, each task with at least two hints."""
    data = tomllib.loads((ROOT / "exercises" / "hints.toml").read_text(encoding="utf-8"))
    assert sorted(int(n) for n in data) == list(EXERCISES)
    for number in EXERCISES:
        tasks = data[str(number)]["tasks"]
        assert sorted(tasks) == sorted(tasks_of(number)), f"exercise {number}"
        assert all(len(hints) >= 2 for hints in tasks.values()), f"exercise {number}"
