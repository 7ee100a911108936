"""Argument checks shared by every helper: durations and counts that cannot break a script.

Use this in a constructor or method that takes seconds or a size from a caller:
:func:`seconds` refuses what would later fail half-way inside a Lua script (a
TTL of ``inf`` overflows, NaN compares false with everything, ``1e16`` seconds
is past what ``PEXPIRE`` accepts), so a bad value raises at once, naming the
setting, and never leaves a key without its TTL.

Not for: values from the server (those are trusted), or ranges a helper has its
own reasons to narrow further (a rate limiter's window).

How it fails: :class:`WrongTypeError` (a ``TypeError`` and a ``ValueError``)
for a non-number (bools included), ``ValueError``
for NaN, infinity, a negative value, zero unless allowed, more than
:data:`MAX_SECONDS` (about 31 years), or a float where a count is expected.
"""

from __future__ import annotations

import math

__all__ = ["MAX_SECONDS", "WrongTypeError", "count", "seconds"]


class WrongTypeError(TypeError, ValueError):
    """An argument of the wrong type: a ``TypeError``, and a ``ValueError`` too.

    Helpers documented ``ValueError`` for any bad setting (``Lock(timeout="5")``)
    and others ``TypeError`` for a wrong type; this class keeps both promises.
    """


#: The longest duration a helper accepts: ~31 years, i.e. 1e12 ms, far inside
#: what Valkey's ``PX``/``PEXPIRE`` accept and exact in Lua's doubles.
MAX_SECONDS = 1e9


def seconds(
    name: str, value: object, *, allow_zero: bool = False, maximum: float = MAX_SECONDS
) -> float:
    """Return ``value`` as a float number of seconds, or raise naming the setting.

    Raises:
        TypeError: for anything but an int or float (bools included).
        ValueError: for NaN, infinity, a negative number, 0 unless ``allow_zero``,
            or more than ``maximum``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name} must be a number of seconds, not {type(value).__name__}"
        raise WrongTypeError(msg)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        msg = f"{name} must be a finite number of seconds {bound}, got {value!r}"
        raise ValueError(msg)
    if value > maximum:
        msg = f"{name} must be at most {maximum:g} seconds, got {value!r}"
        raise ValueError(msg)
    return float(value)


def count(name: str, value: object, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int in ``[minimum, maximum]``, or raise naming the setting.

    Raises:
        TypeError: for a non-number (or a bool).
        ValueError: for a float (NaN and infinity included) or a value outside the range.
    """
    if isinstance(value, float):
        msg = f"{name} must be a whole number (an int), got {value!r}"
        raise ValueError(msg)
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{name} must be an int, not {type(value).__name__}"
        raise WrongTypeError(msg)
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        msg = f"{name} must be >= {minimum}{upper}, got {value}"
        raise ValueError(msg)
    return value
