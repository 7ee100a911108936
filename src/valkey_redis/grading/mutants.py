"""Mutants of a reference solution: the mistakes a learner makes, generated mechanically.

Use :func:`mutants` on the text of ``exercises/solutions/exercise_N.py``: each
:class:`Mutant` is the whole file with one small change, made on the syntax
tree (so it always parses) or inside a Lua script's text:

* ``drop``: a statement replaced by ``pass`` (a missing EXPIRE, release, sleep, check);
* ``split-ttl``: ``set(k, v, ex=t)`` split into ``set(k, v)`` then ``expire(k, t)``;
* ``drop-kw``: ``nx=``, ``xx=``, ``ex=``, ``px=``, ``keepttl=``, ``withscores=`` removed;
* ``flip-bool``: ``transaction=True`` and other boolean arguments negated;
* ``compare``: ``<``/``<=``, ``>``/``>=``, ``==``/``!=``, ``is``/``is not``, ``in``/``not in``;
* ``off-by-one``: an integer constant plus or minus one;
* ``not``: a ``not`` removed;
* ``unwrap``: ``bool(x)``, ``int(x)``, ``float(x)``, ``str(x)`` replaced by ``x``;
* ``random``: ``secrets.token_*`` replaced by the ``random`` module;
* ``negate``: ``<`` to ``>=`` and the like; ``and-or``: ``and``/``or`` swapped;
* ``arith``: ``+``/``-`` and ``*``/``/`` swapped; ``scale``: a float ten times larger or smaller;
* ``const``: a module-level number (a TTL, a poll interval) changed;
* ``lua-drop``, ``lua-compare``, ``lua-minmax``: a ``redis.call`` line dropped, a
  comparison flipped, ``math.min``/``math.max`` swapped in a Lua script.

Each has a stable ``ident`` (exercise, function, operator, the code it changed)
so that equivalent mutants can be listed once, with a reason.

Not for: proving a solution correct; a surviving mutant is a question to answer.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from valkey_redis.grading.mutant_sites import (
    Site,
    expression_sites,
    module_sites,
    short,
    split_sites,
    statement_sites,
)

__all__ = ["Mutant", "mutants"]

_LUA_FLIPS = (("<=", "<"), (">=", ">"), ("==", "~="), ("~=", "=="), ("<", "<="), (">", ">="))


@dataclass(frozen=True)
class Mutant:
    """One changed copy of the file."""

    ident: str
    function: str
    description: str
    text: str


def _lua_mutants(source: str) -> Iterator[tuple[str, str, str]]:
    """(operator, description, new source) for each change inside a Lua script's text."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        lua = node.value
        if "redis.call" not in lua or lua not in source:
            continue
        lines = lua.split("\n")
        for i, line in enumerate(lines):
            if line.strip().startswith(("redis.call", "return redis.call")):
                changed = "\n".join(lines[:i] + lines[i + 1 :])
                yield "lua-drop", f"drop Lua `{short(line.strip())}`", source.replace(lua, changed)
            for old, new in _LUA_FLIPS:
                for found in re.finditer(rf"(?<![<>=~]){re.escape(old)}(?![=])", line):
                    edited = line[: found.start()] + new + line[found.end() :]
                    changed = "\n".join([*lines[:i], edited, *lines[i + 1 :]])
                    desc = f"Lua `{short(line.strip())}`: {old} -> {new}"
                    yield "lua-compare", desc, source.replace(lua, changed)
            for old, new in (("math.min", "math.max"), ("math.max", "math.min")):
                if old in line:
                    changed = "\n".join([*lines[:i], line.replace(old, new), *lines[i + 1 :]])
                    desc = f"Lua `{short(line.strip())}`: {old} -> {new}"
                    yield "lua-minmax", desc, source.replace(lua, changed)


def _with_random(text: str) -> str:
    if re.search(r"^import random$", text, re.MULTILINE):
        return text
    return re.sub(r"^(import secrets)$", r"import random\n\1", text, count=1, flags=re.MULTILINE)


def mutants(source: str, exercise: int) -> list[Mutant]:
    """Every mutant of ``source`` (the text of exercise ``exercise``'s reference)."""
    found: list[Mutant] = []
    seen: Counter[str] = Counter()
    finders: list[tuple[str, Callable[[ast.Module], Iterator[Site]]]] = [("(module)", module_sites)]
    for name in _function_names(ast.parse(source)):
        finders.extend(
            (name, _in_function(site_finder, name))
            for site_finder in (statement_sites, split_sites, expression_sites)
        )
    for name, finder in finders:
        count = sum(1 for _ in finder(ast.parse(source)))
        for index in range(count):
            copy_tree = ast.parse(source)
            node, op, description, apply = list(finder(copy_tree))[index]
            key = f"ex{exercise}:{name}:{op}:{short(node, 50)}"
            seen[key] += 1
            apply()
            text = ast.unparse(ast.fix_missing_locations(copy_tree)) + "\n"
            if op == "random":
                text = _with_random(text)
            ident = key if seen[key] == 1 else f"{key}#{seen[key]}"
            found.append(Mutant(ident, name, description, text))
    for op, description, text in _lua_mutants(source):
        key = f"ex{exercise}:lua:{op}:{description}"
        seen[key] += 1
        ident = key if seen[key] == 1 else f"{key}#{seen[key]}"
        found.append(Mutant(ident, "(Lua)", description, text))
    return found


def _function_names(tree: ast.Module) -> list[str]:
    """Top-level functions, and ``Class.method`` for the methods of top-level classes."""
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        names += [f"{cls.name}.{m.name}" for m in cls.body if isinstance(m, ast.FunctionDef)]
    return names


def _function(tree: ast.Module, name: str) -> ast.FunctionDef:
    owner, _, method = name.rpartition(".")
    body = tree.body
    if owner:
        body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner).body
    return next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == (method or name))


def _in_function(
    finder: Callable[[ast.FunctionDef], Iterator[Site]], name: str
) -> Callable[[ast.Module], Iterator[Site]]:
    return lambda tree: finder(_function(tree, name))
