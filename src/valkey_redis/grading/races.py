"""Races by method: the learner's process dies, or its keys vanish, after each of its commands.

Use when a task's contract mentions a TTL, "creates nothing" / "never creates",
or a write that undoes another (a compensating write): every such contract has
a gap between two commands where the state breaks it, and a check that only
runs the happy path never sees the gap.

:func:`interrupted` runs the learner's call once per position k (1 to the
number of commands it sends, at most ``MAX_STEPS``) in two ways:

* **crash** — the process dies right after command k (nothing more reaches the
  server, ``finally`` blocks included). Afterwards no key may exist without a
  TTL unless it had none before the call or is listed in ``forever``;
  ``after_crash()`` can check more (say, "no rejected request recorded").
* **expire** — right after command k, every key the learner's commands named
  so far is deleted by another client (it expired, or was deleted), then the
  call goes on. When it named several keys, each one alone is tried too.
  Afterwards no key may lack a TTL (same exceptions) and ``verify(result)``
  checks what the call returned and left behind.

A MULTI/EXEC block or a Lua script is one command, so an atomic solution has no
gap; a check-then-act in two commands is found, every time, deterministically.

API (for checks of any exercise)::

    from valkey_redis.grading.races import interrupted

    interrupted(
        ctx,
        setup=lambda: ...,                 # state before each run (ctx.raw writes)
        mine=lambda: ctx.call("f", ...),   # the learner's call
        verify=lambda result: ...,         # after an "expire" run: ctx.expect(...)
        after_crash=lambda: ...,           # optional, after a "crash" run
        forever=("fence:jobs",),           # keys allowed to have no TTL
        crash=True, expire=True,           # which of the two to run
    )

How it fails: it raises :class:`~valkey_redis.grading.context.Failure` with
``meanwhile`` naming the position and the command ("your process died right
after your command 2 (SET hits:home 0 EX 100 NX)"); an exception from the
learner's code propagates with that note set, so the report says when it came.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from valkey_redis.grading.context import MAX_STEPS, Ctx
from valkey_redis.grading.harness import ProcessDied

__all__ = ["bare_keys", "interrupted"]

T = TypeVar("T")


def bare_keys(ctx: Ctx, before: set[str], forever: Sequence[str] = ()) -> list[str]:
    """Keys without a TTL now that had one (or did not exist) in ``before``'s snapshot."""
    return [k for k in ctx.keys_without_ttl() if k not in before and k not in forever]


def _bare_failure(ctx: Ctx, bare: list[str]) -> None:
    if bare:
        ctx.fail(
            f"every key you write to have a TTL at every moment (here {', '.join(bare)}): send"
            " the write and its expiry together (SET ... EX, one MULTI/EXEC, or a Lua script)",
            f"{', '.join(bare)} exists without a TTL (PTTL = -1): it would never expire",
        )


def _count_steps(ctx: Ctx, setup: Callable[[], object], mine: Callable[[], object]) -> int:
    ctx.reset()
    setup()
    mine()
    return min(len(ctx.probe.steps), MAX_STEPS)


def _crash_at(
    ctx: Ctx,
    position: int,
    *,
    setup: Callable[[], object],
    mine: Callable[[], object],
    after_crash: Callable[[], None] | None,
    forever: Sequence[str],
) -> None:
    ctx.reset()
    setup()
    before = set(ctx.keys_without_ttl())
    probe = ctx.probe

    def hook(step: int) -> None:
        if step == position and not probe.dead:
            probe.dead = True
            raise ProcessDied

    probe.after_step = hook
    with contextlib.suppress(ProcessDied):  # the simulated death, as planned
        mine()
    probe.after_step = None
    if not probe.dead:
        return  # this run needed fewer commands
    ctx.note = f"your process died right after your command {position} ({probe.steps[-1]})"
    _bare_failure(ctx, bare_keys(ctx, before, forever))
    if after_crash is not None:
        after_crash()
    ctx.note = None


def _expire_at(
    ctx: Ctx,
    position: int,
    only: int | None,
    *,
    setup: Callable[[], object],
    mine: Callable[[], T],
    verify: Callable[[T], None] | None,
    forever: Sequence[str],
) -> int:
    """One "expire" run; returns how many keys the learner had touched by then."""
    ctx.reset()
    setup()
    before = set(ctx.keys_without_ttl())
    probe = ctx.probe
    seen: dict[str, int] = {}

    def hook(step: int) -> None:
        if step != position or seen:
            return
        touched = probe.touched(step)
        seen["count"] = len(touched)
        gone = touched if only is None else touched[only : only + 1]
        if gone:
            ctx.raw.delete(*gone)
        which = ", ".join(gone) or "(no key)"
        ctx.note = (
            f"{which} expired (or another client deleted it) right after your command"
            f" {step} ({probe.steps[step - 1]})"
        )

    probe.after_step = hook
    result = mine()
    probe.after_step = None
    if not seen:
        return 0
    _bare_failure(ctx, bare_keys(ctx, before, forever))
    if verify is not None:
        verify(result)
    ctx.note = None
    return seen["count"]


def _expire_runs(  # noqa: PLR0917 - the loop body of interrupted()
    ctx: Ctx,
    position: int,
    setup: Callable[[], object],
    mine: Callable[[], T],
    verify: Callable[[T], None] | None,
    forever: Sequence[str],
) -> list[int]:
    """All keys at once, then (when there were several) each key alone."""
    count = _expire_at(ctx, position, None, setup=setup, mine=mine, verify=verify, forever=forever)
    alone = list(range(count if count > 1 else 0))
    for index in alone:
        _expire_at(ctx, position, index, setup=setup, mine=mine, verify=verify, forever=forever)
    return alone


def interrupted(
    ctx: Ctx,
    *,
    setup: Callable[[], object],
    mine: Callable[[], T],
    verify: Callable[[T], None] | None = None,
    after_crash: Callable[[], None] | None = None,
    forever: Sequence[str] = (),
    crash: bool = True,
    expire: bool = True,
) -> None:
    """Run ``mine()`` dying, then with its keys expiring, right after each of its commands.

    Args:
        ctx: the check's context.
        setup: builds the state before each run (called after a fresh reset).
        mine: the learner's call, e.g. ``lambda: ctx.call("count_hit", "home", 100)``.
        verify: checks the result of a run whose keys expired midway.
        after_crash: checks the server after a simulated death.
        forever: keys that may legitimately exist without a TTL.
        crash: run the "dies after command k" runs.
        expire: run the "keys expire after command k" runs.
    """
    total = _count_steps(ctx, setup, mine)
    for position in range(1, total + 1):
        if crash:
            _crash_at(
                ctx, position, setup=setup, mine=mine, after_crash=after_crash, forever=forever
            )
        if expire:
            _expire_runs(ctx, position, setup, mine, verify, forever)
    ctx.reset()
