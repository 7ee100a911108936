"""Checks of exercise 10 with a pub/sub connection the grader controls.

The cache gets a traced client whose ``pubsub()`` is a :class:`Wire`: a real
redis-py ``PubSub`` that counts its reads, can fail the next read with
``ConnectionError`` (the server unreachable for a while) or drop the connection
under redis-py so that it reconnects and subscribes again by itself, without
raising (a fresh "subscribe" confirmation comes), and says
when the listener came back to read after a message (so the message was
handled). With it, every path is tested alone, on both backends, and
deterministically: an invalidation right after the cache's own GET, a listener
that spins, a SET that fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.client import PubSub

from valkey_redis.grading.checks.ex10 import (
    CHANNEL,
    KEY,
    OTHER,
    WAIT,
    E,
    _get,
    _Lab,
    _reads,
    holding_both,
)
from valkey_redis.grading.context import Ctx
from valkey_redis.grading.harness import Env, Probe, TracedRedis
from valkey_redis.grading.runner import check

#: Reads a second of an idle listener that still count as waiting (the reference: ~20).
MAX_READS_PER_SECOND = 500
RESET = "Connection reset by peer (the grader cut it)"
# redis-py leaves it untyped: a typed alias keeps mypy --strict quiet without ignores.
_parse: Callable[..., Any] = PubSub.parse_response
_EVENTS = ("message", "subscribe")


class Wire(PubSub):
    """A real ``PubSub`` that counts reads, injects faults, and tells when a message was handled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads = 0
        self.messages = 0
        self._delivered_at = 0
        self.faults: list[str] = []
        self._cv = threading.Condition()

    def parse_response(self, block: bool = True, timeout: float = 0) -> Any:
        """One read of the learner's listener (get_message and listen both come here)."""
        with self._cv:
            self.reads += 1
            self._cv.notify_all()
            fault = self.faults.pop(0) if self.faults else None
        if fault == "error":
            raise redis.ConnectionError(RESET)
        if fault == "resubscribe" and self.connection is not None:
            # What redis-py does after a blip, without raising: a new connection,
            # SUBSCRIBE again (on_connect), and a fresh confirmation to read.
            self.connection.disconnect()
        response = _parse(self, block=block, timeout=timeout)
        if isinstance(response, list) and response and _text(response[0]) in _EVENTS:
            with self._cv:
                self.messages += 1
                self._delivered_at = self.reads
                self._cv.notify_all()
        return response

    def handled(self, before: int, timeout: float) -> bool:
        """Wait until event ``before + 1`` was delivered and the listener read again.

        An event is a message or a "subscribe" confirmation (``messages`` counts both).
        """
        with self._cv:
            return self._cv.wait_for(
                lambda: self.messages > before and self.reads > self._delivered_at, timeout
            )

    def fault(self, kind: str) -> None:
        """Make the listener's next read fail (``"error"``) or resubscribe (``"resubscribe"``)."""
        with self._cv:
            self.faults.append(kind)

    def faults_left(self) -> int:
        """Faults not yet met by a read."""
        with self._cv:
            return len(self.faults)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Wired(TracedRedis):
    """A traced client whose pubsubs are :class:`Wire`\\ s and whose SETs can be refused."""

    def __init__(self, env: Env) -> None:
        super().__init__(env, Probe())
        self.wires: list[Wire] = []
        self.refuse_set = False

    def pubsub(self, **kwargs: Any) -> Wire:
        """A :class:`Wire` on this client's pool."""
        wire = Wire(self.connection_pool, event_dispatcher=self._event_dispatcher, **kwargs)
        self.wires.append(wire)
        return wire

    def wire(self, ctx: Ctx) -> Wire:
        """The pubsub the learner's constructor opened."""
        if not self.wires:
            ctx.fail("the constructor to open a pubsub with client.pubsub()", "it opened none")
        return self.wires[-1]

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Refuse a SET (connection reset before it was sent) while ``refuse_set``."""
        if self.refuse_set and str(args[0]).upper() == "SET":
            raise redis.ConnectionError(RESET)
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        """A traced pipeline whose execute() is refused if it holds a SET while ``refuse_set``."""
        pipe = super().pipeline(transaction, shard_hint)
        run = pipe.execute

        def execute(raise_on_error: bool = True) -> Any:
            if self.refuse_set and any(str(a[0]).upper() == "SET" for a, _ in pipe.command_stack):
                pipe.reset()
                raise redis.ConnectionError(RESET)
            return run(raise_on_error)

        setattr(pipe, "execute", execute)  # noqa: B010 - an instance attribute on purpose
        return pipe


def _loaded(ctx: Ctx, lab: _Lab) -> tuple[Any, Wired]:
    """A cache holding product:1 = lamp and product:2 = chair, on a :class:`Wired` client."""
    client = Wired(ctx.env)
    return holding_both(ctx, lab, client), client


def _changed_quietly(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "desk", ex=100)
    ctx.raw.set(OTHER, "sofa", ex=100)
    ctx.called("(another client changes both; its messages are lost on the way)")


def _all_fresh(ctx: Ctx, lab: _Lab, cache: Any, why: str) -> None:
    for key, want in ((KEY, "desk"), (OTHER, "sofa")):
        lab.eventually(
            f"cache.get({key!r}) to return {want!r}: {why}", _reads(lab, cache, "cache", key, want)
        )


def _met(ctx: Ctx, lab: _Lab, wire: Wire, what: str) -> None:
    lab.eventually(
        f"the listener to read again ({what})",
        lambda: (wire.faults_left() == 0, "the listener did not read at all"),
    )


# --- LocalCache.get ----------------------------------------------------------------


def _overtaken(ctx: Ctx, trigger: Callable[[Wire], object], what: str) -> None:
    """``trigger`` (an invalidation) runs right after the cache's GET of KEY, and is handled."""
    with _Lab(ctx) as lab:
        ctx.raw.set(KEY, "lamp", ex=100)
        ctx.given(f"{KEY} = 'lamp' in Valkey")
        client = Wired(ctx.env)
        cache = lab.new(client=client)
        wire = client.wire(ctx)
        fired: list[str] = []

        def hook(step: int) -> None:
            if fired or KEY not in client.probe.keys[step - 1]:
                return
            fired.append(client.probe.steps[step - 1])
            before = wire.messages
            ctx.raw.set(KEY, "desk", ex=100)
            trigger(wire)
            wire.handled(before, WAIT)  # a cache that locks around its GET waits: fine

        client.probe.after_step = hook
        _get(ctx, cache, KEY)
        client.probe.after_step = None
        ctx.note = (
            f"another client set {KEY} = 'desk' right after your"
            f" {fired[0] if fired else 'GET'}, and {what} before get returned"
        )
        lab.eventually(
            f"cache.get({KEY!r}) to return 'desk': the value read before the drop may be"
            " older than it, so return it but do not keep it (count the drops, say)",
            _reads(lab, cache, "cache", KEY, "desk"),
        )


