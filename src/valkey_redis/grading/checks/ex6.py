"""Checks of exercise 6: stampede protection."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from valkey_redis.grading.context import Ctx, Named, in_threads, show
from valkey_redis.grading.runner import check

E = 6
KEY = "report"
LOCK = "lock:report"
THREADS = 8


def _compute(value: str = "fresh", during: Any = None) -> Named:
    def compute() -> str:
        if during is not None:
            during()
        return value

    return Named("compute", compute)


def _times(named: Named) -> str:
    return f"compute called {len(named.calls)} times"


# --- get_or_compute ----------------------------------------------------------------


@check(E, "get_or_compute", "get_or_compute returns a cached value without computing")
def _hit(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "cached", ex=100)
    ctx.given(f"{KEY} = 'cached'")
    compute = _compute()
    got = ctx.call("get_or_compute", KEY, compute, 100)
    ctx.expect(got == "cached", "'cached'", got)
    ctx.expect(not compute.calls, "no call to compute", _times(compute))
    steps = ctx.probe.steps
    ctx.expect(
        len(steps) == 1, "one command for a hit (a GET, no lock)", f"{len(steps)} commands: {steps}"
    )


@check(E, "get_or_compute", "get_or_compute computes on a miss and caches the value with the TTL")
def _miss(ctx: Ctx) -> None:
    compute = _compute()
    got = ctx.call("get_or_compute", KEY, compute, 100)
    ctx.expect(got == "fresh", "'fresh' (what compute returned)", got)
    ctx.expect(len(compute.calls) == 1, "compute called once", _times(compute))
    stored, ttl = ctx.get(KEY), ctx.pttl(KEY)
    ctx.expect(stored == "fresh", f"{KEY} == 'fresh'", stored)
    ctx.expect(
        90_000 < ttl <= 100_000, f"{KEY} to expire in 100 s", ctx.ttl_text(ttl, 100_000, KEY)
    )


@check(E, "get_or_compute", "get_or_compute holds lock:{key} with a TTL while computing")
def _lock_ttl(ctx: Ctx) -> None:
    seen: list[str] = []

    def look() -> None:
        ttl = ctx.pttl(LOCK)
        seen.append(f"PTTL {LOCK} = {ttl}")
        if 0 < ttl <= 4_000:
            seen[-1] = "ok"

    ctx.call("get_or_compute", KEY, _compute(during=look), 100, lock_ttl_ms=4_000)
    ctx.note = "the grader looked at the lock while compute ran"
    ctx.expect(
        seen == ["ok"],
        f"{LOCK} held, expiring within lock_ttl_ms=4000",
        seen or "compute never ran",
    )


@check(E, "get_or_compute", "get_or_compute releases its lock after computing")
def _released(ctx: Ctx) -> None:
    ctx.call("get_or_compute", KEY, _compute(), 100)
    left = ctx.get(LOCK)
    ctx.expect(left is None, f"{LOCK} gone", f"{LOCK} = {left!r} (others wait until it expires)")


@check(E, "get_or_compute", "get_or_compute does not delete a lock it no longer owns")
def _not_theirs(ctx: Ctx) -> None:
    def taken_over() -> None:
        ctx.raw.set(LOCK, "someone-else", px=10_000)

    ctx.given(f"while compute runs, your lock expires and another caller takes {LOCK}")
    ctx.call("get_or_compute", KEY, _compute(during=taken_over), 100)
    left = ctx.get(LOCK)
    ctx.expect(
        left == "someone-else", "their lock untouched (compare-and-delete)", f"{LOCK} = {left!r}"
    )


@check(E, "get_or_compute", "get_or_compute lets only one of 8 threads compute")
def _one_computes(ctx: Ctx) -> None:
    clients = [ctx.env.traced() for _ in range(THREADS)]
    owners: dict[int, int] = {}
    computing: set[int] = set()

    def others_waiting() -> None:
        # Finish computing only once every other caller has missed and started
        # waiting (two commands each) or is computing too, so they really overlap.
        computing.add(threading.get_ident())
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            if all(
                len(client.probe.steps) >= 2 or owners.get(i) in computing
                for i, client in enumerate(clients)
            ):
                return
            time.sleep(0.002)

    compute = _compute(during=others_waiting)
    get = ctx.func("get_or_compute")

    def body(index: int, client: Any) -> Any:
        owners[index] = threading.get_ident()
        return get(client, KEY, compute, 100)

    ctx.called(ctx.describe_call("get_or_compute", KEY, compute, 100) + f" in {THREADS} threads")
    results = in_threads(ctx, THREADS, body, what="get_or_compute on a cold key", clients=clients)
    ctx.expect(len(compute.calls) == 1, "compute called once", _times(compute))
    ctx.expect(results == ["fresh"] * THREADS, "'fresh' for every caller", show(results))


@check(E, "get_or_compute", "get_or_compute takes over when the lock holder died")
def _takes_over(ctx: Ctx) -> None:
    ctx.raw.set(LOCK, "dead-worker", px=200)
    ctx.given(f"{LOCK} held by a worker that died (it expires in 200 ms); no value")
    compute = _compute()
    box: list[Any] = []
    ctx.called(ctx.describe_call("get_or_compute", KEY, compute, 100, lock_ttl_ms=2_000, wait=30.0))

    def run() -> None:
        try:
            box.append(
                ctx.func("get_or_compute")(
                    ctx.client, KEY, compute, 100, lock_ttl_ms=2_000, wait=30.0
                )
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(1.5)
    if thread.is_alive():
        ctx.env.aborted = True
        ctx.fail("a value soon after the dead lock expired", "still waiting 1.5 s later")
    got = box[0]
    if isinstance(got, BaseException):
        raise got
    ctx.expect(
        got == "fresh" and len(compute.calls) == 1,
        "'fresh', computed once by you",
        f"{got!r}; {_times(compute)}",
    )


# --- should_refresh_early ----------------------------------------------------------

# (rand() value, remaining_ttl, delta, beta) -> -delta * beta * log(rand) >= remaining
_TABLE = [
    (0.5, 0.5, 1.0, 1.0),
    (0.5, 1.0, 1.0, 1.0),
    (0.5, 1.0, 2.0, 1.0),
    (0.5, 1.0, 1.0, 2.0),
    (0.5, 1.5, 1.0, 2.0),
    (0.01, 4.0, 1.0, 1.0),
    (0.01, 5.0, 1.0, 1.0),
    (0.9, 0.1, 1.0, 1.0),
    (0.9, 0.2, 1.0, 1.0),
    (0.2, 30.0, 10.0, 1.5),
    (0.2, 20.0, 10.0, 1.5),
]


@check(
    E,
    "should_refresh_early",
    "should_refresh_early follows -delta * beta * log(rand()) >= remaining_ttl",
)
def _xfetch_table(ctx: Ctx) -> None:
    for value, remaining, delta, beta in _TABLE:
        rand = Named(f"lambda: {value}", lambda v=value: v)
        want = -delta * beta * math.log(value) >= remaining
        got = ctx.call_pure("should_refresh_early", remaining, delta, beta, rand=rand)
        ctx.expect(
            got is want,
            f"{want} ({-delta * beta * math.log(value):.3f} >= {remaining} is {want})",
            got,
        )


@check(E, "should_refresh_early", "should_refresh_early refreshes at the boundary (>=, not >)")
def _xfetch_boundary(ctx: Ctx) -> None:
    got = ctx.call_pure(
        "should_refresh_early", 0.0, 1.0, 1.0, rand=Named("lambda: 1.0", lambda: 1.0)
    )
    ctx.expect(got is True, "True (-1 * 1 * log(1.0) = 0 >= 0)", got)


@check(E, "should_refresh_early", "should_refresh_early refreshes when rand() returns 0.0")
def _xfetch_zero(ctx: Ctx) -> None:
    got = ctx.call_pure(
        "should_refresh_early", 1e9, 1.0, 1.0, rand=Named("lambda: 0.0", lambda: 0.0)
    )
    ctx.expect(
        got is True,
        "True (random.random() can return 0.0: -log(0) is +infinity, which beats any TTL)",
        got,
    )


@check(E, "should_refresh_early", "should_refresh_early draws its randomness from rand")
def _xfetch_rand(ctx: Ctx) -> None:
    for remaining in (10.0, 0.1):
        rand = Named("rand", lambda: 0.5)
        ctx.call_pure("should_refresh_early", remaining, 1.0, 1.0, rand=rand)
        calls = len(rand.calls)
        ctx.expect(
            calls == 1,
            "rand() called exactly once per decision",
            "rand was never called (random.random used directly?)"
            if calls == 0
            else f"rand called {calls} times: each call is a new draw, so the odds change",
        )


@check(E, "get_or_compute", "get_or_compute looks again once it holds the lock")
def _checks_again(ctx: Ctx) -> None:
    compute = _compute()
    filled: list[bool] = []

    def fill(step: int) -> None:
        if step == 1 and ctx.probe.commands[:1] == ["GET"]:
            ctx.raw.set(KEY, "theirs", ex=100)
            filled.append(True)

    ctx.given(f"right after your first GET (a miss), the previous holder stores {KEY} = 'theirs'")
    ctx.probe.after_step = fill
    got = ctx.call("get_or_compute", KEY, compute, 100)
    ctx.probe.after_step = None
    if not filled:
        return  # no plain GET first (one script reads or locks at once): no gap to fill
    ctx.expect(
        got == "theirs" and not compute.calls,
        "'theirs', without computing: GET again after taking the lock",
        f"{got!r}; {_times(compute)}",
    )
