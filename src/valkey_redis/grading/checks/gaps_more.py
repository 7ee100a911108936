"""Checks of exercises 4-6 that cut every task with a TTL in its contract (locks, limits, stampede).

Like :mod:`~valkey_redis.grading.checks.gaps` (exercises 1-3): each check runs
:func:`~valkey_redis.grading.races.interrupted`, the learner's process dying and
its keys expiring right after each of its commands.
"""

from __future__ import annotations

import functools
from typing import Any

from valkey_redis.grading.context import Ctx, Named, show
from valkey_redis.grading.races import interrupted
from valkey_redis.grading.runner import check

LOCK = "lock:jobs"
MINE = "my-token-5f1c"


def _is(ctx: Ctx, ok: bool, expected: str, got: object) -> None:
    ctx.expect(ok, expected, got if isinstance(got, str) else show(got))


# --- exercise 4 --------------------------------------------------------------------


def _lock_state_ok(ctx: Ctx, token: object) -> None:
    value, ttl = ctx.get(LOCK), ctx.pttl(LOCK)
    _is(
        ctx,
        value is None or (value == token and ttl > 0),
        f"{LOCK} gone or yours with a TTL",
        f"{LOCK} = {value!r}, PTTL {ttl} ms",
    )


@check(
    4,
    "acquire_lock",
    "acquire_lock keeps a TTL on the lock when it dies or the lock expires midway",
)
def _acquire_gaps(ctx: Ctx) -> None:
    interrupted(
        ctx,
        setup=lambda: ctx.given(f"{LOCK} is free"),
        mine=lambda: ctx.call("acquire_lock", "jobs", 10_000),
        verify=lambda token: _lock_state_ok(ctx, token),
    )


@check(4, "extend_lock", "extend_lock creates no lock when the lock expires midway")
def _extend_gaps(ctx: Ctx) -> None:
    def setup() -> None:
        ctx.raw.set(LOCK, MINE, px=1_000)
        ctx.given(f"you hold {LOCK} with token {MINE!r} (PTTL 1000 ms)")

    interrupted(
        ctx,
        setup=setup,
        mine=lambda: ctx.call("extend_lock", "jobs", MINE, 30_000),
        verify=lambda _: _lock_state_ok(ctx, MINE),
    )


@check(4, "next_fencing_token", "next_fencing_token's counter survives a crash midway")
def _fence_gaps(ctx: Ctx) -> None:
    interrupted(
        ctx,
        setup=lambda: ctx.given("no fence:jobs yet"),
        mine=lambda: ctx.call("next_fencing_token", "jobs"),
        forever=("fence:jobs",),
        expire=False,
    )


# --- exercise 5 --------------------------------------------------------------------


def _limited(ctx: Ctx, task: str, *args: Any) -> None:
    """A first request, then a third after two allowed through the learner's own function."""
    for prior in (0, 2):
        _limited_after(ctx, prior, task, *args)


def _limited_after(ctx: Ctx, prior: int, task: str, *args: Any) -> None:
    def setup() -> None:
        for _ in range(prior):
            ctx.func(task)(ctx.raw, "user42", *args)
        shown = ", ".join(map(show, args))
        ctx.given(f"{prior} requests already allowed by {task}(client, 'user42', {shown})")

    log = "ratelimit:log:user42"

    def after_crash() -> None:
        if task == "allow_sliding_log":
            size = int(ctx.raw.zcard(log)) if ctx.type_of(log) == "zset" else 0
            _is(
                ctx,
                size <= 2,
                f"{log} to hold only the 2 allowed requests (a rejected one is never recorded)",
                f"ZCARD = {size}",
            )

    interrupted(
        ctx,
        setup=setup,
        mine=lambda: ctx.call(task, "user42", *args),
        verify=lambda got: _is(ctx, isinstance(got, bool), "True or False", got),
        after_crash=after_crash,
    )


def _limited_check(ctx: Ctx, *, task: str, args: tuple[Any, ...]) -> None:
    _limited(ctx, task, *args)


for _task, _args, _title in (
    (
        "allow_fixed_window",
        (2, 100),
        "keeps its counter expiring when it dies or the counter expires midway",
    ),
    (
        "allow_sliding_log",
        (2, 60.0),
        "records no rejected request and keeps a TTL, even after a crash",
    ),
    (
        "allow_token_bucket",
        (2, 0.001),
        "keeps a TTL on the bucket when it dies or the bucket expires midway",
    ),
):
    check(5, _task, f"{_task} {_title}")(functools.partial(_limited_check, task=_task, args=_args))


# --- exercise 6 --------------------------------------------------------------------


@check(
    6,
    "get_or_compute",
    "get_or_compute keeps TTLs on value and lock when it dies or they expire midway",
)
def _compute_gaps(ctx: Ctx) -> None:
    interrupted(
        ctx,
        setup=lambda: ctx.given("no value cached at 'report'"),
        mine=lambda: ctx.call(
            "get_or_compute",
            "report",
            Named("compute", lambda: "fresh"),
            100,
            lock_ttl_ms=2_000,
            wait=1.0,
        ),
        verify=lambda got: _is(ctx, got == "fresh", "'fresh'", got),
    )
