"""What a learner's command names: its keys, and whether only a real Valkey knows it.

Use :func:`keys_of` to find the keys of a command (a Lua script's KEYS, every
key of DEL/MGET, the first key of anything else) for "every key you touched"
checks, and :func:`valkey_only` to tell a command fakeredis lacks (DELIFEQ,
SET ... IFEQ) before it is sent, so that a correct solution is graded on Valkey
only instead of failing.

How it fails: never; an unknown command is assumed to name one key at index 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["VALKEY_ONLY", "NeedsValkey", "keys_of", "valkey_only"]


class NeedsValkey(BaseException):
    """Raised on fakeredis when the learner sends a command only a real Valkey knows.

    The runner then grades that task on Valkey only and the report says why: a
    correct solution is never failed for a command fakeredis lacks.
    """

    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


#: Commands (or SET options) fakeredis does not implement but Valkey 8/9 does.
VALKEY_ONLY = frozenset({"DELIFEQ", "MSETEX", "COMMANDLOG"})
_SET_VALKEY_ONLY = frozenset({"IFEQ"})

# Where the keys are in the commands a learner sends (first key, then every
# `step`-th argument up to `stop`); anything not listed has one key at index 1.
_MULTI_KEY = {
    "DEL": (1, None, 1),
    "UNLINK": (1, None, 1),
    "EXISTS": (1, None, 1),
    "TOUCH": (1, None, 1),
    "MGET": (1, None, 1),
    "WATCH": (1, None, 1),
    "MSET": (1, None, 2),
    "MSETNX": (1, None, 2),
    "RENAME": (1, 3, 1),
    "RENAMENX": (1, 3, 1),
    "COPY": (1, 3, 1),
    "SMOVE": (1, 3, 1),
    "LMOVE": (1, 3, 1),
    "RPOPLPUSH": (1, 3, 1),
}
_NO_KEY = frozenset(
    {"MULTI", "EXEC", "DISCARD", "UNWATCH", "PING", "TIME", "SCRIPT", "INFO", "ECHO", "SELECT"}
)


def keys_of(args: Sequence[Any]) -> tuple[str, ...]:
    """The keys a command names (Lua: its KEYS), for "every key you touched" checks."""
    name = str(args[0]).upper()
    if name in _NO_KEY or len(args) < 2:
        return ()
    if name in {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"}:
        count = int(args[2]) if len(args) > 2 else 0
        return tuple(str(key) for key in args[3 : 3 + count])
    start, stop, step = _MULTI_KEY.get(name, (1, 2, 1))
    return tuple(str(key) for key in args[start:stop:step])


def valkey_only(args: Sequence[Any]) -> str | None:
    """The Valkey-only command (or SET option) ``args`` uses, or None."""
    name = str(args[0]).upper()
    if name in VALKEY_ONLY:
        return name
    if name == "SET" and any(str(a).upper() in _SET_VALKEY_ONLY for a in args[3:]):
        return "SET ... IFEQ"
    return None
