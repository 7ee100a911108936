"""Checks of exercise 9, tasks submit_write and process_batch: write-behind on a Stream.

The grader sets up streams, groups and pending entries with its own client,
and looks inside ``apply`` (the stand-in database) to see what was already
acknowledged when the learner's code called it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

from valkey_redis.grading.context import Ctx, Named, in_threads, show
from valkey_redis.grading.races import interrupted
from valkey_redis.grading.runner import check

E = 9
STREAM = "orders"
KEY = "wb:orders"
GROUP = "db"
WRITES = [(f"order:{i}", f"paid-{i}") for i in range(1, 6)]


def submit(ctx: Ctx, writes: list[tuple[str, str]], *, say: bool = True) -> list[str]:
    """XADD ``writes`` with the grader's client; return their ids."""
    with ctx.raw.pipeline(transaction=False) as pipe:
        for key, value in writes:
            pipe.xadd(KEY, {"key": key, "value": value})
        ids = [str(entry_id) for entry_id in pipe.execute()]
    if say:
        ctx.given(f"{KEY} holds {len(writes)} writes {show(writes[:3], 70)}")
    return ids


def group(ctx: Ctx) -> None:
    """XGROUP CREATE wb:orders db 0 MKSTREAM."""
    ctx.raw.xgroup_create(KEY, GROUP, id="0", mkstream=True)


def pending(ctx: Ctx) -> dict[str, int]:
    """Pending entries of the group, per consumer ({} when none or no group)."""
    try:
        info: dict[str, Any] = ctx.raw.xpending(KEY, GROUP)
    except Exception:  # noqa: BLE001 - no stream or no group: nothing pending
        return {}
    return {str(c["name"]): int(c["pending"]) for c in info.get("consumers") or []}


def length(ctx: Ctx) -> int:
    """XLEN (0 when absent)."""
    return int(ctx.raw.xlen(KEY))


