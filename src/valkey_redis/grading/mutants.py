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
import copy
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

__all__ = ["Mutant", "mutants"]

_KWARGS = {"nx", "xx", "ex", "px", "keepttl", "withscores"}
_FLIPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_NEGATE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.LtE: ast.Gt,
    ast.Gt: ast.LtE,
    ast.GtE: ast.Lt,
}
_ARITH: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
}
_UNWRAP = {"bool", "int", "float", "str"}
_LUA_FLIPS = (("<=", "<"), (">=", ">"), ("==", "~="), ("~=", "=="), ("<", "<="), (">", ">="))


@dataclass(frozen=True)
class Mutant:
    """One changed copy of the file."""

    ident: str
    function: str
    description: str
    text: str


def _short(node: ast.AST | str, limit: int = 70) -> str:
    text = node if isinstance(node, str) else ast.unparse(node)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Each site finder yields (node, description, apply) where apply() mutates the (copied) tree.
Site = tuple[ast.AST, str, str, Callable[[], None]]


def _statement_sites(func: ast.FunctionDef) -> Iterator[Site]:
    for parent in ast.walk(func):
        for attr in ("body", "orelse", "finalbody"):
            body = getattr(parent, attr, None)
            if not isinstance(body, list):
                continue
            for index, stmt in enumerate(body):
                if not isinstance(stmt, ast.stmt) or isinstance(stmt, ast.Pass):
                    continue
                if (
                    index == 0
                    and isinstance(stmt, ast.Expr)
                    and isinstance(stmt.value, ast.Constant)
                ):
                    continue  # a docstring
                first = ast.unparse(stmt).splitlines()[0]

                def apply(body: list[ast.stmt] = body, index: int = index) -> None:
                    body[index] = ast.Pass()

                yield stmt, "drop", f"drop `{_short(first)}`", apply


def _split_ttl(stmt: ast.stmt, call: ast.Call, body: list[ast.stmt], index: int) -> Site | None:
    ttl = next((k for k in call.keywords if k.arg in {"ex", "px"}), None)
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "set" and ttl and call.args):
        return None
    expire = "expire" if ttl.arg == "ex" else "pexpire"
    owner = call.func.value

    def apply() -> None:
        call.keywords = [k for k in call.keywords if k is not ttl]
        target = copy.deepcopy(owner)
        later = ast.Expr(
            ast.Call(ast.Attribute(target, expire, ast.Load()), [call.args[0], ttl.value], [])
        )
        if isinstance(stmt, ast.If) and stmt.test is call:
            stmt.body.insert(0, later)
        else:
            body.insert(index + 1, later)

    return stmt, "split-ttl", f"split `{_short(call)}` into SET then {expire.upper()}", apply


def _split_sites(func: ast.FunctionDef) -> Iterator[Site]:
    for parent in ast.walk(func):
        body = getattr(parent, "body", None)
        if not isinstance(body, list):
            continue
        for index, stmt in enumerate(body):
            call = stmt.test if isinstance(stmt, ast.If) else getattr(stmt, "value", None)
            if isinstance(call, ast.Call):
                site = _split_ttl(stmt, call, body, index)
                if site:
                    yield site


def _call_sites(node: ast.Call) -> Iterator[Site]:
    """Keyword arguments dropped or negated, conversions unwrapped, secrets swapped."""
    for kw in node.keywords:
        if kw.arg in _KWARGS:

            def drop_kw(node: ast.Call = node, kw: ast.keyword = kw) -> None:
                node.keywords = [k for k in node.keywords if k is not kw]

            yield node, "drop-kw", f"drop `{kw.arg}=` from `{_short(node)}`", drop_kw
        if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool):

            def flip(kw: ast.keyword = kw) -> None:
                kw.value = ast.Constant(not getattr(kw.value, "value", False))

            yield node, "flip-bool", f"negate `{kw.arg}=` in `{_short(node)}`", flip
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name in _UNWRAP and len(node.args) == 1:
        yield (
            node,
            "unwrap",
            f"`{_short(node)}` without {name}()",
            _replace(node, node.args[0]),
        )
    func_attr = node.func
    if (
        isinstance(func_attr, ast.Attribute)
        and isinstance(func_attr.value, ast.Name)
        and func_attr.value.id == "secrets"
        and func_attr.attr.startswith("token_")
    ):
        size = node.args[0] if node.args else ast.Constant(32)
        rand = ast.parse(f"random.randbytes({ast.unparse(size)})", mode="eval").body
        new = (
            rand
            if func_attr.attr == "token_bytes"
            else ast.Call(ast.Attribute(rand, "hex", ast.Load()), [], [])
        )
        yield (
            node,
            "random",
            f"`{_short(node)}` from the random module",
            _replace(node, new),
        )


