"""What a check gets: the learner's module, clean clients, and plain-words failures.

Use :class:`Ctx` inside checks: ``ctx.call("save_profile", 7, {...}, 60)`` calls
the learner's function with a traced client and remembers the call for the
report; ``ctx.given(...)`` describes the state the check set up;
``ctx.expect(ok, expected, got)`` fails with both sides in words.
:func:`race` and :func:`in_threads` test concurrency: the first
deterministically (another caller after each of the learner's commands), the
second with real threads. :func:`crash` checks that a key never outlives a
process that dies between two of the learner's commands without a TTL.

How it fails: a check raises :class:`Failure`; anything else the learner's code
raises is reported by the runner with its file and line.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, NoReturn, TypeVar, cast

import redis

from valkey_redis.grading.harness import CheckAborted, Env, Probe, TracedRedis

__all__ = [
    "MAX_STEPS",
    "Ctx",
    "Failure",
    "Named",
    "crash",
    "in_threads",
    "observe",
    "race",
    "show",
]

T = TypeVar("T")
U = TypeVar("U")

#: Races are tried after each of the learner's first MAX_STEPS commands.
MAX_STEPS = 12
THREAD_TIMEOUT = 10.0


class Failure(Exception):  # noqa: N818 - "a failure" reads better in the report than "error"
    """A check's verdict in plain words: what was set up, called, expected, and seen."""

    def __init__(
        self,
        expected: str,
        got: str,
        *,
        given: list[str] | None = None,
        called: list[str] | None = None,
        note: str | None = None,
    ) -> None:
        super().__init__(f"expected {expected}, got {got}")
        self.expected = expected
        self.got = got
        self.given = given or []
        self.called = called or []
        self.note = note


class Named:
    """A callable shown by name in the report (``load`` rather than ``<function ...>``)."""

    def __init__(self, name: str, func: Callable[..., Any]) -> None:
        self.name = name
        self.func = func
        self.calls: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        with self._lock:
            self.calls.append(args)
        return self.func(*args)

    def __repr__(self) -> str:
        return self.name


