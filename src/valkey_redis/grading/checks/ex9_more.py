"""Checks of exercise 9 that an adversarial learner showed were missing.

Ids from the server (a stream whose last id is ahead of every client clock),
batches that repeat a key, a consumer's own pending entries in front of new
ones, a group error that is not BUSYGROUP, the shape of what ``apply`` gets,
XAUTOCLAIM's pages (more than 1000 stale entries; a page that comes back empty
with a cursor to follow, on Valkey), and two reclaimers racing.
"""

from __future__ import annotations

from typing import Any

import redis

from valkey_redis.grading.checks.ex9 import (
    GROUP,
    KEY,
    STREAM,
    WRITES,
    E,
    batch,
    batches,
    group,
    length,
    pending,
    recorder,
    submit,
)
from valkey_redis.grading.checks.ex9_reclaim import T, left_at, reclaim, stale
from valkey_redis.grading.context import Ctx, Named, race, show
from valkey_redis.grading.harness import Probe, TracedRedis
from valkey_redis.grading.runner import check

OOM = "OOM command not allowed when used memory > 'maxmemory'."


# --- submit_write --------------------------------------------------------------------


@check(E, "submit_write", "submit_write lets the server choose the entry id (XADD ... *)")
def _server_ids(ctx: Ctx) -> None:
    seconds, micros = ctx.raw.time()
    ahead = seconds * 1000 + micros // 1000 + 3_600_000
    ctx.raw.xadd(KEY, {"key": "order:0", "value": "v"}, id=f"{ahead}-0")
    ctx.given(
        f"the last entry of {KEY} has id {ahead}-0, an hour ahead of the server's clock"
        " (an application server with a fast clock, or a server clock set back)"
    )
    ids = [ctx.call("submit_write", STREAM, k, v) for k, v in WRITES[:2]]
    want = [f"{ahead}-1", f"{ahead}-2"]
    ctx.expect(
        ids == want,
        f"the ids the server gives with XADD ... * ({want}), not ones from your clock",
        show(ids),
    )


# --- process_batch -------------------------------------------------------------------


@check(E, "process_batch", "process_batch applies every write of a key that repeats, in order")
def _repeats(ctx: Ctx) -> None:
    writes = [
        ("order:1", "paid"),
        ("order:2", "paid"),
        ("order:1", "refunded"),
        ("order:2", "paid"),
        ("order:1", "shipped"),
    ]
    submit(ctx, writes)
    apply = recorder()
    got = batch(ctx, apply)
    ctx.expect(
        got == 5 and batches(apply) == [writes],
        f"one call apply({show(writes, 90)}): every write, in stream order, none merged",
        f"{show(batches(apply), 100)}; returned {show(got)}",
    )


@check(E, "process_batch", "process_batch hands apply a list of (key, value) tuples")
def _shape(ctx: Ctx) -> None:
    submit(ctx, WRITES[:2])
    apply = recorder()
    batch(ctx, apply)
    _tuples(ctx, apply)


def _tuples(ctx: Ctx, apply: Named) -> None:
    got = [call[0] for call in apply.calls]
    ok = bool(got) and all(
        type(pairs) is list
        and all(type(pair) is tuple and len(pair) == 2 for pair in pairs)
        and all(isinstance(part, str) for pair in pairs for part in pair)
        for pairs in got
    )
    ctx.expect(
        ok,
        "apply called with a list of (key, value) tuples of str, as its type says",
        f"apply called with {show(got, 120)}",
    )


@check(
    E, "process_batch", "process_batch applies new entries while its own earlier ones are pending"
)
def _own_pending(ctx: Ctx) -> None:
    submit(ctx, WRITES[:3])
    group(ctx)
    left_at(ctx, "w1", 2, idle=None)
    ctx.given(
        "w1 read the first 2 a moment ago and has not acknowledged them (its apply raised);"
        " the 3rd is new"
    )
    apply = recorder()
    got = batch(ctx, apply)
    ctx.expect(
        got == 1 and batches(apply) == [WRITES[2:3]],
        f"1 applied: only the new {WRITES[2]} (XREADGROUP >; the pending ones are"
        " reclaim_stale's, or a batch that keeps failing blocks every new write)",
        f"{show(got)}: {show(batches(apply))}",
    )
    ctx.expect(pending(ctx) == {"w1": 2}, "w1's first 2 still pending", pending(ctx))