def _expression_sites(func: ast.FunctionDef) -> Iterator[Site]:
    for node in ast.walk(func):
        if isinstance(node, ast.Call):
            yield from _call_sites(node)
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _FLIPS:

                    def flip_op(node: ast.Compare = node, i: int = i) -> None:
                        node.ops[i] = _FLIPS[type(node.ops[i])]()

                    yield node, "compare", f"flip `{_short(node)}`", flip_op
            for i, op in enumerate(node.ops):
                if type(op) in _NEGATE:

                    def negate(node: ast.Compare = node, i: int = i) -> None:
                        node.ops[i] = _NEGATE[type(node.ops[i])]()

                    yield node, "negate", f"negate `{_short(node)}`", negate
        if isinstance(node, ast.Compare | ast.BinOp | ast.Return):
            yield from _off_by_one(node)
        yield from _more_sites(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not", f"drop `not` in `{_short(node)}`", _replace(node, node.operand)


def _more_sites(node: ast.AST) -> Iterator[Site]:
    """and/or swapped, + - * / swapped, float constants ten times larger or smaller."""
    if isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()

        def swap(node: ast.BoolOp = node, other: ast.boolop = other) -> None:
            node.op = other

        yield node, "and-or", f"swap and/or in `{_short(node)}`", swap
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:

        def arith(node: ast.BinOp = node) -> None:
            node.op = _ARITH[type(node.op)]()

        yield node, "arith", f"swap the operator in `{_short(node)}`", arith
    elif isinstance(node, ast.Constant) and type(node.value) is float and node.value:
        for factor in (10.0, 0.1):

            def scale(node: ast.Constant = node, factor: float = factor) -> None:
                node.value = cast(float, node.value) * factor

            yield node, "scale", f"`{node.value}` times {factor:g}", scale


def _module_sites(tree: ast.Module) -> Iterator[Site]:
    """Module-level numeric constants (a TTL, a poll interval): plus or minus one, x10, /10."""
    for stmt in tree.body:
        if not (
            isinstance(stmt, ast.Assign | ast.AnnAssign) and isinstance(stmt.value, ast.Constant)
        ):
            continue
        node = stmt.value
        if type(node.value) is int:
            for delta in (1, -1):

                def bump(node: ast.Constant = node, delta: int = delta) -> None:
                    node.value = cast(int, node.value) + delta

                yield stmt, "const", f"`{_short(stmt)}` {delta:+d}", bump
        elif type(node.value) is float:
            yield from _more_sites(node)


def _off_by_one(parent: ast.AST) -> Iterator[Site]:
    """Integer constants directly inside a comparison, an arithmetic or a return."""
    for node in ast.iter_child_nodes(parent):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            for delta in (1, -1):

                def bump(node: ast.Constant = node, delta: int = delta) -> None:
                    node.value = cast(int, node.value) + delta

                yield (
                    node,
                    "off-by-one",
                    f"`{_short(parent)}`: {node.value} -> {node.value + delta}",
                    bump,
                )


def _replace(old: ast.AST, new: ast.AST) -> Callable[[], None]:
    """Turn ``old`` into ``new`` in place (same object, so parents need not be known)."""

    def apply() -> None:
        old.__class__ = new.__class__
        old.__dict__.clear()
        old.__dict__.update(copy.deepcopy(new).__dict__)

    return apply


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
                yield "lua-drop", f"drop Lua `{_short(line.strip())}`", source.replace(lua, changed)
            for old, new in _LUA_FLIPS:
                for found in re.finditer(rf"(?<![<>=~]){re.escape(old)}(?![=])", line):
                    edited = line[: found.start()] + new + line[found.end() :]
                    changed = "\n".join([*lines[:i], edited, *lines[i + 1 :]])
                    desc = f"Lua `{_short(line.strip())}`: {old} -> {new}"
                    yield "lua-compare", desc, source.replace(lua, changed)
            for old, new in (("math.min", "math.max"), ("math.max", "math.min")):
                if old in line:
                    changed = "\n".join([*lines[:i], line.replace(old, new), *lines[i + 1 :]])
                    desc = f"Lua `{_short(line.strip())}`: {old} -> {new}"
                    yield "lua-minmax", desc, source.replace(lua, changed)


def _with_random(text: str) -> str:
    if re.search(r"^import random$", text, re.MULTILINE):
        return text
    return re.sub(r"^(import secrets)$", r"import random\n\1", text, count=1, flags=re.MULTILINE)


def mutants(source: str, exercise: int) -> list[Mutant]:
    """Every mutant of ``source`` (the text of exercise ``exercise``'s reference)."""
    found: list[Mutant] = []
    seen: Counter[str] = Counter()
    finders: list[tuple[str, Callable[[ast.Module], Iterator[Site]]]] = [
        ("(module)", _module_sites)
    ]
    for name in _function_names(ast.parse(source)):
        finders.extend(
            (name, _in_function(site_finder, name))
            for site_finder in (_statement_sites, _split_sites, _expression_sites)
        )
    for name, finder in finders:
        count = sum(1 for _ in finder(ast.parse(source)))
        for index in range(count):
            copy_tree = ast.parse(source)
            node, op, description, apply = list(finder(copy_tree))[index]
            key = f"ex{exercise}:{name}:{op}:{_short(node, 50)}"
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
