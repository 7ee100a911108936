"""The grader's view of a learner's traffic: traced clients on a fresh server per check.

Use this from checks (through :class:`~valkey_redis.grading.context.Ctx`): every
client handed to learner code is a :class:`TracedRedis`, a real ``redis.Redis``
that records each command, counts round trips, and can run a hook between two
of the learner's commands. That hook is how races are tested deterministically:
another caller runs right after the learner's k-th command, for every k.

Not for production: tracing adds a Python call per command.

How it fails: once a check has finished or timed out its :class:`Env` is
aborted and every traced command raises :class:`CheckAborted` (a
``BaseException``, so ``except Exception`` in a learner's retry loop cannot swallow
it), which stops stray learner threads at their next command.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import redis
from redis.client import Pipeline

from valkey_redis.grading.commands import VALKEY_ONLY, NeedsValkey, keys_of, valkey_only

if TYPE_CHECKING:
    from valkey_redis.grading.cluster_env import ClusterEnv

__all__ = [
    "VALKEY_ONLY",
    "Backend",
    "CheckAborted",
    "Env",
    "NeedsValkey",
    "Probe",
    "ProcessDied",
    "TracedRedis",
    "describe_command",
    "keys_of",
]

# redis-py leaves these untyped; typed aliases keep mypy --strict quiet without ignores.
_redis_execute: Callable[..., Any] = redis.Redis.execute_command
_pipeline_immediate: Callable[..., Any] = Pipeline.immediate_execute_command
_pipeline_load_scripts: Callable[..., Any] = Pipeline.load_scripts


class CheckAborted(BaseException):
    """Raised inside learner code whose check has already ended."""


class ProcessDied(BaseException):
    """Raised inside learner code to simulate its process dying between two commands."""


@dataclass(frozen=True)
class Backend:
    """Where checks run: fakeredis (``url`` None), the real server at ``url``, or a cluster.

    The cluster backend (name "cluster") has no ``url`` until a check needs it:
    ``start()`` then starts the grader's cluster, once per run, and returns a
    node's URL.
    """

    name: str
    url: str | None = None
    description: str = ""
    start: Callable[[], str] | None = field(default=None, compare=False, repr=False)

    @property
    def fake(self) -> bool:
        """Is this fakeredis?"""
        return self.name == "fakeredis"

    def address(self) -> str | None:
        """The URL to connect to (starting a lazy cluster first); None for fakeredis."""
        return self.start() if self.start is not None else self.url


def _short(value: object, limit: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    if not text or any(char.isspace() for char in text):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_command(args: Sequence[Any]) -> str:
    """Render a command for a learner, e.g. ``SET username:ada 7 NX``; Lua as its keys."""
    name = str(args[0]).upper()
    if name in {"EVALSHA", "EVAL"} and len(args) >= 3:
        keys = [str(key) for key in args[3 : 3 + int(args[2])]]
        return f"a Lua script on {', '.join(keys) or 'no keys'}"
    shown = [_short(arg) for arg in args[1:7]]
    if len(args) > 7:
        shown.append("…")
    return " ".join([name, *shown])


class Probe:
    """What one traced client did: its steps, round trips and command names."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        #: The keys each step named (a MULTI block or script: all of its keys).
        self.keys: list[tuple[str, ...]] = []
        self.commands: list[str] = []
        self.round_trips = 0
        self.after_step: Callable[[int], None] | None = None
        #: Set once a simulated crash happened: no further command reaches the server.
        self.dead = False

    def ensure_alive(self) -> None:
        """Raise :class:`ProcessDied` once the simulated process has died."""
        if self.dead:
            raise ProcessDied

    def touched(self, upto: int | None = None) -> list[str]:
        """The keys named by the first ``upto`` steps (all steps when None), in order."""
        return list(dict.fromkeys(k for keys in self.keys[:upto] for k in keys))

    def record(
        self, text: str, names: Sequence[str], *, round_trip: bool, keys: Sequence[str] = ()
    ) -> None:
        """Note one step (a command, or a MULTI/EXEC block) and run the hook after it."""
        self.commands.extend(names)
        self.keys.append(tuple(keys))
        self.round_trips += int(round_trip)
        self.steps.append(text if len(text) <= 110 else text[:109] + "…")
        hook = self.after_step
        if hook is not None:
            hook(len(self.steps))