def _id(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


def safe(ctx: Ctx) -> set[str]:
    """Keys of writes someone will still apply: pending in the group, or not yet delivered."""
    rows = cast(list[tuple[str, dict[str, str]]], ctx.raw.xrange(KEY))
    try:
        groups: list[dict[str, Any]] = ctx.raw.xinfo_groups(KEY)
        held: list[dict[str, Any]] = ctx.raw.xpending_range(KEY, GROUP, "-", "+", 1000)
    except Exception:  # noqa: BLE001 - no stream or no group yet: nothing delivered
        groups, held = [], []
    last = next((str(g["last-delivered-id"]) for g in groups if g["name"] == GROUP), "0-0")
    pending_ids = {str(p["message_id"]) for p in held}
    return {
        str(fields["key"])
        for entry_id, fields in rows
        if entry_id in pending_ids or _id(entry_id) > _id(last)
    }


def recorder(look: Callable[[], object] | None = None, error: Exception | None = None) -> Named:
    """``apply``: records its batches; runs ``look`` inside; raises ``error`` if given."""

    def apply(pairs: list[tuple[str, str]]) -> None:
        if look is not None:
            look()
        if error is not None:
            raise error

    return Named("apply", apply)


def batches(apply: Named) -> list[list[tuple[str, str]]]:
    """What apply was called with, as plain lists of pairs."""
    return [[(str(k), str(v)) for k, v in call[0]] for call in apply.calls]


def batch(ctx: Ctx, apply: Named, count: int | None = None, consumer: str = "w1") -> Any:
    """Call the learner's process_batch."""
    if count is None:
        return ctx.call("process_batch", STREAM, GROUP, consumer, apply)
    return ctx.call("process_batch", STREAM, GROUP, consumer, apply, count=count)


# --- submit_write --------------------------------------------------------------------


@check(E, "submit_write", "submit_write appends key and value to wb:{stream} and returns the id")
def _submit(ctx: Ctx) -> None:
    ids = [ctx.call("submit_write", STREAM, k, v) for k, v in WRITES[:2]]
    rows = cast(list[tuple[str, dict[str, str]]], ctx.raw.xrange(KEY))
    want = [(i, {"key": k, "value": v}) for i, (k, v) in zip(ids, WRITES[:2], strict=True)]
    ctx.expect(all(isinstance(i, str) for i in ids), "the entry ids (str)", show(ids))
    ctx.expect(rows == want, f"XRANGE {KEY} = {show(want, 70)}", show(rows, 120))


@check(E, "submit_write", "submit_write never trims unapplied writes")
def _no_trim(ctx: Ctx) -> None:
    submit(ctx, [(f"old:{i}", "v") for i in range(1200)], say=False)
    ctx.given(f"{KEY} holds 1200 writes nobody has applied yet")
    ctx.call("submit_write", STREAM, *WRITES[0])
    size = length(ctx)
    trims = [s for s in ctx.probe.steps if "MAXLEN" in s.upper() or "MINID" in s.upper()]
    ctx.expect(size == 1201, f"XLEN {KEY} = 1201", f"XLEN = {size}")
    ctx.expect(not trims, "an XADD without MAXLEN/MINID (trimming drops unapplied writes)", trims)


@check(E, "submit_write", "submit_write gives the stream no TTL")
def _no_ttl(ctx: Ctx) -> None:
    ctx.call("submit_write", STREAM, *WRITES[0])
    ttl = ctx.pttl(KEY)
    ctx.expect(ttl == -1, f"{KEY} without a TTL (an expiry drops unapplied writes)", f"PTTL {ttl}")


# --- process_batch -------------------------------------------------------------------


@check(E, "process_batch", "process_batch applies writes submitted before the group existed")
def _from_start(ctx: Ctx) -> None:
    submit(ctx, WRITES[:3])
    ctx.given(f"no consumer group {GROUP!r} yet")
    apply = recorder()
    got = batch(ctx, apply)
    ctx.expect(got == 3, "3 applied", got)
    ctx.expect(
        batches(apply) == [WRITES[:3]], f"apply called once with {WRITES[:3]}", batches(apply)
    )


@check(E, "process_batch", "process_batch returns 0 on a stream that does not exist yet")
def _empty(ctx: Ctx) -> None:
    ctx.given(f"no key {KEY}")
    apply = recorder()
    got = batch(ctx, apply)
    ctx.expect(got == 0, "0", got)
    ctx.expect(not apply.calls, "no call to apply (nothing to apply)", batches(apply))


@check(E, "process_batch", "process_batch acknowledges and deletes only after apply returned")
def _ack_after(ctx: Ctx) -> None:
    submit(ctx, WRITES[:3])
    seen: list[str] = []

    def look() -> None:
        seen.append(f"pending {pending(ctx)}, XLEN {length(ctx)}")

    apply = recorder(look)
    batch(ctx, apply)
    ctx.note = "the grader looked at the stream from inside apply"
    ctx.expect(
        seen == ["pending {'w1': 3}, XLEN 3"],
        "all 3 still pending at w1 and in the stream while apply runs",
        seen or "apply never called",
    )
    ctx.note = None
    after = f"pending {pending(ctx)}, XLEN {length(ctx)}"
    ctx.expect(after == "pending {}, XLEN 0", "pending {}, XLEN 0 afterwards (XACK + XDEL)", after)


@check(E, "process_batch", "process_batch calls apply once per batch, in stream order")
def _once(ctx: Ctx) -> None:
    submit(ctx, WRITES)
    apply = recorder()
    got = batch(ctx, apply)
    ctx.expect(
        batches(apply) == [WRITES] and got == 5,
        f"one call apply({show(WRITES, 60)}), 5 applied",
        f"{show(batches(apply), 100)}; returned {show(got)}",
    )


@check(E, "process_batch", "process_batch reads at most count new entries")
def _count(ctx: Ctx) -> None:
    submit(ctx, WRITES)
    first, second = recorder(), recorder()
    got = (batch(ctx, first, count=2), batch(ctx, second, count=2))
    want = [[WRITES[0], WRITES[1]]], [[WRITES[2], WRITES[3]]]
    ctx.expect(
        got == (2, 2) and (batches(first), batches(second)) == want,
        f"2 and 2 applied: {show(want, 80)}",
        f"{got}: {show((batches(first), batches(second)), 100)}",
    )
    ctx.expect(length(ctx) == 1, f"XLEN {KEY} = 1 (one write left)", length(ctx))


@check(E, "process_batch", "process_batch leaves everything pending when apply raises")
def _apply_fails(ctx: Ctx) -> None:
    submit(ctx, WRITES[:3])
    apply = recorder(error=RuntimeError("database is down"))
    ctx.given("apply raises RuntimeError('database is down')")
    try:
        batch(ctx, apply)
    except RuntimeError:
        pass
    else:
        ctx.fail("the RuntimeError to propagate", "no RuntimeError")
    state = f"pending {pending(ctx)}, XLEN {length(ctx)}"
    ctx.expect(state == "pending {'w1': 3}, XLEN 3", "pending {'w1': 3}, XLEN 3", state)


@check(E, "process_batch", "process_batch only reads entries never delivered in the group")
def _only_new(ctx: Ctx) -> None:
    submit(ctx, WRITES[:3])
    group(ctx)
    ctx.raw.xreadgroup(GROUP, "w2", {KEY: ">"}, count=2)
    ctx.given(f"group {GROUP!r} exists; worker w2 read the first 2 (pending at w2)")
    apply = recorder()
    got = batch(ctx, apply)
    ctx.expect(
        got == 1 and batches(apply) == [WRITES[2:3]],
        f"1 applied: only {WRITES[2]}",
        f"{show(got)}: {show(batches(apply))}",
    )
    apply = recorder()
    got = batch(ctx, apply)
    ctx.expect(got == 0 and not apply.calls, "0 on the next call, apply not called", got)


@check(E, "process_batch", "process_batch loses no write when the process dies mid-way")
def _crash(ctx: Ctx) -> None:
    apply = recorder()

    def nothing_lost() -> None:
        lost = [
            k
            for k, _ in WRITES[:3]
            if k not in safe(ctx) | {k for b in batches(apply) for k, _ in b}
        ]
        ctx.expect(
            not lost,
            "every write applied, or still pending, or not yet delivered",
            f"lost {lost}: acknowledged or deleted, never applied",
        )

    def setup() -> None:
        apply.calls.clear()
        submit(ctx, WRITES[:3])

    interrupted(
        ctx,
        setup=setup,
        mine=lambda: batch(ctx, apply),
        after_crash=nothing_lost,
        forever=(KEY,),
        expire=False,
    )


@check(E, "process_batch", "process_batch applies each of 200 writes once across 4 threads")
def _threads(ctx: Ctx) -> None:
    writes = [(f"order:{i}", "v") for i in range(200)]
    submit(ctx, writes)
    group(ctx)
    seen: list[str] = []
    lock = threading.Lock()

    def apply(pairs: list[tuple[str, str]]) -> None:
        with lock:
            seen.extend(k for k, _ in pairs)

    run = ctx.func("process_batch")

    def worker(index: int, client: Any) -> int:
        total = 0
        while (done := run(client, STREAM, GROUP, f"w{index}", apply, count=10)) > 0:
            total += done
        return total

    ctx.called("process_batch(client, 'orders', 'db', 'w<i>', apply, count=10) until 0, 4 threads")
    totals = in_threads(ctx, 4, worker, what="process_batch loops")
    dupes = len(seen) - len(set(seen))
    ctx.expect(
        sorted(seen) == sorted(k for k, _ in writes) and sum(totals) == 200,
        "each of the 200 writes applied exactly once, the returns adding up to 200",
        f"{len(seen)} applied ({dupes} twice), returns add up to {sum(totals)}",
    )
