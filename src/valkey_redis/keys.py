"""Build keys that cannot collide, cannot steer cluster slots, and are the same every run.

Use this for every key a helper writes. User-supplied parts are escaped so that
namespace ``x`` with key ``y:z`` and namespace ``x:y`` with key ``z`` are
different keys, and so that a part containing ``{...}`` cannot pick its own
cluster hash slot. Where several keys must be touched by one script or
transaction, :func:`tagged` puts them in one slot with a hash tag we control.

Not for: secrecy. Keys are readable on the server; never put secrets in them.

How it fails: empty or non-string parts raise ``ValueError``/``TypeError`` at
once, instead of silently producing ``ns::`` keys that collide.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ESCAPES", "argument_key", "canonical_json", "escape", "join", "tagged", "typed"]

# Characters with a meaning in our keys: the separator, the hash-tag braces, the
# escape character itself, and "#", which marks an int where a key may be either
# (:func:`typed`: "#42" is the int 42, "42" the string "42", "%2342" the string
# "#42"). Percent-encoding them keeps the mapping one-to-one.
ESCAPES = str.maketrans({"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D", "#": "%23"})
_MAX_READABLE = 120


def escape(part: str | int) -> str:
    """Escape one key part so it cannot break out of its position.

    An int is written as its digits (``escape(42) == "42"``, as ``"user:42"`` in
    the exercises); where a caller may pass an int *or* a str for the same part,
    use :func:`typed` so the two cannot collide.

    Args:
        part: a non-empty string, or an int (not a bool).

    Raises:
        TypeError: for anything but ``str`` or ``int``.
        ValueError: for an empty string.
    """
    if isinstance(part, bool) or not isinstance(part, str | int):
        msg = f"key parts must be str or int, not {type(part).__name__}"
        raise TypeError(msg)
    if isinstance(part, int):
        return f"{part:d}"
    if not part:
        msg = "key parts must not be empty"
        raise ValueError(msg)
    return part.translate(ESCAPES)


def typed(part: str | int) -> str:
    """Escape a part that may be an int or a str, keeping the two apart: ints get a ``#``.

    The cache uses it for its keys, so ``cache.set(0, ...)`` and ``cache.set("0", ...)``
    are two entries.

    >>> typed(42), typed("42"), typed("#42")
    ('#42', '42', '%2342')
    """
    text = escape(part)
    return f"#{text}" if isinstance(part, int) else text


def join(namespace: str, *parts: str | int) -> str:
    """Return ``namespace:part1:part2`` with every piece escaped.

    >>> join("users", "42", "a:b")
    'users:42:a%3Ab'
    """
    return ":".join(escape(piece) for piece in (namespace, *parts))


def tagged(namespace: str, tag: str | int, *parts: str | int) -> str:
    """Return ``namespace:{tag}:parts``: every key with the same tag shares a cluster slot.

    >>> tagged("lock", "invoice:7", "fence")
    'lock:{invoice%3A7}:fence'
    """
    head = f"{escape(namespace)}:{{{escape(tag)}}}"
    return ":".join([head, *(escape(piece) for piece in parts)])


def _jsonable(value: Any) -> Any:
    """Turn common argument types into JSON; refuse the rest with a clear error."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    msg = (
        f"cannot build a cache key from a {type(value).__name__}: use JSON-like "
        "arguments (str, int, float, bool, None, list, dict), a dataclass or a "
        "pydantic model, or pass key=... to the decorator"
    )
    raise TypeError(msg)


def canonical_json(value: Any) -> str:
    """Serialize ``value`` as canonical JSON (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


@functools.lru_cache(maxsize=1024)
def _signature(func: Callable[..., Any]) -> tuple[inspect.Signature, str | None]:
    """The signature of ``func`` and the name of its ``**kwargs`` parameter, if any."""
    signature = inspect.signature(func)
    var_keyword = next(
        (p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD),
        None,
    )
    return signature, var_keyword


def argument_key(func: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """Return a deterministic key part for a call of ``func``.

    The arguments are bound to the signature (so ``f(1)`` and ``f(x=1)`` match,
    and defaults are filled in), then written as canonical JSON; long ones are
    replaced by a SHA-256 digest. Python's ``hash()`` is never used: it is salted
    per process, so two workers would disagree.

    Raises:
        TypeError: when an argument cannot be represented as JSON.
    """
    signature, var_keyword = _signature(func)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    if var_keyword is not None and var_keyword in arguments:
        arguments.update(arguments.pop(var_keyword))
    text = canonical_json(arguments)
    if len(text) <= _MAX_READABLE:
        return escape(text)
    return "sha256=" + hashlib.sha256(text.encode()).hexdigest()
