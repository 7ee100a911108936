"""The cache entry: one string that carries a value, its expiry and its load time.

Use this when a cache reads or writes its own entries: :class:`EntryCodec` turns
a value into ``c1:<expires at, unix ms>:<load time, ms>:<payload>`` and back, and
picks each entry's jittered TTL. Keeping the XFetch inputs (expiry and load
time) inside the value means one GET answers both "is it cached?" and "should I
refresh it early?" -- no second round trip for PTTL.

Not for: values other programs read (they would have to parse the envelope);
store plain JSON for those. The payload after the third ``:`` is the serializer's
text (``v1:j:...`` for JSON), so ``valkey-cli GET`` still shows it readably.

How it fails: :meth:`EntryCodec.decode` raises :class:`SerializationError` for
anything it did not write -- garbage, another format, bad UTF-8, a planted
pickle -- and never executes it; the cache turns that into a miss.
:meth:`EntryCodec.encode` raises the serializer's ``TypeError``/``ValueError``
before anything is sent, so a bad value writes nothing.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

from valkey_redis._validate import seconds
from valkey_redis.serializers import SerializationError, Serializer

__all__ = ["NOT_FOUND", "Entry", "EntryCodec", "seconds"]

FORMAT = "c1"
_NOT_FOUND_PAYLOAD = "-"


class _NotFound:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_FOUND"


#: The value of an entry that caches "the loader found nothing" (negative caching).
NOT_FOUND: Final = _NotFound()

#: ``(value, expires at in unix ms, load time in ms)``. A plain tuple because the
#: hit path builds one per call; ``value`` is :data:`NOT_FOUND` for a cached miss.
Entry = tuple[Any, int, int]


class EntryCodec:
    """Encode and decode one cache's entries; pick their TTLs.

    Args:
        serializer: the payload codec (JSON or pydantic).
        ttl: the default lifetime in seconds.
        jitter: each TTL is ``ttl * uniform(1 - jitter, 1)``: entries written
            together do not expire together, and none lives longer than asked.
    """

    __slots__ = ("_dumps", "_loads", "jitter", "ttl")

    def __init__(self, serializer: Serializer, ttl: float, jitter: float) -> None:
        self.ttl = ttl
        self.jitter = jitter
        # Bound once: decode runs on every hit.
        self._dumps = serializer.dumps
        self._loads = serializer.loads

    def pxs(self, count: int, ttl: float | None = None) -> list[int]:
        """Return ``count`` jittered TTLs in ms (each at least 1) for ``ttl`` or the default.

        Raises:
            TypeError, ValueError: ``ttl`` is not a positive finite number of seconds.
        """
        base = self.ttl if ttl is None else seconds("ttl", ttl)
        jitter, draw = self.jitter, random.random
        return [max(1, int(base * (1 - jitter * draw()) * 1000)) for _ in range(count)]

    def px(self, ttl: float | None = None) -> int:
        """Return one jittered TTL in milliseconds; see :meth:`pxs`."""
        return self.pxs(1, ttl)[0]

    def encode(self, value: Any, px: int, delta: float = 0.0) -> str:
        """Return the entry text for ``value`` living ``px`` ms, loaded in ``delta`` seconds.

        ``value`` may be :data:`NOT_FOUND`.

        Raises:
            TypeError, ValueError: the serializer cannot represent ``value``.
        """
        payload = _NOT_FOUND_PAYLOAD if value is NOT_FOUND else self._dumps(value)
        expires_ms = int(time.time() * 1000) + px
        return f"{FORMAT}:{expires_ms}:{math.ceil(delta * 1000)}:{payload}"

    def encode_many(self, values: Iterable[Any], pxs: Sequence[int]) -> list[str]:
        """Return the entry texts of a batch: ``values[i]`` living ``pxs[i]`` ms, all stored now.

        Raises:
            TypeError, ValueError: the serializer cannot represent one of ``values``.
        """
        now_ms, dumps = int(time.time() * 1000), self._dumps
        return [
            f"{FORMAT}:{now_ms + px}:0:{dumps(value)}"
            for value, px in zip(values, pxs, strict=True)
        ]

    def decode(self, raw: bytes | str) -> Entry:
        """Return the :data:`Entry` in ``raw``, as read from the server.

        Raises:
            SerializationError: ``raw`` is not an entry this codec wrote.
        """
        try:
            # We decode the bytes ourselves, so bad UTF-8 is a miss, not a parser crash.
            text = raw.decode() if isinstance(raw, bytes) else raw
            version, expires_ms, delta_ms, payload = text.split(":", 3)
            if version != FORMAT:
                raise SerializationError("unknown entry format")
            expires, delta = int(expires_ms), int(delta_ms)
            if payload == _NOT_FOUND_PAYLOAD:
                return NOT_FOUND, expires, delta
            return self._loads(payload), expires, delta
        except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
            raise SerializationError(str(exc)) from None
