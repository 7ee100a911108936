"""The session store's core: ids, keys, field encoding and validation, script calls; no I/O.

Use this through the faces: :class:`valkey_redis.SessionStore` (sync) and
:class:`valkey_redis.aio.SessionStore` (asyncio). Both run these flows, so a
session created by one is read, updated, rotated and destroyed by the other.

Not for: the design and failure modes; :mod:`valkey_redis.session` documents them.

How it fails: malformed ids are answered here without a round trip (None/False);
bad values raise ``TypeError``/``ValueError``/``pydantic.ValidationError`` before
anything is sent; server errors propagate from the runner.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any, cast

from pydantic import BaseModel

from valkey_redis import keys
from valkey_redis._validate import seconds
from valkey_redis.core.flow import Command, Eval, Flow
from valkey_redis.core.scripts import script
from valkey_redis.core.send import check_face

__all__ = ["SessionCore"]

_SECRET_BYTES = 32  # 256 bits; the API promises at least 128
_SID = re.compile(r"([0-9a-f]{4})\.([A-Za-z0-9_-]{43})")
_USER_FIELD = "user_id"
_CREATE, _GET, _UPDATE = script("session_create"), script("session_get"), script("session_update")
_ROTATE, _DESTROY = script("session_rotate"), script("session_destroy")


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


class SessionCore:
    """Settings and flows of a session store; the faces run them.

    The arguments (``client``, ``ttl``, ``prefix``, ``model``) are documented on
    :class:`valkey_redis.SessionStore`.
    """

    def __init__(
        self,
        client: Any,
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
        check_face(client, self)
        self._client = client

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
        if not (data is None or isinstance(data, BaseModel | Mapping)):
            msg = f"data must be a mapping or a pydantic model, not {type(data).__name__}"
            raise TypeError(msg)
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

    # -- flows (the faces document and run them) ----------------------------------

    def _create_flow(
        self, user_id: str | int, data: Mapping[str, Any] | BaseModel | None
    ) -> Flow[str]:
        user_json = self._user_json(user_id)
        pairs = self._pairs(self._fields(data))
        bucket, secret = self._bucket(user_json), secrets.token_urlsafe(_SECRET_BYTES)
        keys_ = (self._session_key(bucket, secret), self._index_key(bucket))
        yield Eval(_CREATE, keys_, (self._ttl_ms, secret, user_json, *pairs))
        return f"{bucket}.{secret}"

    def _get_flow(self, sid: str) -> Flow[dict[str, Any] | None]:
        parsed = self._parse(sid)
        if parsed is None:
            return None
        bucket, secret = parsed
        keys_ = (self._session_key(bucket, secret), self._index_key(bucket))
        flat = cast("list[str]", (yield Eval(_GET, keys_, (self._ttl_ms, secret))))
        if not flat:
            return None
        return {flat[i]: _decode(flat[i + 1]) for i in range(0, len(flat), 2)}

    def _update_flow(self, sid: str, fields: dict[str, Any]) -> Flow[bool]:
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
        return bool((yield Eval(_UPDATE, (key,), self._pairs(checked))))

    def _rotate_flow(self, sid: str) -> Flow[str | None]:
        parsed = self._parse(sid)
        if parsed is None:
            return None
        bucket, old = parsed
        new = secrets.token_urlsafe(_SECRET_BYTES)
        keys_ = (
            self._session_key(bucket, old),
            self._session_key(bucket, new),
            self._index_key(bucket),
        )
        rotated = yield Eval(_ROTATE, keys_, (self._ttl_ms, old, new))
        return f"{bucket}.{new}" if rotated else None

    def _destroy_flow(self, sid: str) -> Flow[bool]:
        parsed = self._parse(sid)
        if parsed is None:
            return False
        bucket, secret = parsed
        keys_ = (self._index_key(bucket), self._session_key(bucket, secret))
        # A token per call: a retry after a lost reply finds its tombstone (True).
        return bool((yield Eval(_DESTROY, keys_, (secrets.token_hex(8), secret))))

    def _destroy_all_flow(self, user_id: str | int) -> Flow[int]:
        user_json = self._user_json(user_id)
        bucket = self._bucket(user_json)
        index = self._index_key(bucket)
        entries = cast("dict[str, str]", (yield Command(("HGETALL", index))))
        secrets_ = [s for s, v in entries.items() if v.partition("|")[2] == user_json]
        if not secrets_:
            return 0
        session_keys = [self._session_key(bucket, s) for s in secrets_]
        args = (secrets.token_hex(8), *secrets_)
        return int((yield Eval(_DESTROY, (index, *session_keys), args)))

    def key(self, sid: str) -> str | None:
        """The hash key holding session ``sid`` (for inspection); None if malformed."""
        parsed = self._parse(sid)
        return None if parsed is None else self._session_key(*parsed)

    def _ttl_of_flow(self, sid: str) -> Flow[float | None]:
        key = self.key(sid)
        if key is None:
            return None
        remaining = int((yield Command(("PTTL", key))))
        return remaining / 1000 if remaining >= 0 else None
