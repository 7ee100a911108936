"""Checks of exercise 10: pub/sub invalidation and a local cache.

Every check builds its caches through :class:`_Lab`, which notes the threads each
constructor starts and any exception that kills one (a listener still raising
NotImplementedError makes the ``listen`` task "not started"), and closes every
cache at the end. Waiting for a background listener is a poll with a deadline.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, cast

from redis.client import PubSub

from valkey_redis.grading.context import Ctx, crash, observe, show
from valkey_redis.grading.harness import TracedRedis
from valkey_redis.grading.runner import check

E = 10
CHANNEL = "invalidate:products"
KEY = "product:1"
OTHER = "product:2"
WAIT = 3.0
VALKEY_ONLY = "fakeredis cannot drop a single connection"


class _Watched(threading.Thread):
    """A learner's ``threading.Thread``: notes whether it asked to be a daemon.

    Built as if by an application's main thread (not a daemon unless asked:
    the grader's own check threads are daemons, and a thread inherits that),
    and always started as a daemon, so that the grader's process never waits
    for a listener nobody stopped.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if kwargs.get("daemon") is None:
            self.daemon = False
        self.asked_daemon: bool | None = None

    def start(self) -> None:
        """Note the learner's choice, then start as a daemon."""
        self.asked_daemon = self.daemon
        self.daemon = True
        super().start()


class _ThreadingShim:
    """The ``threading`` module as the learner's constructor sees it: Thread is watched."""

    Thread = _Watched

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


@contextlib.contextmanager
def _watched_threads(module: Any) -> Iterator[None]:
    """While the learner's constructor runs, its threads are :class:`_Watched`."""
    saved = {
        name: value
        for name, value in vars(module).items()
        if value is threading or value is threading.Thread
    }
    for name, value in saved.items():
        setattr(module, name, _ThreadingShim() if value is threading else _Watched)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def asked_daemon(thread: threading.Thread) -> bool:
    """Whether the learner made ``thread`` a daemon itself (not by inheriting it)."""
    asked = getattr(thread, "asked_daemon", None)
    return thread.daemon if asked is None else bool(asked)


