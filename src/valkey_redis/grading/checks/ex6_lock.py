"""Checks of exercise 6's lock by method: takeovers, waiters, order of SET and release.

A stampede lock is wrong in ways a single caller never shows: a shared token
or a GET-then-DEL release removes the *next* holder's lock after a takeover;
a waiter that "cleans up" an old-looking lock removes a live holder's lock;
releasing before the value is stored lets a waiter compute a second time; a
compute error swapped for another hides the cause. Each check sets the
situation up deterministically (a hook after the learner's k-th command, or a
second caller running the learner's own function in a thread).
"""

from __future__ import annotations

import threading
from typing import Any

from valkey_redis.grading.clock import BusyLoop, EndlessWait, VirtualClock
from valkey_redis.grading.context import MAX_STEPS, Ctx, Named, show
from valkey_redis.grading.runner import check

E = 6
KEY, LOCK = "report", "lock:report"
NEW = "new-holder-7f3a"
WAIT_S = 10.0


def _held_by_learner(ctx: Ctx) -> bool:
    value = ctx.get(LOCK)
    return value is not None and value != NEW


@check(E, "get_or_compute", "get_or_compute never deletes the lock of whoever took it over")
def _stale_release(ctx: Ctx) -> None:
    """After each command once it holds the lock: its lock expires and NEW takes it."""
    for position in range(1, MAX_STEPS + 1):
        ctx.reset()
        box: dict[str, int] = {}

        def hook(step: int, position: int = position, box: dict[str, int] = box) -> None:
            if "acquired" not in box and _held_by_learner(ctx):
                box["acquired"] = step
            if step == position and "acquired" in box and "done" not in box:
                box["done"] = step
                ctx.raw.set(LOCK, NEW, px=30_000)

        ctx.probe.after_step = hook
        ctx.call("get_or_compute", KEY, Named("compute", lambda: "fresh"), 100)
        ctx.probe.after_step = None
        if "done" not in box:
            if position > len(ctx.probe.steps):
                return
            continue
        steps = ctx.probe.steps
        ctx.note = (
            f"your lock expired and another caller took {LOCK} right after your command "
            f"{position} ({steps[position - 1]})"
        )
        left = ctx.get(LOCK)
        ctx.expect(
            left == NEW,
            f"their lock untouched: {LOCK} = {NEW!r} (compare and delete in one step: Lua)",
            f"{LOCK} = {left!r}",
        )
        ctx.note = None


@check(E, "get_or_compute", "get_or_compute's late holder leaves the next holder's lock alone")
def _takeover_by_peer(ctx: Ctx) -> None:
    """Your lock expires while you compute; a second get_or_compute takes it; you finish first."""
    get = ctx.func("get_or_compute")
    peer_in = threading.Event()
    you_done = threading.Event()
    seen: dict[str, Any] = {}
    peer = ctx.env.traced()

    def peer_compute() -> str:
        seen["lock"] = ctx.get(LOCK)
        peer_in.set()
        you_done.wait(WAIT_S)
        return "theirs"

    def run_peer() -> None:
        try:
            seen["result"] = get(peer, KEY, Named("compute", peer_compute), 100, 30_000, 30.0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            seen["error"] = exc
        peer_in.set()

    thread = threading.Thread(target=run_peer, daemon=True)

    def my_compute() -> str:
        ctx.raw.delete(LOCK)  # your lock expired while you computed
        thread.start()
        peer_in.wait(WAIT_S)
        return "yours"

    ctx.given(
        f"while compute runs your {LOCK} expires; a second get_or_compute takes it and "
        "is still computing when yours finishes"
    )
    try:
        ctx.call("get_or_compute", KEY, Named("compute", my_compute), 100, lock_ttl_ms=30_000)
        left = ctx.get(LOCK)
    finally:
        you_done.set()
        thread.join(WAIT_S)
    if "error" in seen:
        raise seen["error"]
    ctx.expect(
        seen.get("lock") is not None and left == seen.get("lock"),
        f"the second caller's lock ({show(seen.get('lock'))}) still there when you return "
        "(each caller its own random token, compare-and-delete)",
        f"{LOCK} = {left!r}",
    )


@check(E, "get_or_compute", "get_or_compute's waiters never touch the holder's lock")
def _waiter_leaves_lock(ctx: Ctx) -> None:
    """A live holder whose lock is old (PTTL 1500 of 5000 ms) stores the value 0.3 s later."""
    for holder_ms, lock_ttl_ms in ((1_500, 5_000), (20_000, 60_000)):
        ctx.reset()
        ctx.raw.set(LOCK, "holder-token", px=holder_ms)
        ctx.given(f"{LOCK} held by a live worker (PTTL {holder_ms} ms); the value comes at 0.3 s")
        clock = VirtualClock()
        clock.at(0.3, lambda: ctx.raw.set(KEY, "theirs", ex=100))
        touched: list[str] = []

        def look(step: int, touched: list[str] = touched) -> None:
            if not touched and ctx.get(LOCK) != "holder-token":
                touched.append(f"after your command {step} ({ctx.probe.steps[step - 1]})")

        ctx.probe.after_step = look
        with clock.installed(ctx.module):
            clock.watch(ctx.probe)
            try:
                ctx.call("get_or_compute", KEY, Named("compute", lambda: "mine"), 100, lock_ttl_ms)
            except (BusyLoop, EndlessWait):
                pass  # judged by the timing checks; here only the lock matters
            finally:
                ctx.probe.after_step = None
        ctx.expect(
            not touched,
            f"the holder's {LOCK} untouched by a waiter (it expires by itself)",
            f"{LOCK} = {ctx.get(LOCK)!r} {touched[0] if touched else ''}",
        )


@check(E, "get_or_compute", "get_or_compute stores the value before it releases the lock")
def _set_before_release(ctx: Ctx) -> None:
    """Between your release and your SET, a waiter would find neither lock nor value."""
    gap: list[str] = []
    box: dict[str, bool] = {}

    def look(step: int) -> None:
        if _held_by_learner(ctx):
            box["held"] = True
        elif box.get("held") and ctx.get(KEY) is None and not gap:
            gap.append(f"after your command {step} ({ctx.probe.steps[step - 1]})")

    ctx.probe.after_step = look
    ctx.call("get_or_compute", KEY, Named("compute", lambda: "fresh"), 100)
    ctx.probe.after_step = None
    ctx.expect(
        not gap,
        f"{KEY} stored while you still hold {LOCK}, then the release",
        f"no lock and no value {gap[0] if gap else ''}: a waiter arriving now computes again",
    )


@check(E, "get_or_compute", "get_or_compute lets compute's own exception propagate")
def _same_exception(ctx: Ctx) -> None:
    """The very exception object compute raised reaches the caller."""
    error = LookupError("report query failed")

    def compute() -> str:
        raise error

    ctx.given("compute raises LookupError('report query failed')")
    try:
        got = ctx.call("get_or_compute", KEY, Named("compute", compute), 100)
    except Exception as exc:  # noqa: BLE001 - compared below
        ctx.expect(
            exc is error,
            "compute's own LookupError (the same object: re-raise, do not wrap or replace)",
            f"{type(exc).__name__}: {exc}",
        )
        return
    ctx.fail("compute's LookupError to propagate", f"it returned {got!r}")
