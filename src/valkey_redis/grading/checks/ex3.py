"""Checks of exercise 3: sessions."""

from __future__ import annotations

import math
import random
import string
import uuid
from typing import Any

from valkey_redis.grading.context import Ctx, observe, race, show
from valkey_redis.grading.runner import check

E = 3
DATA = {"theme": "dark", "lang": "en"}
SID = "old-sid-Qm9vYmFy"
FIELDS = {"user_id": "42", "theme": "dark"}
SAMPLES = 48

_ALPHABETS = (
    (set(string.digits), 10),
    (set(string.hexdigits.lower()), 16),
    (set(string.hexdigits.upper()), 16),
    (set(string.ascii_letters + string.digits), 62),
    (set(string.ascii_letters + string.digits + "-_"), 64),
    (set(string.ascii_letters + string.digits + "+/="), 64),
)


def _is_uuid4(text: str) -> bool:
    try:
        return uuid.UUID(text).version == 4
    except ValueError:
        return False


def entropy_problem(ids: list[Any]) -> str | None:
    """Estimate the random bits in a sample of ids; describe why it is < 128, or None.

    Each character position that varies across the sample counts log2 of the
    alphabet in use; constant positions (prefixes, uuid's version digit) count 0.
    """
    if not all(isinstance(i, str) and i for i in ids):
        return f"ids that are not non-empty strings: {show(ids[:3])}"
    if len(set(ids)) < len(ids):
        return f"repeated ids among {len(ids)}"
    if all(_is_uuid4(i) for i in ids):
        return f"uuid4 ids like {ids[0]!r}: only 122 random bits"
    chars = set("".join(ids))
    size = next((n for alphabet, n in _ALPHABETS if chars <= alphabet), len(chars))
    longest = max(len(i) for i in ids)
    varying = sum(len({i[p] for i in ids if len(i) > p}) > 1 for p in range(longest))
    bits = varying * math.log2(max(size, 2))
    if bits < 128:
        return (
            f"about {bits:.0f} random bits ({varying} varying characters from an alphabet "
            f"of {size}), e.g. {ids[0]!r}"
        )
    return None


def _session(ctx: Ctx, ttl_s: int = 100) -> str:
    key = f"session:{SID}"
    ctx.put_hash(key, FIELDS)
    ctx.raw.expire(key, ttl_s)
    ctx.given(f"{key} holds {FIELDS} (TTL {ttl_s} s)")
    return key


def _session_keys(ctx: Ctx) -> list[str]:
    return [k for k in ctx.all_keys() if k.startswith("session:")]


# --- create_session ----------------------------------------------------------------


@check(E, "create_session", "create_session stores the data plus user_id in session:{sid}")
def _create_stores(ctx: Ctx) -> None:
    sid = ctx.call("create_session", 42, DATA, 1800)
    ctx.expect(isinstance(sid, str) and bool(sid), "the new session id (a str)", sid)
    got = ctx.hgetall(f"session:{sid}")
    want = {**DATA, "user_id": "42"}
    ctx.expect(got == want, f"hash session:<sid> == {want}", got or f"keys: {ctx.all_keys()}")


@check(E, "create_session", "create_session sets the TTL")
def _create_ttl(ctx: Ctx) -> None:
    sid = ctx.call("create_session", 42, DATA, 1800)
    ttl = ctx.pttl(f"session:{sid}")
    ctx.expect(
        1_790_000 < ttl <= 1_800_000,
        "session:<sid> to expire in 1800 s",
        ctx.ttl_text(ttl, 1_800_000),
    )


@check(E, "create_session", "create_session ids carry at least 128 random bits")
def _create_entropy(ctx: Ctx) -> None:
    ids = [ctx.func("create_session")(ctx.client, 42, DATA, 60) for _ in range(SAMPLES)]
    ctx.given(f"{SAMPLES} sessions created")
    problem = entropy_problem(ids)
    expected = "ids with >= 128 random bits, e.g. secrets.token_urlsafe(16) or longer"
    ctx.expect(problem is None, expected, problem or "")


