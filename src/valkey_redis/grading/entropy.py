"""Where a learner's ids come from: a tap on the operating system's CSPRNG.

Use :func:`tapped` around a call that must make an unguessable id: inside it,
every byte read from ``os.urandom`` (which ``secrets``, ``random.SystemRandom``
and ``uuid.uuid4`` all use) by the calling thread is counted, and can be
replaced by a chosen, reproducible stream. An id made from ``secrets`` reads
at least 16 bytes and changes when the stream changes; an id made from the
clock, the user id, a counter or the ``random`` module does neither.

Not for: production code. It patches ``os.urandom`` and ``random._urandom``
process-wide for the length of the ``with`` block; other threads still get
real random bytes.

How it fails: never changes what other threads read; restores both functions
even when the learner's code raises.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Tap", "tapped"]


@dataclass
class Tap:
    """Bytes the tapped thread read, and the stream it was given (None: real bytes)."""

    seed: bytes | None
    read: int = 0
    _offset: int = 0

    def draw(self, size: int) -> bytes:
        """``size`` bytes: from the seeded stream, or the real CSPRNG."""
        self.read += size
        if self.seed is None:
            return _REAL(size)
        out = b""
        while len(out) < size:
            block = hashlib.sha256(self.seed + self._offset.to_bytes(8, "big")).digest()
            out += block
            self._offset += 1
        return out[:size]


_REAL = os.urandom
_GUARD = threading.Lock()


@contextlib.contextmanager
def tapped(seed: bytes | None = None) -> Iterator[Tap]:
    """Count (and, with ``seed``, replace) the CSPRNG bytes this thread reads inside."""
    tap = Tap(seed)
    owner = threading.get_ident()

    def urandom(size: int) -> bytes:
        if threading.get_ident() != owner:
            return _REAL(size)
        return tap.draw(size)

    inner = vars(random)  # random binds its own `_urandom` at import
    with _GUARD:
        saved = os.urandom, inner["_urandom"]
        os.urandom = urandom
        inner["_urandom"] = urandom
        try:
            yield tap
        finally:
            os.urandom, inner["_urandom"] = saved
