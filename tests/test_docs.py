"""Docs never lie: every ```python block in README.md and docs/*.md runs, and make targets exist.

Blocks of one file run in order in one namespace (like a doctest session), against
the session's real Valkey (``VALKEY_URL`` points at it, so ``connect()`` finds it).
A block may use top-level ``await`` (the async forms of the patterns): it runs as a
coroutine on the file's one event loop, so async clients made in one block work in
the next.
A block whose first line is ``# doc-test: skip`` is shown but not run; use it only
for code that cannot run here (say, a URL of a production host), never to hide a
broken example.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import subprocess
from pathlib import Path

import pytest
import redis.asyncio

from valkey_redis.examples.runner import example_modules
from valkey_redis.server import EmbeddedValkey

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """Return (line number, code) for each ```python block of a markdown file."""
    text = path.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1)) for match in _BLOCK.finditer(text)
    ]


def _docs_with_code() -> list[Path]:
    return [path for path in DOC_FILES if python_blocks(path)]


@pytest.mark.real
@pytest.mark.parametrize("path", _docs_with_code(), ids=lambda p: p.name)
def test_python_blocks_run(
    path: Path, valkey_server: EmbeddedValkey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every python block of the file runs without error, in order, on real Valkey."""
    monkeypatch.setenv("VALKEY_URL", valkey_server.url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    namespace: dict[str, object] = {"__name__": f"doc_{path.stem}"}
    with asyncio.Runner() as loop:
        for line, code in python_blocks(path):
            if code.startswith("# doc-test: skip"):
                continue
            # dont_inherit: run the block as a reader's script would, without this
            # file's `from __future__ import annotations` (which breaks dataclasses here).
            compiled = compile(
                code,
                f"{path.name}:{line}",
                "exec",
                flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                dont_inherit=True,
            )
            if compiled.co_flags & inspect.CO_COROUTINE:  # the block awaits
                loop.run(eval(compiled, namespace))  # noqa: S307 - our own documentation
            else:
                exec(compiled, namespace)  # noqa: S102 - running our own documentation
        for value in namespace.values():  # async clients the blocks made: close on their loop
            if isinstance(value, redis.asyncio.Redis):
                loop.run(value.aclose())


def _make_targets() -> set[str]:
    out = subprocess.run(
        ["make", "-pRrq", "-f", "Makefile", ":"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    targets = set(re.findall(r"^([a-zA-Z0-9_.-]+):", out, re.MULTILINE))
    targets |= {f"example-{n}" for n in (*example_modules(), "N")}  # `example-%` is a pattern
    return targets


def test_documented_make_targets_exist() -> None:
    """Every `make X` mentioned in the README and docs is a real Makefile target."""
    targets = _make_targets()
    missing = set()
    for path in DOC_FILES:
        for name in re.findall(r"\bmake ([a-z][a-zA-Z0-9-]*)", path.read_text(encoding="utf-8")):
            if name not in targets:
                missing.add(f"{path.name}: make {name}")
    assert sorted(missing) == []


def test_make_recipes_run_no_backticks() -> None:
    """No recipe has a backtick in double quotes: bash would run it (a bare `make hint` graded)."""
    recipes = [line for line in (ROOT / "Makefile").read_text().splitlines() if line[:1] == "\t"]
    assert [line for line in recipes if re.search(r'"[^"]*`[^"]*"', line)] == []
