"""Turn cached values into text and back: JSON or pydantic, in a small versioned envelope.

Use this when a helper stores Python values in Valkey. Every payload starts with
a short prefix naming the format and its version (``v1:j:`` for JSON, ``v1:p:``
for pydantic), so a future format can be told apart from today's and old
entries are recognised instead of misread.

Not for: arbitrary Python objects. There is deliberately no pickle codec:
unpickling runs code chosen by whoever wrote the bytes, so anyone able to write
to the cache could take over every reader. JSON round-trips the JSON types
(tuples come back as lists, dict keys as strings); use :class:`PydanticSerializer`
for dataclasses, models, datetimes and the like.

How it fails: ``dumps`` raises ``TypeError``/``ValueError`` for values it cannot
represent. ``loads`` raises :class:`SerializationError` (a ``ValueError``) for
anything that is not one of its own payloads -- garbage, another format, a
planted pickle -- and never executes it; the cache treats that as a miss.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import TypeAdapter, ValidationError

__all__ = ["JsonSerializer", "PydanticSerializer", "SerializationError", "Serializer"]

T = TypeVar("T")

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _compact_encoder() -> Callable[[Any], str]:
    """Return a function encoding like ``_ENCODER.encode``, faster where CPython allows.

    ``JSONEncoder.encode`` builds a new C encoder on every call; calling one built
    once makes encoding a small object about a third cheaper (set_many encodes
    thousands). It gets no markers dict, so it keeps no state between calls (safe to
    share between threads) and a circular value ends in RecursionError, which
    ``dumps`` reports as ValueError.
    """
    try:
        from _json import make_encoder  # noqa: PLC0415 - CPython's accelerator, optional
    except ImportError:  # pragma: no cover - a Python without it
        return _ENCODER.encode
    chunks = make_encoder(
        None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, False
    )
    return lambda value: "".join(chunks(value, 0))


_ENCODE = _compact_encoder()
# raw_decode(text, start) parses in place: no copy of the payload without its prefix.
_RAW_DECODE = json.JSONDecoder().raw_decode


class SerializationError(ValueError):
    """Cached text that this serializer did not write (or cannot read back)."""


@runtime_checkable
class Serializer(Protocol):
    """What the cache needs from a codec: text out, the same value back.

    ``loads`` must raise :class:`SerializationError` (or any ``ValueError``) for
    text it does not recognise, and must never execute anything it reads.
    """

    def dumps(self, value: Any) -> str:
        """Return ``value`` as text."""
        ...

    def loads(self, data: str) -> Any:
        """Return the value encoded in ``data``."""
        ...


def _strip(data: str, prefix: str) -> str:
    if not data.startswith(prefix):
        msg = f"not a {prefix!r} payload (starts with {data[:16]!r})"
        raise SerializationError(msg)
    return data[len(prefix) :]


class JsonSerializer:
    """Plain JSON (``v1:j:`` prefix): readable in ``valkey-cli``, safe to read from anyone.

    Example:
        >>> JsonSerializer().dumps({"a": 1})
        'v1:j:{"a":1}'
    """

    prefix = "v1:j:"

    def dumps(self, value: Any) -> str:
        """Encode ``value`` as compact JSON.

        Raises:
            TypeError: for values JSON cannot represent (sets, objects, bytes).
            ValueError: for NaN or infinity, which standard JSON lacks, and for
                circular or too deeply nested values.
        """
        try:
            return self.prefix + _ENCODE(value)
        except TypeError as exc:
            msg = f"{exc}; cache JSON types only, or use PydanticSerializer"
            raise TypeError(msg) from None
        except RecursionError:
            msg = "cannot encode a circular or too deeply nested value as JSON"
            raise ValueError(msg) from None

    def loads(self, data: str) -> Any:
        """Decode a payload written by :meth:`dumps`.

        Raises:
            SerializationError: when ``data`` is not a valid ``v1:j:`` payload.
        """
        if data.startswith(self.prefix):  # the hit path: parse in place, fully consumed
            try:
                value, end = _RAW_DECODE(data, 5)
                if end == len(data):
                    return value
            except (ValueError, RecursionError):
                pass  # json.loads below gives the error (or accepts surrounding spaces)
        body = _strip(data, self.prefix)
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            msg = f"corrupt JSON payload: {exc}"
            raise SerializationError(msg) from None


class PydanticSerializer(Generic[T]):
    """Any type pydantic understands (``v1:p:`` prefix), validated on the way back in.

    Args:
        type_: the type of cached values, e.g. ``User``, ``list[User]`` or
            ``dict[str, datetime]``.

    Example:
        >>> from datetime import date
        >>> codec = PydanticSerializer(date)
        >>> codec.loads(codec.dumps(date(2024, 1, 31)))
        datetime.date(2024, 1, 31)
    """

    prefix = "v1:p:"

    def __init__(self, type_: type[T] | Any) -> None:
        self._adapter: TypeAdapter[T] = TypeAdapter(type_)

    def dumps(self, value: Any) -> str:
        """Encode ``value`` as JSON through the type adapter.

        Raises:
            TypeError: when ``value`` cannot be serialized as the declared type.
        """
        try:
            raw = self._adapter.dump_json(value)
        except Exception as exc:  # noqa: BLE001 - pydantic raises several kinds
            msg = f"cannot serialize {type(value).__name__}: {exc}"
            raise TypeError(msg) from None
        return self.prefix + raw.decode()

    def loads(self, data: str) -> T:
        """Decode and validate a payload written by :meth:`dumps`.

        Raises:
            SerializationError: when ``data`` is not a valid payload of the type.
        """
        body = _strip(data, self.prefix)
        try:
            return self._adapter.validate_json(body)
        except ValidationError as exc:
            msg = f"payload does not match the type: {exc.error_count()} error(s)"
            raise SerializationError(msg) from None
