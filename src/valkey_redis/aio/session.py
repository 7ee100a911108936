"""Server-side sessions for asyncio: :class:`valkey_redis.SessionStore`'s API, awaited.

Use this in async web apps: ``store = aio.SessionStore(client, ttl=1800)``, then
``sid = await store.create(user_id=42)``, ``await store.get(sid)``. Ids, keys and
scripts come from :mod:`valkey_redis.core.session`, shared with the sync store, so
a session created by a sync worker is read, rotated and destroyed by an async one.

Not for: large or long-lived data; see :mod:`valkey_redis.session`.

How it fails: as :class:`valkey_redis.SessionStore` (unknown, expired or malformed
ids read as None and are never created; server errors propagate).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from valkey_redis.aio._run import run
from valkey_redis.core.session import SessionCore

__all__ = ["SessionStore"]


class SessionStore(SessionCore):
    """:class:`valkey_redis.SessionStore` for asyncio; same arguments, same sessions."""

    _ASYNC = True  # the face check refuses sync clients

    async def create(
        self, *, user_id: str | int, data: Mapping[str, Any] | BaseModel | None = None
    ) -> str:
        """Start a session for ``user_id`` holding ``data``; return its new id."""
        return await run(self._client, self._create_flow(user_id, data))

    async def get(self, sid: str) -> dict[str, Any] | None:
        """Return the session's fields and restart its TTL; None if unknown."""
        return await run(self._client, self._get_flow(sid))

    async def update(self, sid: str, **fields: Any) -> bool:
        """Set some fields of an existing session; False if it is unknown."""
        return await run(self._client, self._update_flow(sid, fields))

    async def rotate(self, sid: str) -> str | None:
        """Give the session a new id; the old one stops working; None if unknown."""
        return await run(self._client, self._rotate_flow(sid))

    async def destroy(self, sid: str) -> bool:
        """Log out one session; True if it existed."""
        return await run(self._client, self._destroy_flow(sid))

    async def destroy_all(self, *, user_id: str | int) -> int:
        """Log ``user_id`` out everywhere; return how many sessions were removed."""
        return await run(self._client, self._destroy_all_flow(user_id))

    async def ttl_of(self, sid: str) -> float | None:
        """Seconds left before the session expires (None if unknown); does not slide."""
        return await run(self._client, self._ttl_of_flow(sid))
