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
    checks_for,
    grade_task,
    load_exercise,
    tasks_of,
)

ROOT = Path(__file__).resolve().parents[1]
STUBS = ROOT / "src" / "valkey_redis" / "grading" / "stubs"
_MARKS = {
    "fakeredis": [],
    "valkey": [pytest.mark.real],
    "cluster": [pytest.mark.real, pytest.mark.cluster],
}


def _where(number: int, task: str) -> list[str]:
    """The backends some check of the task runs on, in the grader's order."""
    used = {name for c in checks_for(number, task) for name in c.on}
    return [name for name in _MARKS if name in used]


CASES = [
    pytest.param(n, t, b, id=f"ex{n}-{t}-{b}", marks=_MARKS[b])
    for n in EXERCISES
    for t in tasks_of(n)
    for b in _where(n, t)
]


def _backend(request: pytest.FixtureRequest, name: str) -> Backend:
    """fakeredis, the session's real Valkey, or the session's cluster."""
    if name == "fakeredis":
        return Backend("fakeredis")
    if name == "cluster":
        return Backend("cluster", request.getfixturevalue("valkey_cluster").url)
    return Backend("valkey", request.getfixturevalue("valkey_server").url)


@functools.cache
def _module(path: Path) -> ModuleType:
    return load_exercise(path)


def _explain(result: TaskResult) -> str:
    style = Style(color=False)
    lines = [f"exercise {result.exercise}, {result.task}:"]
    for failed in (r for r in result.results if r.status is Status.FAILED):
        lines += render_failure(failed, style)
    return "\n".join(lines)


@pytest.mark.parametrize(("number", "task", "where"), CASES)
def test_your_exercise(number: int, task: str, where: str, request: pytest.FixtureRequest) -> None:
    """Your exercises/exercise_N.py: every started task passes every check."""
    try:
        module = _module(ROOT / "exercises" / f"exercise_{number}.py")
    except LoadError as error:
        pytest.fail(f"exercises/exercise_{number}.py does not import: {error.failure.got}")
    # A stub raises at once: do not start a cluster just to learn that.
    stub = where != "fakeredis" and grade_task(number, task, module, [Backend("fakeredis")])
    if stub and stub.status is Status.NOT_STARTED:
        pytest.skip("not started")
    result = grade_task(number, task, module, [_backend(request, where)])
    if result.status is Status.NOT_STARTED:
        pytest.skip("not started")
    assert result.status is Status.PASSED, _explain(result)


@pytest.mark.parametrize(("number", "task", "where"), CASES)
def test_reference_solution(
    number: int, task: str, where: str, request: pytest.FixtureRequest
) -> None:
    """exercises/solutions/exercise_N.py passes every check of every task, on every backend."""
    module = _module(ROOT / "exercises" / "solutions" / f"exercise_{number}.py")
    result = grade_task(number, task, module, [_backend(request, where)])
    assert result.status is Status.PASSED, _explain(result)


@pytest.mark.parametrize("number", EXERCISES)
def test_packaged_stub_is_not_started(number: int) -> None:
    """The stub `make reset` restores raises NotImplementedError in every task."""
    module = load_exercise(STUBS / f"exercise_{number}.py")
    for task in tasks_of(number):
        result = grade_task(number, task, module, [Backend("fakeredis")])
        # A task graded on real Valkey only has no check fakeredis can run.
        on_fake = any("fakeredis" in c.on for c in checks_for(number, task))
        wanted = Status.NOT_STARTED if on_fake else Status.SKIPPED
        assert result.status is wanted, f"{task}: {result.status}"


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
