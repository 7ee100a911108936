"""Checks of exercise 9, task reclaim_stale: taking over a dead worker's entries.

The grader leaves entries pending at a consumer ``dead`` and makes them look
idle for two minutes (``XCLAIM ... IDLE 120000``), so no check has to wait;
entries pending at ``alive`` were delivered just now.
"""

from __future__ import annotations

from typing import Any

from valkey_redis.grading.checks.ex9 import (
    GROUP,
    KEY,
    STREAM,
    WRITES,
    E,
    batches,
    group,
    length,
    pending,
    recorder,
    submit,
)
from valkey_redis.grading.context import Ctx, Named, show
from valkey_redis.grading.runner import check

T = "reclaim_stale"
IDLE = 120_000


def left_at(ctx: Ctx, consumer: str, count: int, *, idle: int | None = IDLE) -> list[str]:
    """Deliver the next ``count`` entries to ``consumer``; make them look ``idle`` ms old."""
    reply: Any = ctx.raw.xreadgroup(GROUP, consumer, {KEY: ">"}, count=count)
    ids: list[Any] = [str(entry_id) for entry_id, _ in reply[0][1]] if reply else []
    if ids and idle is not None:
        ctx.raw.xclaim(KEY, GROUP, consumer, 0, ids, idle=idle)
    return ids


def stale(ctx: Ctx, writes: list[tuple[str, str]]) -> None:
    """``writes`` pending at a dead worker for two minutes."""
    submit(ctx, writes, say=False)
    group(ctx)
    left_at(ctx, "dead", len(writes))
    ctx.given(f"{len(writes)} writes read by worker 'dead' 2 minutes ago, never acknowledged")


def reclaim(ctx: Ctx, apply: Named, min_idle_ms: int = 60_000) -> Any:
    """Call the learner's reclaim_stale as consumer 'me'."""
    return ctx.call(T, STREAM, GROUP, "me", min_idle_ms, apply)


@check(E, T, "reclaim_stale applies the writes a dead worker left pending")
def _reclaims(ctx: Ctx) -> None:
    stale(ctx, WRITES[:3])
    apply = recorder()
    got = reclaim(ctx, apply)
    ctx.expect(got == 3, "3 applied", got)
    ctx.expect(batches(apply) == [WRITES[:3]], f"apply once with {WRITES[:3]}", batches(apply))
    state = f"pending {pending(ctx)}, XLEN {length(ctx)}"
    ctx.expect(state == "pending {}, XLEN 0", "pending {}, XLEN 0 (XACK + XDEL)", state)


@check(E, T, "reclaim_stale leaves entries idle for less than min_idle_ms alone")
def _fresh(ctx: Ctx) -> None:
    submit(ctx, WRITES[:4], say=False)
    group(ctx)
    left_at(ctx, "dead", 2)
    left_at(ctx, "alive", 2, idle=None)
    ctx.given("2 writes pending at 'dead' for 2 minutes, 2 at 'alive' since just now")
    apply = recorder()
    got = reclaim(ctx, apply)
    ctx.expect(
        got == 2 and batches(apply) == [WRITES[:2]],
        f"2 applied: {WRITES[:2]} (min_idle_ms=60000)",
        f"{show(got)}: {show(batches(apply))}",
    )
    ctx.expect(pending(ctx) == {"alive": 2}, "alive's 2 still pending at alive", pending(ctx))


@check(E, T, "reclaim_stale follows the XAUTOCLAIM cursor past 100 entries")
def _cursor(ctx: Ctx) -> None:
    writes = [(f"order:{i}", "v") for i in range(150)]
    stale(ctx, writes)
    apply = recorder()
    got = reclaim(ctx, apply)
    sizes = [len(b) for b in batches(apply)]
    ctx.expect(
        got == 150 and sizes == [150] and batches(apply) == [writes],
        "150 applied, in stream order, in one call of apply (every page first, then apply)",
        f"returned {show(got)}; apply got batches of {sizes}",
    )


@check(E, T, "reclaim_stale acknowledges and deletes only after apply returned")
def _ack_after(ctx: Ctx) -> None:
    stale(ctx, WRITES[:3])
    seen: list[str] = []
    apply = recorder(lambda: seen.append(f"pending {pending(ctx)}, XLEN {length(ctx)}"))
    reclaim(ctx, apply)
    ctx.note = "the grader looked at the stream from inside apply"
    ctx.expect(
        seen == ["pending {'me': 3}, XLEN 3"],
        "all 3 pending (now at 'me') and in the stream while apply runs",
        seen or "apply never called",
    )


@check(E, T, "reclaim_stale leaves everything pending when apply raises")
def _apply_fails(ctx: Ctx) -> None:
    stale(ctx, WRITES[:3])
    apply = recorder(error=RuntimeError("database is down"))
    ctx.given("apply raises RuntimeError('database is down')")
    try:
        reclaim(ctx, apply)
    except RuntimeError:
        pass
    else:
        ctx.fail("the RuntimeError to propagate", "no RuntimeError")
    total = sum(pending(ctx).values())
    ctx.expect(total == 3 and length(ctx) == 3, "3 still pending and in the stream", pending(ctx))


@check(E, T, "reclaim_stale returns 0 without calling apply when nothing is stale")
def _nothing(ctx: Ctx) -> None:
    submit(ctx, WRITES[:2], say=False)
    group(ctx)
    left_at(ctx, "alive", 2, idle=None)
    ctx.given("2 writes pending at 'alive' since just now")
    apply = recorder()
    got = reclaim(ctx, apply)
    ctx.expect(got == 0 and not apply.calls, "0, apply not called", f"{got}: {batches(apply)}")
