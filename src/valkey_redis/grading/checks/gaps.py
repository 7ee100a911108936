"""Checks of exercises 1-3 that cut every task with a TTL or "creates nothing" in its contract.

Each check runs :func:`~valkey_redis.grading.races.interrupted`: the learner's
process dies right after its command k, and (the twin) every key it touched
expires right after command k, for every k. Two commands where one atomic step
was needed (SET then EXPIRE, EXISTS then HGETALL, a MULTI then a compensating
DEL) always leave one of those runs broken.
"""

from __future__ import annotations

import json
from typing import Any

from valkey_redis.grading.context import Ctx, Named, show
from valkey_redis.grading.races import interrupted
from valkey_redis.grading.runner import check

PROFILE = {"name": "Ada", "lang": "en"}
P1 = {"id": 1, "name": "Lamp", "price": 19.5, "tags": ["home", "light"]}
P3 = {"id": 3, "name": "Chair", "price": 45.0, "tags": ["home"]}
SOURCE: dict[int, dict[str, Any]] = {1: P1, 3: P3}
SID = "old-sid-Qm9vYmFy"
FIELDS = {"user_id": "42", "theme": "dark"}


def _is(ctx: Ctx, ok: bool, expected: str, got: object) -> None:
    ctx.expect(ok, expected, got if isinstance(got, str) else show(got))


# --- exercise 1 --------------------------------------------------------------------


def _profile(ctx: Ctx) -> None:
    ctx.put_hash("user:7", {"name": "Old Ada", "nickname": "ace"}, ttl_s=300)
    ctx.given("user:7 holds an older profile (TTL 300 s)")


@check(1, "save_profile", "save_profile keeps a TTL when it dies or its key expires midway")
def _save_gaps(ctx: Ctx) -> None:
    interrupted(
        ctx, setup=lambda: _profile(ctx), mine=lambda: ctx.call("save_profile", 7, PROFILE, 60)
    )


@check(1, "load_profile", "load_profile returns None, not {}, when the profile expires midway")
def _load_gaps(ctx: Ctx) -> None:
    def verify(got: Any) -> None:
        _is(ctx, got is None or got == PROFILE, f"None or {PROFILE}", got)

    def setup() -> None:
        ctx.put_hash("user:7", PROFILE, ttl_s=60)
        ctx.given(f"user:7 holds {PROFILE} (TTL 60 s)")

    interrupted(ctx, setup=setup, mine=lambda: ctx.call("load_profile", 7), verify=verify)


@check(
    1, "count_hit", "count_hit keeps hits:{page} expiring when it dies or the key expires midway"
)
def _count_gaps(ctx: Ctx) -> None:
    def verify(got: Any) -> None:
        ttl = ctx.pttl("hits:home")
        _is(
            ctx,
            ttl == -2 or 0 < ttl <= 100_000,
            "hits:home gone or expiring within 100 s",
            f"PTTL = {ttl} ms",
        )

    for hits in (0, 2):

        def setup(hits: int = hits) -> None:
            if hits:
                ctx.raw.set("hits:home", hits, ex=100)
            ctx.given(f"{hits} hits on 'home' so far" + (" (TTL 100 s)" if hits else ""))

        interrupted(
            ctx, setup=setup, mine=lambda: ctx.call("count_hit", "home", 100), verify=verify
        )


# --- exercise 2 --------------------------------------------------------------------


def _cached(ctx: Ctx, product_id: int) -> None:
    ctx.raw.set(f"product:{product_id}", json.dumps(SOURCE[product_id]), ex=300)
    ctx.given(f"product:{product_id} is cached (TTL 300 s)")


def _product_gaps(ctx: Ctx, task: str) -> None:
    for cached in (False, True):
        interrupted(
            ctx,
            setup=(lambda: _cached(ctx, 1)) if cached else (lambda: ctx.given("nothing cached")),
            mine=lambda: ctx.call(task, 1, Named("load", SOURCE.get), 300),
            verify=lambda got: _is(ctx, got == P1, show(P1), got),
        )


@check(
    2, "get_product", "get_product caches with a TTL even when it dies or its key expires midway"
)
def _get_gaps(ctx: Ctx) -> None:
    _product_gaps(ctx, "get_product")


@check(
    2,
    "get_product_or_fallback",
    "get_product_or_fallback caches with a TTL even when it dies or its key expires midway",
)
def _fallback_gaps(ctx: Ctx) -> None:
    _product_gaps(ctx, "get_product_or_fallback")


