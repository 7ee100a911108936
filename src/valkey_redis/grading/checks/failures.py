"""Checks of failure paths and unpredictability in exercises 1-4.

A dead server must surface as an error, not as an answer; a fallback must not
hit the source twice; ids and tokens must come from the operating system's
CSPRNG (``secrets``), which the grader taps: with the clock frozen and the
``random`` module seeded, an id made from anything else stays the same.
"""

from __future__ import annotations

import contextlib
import math
import random
import string
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis

from valkey_redis.grading.clock import VirtualClock
from valkey_redis.grading.context import Ctx, Named, show
from valkey_redis.grading.entropy import tapped
from valkey_redis.grading.runner import check

T = TypeVar("T")
P1 = {"id": 1, "name": "Lamp", "price": 19.5, "tags": ["home", "light"]}
SID = "old-sid-Qm9vYmFy"


# --- exercise 1 --------------------------------------------------------------------


@check(1, "claim_username", "claim_username raises when the server is down (never 'name taken')")
def _claim_dead_server(ctx: Ctx) -> None:
    ctx.given("the server is down: every command raises redis.ConnectionError")
    client = ctx.env.broken(redis.ConnectionError("Error 111 connecting. Connection refused."))
    try:
        got = ctx.call("claim_username", "ada", 7, client=client)
    except (redis.ConnectionError, redis.TimeoutError):
        return
    ctx.fail(
        "redis.ConnectionError to propagate (the caller must not tell the user the name is taken)",
        f"it returned {show(got)}",
    )


# --- exercise 2 --------------------------------------------------------------------


@check(
    2,
    "get_product_or_fallback",
    "get_product_or_fallback calls load once, even when the server dies between GET and SET",
)
def _fallback_loads_once(ctx: Ctx) -> None:
    for healthy, story, product in (
        (1, "the server answers the GET (a miss), then raises redis.ConnectionError", P1),
        (0, "the server is down: every command raises redis.ConnectionError", P1),
        (1, "the server answers the GET (a miss), then raises; load(1) returns {}", {}),
    ):
        ctx.reset()
        ctx.given(story)
        load = Named("load", {1: product}.get)
        client = ctx.env.broken(redis.ConnectionError("Connection closed."), healthy=healthy)
        got = ctx.call("get_product_or_fallback", 1, load, 300, client=client)
        ctx.expect(got == product, f"{show(product)} (what load returned)", got)
        ctx.expect(
            len(load.calls) == 1,
            "load called once: keep what it returned, do not load again in the fallback",
            f"load called {len(load.calls)} times",
        )


# --- exercise 3 and 4: ids from the CSPRNG ----------------------------------------


def _twice_frozen(ctx: Ctx, make: Callable[[], T], seeds: Sequence[bytes | None]) -> list[T]:
    """``make()`` once per seed: the clock frozen, ``random`` seeded alike, the CSPRNG replayed."""
    made: list[T] = []
    state = random.getstate()
    try:
        with VirtualClock().installed(ctx.module):
            for seed in seeds:
                random.seed(1234)
                with tapped(seed) if seed is not None else contextlib.nullcontext():
                    made.append(make())
    finally:
        random.setstate(state)
    return made


def _capacity_bits(token: str) -> float:
    """Bits a token string can carry, judged by the smallest alphabet it fits (dashes aside)."""
    body = token.replace("-", "").rstrip("=")
    chars = set(body)
    if chars <= set(string.digits):
        per = math.log2(10)
    elif chars <= set(string.hexdigits):
        per = 4.0
    elif chars <= set(string.ascii_letters + string.digits + "+/_"):
        per = 6.0
    else:
        per = 8.0
    return len(body) * per


def _from_csprng(ctx: Ctx, make: Callable[[], Any], what: str) -> None:
    """``make()``'s result is >= 128 bits made only from CSPRNG bytes (not the clock, a counter).

    Read >= 16 bytes; with the clock frozen and ``random`` seeded, two different
    CSPRNG streams give two different results, and the same stream replayed gives
    the same result (a uuid1 or anything mixing in time or a counter changes).
    """
    with tapped() as tap:
        first = make()
    ctx.expect(
        tap.read >= 16,
        f"{what} made from at least 16 random bytes of secrets (128 bits of the OS CSPRNG)",
        f"{tap.read} bytes read from the OS CSPRNG (uuid1, the clock, a counter, `random`: "
        "guessable)",
    )
    if isinstance(first, str):
        bits = _capacity_bits(first)
        ctx.expect(
            bits >= 128,
            f"a {what} of at least 128 bits (secrets.token_hex(16): 32 hex digits)",
            f"{first!r}: at most {bits:.0f} bits (guessable by trying them all)",
        )
    made = _twice_frozen(ctx, make, (b"stream A", b"stream B", b"stream A"))
    ctx.given("the clock frozen and random.seed(1234), the OS CSPRNG giving two different streams")
    ctx.expect(
        made[0] != made[1],
        f"two different {what}s: they must come from the random bytes",
        f"{made[0]!r} both times: computable without them",
    )
    ctx.given("then the first stream replayed")
    ctx.expect(
        made[0] == made[2],
        f"the same {what} from the same random bytes: made from secrets alone",
        f"{made[0]!r}, then {made[2]!r}: it also depends on the clock or a counter "
        "(uuid1, time_ns, a sequence): guessable",
    )


@check(3, "create_session", "create_session ids come from secrets, not the clock or the user id")
def _create_csprng(ctx: Ctx) -> None:
    _from_csprng(ctx, lambda: ctx.call("create_session", 42, {"theme": "dark"}, 60), "id")


@check(3, "rotate_session", "rotate_session ids come from secrets, not the clock or the old id")
def _rotate_csprng(ctx: Ctx) -> None:
    def make() -> Any:
        ctx.put_hash(f"session:{SID}", {"user_id": "42"}, ttl_s=100)
        new = ctx.call("rotate_session", SID, 60)
        ctx.raw.delete(f"session:{new}")
        return new

    _from_csprng(ctx, make, "id")


@check(4, "acquire_lock", "acquire_lock tokens are random, not from the clock or a counter")
def _acquire_random(ctx: Ctx) -> None:
    def make() -> Any:
        token = ctx.call("acquire_lock", "jobs", 10_000)
        ctx.raw.delete("lock:jobs")
        return token

    _from_csprng(ctx, make, "token")


@check(6, "get_or_compute", "get_or_compute's lock token is random, not from the clock")
def _stampede_token(ctx: Ctx) -> None:
    tokens: list[Any] = []

    def compute() -> str:
        tokens.append(ctx.get("lock:report"))
        ctx.raw.delete("report")
        return "fresh"

    def make() -> Any:
        ctx.call("get_or_compute", "report", Named("compute", compute), 100)
        ctx.raw.delete("report", "lock:report")
        return tokens[-1] if tokens else None

    ctx.note = "the token is what lock:report held while compute ran"
    _from_csprng(ctx, make, "lock token")
    ctx.note = None
