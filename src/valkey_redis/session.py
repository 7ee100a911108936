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
- The server is unreachable: ``redis.exceptions.ConnectionError`` surfaces.

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
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from importlib import resources
from typing import Any, cast

import redis
from pydantic import BaseModel
from redis.cluster import RedisCluster

from valkey_redis import keys
from valkey_redis._validate import seconds

__all__ = ["SessionStore"]

_SCRIPTS = resources.files("valkey_redis") / "scripts"
_SECRET_BYTES = 32  # 256 bits; the API promises at least 128
_SID = re.compile(r"([0-9a-f]{4})\.([A-Za-z0-9_-]{43})")
_USER_FIELD = "user_id"


def _load(name: str) -> str:
    return (_SCRIPTS / f"session_{name}.lua").read_text()


_CREATE, _GET, _UPDATE = _load("create"), _load("get"), _load("update")
_ROTATE, _DESTROY = _load("rotate"), _load("destroy")


def _encode(value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        msg = f"session values must be JSON-serializable: {exc}"
        raise TypeError(msg) from exc


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # written by someone else as plain text: keep it, do not crash


class SessionStore:
    """Sessions on Valkey; see the module docstring for the design.

    Args:
        client: a redis-py client (``decode_responses=True``) or cluster client.
        ttl: idle lifetime in seconds (float ok); each ``get`` restarts it.
        prefix: key namespace.
        model: optional pydantic model that session data must satisfy.

    Raises:
        ValueError: for a non-positive ``ttl``.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        ttl: float,
        prefix: str = "session",
        model: type[BaseModel] | None = None,
    ) -> None:
        seconds("ttl", ttl)  # finite, positive, at most ~31 years: never a key without TTL
        keys.escape(prefix)  # validates early: a bad prefix fails here, not mid-request
        self.ttl = ttl
        self.prefix = prefix
        self.model = model
        self._ttl_ms = max(1, round(ttl * 1000))
        self._client = client
        self._create = client.register_script(_CREATE)
        self._get = client.register_script(_GET)
        self._update = client.register_script(_UPDATE)
        self._rotate = client.register_script(_ROTATE)
        self._destroy = client.register_script(_DESTROY)

    # -- keys -------------------------------------------------------------------

    @staticmethod
    def _user_json(user_id: str | int) -> str:
        keys.escape(user_id)  # same rules as key parts: str or int, not empty
        return _encode(user_id)

    @staticmethod
    def _bucket(user_json: str) -> str:
        return hashlib.sha256(user_json.encode()).hexdigest()[:4]

    def _session_key(self, bucket: str, secret: str) -> str:
        return keys.tagged(self.prefix, bucket, secret)

    def _index_key(self, bucket: str) -> str:
        return keys.tagged(self.prefix, bucket, "index")

    @staticmethod
    def _parse(sid: str) -> tuple[str, str] | None:
        """Split a well-formed id into (bucket, secret); None for anything else."""
        if not isinstance(sid, str):
            msg = f"session ids are strings, not {type(sid).__name__}"
            raise TypeError(msg)
        match = _SID.fullmatch(sid)
        return (match[1], match[2]) if match else None

    # -- data -------------------------------------------------------------------

    def _fields(self, data: Mapping[str, Any] | BaseModel | None) -> dict[str, Any]:
        fields = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data or {})
        if self.model is not None:
            fields = self.model.model_validate(fields).model_dump(mode="json")
        if _USER_FIELD in fields:
            msg = f"{_USER_FIELD!r} is set from create(user_id=...), not from data"
            raise ValueError(msg)
        return fields

    def _check_field(self, name: str, value: Any) -> Any:
        """Validate one field against the model, if any; return its JSON-ready value."""
        if self.model is None:
            return value
        probe = self.model.model_construct()
        self.model.__pydantic_validator__.validate_assignment(probe, name, value)
        return probe.model_dump(mode="json", include={name})[name]

    @staticmethod
    def _pairs(fields: Mapping[str, Any]) -> list[str]:
        pairs: list[str] = []
        for name, value in fields.items():
            given: object = name
            if not isinstance(given, str) or not given:
                msg = f"field names must be non-empty strings, not {name!r}"
                raise TypeError(msg)
            pairs += [name, _encode(value)]
        return pairs

    # -- operations -------------------------------------------------------------

    def create(
        self, *, user_id: str | int, data: Mapping[str, Any] | BaseModel | None = None
    ) -> str:
        """Start a session for ``user_id`` holding ``data``; return its new id.

        Raises:
            TypeError: for values that are not JSON-serializable.
            ValueError: if ``data`` has a ``user_id`` key.
            pydantic.ValidationError: when ``data`` does not fit ``model``.
        """
        user_json = self._user_json(user_id)
        pairs = self._pairs(self._fields(data))
        bucket, secret = self._bucket(user_json), secrets.token_urlsafe(_SECRET_BYTES)
        self._create(
            keys=[self._session_key(bucket, secret), self._index_key(bucket)],
            args=[self._ttl_ms, secret, user_json, *pairs],
        )
        return f"{bucket}.{secret}"

    def get(self, sid: str) -> dict[str, Any] | None:
        """Return the session's fields (``user_id`` included) and restart its TTL.

        One round trip. None for unknown, expired or malformed ids; nothing is created.
        """
        parsed = self._parse(sid)
        if parsed is None:
            return None
        bucket, secret = parsed
        flat = cast(
            "list[str]",
            self._get(
                keys=[self._session_key(bucket, secret), self._index_key(bucket)],
                args=[self._ttl_ms, secret],
            ),
        )
        if not flat:
            return None
        return {flat[i]: _decode(flat[i + 1]) for i in range(0, len(flat), 2)}

    def update(self, sid: str, **fields: Any) -> bool:
        """Set some fields of an existing session; the others are untouched.

        Atomic: an expired or unknown session is not resurrected (returns False).
        The TTL is left as it is.

        Raises:
            ValueError: with no fields, or when changing ``user_id``.
            pydantic.ValidationError: when a field does not fit ``model``.
        """
        if not fields:
            msg = "update() needs at least one field"
            raise ValueError(msg)
        if _USER_FIELD in fields:
            msg = f"{_USER_FIELD!r} cannot change; create a new session for another user"
            raise ValueError(msg)
        checked = {name: self._check_field(name, value) for name, value in fields.items()}
        parsed = self._parse(sid)
        if parsed is None:
            return False
        key = self._session_key(*parsed)
        return bool(self._update(keys=[key], args=self._pairs(checked)))

    def rotate(self, sid: str) -> str | None:
        """Give the session a new id (same data, fresh TTL); the old id stops working.

        Call it on login and on any privilege change, so an id an attacker planted
        or saw earlier is worthless. Returns None for an unknown or expired id.
        """
        parsed = self._parse(sid)
        if parsed is None:
            return None
        bucket, old = parsed
        new = secrets.token_urlsafe(_SECRET_BYTES)
        rotated = self._rotate(
            keys=[
                self._session_key(bucket, old),
                self._session_key(bucket, new),
                self._index_key(bucket),
            ],
            args=[self._ttl_ms, old, new],
        )
        return f"{bucket}.{new}" if rotated else None

    def destroy(self, sid: str) -> bool:
        """Log out one session; True if it existed."""
        parsed = self._parse(sid)
        if parsed is None:
            return False
        bucket, secret = parsed
        keys_ = [self._index_key(bucket), self._session_key(bucket, secret)]
        return bool(self._destroy(keys=keys_, args=[secrets.token_hex(8), secret]))

    def destroy_all(self, *, user_id: str | int) -> int:
        """Log ``user_id`` out everywhere; return how many live sessions were removed.

        Two round trips: read the bucket's index, then delete this user's sessions
        (and their index entries, dead ones included) in one script. A session
        created between the two steps survives; call again after a password change
        if that matters.
        """
        user_json = self._user_json(user_id)
        bucket = self._bucket(user_json)
        index = self._index_key(bucket)
        entries = cast("dict[str, str]", self._client.hgetall(index))
        secrets_ = [s for s, v in entries.items() if v.partition("|")[2] == user_json]
        if not secrets_:
            return 0
        session_keys = [self._session_key(bucket, s) for s in secrets_]
        args = [secrets.token_hex(8), *secrets_]
        return int(self._destroy(keys=[index, *session_keys], args=args))

    def key(self, sid: str) -> str | None:
        """The hash key holding session ``sid`` (for inspection); None if malformed."""
        parsed = self._parse(sid)
        return None if parsed is None else self._session_key(*parsed)

    def ttl_of(self, sid: str) -> float | None:
        """Seconds left before the session expires (None if unknown); does not slide."""
        key = self.key(sid)
        if key is None:
            return None
        remaining = self._client.pttl(key)
        return remaining / 1000 if remaining >= 0 else None