def show(value: object, limit: int = 400) -> str:
    """A repr for the report, cut only when very long (the report wraps it)."""
    text = "client" if isinstance(value, redis.Redis) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Ctx:
    """One check's view: the learner's module, a clean server, and the story so far."""

    def __init__(self, module: ModuleType, env: Env, exercise: int | None = None) -> None:
        self.module = module
        #: Which exercise: every value a call returns is checked against its stub's signature.
        self.exercise = exercise
        self.env = env
        self.raw: redis.Redis = env.raw
        self.backend = env.backend.name
        self.note: str | None = None
        self._given: list[str] = []
        self._calls: list[str] = []
        self.probe = Probe()
        self._client: TracedRedis | None = None
        self._signed: set[str] = set()

    @property
    def client(self) -> TracedRedis:
        """The traced client passed to the learner's functions."""
        if self._client is None:
            self._client = self.env.traced(self.probe)
        return self._client

    def reset(self) -> None:
        """Empty the server and forget the story: a fresh start within one check."""
        self.raw.flushall()
        self._given.clear()
        self._calls.clear()
        self.note = None
        self.probe = Probe()
        self._client = None

    def func(self, name: str) -> Callable[..., Any]:
        """The learner's function ``name``."""
        found = getattr(self.module, name, None)
        if not callable(found):
            raise Failure(
                f"a function `{name}` in {getattr(self.module, '__file__', 'the exercise file')}",
                "no such function (was it renamed or deleted?)",
            )
        if self.exercise is not None and name not in self._signed:
            from valkey_redis.grading.shapes import signature_problem  # noqa: PLC0415

            self._signed.add(name)
            problem = signature_problem(self.exercise, name, found)
            if problem:
                raise Failure(f"{name} with the signature of the stub", problem)
        return found  # type: ignore[no-any-return]

    def describe_call(self, name: str, *args: Any, **kwargs: Any) -> str:
        """Render ``name(client, ...)`` for the report."""
        shown = ["client", *(show(arg, 60) for arg in args)]
        shown += [f"{key}={show(value, 60)}" for key, value in kwargs.items()]
        return f"{name}({', '.join(shown)})"

    def called(self, text: str) -> None:
        """Remember a call made some other way (in threads, say) for the report."""
        self._calls.append(text)

    def call(self, name: str, *args: Any, client: redis.Redis | None = None, **kwargs: Any) -> Any:
        """Call the learner's ``name(client, *args, **kwargs)`` and remember the call."""
        func = self.func(name)
        self._calls.append(self.describe_call(name, *args, **kwargs))
        return self.returned(
            name, func(client if client is not None else self.client, *args, **kwargs)
        )

    def returned(self, name: str, value: T) -> T:
        """Fail unless ``value`` has the return type of ``name`` in the stub; pass it on."""
        if self.exercise is not None:
            from valkey_redis.grading.shapes import return_problem  # noqa: PLC0415

            problem = return_problem(self.exercise, name, value)
            if problem:
                self.fail(f"{name} to return what its signature says", problem)
        return value

    def call_pure(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call a learner function that takes no client."""
        func = self.func(name)
        shown = [show(arg, 60) for arg in args] + [f"{k}={show(v, 60)}" for k, v in kwargs.items()]
        self._calls.append(f"{name}({', '.join(shown)})")
        return self.returned(name, func(*args, **kwargs))

    def given(self, text: str) -> None:
        """Describe a piece of state the check set up."""
        self._given.append(text)

    def failure(self, expected: str, got: str) -> Failure:
        """A :class:`Failure` carrying the story so far."""
        return Failure(
            expected, got, given=list(self._given), called=list(self._calls), note=self.note
        )

    def fail(self, expected: str, got: str) -> NoReturn:
        """Fail the check."""
        raise self.failure(expected, got)

    def expect(self, ok: bool, expected: str, got: object) -> None:
        """Fail with ``expected`` / ``got`` unless ``ok``."""
        if not ok:
            self.fail(expected, got if isinstance(got, str) else show(got))

    def expect_bool(self, result: object, wanted: bool, what: str) -> None:
        """Fail unless ``result`` is exactly the bool ``wanted``."""
        if isinstance(result, bool) and result is wanted:
            return
        hint = ""
        if result is None:
            hint = " (SET NX answers None when it refuses: wrap it in bool())"
        elif isinstance(result, int) and not isinstance(result, bool):
            hint = " (an int, not a bool: compare it, e.g. `== 1`)"
        self.fail(f"{wanted} ({what})", f"{show(result)}{hint}")

    # -- setup and inspection on the grader's own client ------------------------------

    def put_hash(self, key: str, fields: Mapping[str, str], ttl_s: int | None = None) -> None:
        """HSET ``fields`` (and EXPIRE ``ttl_s``) with the grader's client."""
        self.raw.hset(key, mapping=dict(fields.items()))
        if ttl_s is not None:
            self.raw.expire(key, ttl_s)

    def get(self, key: str) -> str | None:
        """GET."""
        return cast(str | None, self.raw.get(key))

    def hgetall(self, key: str) -> dict[str, str]:
        """HGETALL ({} when absent)."""
        return cast(dict[str, str], self.raw.hgetall(key))

    def type_of(self, key: str) -> str:
        """TYPE ("none" when absent)."""
        return str(self.raw.type(key))

    def zscores(self, key: str) -> dict[str, float]:
        """A sorted set as {member: score}."""
        rows = cast(list[tuple[str, float]], self.raw.zrange(key, 0, -1, withscores=True))
        return dict(rows)

    def pttl(self, key: str) -> int:
        """Milliseconds left (-1: no TTL, -2: no key)."""
        return int(self.raw.pttl(key))

    def ttl_text(self, ttl: int, expected_ms: int | None = None, key: str | None = None) -> str:
        """A PTTL in words, with its unit, and the likely mix-up of seconds and milliseconds."""
        if ttl == -2:
            touched = self.probe.touched()
            where = f"; your commands named {', '.join(touched)}" if touched else ""
            return f"no key {key} (PTTL = -2){where}" if key else f"no such key{where}"
        if ttl == -1:
            return "no TTL (PTTL = -1): it would never expire"
        text = f"PTTL = {ttl} ms ({ttl / 1000:g} s)"
        if expected_ms and abs(ttl - expected_ms / 1000) <= max(1.0, expected_ms / 20_000):
            text += ": milliseconds where seconds were meant (PEXPIRE / px= take milliseconds)"
        elif expected_ms and abs(ttl / 1000 - expected_ms) <= max(1.0, expected_ms / 20):
            text += ": seconds where milliseconds were meant (EXPIRE / ex= take seconds)"
        return text

    def all_keys(self) -> list[str]:
        """Every key on the (tiny, per-check) server."""
        return sorted(str(key) for key in self.raw.scan_iter(count=1000))

    def keys_without_ttl(self) -> list[str]:
        """Keys that would live forever."""
        return [key for key in self.all_keys() if self.pttl(key) == -1]


def race(
    ctx: Ctx,
    *,
    setup: Callable[[], object],
    mine: Callable[[], T],
    theirs: Callable[[], U],
    theirs_text: str,
    verify: Callable[[T, U], None],
) -> None:
    """Run ``mine()`` once per position k, with ``theirs()`` right after its k-th command.

    ``theirs`` runs on the grader's own client, as a second application server
    would. Every k from the first command to the last is tried (the last being
    "one after the other"), so any check-then-act gap is found, every time.
    """
    ctx.reset()
    setup()
    mine()
    total = min(len(ctx.probe.steps), MAX_STEPS)
    for position in range(1, total + 1):
        ctx.reset()
        setup()
        box: dict[str, Any] = {}

        def hook(step: int, position: int = position, box: dict[str, Any] = box) -> None:
            if step == position and "done" not in box:
                box["done"] = True
                try:
                    box["theirs"] = theirs()
                except Exception as exc:  # noqa: BLE001 - reported below, outside learner code
                    box["error"] = exc

        ctx.probe.after_step = hook
        result = mine()
        ctx.probe.after_step = None
        if "done" not in box:
            continue  # this run needed fewer commands
        steps = ctx.probe.steps
        after = steps[position] if position < len(steps) else None
        where = f"right after your command {position} ({steps[position - 1]})"
        where += f", before {after}" if after else ", after your last command"
        ctx.note = f"{theirs_text} ran {where}"
        if "error" in box:
            ctx.fail("the other caller's call to finish", f"it raised {box['error']!r}")
        verify(result, box["theirs"])
        ctx.note = None


def observe(
    ctx: Ctx,
    *,
    setup: Callable[[], object],
    mine: Callable[[], object],
    look: Callable[[], str | None],
    expected: str,
) -> None:
    """Run ``mine()`` with a reader looking (``look()``) after each of its commands.

    ``look`` returns a description of anything wrong it sees, or None; the first
    problem fails the check, naming the command after which it was seen.
    """
    ctx.reset()
    setup()
    seen: list[tuple[int, str, str]] = []

    def hook(step: int) -> None:
        if not seen:
            problem = look()
            if problem:
                seen.append((step, ctx.probe.steps[step - 1], problem))

    ctx.probe.after_step = hook
    mine()
    ctx.probe.after_step = None
    if seen:
        step, text, problem = seen[0]
        ctx.note = f"another client looked right after your command {step} ({text})"
        ctx.fail(expected, problem)


def crash(
    ctx: Ctx,
    *,
    setup: Callable[[], object],
    mine: Callable[[], object],
    key: str = "",
) -> None:
    """Run ``mine()`` once per position k, its process dying right after its k-th command.

    Kept for older checks: :func:`valkey_redis.grading.races.interrupted` does this
    and its twin (the keys expiring after command k); ``key`` is ignored, every
    key must be absent or carry a TTL after each simulated death.
    """
    del key
    from valkey_redis.grading.races import interrupted  # noqa: PLC0415 - races imports us

    interrupted(ctx, setup=setup, mine=mine, expire=False)


def in_threads(
    ctx: Ctx,
    count: int,
    body: Callable[[int, redis.Redis], T],
    *,
    what: str,
    clients: list[TracedRedis] | None = None,
) -> list[T]:
    """Run ``body(i, client)`` in ``count`` real threads started together; return results.

    Each thread gets its own traced client (``clients[i]`` when given), as each
    application process would.
    """
    clients = clients or [ctx.env.traced() for _ in range(count)]
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException | None] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(THREAD_TIMEOUT)
            results[index] = body(index, clients[index])
        except BaseException as exc:  # noqa: BLE001 - handed back to the check below
            errors[index] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT)
    ctx.note = f"{count} threads ran {what} at the same time"
    if any(thread.is_alive() for thread in threads):
        ctx.env.aborted = True
        ctx.fail(
            f"all {count} threads to finish",
            f"some were still running after {THREAD_TIMEOUT:.0f} s",
        )
    for error in errors:
        if isinstance(error, NotImplementedError | CheckAborted):
            raise error
    for error in errors:
        if error is not None:
            raise error
    return results
