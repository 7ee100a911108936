"""What you have solved, kept between runs, and what each exercise taught you.

Use :func:`record` after grading the learner's own files (``make grade``, ``make
next``): it remembers which exercises pass every check, and forgets one that no
longer does. :func:`solved` reads that back; :data:`LEARNT` holds, per exercise,
the one-line lesson and the page to read next that a solved exercise shows.
The state lives in the git-ignored ``exercises/.progress.json``, next to the
hints already shown (``{"hints": {...}, "solved": [1, 2]}``).

How it fails: a missing or unreadable state file counts as "nothing solved yet"
and is rewritten on the next grade; nothing here raises.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["LEARNT", "load_state", "record", "save_state", "solved", "unsolve"]

#: exercise -> (what you can do now, where to read next)
LEARNT: dict[int, tuple[str, str]] = {
    1: (
        "a structure per job, a TTL set with the data, one command per read-modify-write",
        "docs/concepts.md, sections 4 (TTL) and 6 (atomicity)",
    ),
    2: (
        "cache-aside, a brief negative cache, invalidate after saving, fall back when down",
        "docs/patterns.md#cache-aside and #negative-caching",
    ),
    3: (
        "sessions with unguessable ids, a sliding TTL, and an atomic id rotation",
        "docs/patterns.md#sessions",
    ),
    4: (
        "a lock only its owner can release or extend, and fencing tokens against a stale holder",
        "docs/patterns.md#locks-and-fencing-tokens",
    ),
    5: (
        "fixed-window, sliding-log and token-bucket limits, each atomic on the server",
        "docs/patterns.md#rate-limiting-algorithms-compared",
    ),
    6: (
        "one computation per miss under a lock, and XFetch's early refresh",
        "docs/patterns.md#stampede-protection",
    ),
    7: (
        "a circuit breaker that fails fast while the cache is down and probes once to recover",
        "docs/failure-modes.md (every helper on a dead, hung or slow server) and example 9",
    ),
    8: (
        "WATCH/MULTI with a retry, Lua for check-then-act, and a pipeline for one round trip",
        "docs/concepts.md, sections 6 (atomicity) and 7 (pipelines)",
    ),
    9: (
        "write-behind on a Stream: ack only after applying, reclaim a dead worker's entries",
        "docs/patterns.md#write-behind",
    ),
    10: (
        "pub/sub invalidation of local copies, all dropped when a message may be lost",
        "docs/patterns.md#invalidation (then CLIENT TRACKING in example 7)",
    ),
    11: (
        "choosing an eviction policy for a workload (LFU survives scans) and reading INFO",
        "docs/concepts.md, section 5 (memory and eviction)",
    ),
    12: (
        "hash tags: the keys one operation needs in one slot, and users spread over the cluster",
        "docs/patterns.md#cluster-safe-key-design",
    ),
    13: (
        "a cached HTTP endpoint: invalidation on update, ETag and Cache-Control headers",
        "docs/capstone.md",
    ),
}


def _file(root: Path) -> Path:
    return root / "exercises" / ".progress.json"


def load_state(root: Path) -> dict[str, Any]:
    """The whole state file as a dict ({} when missing or unreadable)."""
    try:
        data = json.loads(_file(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_state(root: Path, state: dict[str, Any]) -> None:
    """Write the state file back (only the keys that hold something)."""
    kept = {key: value for key, value in state.items() if value}
    _file(root).write_text(json.dumps(kept, indent=2) + "\n", encoding="utf-8")


def solved(root: Path) -> set[int]:
    """The exercises recorded as solved."""
    found = load_state(root).get("solved", [])
    return {int(n) for n in found if isinstance(n, int | str) and str(n).isdigit()}


def _write_solved(root: Path, numbers: Iterable[int]) -> None:
    state = load_state(root)
    state["solved"] = sorted(set(numbers))
    save_state(root, state)


def record(root: Path, passed: Iterable[int], failed: Iterable[int]) -> set[int]:
    """Remember ``passed`` as solved and forget ``failed``; return the newly solved ones."""
    before = solved(root)
    now = (before | set(passed)) - set(failed)
    if now != before:
        _write_solved(root, now)
    return now - before


def unsolve(root: Path, number: int) -> None:
    """Forget that ``number`` was solved (``make reset`` restored its stub)."""
    before = solved(root)
    if number in before:
        _write_solved(root, before - {number})
