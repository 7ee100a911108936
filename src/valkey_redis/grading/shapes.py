"""Return values against the stub's signature: ``list[tuple[str, float]]`` means tuples.

Use :func:`return_problem` (the runner does, for every ``ctx.call``): it reads
the return annotation of the task's function in the *packaged stub* (the
contract, which a learner cannot loosen by editing their file) and describes
the first place where a value does not have that type, or returns None.

Not for: full static typing. It knows None, bool, int, float (an int is a
float, as for mypy), str, ``list[X]``, ``tuple[X, Y]``, ``dict[K, V]``,
unions and ``Any``; other annotations are not judged.

How it fails: never raises; a stub that cannot be loaded judges nothing.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["describe_type", "return_problem", "shape_problem", "signature_problem"]


def describe_type(hint: Any) -> str:
    """``list[tuple[str, float]]``, ``dict[str, str] | None``, ``bool``."""
    if isinstance(hint, type) and not typing.get_args(hint):
        return "None" if hint is type(None) else hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _scalar(value: object, hint: type) -> bool | None:
    """True/False for the scalar types, None when ``hint`` is not one."""
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint in {str, bytes}:
        return isinstance(value, hint)
    return None


def _container(value: object, hint: Any, where: str) -> str | None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and isinstance(value, list):
        return next(
            (p for i, v in enumerate(value) if (p := _at(v, args[0], f"{where}[{i}]"))), None
        )
    if origin is tuple and isinstance(value, tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            items = [(v, args[0]) for v in value]
        elif len(args) != len(value):
            return f"{_wrong(where, value, hint)} ({len(value)} items, not {len(args)})"
        else:
            items = list(zip(value, args, strict=True))
        return next(
            (p for i, (v, a) in enumerate(items) if (p := _at(v, a, f"{where}[{i}]"))), None
        )
    if origin is dict and isinstance(value, dict):
        for key, item in value.items():
            problem = _at(key, args[0], f"{where}<key {key!r}>") or _at(
                item, args[1], f"{where}[{key!r}]"
            )
            if problem:
                return problem
        return None
    return _wrong(where, value, hint)


def _kind(value: object) -> str:
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _wrong(where: str, value: object, hint: Any) -> str:
    head = f"item {where} = " if where else ""
    return f"{head}{_short(value)} is {_kind(value)}, not {describe_type(hint)}"


def _union(value: object, hint: Any, where: str) -> str | None:
    problems = [_at(value, option, where) for option in typing.get_args(hint)]
    if any(problem is None for problem in problems):
        return None
    for option, problem in zip(typing.get_args(hint), problems, strict=True):
        outer = typing.get_origin(option) or option
        if isinstance(outer, type) and isinstance(value, outer) and outer is not type(None):
            return problem  # the right container, wrong inside: say where
    return _wrong(where, value, hint)


def _at(value: object, hint: Any, where: str) -> str | None:
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    problem: str | None = None
    if origin in {typing.Union, types.UnionType}:
        problem = _union(value, hint, where)
    elif isinstance(hint, type) and origin is None:
        ok = _scalar(value, hint)
        if ok is None:
            ok = isinstance(value, hint)
        if not ok:
            problem = _wrong(where, value, hint)
    elif origin in {list, tuple, dict}:
        problem = _container(value, hint, where)
    return problem


def shape_problem(value: object, hint: Any) -> str | None:
    """Where ``value`` breaks ``hint`` ("[0]: ['eve', 50.0] is a list, not a tuple[...]")."""
    return _at(value, hint, "")


@functools.cache
def _stub_functions(exercise: int) -> dict[str, Any]:
    """The stub's task functions and classes (a class's signature is its ``__init__``'s)."""
    from valkey_redis.grading.runner import LoadError, load_exercise  # noqa: PLC0415

    stub = resources.files("valkey_redis.grading") / "stubs" / f"exercise_{exercise}.py"
    try:
        module = load_exercise(Path(str(stub)))
    except LoadError:
        return {}
    return {
        name: func
        for name, func in vars(module).items()
        if isinstance(func, types.FunctionType | type)
        and getattr(func, "__module__", None) == module.__name__
    }


@functools.cache
def _hints(exercise: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, func in _stub_functions(exercise).items():
        if isinstance(func, type):
            continue  # a class: what it returns is an instance, judged by its checks
        try:
            found[name] = typing.get_type_hints(func).get("return", Any)
        except (NameError, TypeError):
            continue
    return found


def signature_problem(exercise: int, task: str, func: Any) -> str | None:
    """How ``func``'s parameters differ from the stub's (names, order, defaults), or None.

    Extra parameters after the stub's are fine when they have defaults.
    """
    stub = _stub_functions(exercise).get(task)
    if stub is None:
        return None
    try:
        theirs = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    wanted_params = list(inspect.signature(stub).parameters.values())
    for index, wanted in enumerate(wanted_params):
        got = theirs[index] if index < len(theirs) else None
        if got is None or got.name != wanted.name:
            return f"parameter {index + 1} is {got.name if got else 'missing'}, not {wanted.name}"
        if got.default != wanted.default:
            shown = "none" if got.default is inspect.Parameter.empty else repr(got.default)
            return f"the default of {wanted.name} is {shown}, not {wanted.default!r}"
    variadic = {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
    bare = [
        p.name
        for p in theirs[len(wanted_params) :]
        if p.default is inspect.Parameter.empty and p.kind not in variadic
    ]
    if bare:
        return f"extra parameters without a default: {', '.join(bare)}"
    return None


def return_problem(exercise: int, task: str, value: object) -> str | None:
    """Describe how ``value`` breaks ``task``'s return annotation in the stub, or None."""
    hint = _hints(exercise).get(task, Any)
    problem = shape_problem(value, hint)
    if problem is None:
        return None
    return f"{problem} (the signature says -> {describe_type(hint)})"