@check(E, "LocalCache.get", "LocalCache.get keeps no copy older than an invalidation it overlapped")
def _get_overtaken(ctx: Ctx) -> None:
    _overtaken(
        ctx,
        lambda _wire: ctx.raw.publish(CHANNEL, KEY),
        f"its message {KEY!r} reached the listener",
    )


# --- LocalCache.set ----------------------------------------------------------------


@check(E, "LocalCache.set", "LocalCache.set keeps no copy of a value whose SET failed")
def _set_fails(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        cache, client = _loaded(ctx, lab)
        client.refuse_set = True
        ctx.given("the connection is reset when your SET goes out (redis.ConnectionError)")
        ctx.called(f"cache.set({KEY!r}, 'desk', 100)")
        try:
            cache.set(KEY, "desk", 100)
        except redis.ConnectionError:
            pass
        else:
            ctx.fail("redis.ConnectionError to propagate from set", "set returned")
        finally:
            client.refuse_set = False
        got = _get(ctx, cache, KEY)
        ctx.expect(
            got == "lamp",
            "'lamp', what Valkey holds: keep a copy only of a value Valkey accepted",
            f"{got!r}, a value Valkey never had",
        )


# --- LocalCache.listen -------------------------------------------------------------


@check(
    E, "LocalCache.listen", "LocalCache.listen drops every copy when a read raises ConnectionError"
)
def _listen_error(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        cache, client = _loaded(ctx, lab)
        wire = client.wire(ctx)
        _changed_quietly(ctx)
        wire.fault("error")
        ctx.called("(the listener's next read raises redis.ConnectionError; no resubscribe)")
        _met(ctx, lab, wire, "the ConnectionError")
        _all_fresh(ctx, lab, cache, "after a ConnectionError every copy may be stale")
        ctx.raw.set(KEY, "table", ex=100)
        ctx.raw.publish(CHANNEL, KEY)
        ctx.called(f"(another client sets {KEY} = 'table' and publishes {KEY!r})")
        lab.eventually(
            f"cache.get({KEY!r}) to return 'table': the listener keeps listening",
            _reads(lab, cache, "cache", KEY, "table"),
        )


@check(
    E, "LocalCache.listen", "LocalCache.listen drops every copy when redis-py resubscribes itself"
)
def _listen_resubscribed(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        cache, client = _loaded(ctx, lab)
        wire = client.wire(ctx)
        _changed_quietly(ctx)
        wire.fault("resubscribe")
        ctx.called(
            "(redis-py reconnected without raising: the listener reads a new 'subscribe'"
            " confirmation)"
        )
        _met(ctx, lab, wire, "the new confirmation")
        _all_fresh(ctx, lab, cache, "a second 'subscribe' means messages were missed")


@check(E, "LocalCache.listen", "LocalCache.listen waits for messages instead of spinning")
def _listen_waits(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        client = Wired(ctx.env)
        lab.new(client=client)
        wire = client.wire(ctx)
        lab.eventually("the listener to read", lambda: (wire.reads > 1, "no read yet"))
        start, began = wire.reads, time.monotonic()
        time.sleep(1.0)  # a measurement over a window, not a synchronisation
        rate = (wire.reads - start) / (time.monotonic() - began)
        ctx.called("(nothing is published for 1 s; the grader counts the listener's reads)")
        # A read that timed out with nothing (None) must not end the loop or crash it.
        lab.listener_died("the listener to keep running while nothing is published")
    ctx.expect(
        rate <= MAX_READS_PER_SECOND,
        f"at most {MAX_READS_PER_SECOND} reads a second while nothing comes (wait on the"
        " socket: get_message(timeout=0.1), not timeout=0 in a loop)",
        f"{rate:.0f} reads a second: a loop that spins on a CPU core",
    )


@check(E, "LocalCache.listen", "LocalCache.listen: a reconnect during a GET leaves no stale copy")
def _reconnect_overtakes(ctx: Ctx) -> None:
    _overtaken(
        ctx,
        lambda wire: wire.fault("resubscribe"),
        "the listener's connection dropped and redis-py subscribed again",
    )
