"""Variants of a reference solution: small text edits, graded like a learner's file.

Use :func:`apply_edits` and :func:`load_variant` to grade "the reference with
one mistake" (the grader's wrong-solution tests, ``make grader-audit``'s
mutants) or "the reference written another way" (alternative solutions)
without keeping full copies of the file.

How it fails: :class:`EditError` when an edit's ``old`` text does not occur
exactly once (the reference changed under the edit): fix the edit, never guess.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType

from valkey_redis.grading.runner import load_exercise

__all__ = ["EditError", "apply_edits", "load_variant", "reference_path"]


class EditError(ValueError):
    """An edit whose ``old`` text is missing from, or repeated in, the reference."""


def reference_path(root: Path, exercise: int) -> Path:
    """``exercises/solutions/exercise_N.py`` under ``root``."""
    return root / "exercises" / "solutions" / f"exercise_{exercise}.py"


def apply_edits(text: str, edits: Iterable[Mapping[str, str]]) -> str:
    """Replace each edit's ``old`` (which must occur exactly once) by its ``new``."""
    for edit in edits:
        old, new = edit["old"], edit["new"]
        count = text.count(old)
        if count != 1:
            where = "is missing from" if count == 0 else f"occurs {count} times in"
            msg = f"the edit's old text {where} the reference:\n{old}"
            raise EditError(msg)
        text = text.replace(old, new)
    return text


def load_variant(text: str, exercise: int, folder: Path | None = None) -> ModuleType:
    """Write ``text`` as ``exercise_N.py`` (in ``folder`` or a temporary one) and load it."""
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="valkey-redis-variant-"))
    path = folder / f"exercise_{exercise}.py"
    path.write_text(text, encoding="utf-8")
    return load_exercise(path)