class _Lab:
    """The caches of one check: their threads, their threads' deaths, and their closing."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.caches: list[Any] = []
        self.threads: set[threading.Thread] = set()
        self.deaths: list[tuple[threading.Thread | None, BaseException | None]] = []
        self._previous = threading.excepthook

    def __enter__(self) -> _Lab:
        def hook(args: threading.ExceptHookArgs) -> None:
            self.deaths.append((args.thread, args.exc_value))

        threading.excepthook = hook
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for cache in self.caches:
            # An unfinished or broken close() must not hide the check's own verdict.
            with contextlib.suppress(BaseException):
                cache.close()
        threading.excepthook = self._previous

    def new(self, name: str = "cache", client: TracedRedis | None = None) -> Any:
        """``LocalCache(client, CHANNEL)``, on a fresh traced client unless one is given."""
        constructor = self.ctx.func("LocalCache")
        client = client if client is not None else self.ctx.env.traced()
        self.ctx.called(f"{name} = LocalCache(client, {CHANNEL!r})")
        before = set(threading.enumerate())
        with _watched_threads(self.ctx.module):
            cache = constructor(client, CHANNEL)
        self.threads |= set(threading.enumerate()) - before
        self.caches.append(cache)
        return cache

    def listener_died(self, expected: str = "the listener thread to keep running") -> None:
        """Raise what killed one of our listener threads, if anything did."""
        for thread, error in self.deaths:
            if thread in self.threads and isinstance(error, NotImplementedError):
                raise NotImplementedError
        for thread, error in self.deaths:
            if thread in self.threads and error is not None:
                self.ctx.fail(
                    expected,
                    f"it died with {type(error).__name__}: {error}",
                )

    def eventually(self, expected: str, look: Callable[[], tuple[bool, str]]) -> None:
        """Poll ``look()`` until it says ok; after WAIT seconds fail with what it saw."""
        deadline = time.monotonic() + WAIT
        while True:
            ok, seen = look()
            if ok:
                return
            if time.monotonic() > deadline:
                self.listener_died()
                self.ctx.fail(expected, f"{seen}, still {WAIT:.0f} s later")
            time.sleep(0.01)


def _open_pubsub(ctx: Ctx) -> PubSub:
    make: Callable[[], PubSub] = ctx.raw.pubsub  # untyped in redis-py
    return make()


def _subscribers(ctx: Ctx) -> int:
    rows = cast(list[tuple[str, int]], ctx.raw.pubsub_numsub(CHANNEL))
    return int(rows[0][1]) if rows else 0


def _reads(lab: _Lab, cache: Any, name: str, key: str, want: str) -> Callable[[], tuple[bool, str]]:
    def look() -> tuple[bool, str]:
        got = cache.get(key)
        return got == want, f"{name}.get({key!r}) returned {got!r}"

    lab.ctx.called(f"{name}.get({key!r}) until it returns {want!r}")
    return look


def _commands(cache: Any) -> int:
    return len(cast(TracedRedis, cache.client).probe.steps)


def _get(ctx: Ctx, cache: Any, key: str, name: str = "cache") -> Any:
    ctx.called(f"{name}.get({key!r})")
    return cache.get(key)


# --- LocalCache.get ----------------------------------------------------------------


@check(E, "LocalCache.get", "LocalCache.get returns the value from Valkey, None for a missing key")
def _get_reads(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "lamp", ex=100)
    ctx.given(f"{KEY} = 'lamp' in Valkey; no {OTHER}")
    with _Lab(ctx) as lab:
        cache = lab.new()
        got = _get(ctx, cache, KEY)
        ctx.expect(got == "lamp", "'lamp' (what Valkey holds)", got)
        missing = _get(ctx, cache, OTHER)
        ctx.expect(missing is None, "None for a key Valkey does not have", missing)


@check(E, "LocalCache.get", "LocalCache.get serves a second read from the local copy")
def _get_local(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "lamp", ex=100)
    ctx.given(f"{KEY} = 'lamp' in Valkey")
    with _Lab(ctx) as lab:
        cache = lab.new()
        _get(ctx, cache, KEY)
        sent = _commands(cache)
        ctx.raw.set(KEY, "desk", ex=100)
        ctx.called(f"(the grader sets {KEY} = 'desk' in Valkey, publishing nothing)")
        got = _get(ctx, cache, KEY)
        more = _commands(cache) - sent
        ctx.expect(
            got == "lamp" and more == 0,
            "'lamp' from the local copy, with no command sent",
            f"{got!r}, after sending {more} command(s) to Valkey",
        )


@check(E, "LocalCache.get", "LocalCache.get keeps an empty string like any other value")
def _get_empty(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "", ex=100)
    ctx.given(f"{KEY} = '' (an empty string) in Valkey")
    with _Lab(ctx) as lab:
        cache = lab.new()
        first = _get(ctx, cache, KEY)
        sent = _commands(cache)
        second = _get(ctx, cache, KEY)
        more = _commands(cache) - sent
        ctx.expect(
            first == "" and second == "" and more == 0,
            "'' twice, the second from the local copy (test `key in copies`, not truthiness)",
            f"{first!r} then {second!r}, the second read sending {more} command(s)",
        )


@check(E, "LocalCache.get", "LocalCache.get does not keep a missing key")
def _get_missing(ctx: Ctx) -> None:
    ctx.given(f"no {KEY} in Valkey")
    with _Lab(ctx) as lab:
        cache = lab.new()
        _get(ctx, cache, KEY)
        ctx.raw.set(KEY, "lamp", ex=100)
        ctx.called(f"(the grader sets {KEY} = 'lamp' in Valkey, publishing nothing)")
        got = _get(ctx, cache, KEY)
        ctx.expect(got == "lamp", "'lamp': a None is not kept, so Valkey is asked again", got)


# --- LocalCache.set ----------------------------------------------------------------


def _set(ctx: Ctx, cache: Any, key: str, value: str, ttl: int) -> None:
    ctx.called(f"cache.set({key!r}, {value!r}, {ttl})")
    cache.set(key, value, ttl)


@check(E, "LocalCache.set", "LocalCache.set writes the value to Valkey with its TTL")
def _set_writes(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        _set(ctx, lab.new(), KEY, "lamp", 100)
    stored, ttl = ctx.get(KEY), ctx.pttl(KEY)
    ctx.expect(stored == "lamp", f"{KEY} = 'lamp' in Valkey", f"{KEY} = {stored!r}")
    ctx.expect(90_000 < ttl <= 100_000, f"{KEY} to expire in 100 s", f"PTTL = {ttl}")


@check(E, "LocalCache.set", "LocalCache.set never leaves the key without a TTL, even if it dies")
def _set_crash(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:

        def mine() -> None:
            _set(ctx, lab.new(client=ctx.client), KEY, "lamp", 100)

        crash(ctx, setup=lambda: None, mine=mine, key=KEY)


@check(E, "LocalCache.set", "LocalCache.set publishes the key on the channel")
def _set_publishes(ctx: Ctx) -> None:
    listener = _open_pubsub(ctx)
    listener.subscribe(CHANNEL)
    listener.get_message(timeout=WAIT)
    ctx.given(f"the grader listens on {CHANNEL!r}")
    try:
        with _Lab(ctx) as lab:
            _set(ctx, lab.new(), KEY, "lamp", 100)
        deadline = time.monotonic() + WAIT
        message: dict[str, Any] | None = None
        while message is None and time.monotonic() < deadline:
            message = listener.get_message(timeout=0.1)
    finally:
        listener.close()
    data = None if message is None else message.get("data")
    ctx.expect(
        data == KEY,
        f"a message {KEY!r} (the key, so that every cache knows what to drop)",
        "no message at all" if message is None else f"a message {show(data)}",
    )


@check(E, "LocalCache.set", "LocalCache.set publishes only after the value is written")
def _set_order(ctx: Ctx) -> None:
    def look() -> str | None:
        step = ctx.probe.steps[-1] if ctx.probe.steps else ""
        if not step.upper().startswith("PUBLISH"):
            return None
        value = ctx.get(KEY)
        if value == "desk":
            return None
        return (
            f"{KEY} = {value!r} in Valkey when the message went out: a cache that drops "
            "its copy and reads again at once keeps the old value for good"
        )

    with _Lab(ctx) as lab:
        observe(
            ctx,
            setup=lambda: ctx.raw.set(KEY, "lamp", ex=100),
            mine=lambda: _set(ctx, lab.new(client=ctx.client), KEY, "desk", 100),
            look=look,
            expected=f"{KEY} = 'desk' in Valkey before the key is published",
        )


@check(E, "LocalCache.set", "LocalCache.set: the same cache's next get returns the new value")
def _set_own_copy(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "lamp", ex=100)
    ctx.given(f"{KEY} = 'lamp' in Valkey")
    with _Lab(ctx) as lab:
        cache = lab.new()
        _get(ctx, cache, KEY)
        _set(ctx, cache, KEY, "desk", 100)
        got = _get(ctx, cache, KEY)
    ctx.expect(got == "desk", "'desk' at once (read your own write)", got)


# --- LocalCache.listen -------------------------------------------------------------


@check(
    E,
    "LocalCache.listen",
    "LocalCache.listen drops a key another client publishes, in every cache on the channel",
)
def _listen_drops(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "lamp", ex=100)
    ctx.given(f"{KEY} = 'lamp' in Valkey")
    with _Lab(ctx) as lab:
        first, second = lab.new("first"), lab.new("second")
        _get(ctx, first, KEY, "first")
        _get(ctx, second, KEY, "second")
        ctx.raw.set(KEY, "desk", ex=100)
        ctx.raw.publish(CHANNEL, KEY)
        ctx.called(f"(another client sets {KEY} = 'desk' and publishes {KEY!r} on {CHANNEL!r})")
        for name, cache in (("first", first), ("second", second)):
            lab.eventually(
                f"{name}.get({KEY!r}) to return 'desk' once the message arrives",
                _reads(lab, cache, name, KEY, "desk"),
            )


@check(E, "LocalCache.listen", "LocalCache.listen is subscribed when the constructor returns")
def _listen_subscribed(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        lab.new()
        count = _subscribers(ctx)
    ctx.expect(
        count == 1,
        f"1 subscriber on {CHANNEL!r} (subscribe, and wait for the confirmation, in __init__)",
        f"PUBSUB NUMSUB {CHANNEL} = {count}",
    )


def holding_both(ctx: Ctx, lab: _Lab, client: TracedRedis | None = None) -> Any:
    """A cache holding local copies of KEY = 'lamp' and OTHER = 'chair' (both in Valkey)."""
    ctx.raw.set(KEY, "lamp", ex=100)
    ctx.raw.set(OTHER, "chair", ex=100)
    ctx.given(f"{KEY} = 'lamp', {OTHER} = 'chair' in Valkey")
    cache = lab.new(client=client)
    _get(ctx, cache, KEY)
    _get(ctx, cache, OTHER)
    return cache


@check(E, "LocalCache.listen", "LocalCache.listen drops only the key that was published")
def _listen_only_that_key(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        cache = holding_both(ctx, lab)
        ctx.raw.set(KEY, "desk", ex=100)
        ctx.raw.publish(CHANNEL, KEY)
        ctx.called(f"(another client sets {KEY} = 'desk' and publishes {KEY!r})")
        lab.eventually(
            f"cache.get({KEY!r}) to return 'desk'", _reads(lab, cache, "cache", KEY, "desk")
        )
        sent = _commands(cache)
        got = _get(ctx, cache, OTHER)
        more = _commands(cache) - sent
    ctx.expect(
        got == "chair" and more == 0,
        f"{OTHER} still served from the local copy (only {KEY!r} was published)",
        f"{got!r}, after sending {more} command(s) to Valkey",
    )


def _kill_listener(ctx: Ctx) -> None:
    execute: Callable[..., Any] = ctx.raw.execute_command  # untyped in redis-py
    execute("CLIENT", "KILL", "TYPE", "pubsub")
    ctx.called("(the grader kills the listener's connection: CLIENT KILL TYPE pubsub)")


@check(
    E,
    "LocalCache.listen",
    "LocalCache.listen drops every copy when its connection is killed",
    on=("valkey",),
    why=VALKEY_ONLY,
)
def _listen_disconnect(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        cache = holding_both(ctx, lab)
        ctx.raw.set(KEY, "desk", ex=100)
        ctx.raw.set(OTHER, "sofa", ex=100)
        ctx.called(f"(another client changes both; its messages never reach {CHANNEL!r})")
        _kill_listener(ctx)
        for key, want in ((KEY, "desk"), (OTHER, "sofa")):
            lab.eventually(
                f"cache.get({key!r}) to return {want!r}: after a lost connection, every copy"
                " may be stale",
                _reads(lab, cache, "cache", key, want),
            )


@check(
    E,
    "LocalCache.listen",
    "LocalCache.listen keeps listening after its connection was killed",
    on=("valkey",),
    why=VALKEY_ONLY,
)
def _listen_after_disconnect(ctx: Ctx) -> None:
    ctx.raw.set(KEY, "lamp", ex=100)
    with _Lab(ctx) as lab:
        cache = lab.new()
        _kill_listener(ctx)
        lab.eventually(
            f"the listener to subscribe to {CHANNEL!r} again",
            lambda: (_subscribers(ctx) == 1, f"PUBSUB NUMSUB {CHANNEL} = {_subscribers(ctx)}"),
        )
        _get(ctx, cache, KEY)
        ctx.raw.set(KEY, "desk", ex=100)
        ctx.raw.publish(CHANNEL, KEY)
        ctx.called(f"(another client sets {KEY} = 'desk' and publishes {KEY!r})")
        lab.eventually(
            f"cache.get({KEY!r}) to return 'desk'", _reads(lab, cache, "cache", KEY, "desk")
        )


# --- LocalCache.close --------------------------------------------------------------


_CLEAN = "the listener loop to see it was closed and return, not to crash"


def _alive(lab: _Lab) -> list[threading.Thread]:
    return [thread for thread in lab.threads if thread.is_alive()]


def _close(ctx: Ctx, cache: Any, name: str = "cache") -> None:
    ctx.called(f"{name}.close()")
    cache.close()


@check(E, "LocalCache.close", "LocalCache.close ends the listener thread")
def _close_thread(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        cache = lab.new()
        ctx.expect(
            bool(lab.threads),
            "the constructor to start a listener thread",
            "no new thread was running after LocalCache(...) returned",
        )
        ctx.expect(
            all(asked_daemon(thread) for thread in lab.threads),
            "a daemon thread (daemon=True): a cache nobody closed must not keep the process alive",
            "a non-daemon thread (built from an application's main thread, it is not a daemon"
            " unless you say daemon=True)",
        )
        _close(ctx, cache)
        lab.eventually(
            "no listener thread left after close()",
            lambda: (not _alive(lab), f"{len(_alive(lab))} thread(s) still running"),
        )
        lab.listener_died(_CLEAN)


@check(E, "LocalCache.close", "LocalCache.close leaves the channel")
def _close_unsubscribes(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        _close(ctx, lab.new())
        lab.eventually(
            f"no subscriber left on {CHANNEL!r} (close the pubsub)",
            lambda: (_subscribers(ctx) == 0, f"PUBSUB NUMSUB {CHANNEL} = {_subscribers(ctx)}"),
        )


@check(E, "LocalCache.close", "LocalCache.close of five caches leaves no thread behind")
def _close_many(ctx: Ctx) -> None:
    with _Lab(ctx) as lab:
        caches = [lab.new(f"cache{i}") for i in range(5)]
        for index, cache in enumerate(caches):
            _close(ctx, cache, f"cache{index}")
        lab.eventually(
            "every listener thread to end and every subscriber to leave",
            lambda: (
                not _alive(lab) and _subscribers(ctx) == 0,
                (
                    f"{len(_alive(lab))} of {len(lab.threads)} threads still running, "
                    f"{_subscribers(ctx)} subscriber(s) left"
                ),
            ),
        )
        lab.listener_died(_CLEAN)
