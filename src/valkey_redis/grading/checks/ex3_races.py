"""Checks of exercise 3 by method: a sliding TTL that also goes down, one winner per destroy,
and a rotation whose crash never leaves the new id with the old TTL.

``EXPIRE ... GT`` never shortens a TTL, so a session created with a long TTL
keeps it; ``EXISTS`` then ``DEL`` answers True to two racing callers (and to
one whose session expired in between); ``RENAMENX`` then ``EXPIRE`` leaves the
new id alive for the old TTL when the process dies between the two.
"""

from __future__ import annotations

from typing import Any

from valkey_redis.grading.context import Ctx, race, show
from valkey_redis.grading.races import interrupted
from valkey_redis.grading.runner import check

E = 3
SID = "old-sid-Qm9vYmFy"
KEY = f"session:{SID}"
FIELDS = {"user_id": "42", "theme": "dark"}


def _long_session(ctx: Ctx, ttl_s: int = 3_600) -> None:
    ctx.put_hash(KEY, FIELDS, ttl_s=ttl_s)
    ctx.given(f"{KEY} holds {FIELDS} (TTL {ttl_s} s)")


@check(E, "get_session", "get_session resets the TTL to ttl, also when that is shorter")
def _get_slides_down(ctx: Ctx) -> None:
    _long_session(ctx)
    ctx.call("get_session", SID, 60)
    ttl = ctx.pttl(KEY)
    ctx.expect(
        55_000 < ttl <= 60_000,
        "the TTL set to 60 s (ttl), down from 3600 s (EXPIRE without GT)",
        ctx.ttl_text(ttl, 60_000, KEY),
    )


@check(E, "destroy_session", "destroy_session answers True to only one of two racing callers")
def _destroy_once(ctx: Ctx) -> None:
    def verify(mine: Any, theirs: Any) -> None:
        wins = [r for r in (mine, theirs) if r is True]
        ctx.expect(
            len(wins) == 1,
            "True for exactly one of the two (the DEL's own answer says who removed it)",
            f"yours {show(mine)}, theirs {show(theirs)}",
        )

    race(
        ctx,
        setup=lambda: _long_session(ctx, 100),
        mine=lambda: ctx.call("destroy_session", SID),
        theirs=lambda: ctx.func("destroy_session")(ctx.raw, SID),
        theirs_text=f"another destroy_session(client, {SID!r})",
        verify=verify,
    )


@check(E, "rotate_session", "rotate_session never leaves the new id with the old TTL")
def _rotate_new_ttl(ctx: Ctx) -> None:
    def after_crash() -> None:
        for key in ctx.all_keys():
            ttl = ctx.pttl(key)
            if key.startswith("session:") and key != KEY:
                ctx.expect(
                    ttl <= 60_000,
                    f"{key} (the new id) to expire within ttl = 60 s at every moment "
                    "(rename and expire in one MULTI/EXEC or script)",
                    ctx.ttl_text(ttl, 60_000, key),
                )

    interrupted(
        ctx,
        setup=lambda: _long_session(ctx),
        mine=lambda: ctx.call("rotate_session", SID, 60),
        after_crash=after_crash,
        expire=False,
    )
