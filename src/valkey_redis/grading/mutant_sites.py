"""Where a mutant can be made in a function's syntax tree, and how (for :mod:`mutants`).

Each finder yields sites ``(node, operator, description, apply)``: ``apply()``
changes the (freshly parsed) tree in place. :func:`~valkey_redis.grading.mutants.mutants`
parses the file once per site, so sites never see each other's changes.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from typing import cast

__all__ = ["Site", "expression_sites", "module_sites", "short", "split_sites", "statement_sites"]

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


def short(node: ast.AST | str, limit: int = 70) -> str:
    text = node if isinstance(node, str) else ast.unparse(node)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Each site finder yields (node, description, apply) where apply() mutates the (copied) tree.
Site = tuple[ast.AST, str, str, Callable[[], None]]


def statement_sites(func: ast.FunctionDef) -> Iterator[Site]:
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

                yield stmt, "drop", f"drop `{short(first)}`", apply


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

    return stmt, "split-ttl", f"split `{short(call)}` into SET then {expire.upper()}", apply


def split_sites(func: ast.FunctionDef) -> Iterator[Site]:
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

            yield node, "drop-kw", f"drop `{kw.arg}=` from `{short(node)}`", drop_kw
        if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool):

            def flip(kw: ast.keyword = kw) -> None:
                kw.value = ast.Constant(not getattr(kw.value, "value", False))

            yield node, "flip-bool", f"negate `{kw.arg}=` in `{short(node)}`", flip
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name in _UNWRAP and len(node.args) == 1:
        yield (
            node,
            "unwrap",
            f"`{short(node)}` without {name}()",
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
            f"`{short(node)}` from the random module",
            _replace(node, new),
        )


def expression_sites(func: ast.FunctionDef) -> Iterator[Site]:
    for node in ast.walk(func):
        if isinstance(node, ast.Call):
            yield from _call_sites(node)
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _FLIPS:

                    def flip_op(node: ast.Compare = node, i: int = i) -> None:
                        node.ops[i] = _FLIPS[type(node.ops[i])]()

                    yield node, "compare", f"flip `{short(node)}`", flip_op
            for i, op in enumerate(node.ops):
                if type(op) in _NEGATE:

                    def negate(node: ast.Compare = node, i: int = i) -> None:
                        node.ops[i] = _NEGATE[type(node.ops[i])]()

                    yield node, "negate", f"negate `{short(node)}`", negate
        if isinstance(node, ast.Compare | ast.BinOp | ast.Return):
            yield from _off_by_one(node)
        yield from _more_sites(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "not", f"drop `not` in `{short(node)}`", _replace(node, node.operand)


def _more_sites(node: ast.AST) -> Iterator[Site]:
    """and/or swapped, + - * / swapped, float constants ten times larger or smaller."""
    if isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()

        def swap(node: ast.BoolOp = node, other: ast.boolop = other) -> None:
            node.op = other

        yield node, "and-or", f"swap and/or in `{short(node)}`", swap
    elif isinstance(node, ast.BinOp) and type(node.op) in _ARITH:

        def arith(node: ast.BinOp = node) -> None:
            node.op = _ARITH[type(node.op)]()

        yield node, "arith", f"swap the operator in `{short(node)}`", arith
    elif isinstance(node, ast.Constant) and type(node.value) is float and node.value:
        for factor in (10.0, 0.1):

            def scale(node: ast.Constant = node, factor: float = factor) -> None:
                node.value = cast(float, node.value) * factor

            yield node, "scale", f"`{node.value}` times {factor:g}", scale


def module_sites(tree: ast.Module) -> Iterator[Site]:
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

                yield stmt, "const", f"`{short(stmt)}` {delta:+d}", bump
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
                    f"`{short(parent)}`: {node.value} -> {node.value + delta}",
                    bump,
                )


def _replace(old: ast.AST, new: ast.AST) -> Callable[[], None]:
    """Turn ``old`` into ``new`` in place (same object, so parents need not be known)."""

    def apply() -> None:
        old.__class__ = new.__class__
        old.__dict__.clear()
        old.__dict__.update(copy.deepcopy(new).__dict__)

    return apply