class Env:
    """A clean server for one check, and every client made for it.

    Args:
        backend: fakeredis (a brand-new in-memory server) or a real server,
            which is flushed (the grader only ever uses its own embedded server).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.aborted = False
        #: On the cluster backend: the grader's own cluster client (all primaries flushed).
        self.cluster: ClusterEnv | None = None
        url = backend.address()
        if url is None:
            import fakeredis  # noqa: PLC0415 - a dev dependency, only needed here

            fake = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
            self.pool: redis.ConnectionPool = fake.connection_pool
        else:
            self.pool = redis.ConnectionPool.from_url(
                url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5
            )
        if backend.name == "cluster" and url is not None:
            from valkey_redis.grading.cluster_env import ClusterEnv  # noqa: PLC0415

            self.cluster = ClusterEnv(self, url)
        #: The grader's own client: setup and inspection, never traced (on the
        #: cluster backend, one node; use ``cluster`` for the whole cluster).
        self.raw = redis.Redis(connection_pool=self.pool)
        self.raw.flushall()

    def ensure_alive(self) -> None:
        """Raise :class:`CheckAborted` once the check is over."""
        if self.aborted:
            raise CheckAborted

    def unknown_to_fakeredis(self, args: Sequence[Any], error: redis.ResponseError) -> None:
        """On fakeredis, turn "unknown command" (in a script too) into :class:`NeedsValkey`."""
        found = re.search(r"unknown command '([^']+)'", str(error), re.IGNORECASE)
        if self.backend.fake and found:
            raise NeedsValkey(found.group(1).upper()) from error

    def ensure_known(self, args: Sequence[Any]) -> None:
        """On fakeredis, raise :class:`NeedsValkey` for a command only Valkey has."""
        if self.backend.fake:
            command = valkey_only(args)
            if command is not None:
                raise NeedsValkey(command)

    def traced(self, probe: Probe | None = None) -> TracedRedis:
        """Return a new traced client for learner code."""
        return TracedRedis(self, probe or Probe())

    def broken(self, error: Exception, *, healthy: int = 0) -> redis.Redis:
        """Return a client whose commands raise ``error`` after ``healthy`` good round trips.

        ``healthy=0`` is an unreachable server; ``healthy=1`` one that goes away
        right after answering the first command.
        """
        return _BrokenRedis(self, error, healthy)

    def close(self) -> None:
        """Abort stragglers and close the connections."""
        self.aborted = True
        # A straggler (a learner thread still inside a command after a timeout)
        # can make fakeredis refuse the shutdown ("generator already executing").
        # The server is thrown away anyway: never let that crash the grader.
        with contextlib.suppress(Exception):
            self.pool.disconnect()
        if self.cluster is not None:
            self.cluster.close()


class TracedRedis(redis.Redis):
    """A real client that records every command its (learner) caller sends."""

    def __init__(self, env: Env, probe: Probe) -> None:
        super().__init__(connection_pool=env.pool)
        self.env = env
        self.probe = probe

    def run_one(self, args: tuple[Any, ...], options: dict[str, Any], *, round_trip: bool) -> Any:
        """Execute one command and record it as one step."""
        self.env.ensure_alive()
        self.probe.ensure_alive()
        self.env.ensure_known(args)
        try:
            return _redis_execute(self, *args, **options)
        except redis.ResponseError as exc:
            self.env.unknown_to_fakeredis(args, exc)
            raise
        finally:
            if not self.env.aborted:
                name = str(args[0]).upper()
                self.probe.record(
                    describe_command(args), [name], round_trip=round_trip, keys=keys_of(args)
                )

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Every single command of the client passes here."""
        return self.run_one(args, options, round_trip=True)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        """A pipeline whose MULTI/EXEC is one step and whose plain batches are one per command."""
        return _TracedPipeline(self, transaction, shard_hint)


class _TracedPipeline(Pipeline):
    def __init__(self, owner: TracedRedis, transaction: bool, shard_hint: Any) -> None:
        super().__init__(owner.connection_pool, owner.response_callbacks, transaction, shard_hint)
        self._owner = owner

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        """Commands sent at once after WATCH: one step each."""
        self._owner.env.ensure_alive()
        self._owner.probe.ensure_alive()
        self._owner.env.ensure_known(args)
        try:
            return _pipeline_immediate(self, *args, **options)
        finally:
            if not self._owner.env.aborted:
                text = describe_command(args)
                self._owner.probe.record(
                    text, [str(args[0]).upper()], round_trip=True, keys=keys_of(args)
                )

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """MULTI/EXEC is one step; a non-transactional batch is one step per command."""
        owner = self._owner
        owner.env.ensure_alive()
        owner.probe.ensure_alive()
        stack = list(self.command_stack)
        if not stack and not self.watching:
            return []
        names = [str(args[0]).upper() for args, _ in stack]
        if cast(bool, self.transaction) or self.explicit_transaction:
            for args, _ in stack:
                owner.env.ensure_known(args)
            text = "MULTI " + "; ".join(describe_command(args) for args, _ in stack) + " EXEC"
            keys = [key for args, _ in stack for key in keys_of(args)]
            try:
                return list(super().execute(raise_on_error))
            finally:
                if not owner.env.aborted:
                    owner.probe.record(text, ["MULTI", *names, "EXEC"], round_trip=True, keys=keys)
        # Without MULTI the server may run other clients' commands between these,
        # so the grader does exactly that: one step per command, one round trip.
        if self.scripts:
            _pipeline_load_scripts(self)
        results: list[Any] = []
        first_error: redis.ResponseError | None = None
        try:
            for args, options in stack:
                try:
                    results.append(owner.run_one(args, options, round_trip=False))
                except redis.ResponseError as exc:
                    first_error = first_error or exc
                    results.append(exc)
        finally:
            self.reset()
        owner.probe.round_trips += 1
        if first_error is not None and raise_on_error:
            raise first_error
        return results


class _BrokenRedis(redis.Redis):
    def __init__(self, env: Env, error: Exception, healthy: int) -> None:
        super().__init__(connection_pool=env.pool)
        self.env = env
        self.error = error
        self.healthy = healthy
        #: How many commands were refused with ``error`` (0: every one was answered).
        self.refused = 0

    def spend(self) -> None:
        self.env.ensure_alive()
        if self.healthy <= 0:
            self.refused += 1
            raise self.error
        self.healthy -= 1

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.spend()
        return _redis_execute(self, *args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        return _BrokenPipeline(self, transaction, shard_hint)


class _BrokenPipeline(Pipeline):
    def __init__(self, owner: _BrokenRedis, transaction: bool, shard_hint: Any) -> None:
        super().__init__(owner.connection_pool, owner.response_callbacks, transaction, shard_hint)
        self._owner = owner

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        self._owner.spend()
        return _pipeline_immediate(self, *args, **options)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        try:
            self._owner.spend()
        except BaseException:
            self.reset()
            raise
        return list(super().execute(raise_on_error))