@check(E, "create_session", "create_session ids come from secrets, not the random module")
def _create_secrets(ctx: Ctx) -> None:
    state = random.getstate()
    try:
        random.seed(1234)
        first = ctx.call("create_session", 42, DATA, 60)
        random.seed(1234)
        second = ctx.call("create_session", 42, DATA, 60)
    finally:
        random.setstate(state)
    ctx.given("random.seed(1234) before each call")
    ctx.expect(first != second, "two different ids", f"{first!r} twice: predictable")


@check(E, "create_session", "create_session never leaves a session without a TTL")
def _create_atomic(ctx: Ctx) -> None:
    def look() -> str | None:
        bare = ctx.keys_without_ttl()
        return f"{bare} existed without a TTL" if bare else None

    observe(
        ctx,
        setup=lambda: None,
        mine=lambda: ctx.call("create_session", 42, DATA, 1800),
        look=look,
        expected="HSET and EXPIRE in one transaction: never a session without its TTL",
    )


# --- get_session -------------------------------------------------------------------


@check(E, "get_session", "get_session returns the fields")
def _get_fields(ctx: Ctx) -> None:
    _session(ctx)
    got = ctx.call("get_session", SID, 1800)
    ctx.expect(got == FIELDS, show(FIELDS), got)


@check(E, "get_session", "get_session slides the TTL back to ttl")
def _get_slides(ctx: Ctx) -> None:
    key = _session(ctx)
    ctx.call("get_session", SID, 1800)
    ttl = ctx.pttl(key)
    ctx.expect(ttl > 1_790_000, "the TTL reset to 1800 s", ctx.ttl_text(ttl, 1_800_000, key))


@check(E, "get_session", "get_session returns None for an unknown id and creates no key")
def _get_unknown(ctx: Ctx) -> None:
    ctx.given("no session 'nope'")
    got = ctx.call("get_session", "nope", 1800)
    ctx.expect(got is None, "None", got)
    ctx.expect(not ctx.all_keys(), "no key created", f"keys: {ctx.all_keys()}")


@check(E, "get_session", "get_session never brings an expiring session back")
def _get_race(ctx: Ctx) -> None:
    key = f"session:{SID}"

    def verify(_mine: Any, _theirs: Any) -> None:
        ctx.expect(not ctx.raw.exists(key), f"{key} to stay gone", f"{ctx.hgetall(key)}")

    race(
        ctx,
        setup=lambda: _session(ctx),
        mine=lambda: ctx.call("get_session", SID, 1800),
        theirs=lambda: ctx.raw.delete(key),
        theirs_text=f"the session expiring ({key} deleted)",
        verify=verify,
    )


# --- set_session_field -------------------------------------------------------------


@check(E, "set_session_field", "set_session_field updates a field of an existing session")
def _set_updates(ctx: Ctx) -> None:
    key = _session(ctx)
    ctx.expect_bool(ctx.call("set_session_field", SID, "theme", "light"), True, "it exists")
    got = ctx.hgetall(key)
    want = {**FIELDS, "theme": "light"}
    ctx.expect(got == want, show(want), got)


@check(E, "set_session_field", "set_session_field keeps the session's TTL")
def _set_keeps_ttl(ctx: Ctx) -> None:
    key = _session(ctx)
    ctx.call("set_session_field", SID, "theme", "light")
    ttl = ctx.pttl(key)
    ctx.expect(0 < ttl <= 100_000, "the TTL still set (at most 100 s)", ctx.ttl_text(ttl))


@check(E, "set_session_field", "set_session_field creates nothing for an unknown session")
def _set_unknown(ctx: Ctx) -> None:
    ctx.given("no session 'nope'")
    ctx.expect_bool(ctx.call("set_session_field", "nope", "theme", "light"), False, "unknown id")
    ctx.expect(not ctx.all_keys(), "no key created", f"keys: {ctx.all_keys()}")


