"""The Lua scripts every helper runs, loaded once per process and named by their SHA1.

Use this when a helper needs a script: ``script("lock_acquire")`` returns the
:class:`Script` of ``scripts/lock_acquire.lua`` (text and SHA1, read once). The
runners (:mod:`valkey_redis._run` and :mod:`valkey_redis.aio._run`) send it with
``EVALSHA`` and fall back to ``EVAL`` on ``NOSCRIPT`` (a restarted or flushed
server), which also caches it on the server for the next call.

Not for: building Lua from strings. Every script is a fixed file; data travels
in ``KEYS`` and ``ARGV``.

How it fails: an unknown name raises ``FileNotFoundError`` at import time of the
helper that names it, never on the first request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Script", "script"]


@dataclass(frozen=True, slots=True)
class Script:
    """One Lua file: its name (without ``.lua``), text and SHA1 (what EVALSHA names it by)."""

    name: str
    text: str
    sha: str


@cache
def script(name: str) -> Script:
    """Return the :class:`Script` of ``scripts/<name>.lua`` (read and hashed once)."""
    text = (resources.files("valkey_redis") / "scripts" / f"{name}.lua").read_text(encoding="utf-8")
    # SHA1 is what EVALSHA names scripts by; it protects nothing here.
    return Script(name, text, hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest())
