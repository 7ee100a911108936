"""Checks of exercise 8 on a failing server: an error is never an answer.

A dead server must surface as ``redis.ConnectionError`` from every task, never
as False ("sold out", "not enough points") or as a count: the caller must be
able to tell "no" from "could not ask". Each story runs with a client that
fails from its first command, and with one that answers the first commands and
then fails (the server died in the middle of a WATCH/MULTI retry loop).
"""

from __future__ import annotations

from typing import Any

import redis

from valkey_redis.grading.checks.ex8 import SKU, E, _points, _stock
from valkey_redis.grading.context import Ctx, show
from valkey_redis.grading.runner import check

_STORIES = (
    (0, "the server is down: every command raises redis.ConnectionError"),
    (1, "the server answers your first command, then every command raises ConnectionError"),
    (2, "the server answers your first two commands, then raises redis.ConnectionError"),
)


def _propagates(ctx: Ctx, task: str, args: tuple[Any, ...], what: str, healthy: int) -> None:
    client = ctx.env.broken(redis.ConnectionError("Connection reset by peer"), healthy=healthy)
    try:
        got = ctx.call(task, *args, client=client)
    except (redis.ConnectionError, redis.TimeoutError):
        return
    if not getattr(client, "refused", 0):
        return  # done before the server failed (one Lua script, say): a true answer
    ctx.fail(
        f"redis.ConnectionError to propagate ({what}): catch only redis.WatchError",
        f"it returned {show(got)}",
    )


@check(E, "reserve_stock", "reserve_stock raises when the server fails (never 'sold out')")
def _reserve_errors(ctx: Ctx) -> None:
    for healthy, story in _STORIES:
        ctx.reset()
        _stock(ctx, 10)
        ctx.given(story)
        _propagates(ctx, "reserve_stock", (SKU, 3), "a dead server is not 'sold out'", healthy)


@check(E, "transfer_points", "transfer_points raises when the server fails (never 'too little')")
def _transfer_errors(ctx: Ctx) -> None:
    for healthy, story in _STORIES:
        ctx.reset()
        _points(ctx, ada=10, bob=5)
        ctx.given(story)
        _propagates(
            ctx, "transfer_points", ("ada", "bob", 4), "a dead server is not 'too little'", healthy
        )


@check(E, "bulk_load", "bulk_load raises when the server is down (never a count)")
def _bulk_errors(ctx: Ctx) -> None:
    ctx.given(_STORIES[0][1])
    _propagates(ctx, "bulk_load", ({"page:1": "one"}, 100), "nothing was written", 0)