@check(2, "update_product", "update_product leaves no stale copy when the entry expires midway")
def _update_gaps(ctx: Ctx) -> None:
    new = {**P1, "price": 17.0}

    def verify(_: Any) -> None:
        left = ctx.get("product:1")
        _is(
            ctx,
            left is None,
            "no cached product:1 once update_product returns",
            f"product:1 = {left!r}",
        )

    interrupted(
        ctx,
        setup=lambda: _cached(ctx, 1),
        mine=lambda: ctx.call("update_product", 1, new, Named("save", lambda *_: None)),
        verify=verify,
    )


@check(2, "get_products", "get_products caches with TTLs even when it dies or keys expire midway")
def _many_gaps(ctx: Ctx) -> None:
    def load_many(ids: list[int]) -> dict[int, dict[str, Any]]:
        return {i: SOURCE[i] for i in ids if i in SOURCE}

    want = {1: P1, 3: P3}
    interrupted(
        ctx,
        setup=lambda: _cached(ctx, 1),
        mine=lambda: ctx.call("get_products", [1, 3], Named("load_many", load_many), 300),
        verify=lambda got: _is(ctx, got == want, show(want), got),
    )


# --- exercise 3 --------------------------------------------------------------------


def _session(ctx: Ctx) -> None:
    ctx.put_hash(f"session:{SID}", FIELDS, ttl_s=100)
    ctx.given(f"session:{SID} holds {FIELDS} (TTL 100 s)")


def _sessions_ok(ctx: Ctx, allowed: set[str]) -> None:
    for key in (k for k in ctx.all_keys() if k.startswith("session:")):
        fields = ctx.hgetall(key)
        _is(
            ctx,
            key in allowed,
            f"no session other than {sorted(allowed) or 'none'}",
            f"{key} = {fields}",
        )
        _is(ctx, set(FIELDS.items()) <= set(fields.items()), f"{key} complete", f"{key} = {fields}")


@check(3, "create_session", "create_session keeps a TTL when it dies or its key expires midway")
def _create_gaps(ctx: Ctx) -> None:
    def verify(sid: Any) -> None:
        _is(ctx, isinstance(sid, str), "a session id", sid)
        _sessions_ok(ctx, {f"session:{sid}"})

    interrupted(
        ctx,
        setup=lambda: ctx.given("no sessions"),
        mine=lambda: ctx.call("create_session", 42, {"theme": "dark"}, 1800),
        verify=verify,
    )


@check(
    3, "get_session", "get_session returns None and creates nothing when the session expires midway"
)
def _get_gaps_3(ctx: Ctx) -> None:
    def verify(got: Any) -> None:
        _is(ctx, got is None or got == FIELDS, f"None or {FIELDS} (never {{}})", got)
        _sessions_ok(ctx, {f"session:{SID}"})

    interrupted(
        ctx,
        setup=lambda: _session(ctx),
        mine=lambda: ctx.call("get_session", SID, 1800),
        verify=verify,
    )


@check(3, "set_session_field", "set_session_field creates nothing when the session expires midway")
def _set_gaps(ctx: Ctx) -> None:
    def verify(got: Any) -> None:
        left = ctx.hgetall(f"session:{SID}")
        _is(ctx, not left or set(FIELDS) <= set(left), "the session whole or gone", left)
        _is(ctx, got is True or not left, "True only for a session that was there", got)

    interrupted(
        ctx,
        setup=lambda: _session(ctx),
        mine=lambda: ctx.call("set_session_field", SID, "theme", "light"),
        verify=verify,
    )
    # A write then a compensating DEL for an unknown id: a crash in between plants a session.
    interrupted(
        ctx,
        setup=lambda: ctx.given("no session 'nope'"),
        mine=lambda: ctx.call("set_session_field", "nope", "theme", "light"),
        verify=lambda got: _is(ctx, not ctx.all_keys(), "no key created", ctx.all_keys()),
    )


@check(3, "rotate_session", "rotate_session keeps TTLs and one session when keys expire midway")
def _rotate_gaps(ctx: Ctx) -> None:
    def verify(new: Any) -> None:
        _is(ctx, new is None or isinstance(new, str), "a new id or None", new)
        _sessions_ok(ctx, {f"session:{new}"} if isinstance(new, str) else set())

    interrupted(
        ctx,
        setup=lambda: _session(ctx),
        mine=lambda: ctx.call("rotate_session", SID, 1800),
        verify=verify,
    )