class _RefusingGroup(TracedRedis):
    """A traced client whose XGROUP CREATE fails as a full server's does."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        words = " ".join(str(arg) for arg in args[:2]).upper().split()
        if words[:2] == ["XGROUP", "CREATE"]:
            self.probe.record(f"XGROUP CREATE {KEY} … (refused: OOM)", ["XGROUP"], round_trip=True)
            raise redis.ResponseError(OOM)
        return super().execute_command(*args, **options)


@check(E, "process_batch", "process_batch lets an XGROUP CREATE error other than BUSYGROUP out")
def _group_error(ctx: Ctx) -> None:
    ctx.given(f"no {KEY} yet; the server refuses XGROUP CREATE with {OOM!r}")
    client = _RefusingGroup(ctx.env, Probe())
    apply = recorder()
    try:
        got = ctx.call("process_batch", STREAM, GROUP, "w1", apply, client=client)
    except redis.ResponseError as exc:
        chain: list[BaseException] = []
        error: BaseException | None = exc
        while error is not None and len(chain) < 5:
            chain.append(error)
            error = error.__cause__ or error.__context__
        if any(OOM in str(e) for e in chain):
            return
        ctx.fail(
            "the OOM error to propagate (only BUSYGROUP means 'the group exists')",
            f"{type(exc).__name__}: {exc} (the real cause was swallowed)",
        )
    except Exception as exc:
        if OOM in str(exc) or OOM in str(exc.__cause__ or ""):
            return
        raise
    else:
        ctx.fail("the OOM error to propagate", f"it returned {show(got)}")


# --- reclaim_stale -------------------------------------------------------------------


@check(E, T, "reclaim_stale hands apply a list of (key, value) tuples")
def _reclaim_shape(ctx: Ctx) -> None:
    stale(ctx, WRITES[:2])
    apply = recorder()
    reclaim(ctx, apply)
    _tuples(ctx, apply)


@check(E, T, "reclaim_stale takes over more than 1000 stale entries, applying them once")
def _many(ctx: Ctx) -> None:
    writes = [(f"order:{i}", "v") for i in range(1200)]
    stale(ctx, writes)
    apply = recorder()
    got = reclaim(ctx, apply)
    sizes = [len(b) for b in batches(apply)]
    ctx.expect(
        got == 1200 and batches(apply) == [writes],
        "1200 applied in stream order, in one call of apply (follow the cursor to 0-0,"
        " whatever COUNT)",
        f"returned {show(got)}; apply got batches of {sizes}",
    )
    state = f"pending {pending(ctx)}, XLEN {length(ctx)}"
    ctx.expect(state == "pending {}, XLEN 0", "pending {}, XLEN 0", state)


@check(E, T, "reclaim_stale keeps following the cursor past a page that came back empty")
def _empty_page(ctx: Ctx) -> None:
    submit(ctx, [(f"busy:{i}", "v") for i in range(1100)], say=False)
    group(ctx)
    left_at(ctx, "alive", 1100, idle=None)
    submit(ctx, WRITES[:5], say=False)
    left_at(ctx, "dead", 5)
    ctx.given(
        "1100 writes pending at 'alive' since just now, then 5 at 'dead' for 2 minutes"
        " (XAUTOCLAIM looks at 10 x COUNT pending entries per call: on Valkey its first"
        " page comes back empty, with a cursor that is not 0-0)"
    )
    apply = recorder()
    got = reclaim(ctx, apply)
    ctx.expect(
        got == 5 and batches(apply) == [WRITES[:5]],
        f"5 applied: {show(WRITES[:5], 60)} (stop only when the cursor is 0-0)",
        f"{show(got)}: {show(batches(apply), 80)}",
    )
    ctx.expect(pending(ctx) == {"alive": 1100}, "alive's 1100 still pending at alive", pending(ctx))


@check(E, T, "reclaim_stale never takes an entry another reclaimer claimed meanwhile")
def _race_reclaimers(ctx: Ctx) -> None:
    apply = recorder()

    def setup() -> None:
        apply.calls.clear()
        stale(ctx, WRITES[:3])

    def theirs() -> set[str]:
        reply: Any = ctx.raw.xautoclaim(KEY, GROUP, "other", 60_000, "0-0", count=1000)
        return {str(fields["key"]) for _, fields in reply[1] if fields}

    def verify(_got: Any, claimed: set[str]) -> None:
        mine = {k for b in batches(apply) for k, _ in b}
        both = sorted(mine & claimed)
        ctx.expect(
            not both and mine | claimed == {k for k, _ in WRITES[:3]},
            "each write applied by you or claimed by the other reclaimer, never both (test"
            " the idle time in the claim itself: XAUTOCLAIM, or XCLAIM with min-idle-time)",
            f"you applied {sorted(mine)}, the other reclaimer had claimed {sorted(claimed)}:"
            f" {both} applied twice",
        )

    race(
        ctx,
        setup=setup,
        mine=lambda: reclaim(ctx, apply),
        theirs=theirs,
        theirs_text="another reclaimer's XAUTOCLAIM wb:orders db other 60000 0-0",
        verify=verify,
    )
