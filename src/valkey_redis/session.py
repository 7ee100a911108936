"""Server-side sessions as hashes: unguessable ids, sliding expiry, field-level updates.

Use this when a web application keeps per-login state (user id, preferences, a
CSRF secret) on the server and hands the browser only an opaque id. Each field
is a hash field, so two concurrent requests changing different fields both win
(a session stored as one serialized blob loses one of the two writes).

Not for: large or long-lived data (keep that in your database), or anonymous
visitors you do not want to store yet; every session belongs to a ``user_id``.

How it fails:
- Unknown, expired, forged or malformed ids read as None; ``update``,
  ``rotate`` and ``destroy`` report them (False/None) and never create a key,
  so an attacker cannot plant a session id (fixation) or resurrect an old one.
- Sessions expire ``ttl`` seconds after the last ``get`` (sliding expiry).
- The server is unreachable: ``redis.exceptions.ConnectionError`` surfaces
  (``CircuitOpenError``, at once, while :func:`~valkey_redis.connect`'s circuit
  breaker is open; a hung server costs the first call about a second).

Values: every value (``user_id`` included) is stored as JSON and decoded on
read, so ``{"cart": [1, 2], "admin": False}`` round-trips with its types; a
field that is not valid JSON (written by another program) is returned as the
raw string. Pass ``model=`` (a pydantic model) to validate ``data`` on
``create`` and each field on ``update``. Never pickle.

Cluster design: an id looks like ``3fa9.<43 random url-safe chars>`` (256 bits
from :mod:`secrets`). The 4 hex digits are a bucket derived from the user id
(SHA-256, 65,536 buckets); the session hash ``session:{3fa9}:<secret>`` and its
bucket's index ``session:{3fa9}:index`` share that hash tag, so every script
touches one slot on Valkey Cluster, and ``get(sid)`` finds the index from the
id alone. Rotation keeps the bucket, so it is a single atomic RENAME. The index
is a hash ``secret -> "<expires_at_ms>|<user_id>"`` (a bucket holds several
users once there are many; ``destroy_all`` filters by user). Its entries slide
with their sessions, expired ones are pruned on ``create``, and the index key
itself expires with its longest-lived session. A bucket reveals at most 16 bits
about the user to someone holding the id, who can read the session anyway.

This module is the sync face; the flows live in :mod:`valkey_redis.core.session`,
shared with :class:`valkey_redis.aio.SessionStore` (same keys, same scripts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from valkey_redis._run import run
from valkey_redis.core.session import SessionCore

__all__ = ["SessionStore"]


class SessionStore(SessionCore):
    """Sessions on Valkey; see the module docstring for the design.

    Args:
        client: a redis-py client (``decode_responses=True``) or cluster client.
        ttl: idle lifetime in seconds (float ok); each ``get`` restarts it.
        prefix: key namespace.
        model: optional pydantic model that session data must satisfy.

    Raises:
        ValueError: for a non-positive ``ttl``.
    """

    def create(
        self, *, user_id: str | int, data: Mapping[str, Any] | BaseModel | None = None
    ) -> str:
        """Start a session for ``user_id`` holding ``data``; return its new id.

        Raises:
            TypeError: for values that are not JSON-serializable.
            ValueError: if ``data`` has a ``user_id`` key.
            pydantic.ValidationError: when ``data`` does not fit ``model``.
        """
        return run(self._client, self._create_flow(user_id, data))

    def get(self, sid: str) -> dict[str, Any] | None:
        """Return the session's fields (``user_id`` included) and restart its TTL.

        One round trip. None for unknown, expired or malformed ids; nothing is created.
        """
        return run(self._client, self._get_flow(sid))

    def update(self, sid: str, **fields: Any) -> bool:
        """Set some fields of an existing session; the others are untouched.

        Atomic: an expired or unknown session is not resurrected (returns False).
        The TTL is left as it is.

        Raises:
            ValueError: with no fields, or when changing ``user_id``.
            pydantic.ValidationError: when a field does not fit ``model``.
        """
        return run(self._client, self._update_flow(sid, fields))

    def rotate(self, sid: str) -> str | None:
        """Give the session a new id (same data, fresh TTL); the old id stops working.

        Call it on login and on any privilege change, so an id an attacker planted
        or saw earlier is worthless. Returns None for an unknown or expired id.
        """
        return run(self._client, self._rotate_flow(sid))

    def destroy(self, sid: str) -> bool:
        """Log out one session; True if it existed."""
        return run(self._client, self._destroy_flow(sid))

    def destroy_all(self, *, user_id: str | int) -> int:
        """Log ``user_id`` out everywhere; return how many live sessions were removed.

        Two round trips: read the bucket's index, then delete this user's sessions
        (and their index entries, dead ones included) in one script. A session
        created between the two steps survives; call again after a password change
        if that matters.
        """
        return run(self._client, self._destroy_all_flow(user_id))

    def ttl_of(self, sid: str) -> float | None:
        """Seconds left before the session expires (None if unknown); does not slide."""
        return run(self._client, self._ttl_of_flow(sid))
