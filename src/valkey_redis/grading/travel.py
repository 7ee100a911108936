"""Time travel for checks of algorithms over time: make seconds pass without waiting.

Use :func:`travel` between two calls of a rate limiter (or anything that keeps
time in its keys): every key's TTL shrinks by ``seconds`` (keys whose TTL runs
out are deleted, as they would have expired), and every stored number that
looks like a timestamp of the server's clock — a hash field, a sorted-set
score, a whole string value, in s, ms, µs or ns — moves back by ``seconds``.
To the learner's next call (Lua reading ``TIME``, or Python reading the clock)
it is as if ``seconds`` had passed: rates, gaps and spacing can be varied
freely, on both backends, in no real time.

Not for: state that keeps time in other shapes (JSON inside a string, a
timestamp in a member name only); such a solution is graded in real time by
the checks that sleep.

How it fails: a key changed by someone else meanwhile may be rewritten with the
travelled values; the grader's checks run it between calls only.
"""

from __future__ import annotations

from typing import cast

import redis

__all__ = ["shift", "travel"]

#: How far from "now" a number may be and still count as a timestamp, per unit.
_UNITS = ((1.0, 30 * 86_400.0), (1e3, 30 * 86_400e3), (1e6, 30 * 86_400e6), (1e9, 30 * 86_400e9))


def shift(text: str, now: float, seconds: float) -> str | None:
    """``text`` moved back by ``seconds`` if it is a timestamp near ``now`` (s), else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    for scale, window in _UNITS:
        if abs(value - now * scale) < window:
            moved = value - seconds * scale
            is_int = text.strip().lstrip("-").isdigit()
            return str(round(moved)) if is_int else repr(moved)
    return None


def _server_now(client: redis.Redis) -> float:
    secs, micros = client.time()
    return secs + micros / 1e6


def _travel_key(client: redis.Redis, key: str, now: float, seconds: float) -> None:
    kind = str(client.type(key))
    if kind == "hash":
        fields = cast(dict[str, str], client.hgetall(key))
        moved = {f: m for f, v in fields.items() if (m := shift(v, now, seconds)) is not None}
        if moved:
            client.hset(key, mapping=dict(moved.items()))
    elif kind == "zset":
        rows = cast(list[tuple[str, float]], client.zrange(key, 0, -1, withscores=True))
        scores = {m: float(n) for m, s in rows if (n := shift(repr(s), now, seconds)) is not None}
        if scores:
            client.zadd(key, scores)
    elif kind == "string":
        value = cast(str, client.get(key))
        moved_value = shift(value, now, seconds)
        if moved_value is not None:
            client.set(key, moved_value, keepttl=True)


def travel(client: redis.Redis, seconds: float) -> None:
    """Make ``seconds`` pass for every key on the server ``client`` talks to."""
    now = _server_now(client)
    for key in [str(k) for k in client.scan_iter(count=1000)]:
        ttl = int(client.pttl(key))
        if ttl > 0 and ttl <= seconds * 1000:
            client.delete(key)
            continue
        _travel_key(client, key, now, seconds)
        if ttl > 0:
            client.pexpire(key, ttl - round(seconds * 1000))