@check(E, "set_session_field", "set_session_field never recreates a session that just expired")
def _set_race(ctx: Ctx) -> None:
    key = f"session:{SID}"

    def verify(_mine: Any, _theirs: Any) -> None:
        left = ctx.hgetall(key)
        ctx.expect(not left, f"{key} to stay gone", f"{key} = {left} (TTL {ctx.pttl(key)})")

    race(
        ctx,
        setup=lambda: _session(ctx),
        mine=lambda: ctx.call("set_session_field", SID, "theme", "light"),
        theirs=lambda: ctx.raw.delete(key),
        theirs_text=f"the session expiring ({key} deleted)",
        verify=verify,
    )


# --- rotate_session ----------------------------------------------------------------


@check(E, "rotate_session", "rotate_session moves the fields to a new id with the TTL")
def _rotate_moves(ctx: Ctx) -> None:
    _session(ctx)
    new = ctx.call("rotate_session", SID, 1800)
    ctx.expect(isinstance(new, str) and new not in ("", SID), "a new id (a str)", new)
    got = ctx.hgetall(f"session:{new}")
    ctx.expect(got == FIELDS, f"session:<new id> == {FIELDS}", got or f"keys: {ctx.all_keys()}")
    ttl = ctx.pttl(f"session:{new}")
    ctx.expect(
        1_790_000 < ttl <= 1_800_000, "a TTL of 1800 s on the new id", ctx.ttl_text(ttl, 1_800_000)
    )


@check(E, "rotate_session", "rotate_session removes the old id")
def _rotate_removes(ctx: Ctx) -> None:
    key = _session(ctx)
    ctx.call("rotate_session", SID, 1800)
    ctx.expect(not ctx.raw.exists(key), f"{key} gone", f"{key} still holds {ctx.hgetall(key)}")


@check(E, "rotate_session", "rotate_session returns None for an unknown id and creates nothing")
def _rotate_unknown(ctx: Ctx) -> None:
    ctx.given("no session 'nope'")
    got = ctx.call("rotate_session", "nope", 1800)
    ctx.expect(got is None, "None", got)
    ctx.expect(not ctx.all_keys(), "no key created", f"keys: {ctx.all_keys()}")


@check(E, "rotate_session", "rotate_session ids carry at least 128 random bits")
def _rotate_entropy(ctx: Ctx) -> None:
    _session(ctx)
    rotate, sid, ids = ctx.func("rotate_session"), SID, []
    for _ in range(SAMPLES):
        sid = rotate(ctx.client, sid, 60)
        if not isinstance(sid, str):
            ctx.fail("a new id from each rotation", show(sid))
        ids.append(sid)
    problem = entropy_problem(ids)
    ctx.expect(problem is None, "ids with >= 128 random bits (use secrets)", problem or "")


@check(E, "rotate_session", "rotate_session lets only one of two racing rotations succeed")
def _rotate_race(ctx: Ctx) -> None:
    def verify(mine: Any, theirs: Any) -> None:
        winners = [sid for sid in (mine, theirs) if sid is not None]
        left = _session_keys(ctx)
        ctx.expect(
            len(winners) == 1 and left == [f"session:{winners[0]}"],
            "one rotation returning the new id, one returning None, and one session left",
            f"yours {show(mine)}, theirs {show(theirs)}, sessions: {left}",
        )
        bare = ctx.keys_without_ttl()
        ctx.expect(not bare, "every session with a TTL", f"{bare} without a TTL")

    race(
        ctx,
        setup=lambda: _session(ctx),
        mine=lambda: ctx.call("rotate_session", SID, 1800),
        theirs=lambda: ctx.func("rotate_session")(ctx.raw, SID, 1800),
        theirs_text=f"another rotate_session(client, {SID!r}, 1800)",
        verify=verify,
    )


# --- destroy_session ---------------------------------------------------------------


@check(E, "destroy_session", "destroy_session removes the session and returns True")
def _destroy(ctx: Ctx) -> None:
    key = _session(ctx)
    ctx.expect_bool(ctx.call("destroy_session", SID), True, "a session was removed")
    ctx.expect(not ctx.raw.exists(key), f"{key} gone", ctx.hgetall(key))


@check(E, "destroy_session", "destroy_session returns False for an unknown id")
def _destroy_unknown(ctx: Ctx) -> None:
    ctx.given("no session 'nope'")
    ctx.expect_bool(ctx.call("destroy_session", "nope"), False, "nothing was removed")
