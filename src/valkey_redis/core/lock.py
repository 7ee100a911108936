"""The lock's core: keys, lease arithmetic, fencing, and the acquire/release/extend flows.

Use this through the faces: :class:`valkey_redis.Lock` (threads) and
:class:`valkey_redis.aio.Lock` (asyncio). Both run these flows, so they use the
same keys (``lock:{name}:owner`` and ``lock:{name}:fence``), the same scripts and the
same token rules: a sync and an async holder of one name exclude each other, and
their fencing tokens come from one counter.

Not for: the guarantees and failure modes; :mod:`valkey_redis.lock` documents them.

How it fails, where the faces share it:
- A lost acquire reply: before failing we read the lock and its counter (one
  slot); if the lock holds our token, it is ours with that counter value.
- A lost release reply: the compare-and-delete is sent once (a blind retry finds
  the key gone and says 0); we read the key: still our token, delete again; gone
  while our lease cannot have run out (local monotonic clock), released.
- Interrupted inside an acquire (a cancelled task, Ctrl-C) while the script may
  have run: we release the lock if it holds our token, then re-raise. If even that
  cannot be sent, the lock expires with its lease; nobody else's lock is touched.
"""

from __future__ import annotations

import contextlib
import functools
import random
import secrets
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, cast

from redis.exceptions import RedisError

from valkey_redis import keys
from valkey_redis._validate import seconds
from valkey_redis.core.flow import Command, Eval, Flow, Sleep
from valkey_redis.core.guard import Budget
from valkey_redis.core.scripts import script
from valkey_redis.core.send import OUTAGE, check_face

__all__ = ["LockCore", "LockError", "LockLost", "LockNotAcquired"]

_ACQUIRE = script("lock_acquire")
_RELEASE = script("lock_release")
_EXTEND = script("lock_extend")
_DAY_MS = 86_400_000
_MAX_BACKOFF_FACTOR = 8
_GRACE = 0.2  # seconds the last attempt of a bounded acquire may wait for its reply

# Whether a client's server has DELIFEQ (Valkey 9+): learnt from the first
# release, so nobody pays an extra round trip to ask.
_HAS_DELIFEQ: weakref.WeakKeyDictionary[object, bool] = weakref.WeakKeyDictionary()


class LockError(RuntimeError):
    """Base class for lock errors."""


class LockNotAcquired(LockError):  # noqa: N818 - the name states the outcome, as in the API contract
    """The lock could not be acquired within ``blocking_timeout``."""


class LockLost(LockError):  # noqa: N818 - the name states the outcome
    """The lease ran out while the lock was held; someone else may have taken it."""


@functools.lru_cache(maxsize=1024)
def _keys(prefix: str, name: str) -> tuple[str, str]:
    """The lock key and its counter key (cached: a Lock is built per critical section)."""
    # ":owner": a Cache(namespace="lock") entry is lock:{name}; the suffix keeps them apart.
    return keys.tagged(prefix, name, "owner"), keys.tagged(prefix, name, "fence")


def _seconds(value: object, what: str) -> int:
    """Validate a positive, finite number of seconds and return whole milliseconds (>= 1)."""
    return max(1, round(seconds(what, value) * 1000))


def _wait(blocking_timeout: object) -> float | None:
    """Validate a ``blocking_timeout``: None, or a finite number of seconds >= 0."""
    if blocking_timeout is None:
        return None
    return seconds("blocking_timeout", blocking_timeout, allow_zero=True)


class LockCore:
    """Settings, state and flows of one lock; the faces add blocking or awaiting calls.

    The arguments are those of :class:`valkey_redis.Lock`.
    """

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        timeout: float,
        blocking: bool = True,
        blocking_timeout: float | None = None,
        sleep: float = 0.05,
        auto_renew: bool = False,
        prefix: str = "lock",
    ) -> None:
        self.name = name
        self.key, self.fence_key = _keys(prefix, name)
        self.timeout = timeout
        self._lease_ms = _seconds(timeout, "timeout")
        self._sleep_s = _seconds(sleep, "sleep") / 1000
        self.blocking = blocking
        self.blocking_timeout = _wait(blocking_timeout)
        self.auto_renew = auto_renew
        #: True once we learnt that the lease ran out while we believed we held it.
        self.lost = False
        #: Attempts made by the last ``acquire()`` (1 unless it had to wait).
        self.attempts = 0
        check_face(client, self)
        self._client = client
        self._token: str | None = None
        self._fencing_token: int | None = None
        # Local monotonic time by which our lease surely ends (taken before the send).
        self._deadline = 0.0
        # Injected in tests to check the waiting logic without real waiting.
        self._clock: Callable[[], float] = time.monotonic

    @property
    def fencing_token(self) -> int:
        """The fencing token of the current (or latest) acquisition.

        Raises:
            LockError: if this instance never acquired the lock.
        """
        if self._fencing_token is None:
            msg = f"lock {self.name!r} has not been acquired by this instance"
            raise LockError(msg)
        return self._fencing_token

    def _counter_ms(self, lease_ms: int) -> int:
        return max(_DAY_MS, 100 * lease_ms)

    def _try_once(self, token: str) -> Flow[tuple[bool, int]]:
        """One attempt: ``(True, fencing token)`` or ``(False, holder's pttl ms)``."""
        keys_ = (self.key, self.fence_key)
        args = (token, self._lease_ms, self._counter_ms(self._lease_ms))
        try:
            reply = cast("list[int]", (yield Eval(_ACQUIRE, keys_, args)))
        except OUTAGE as exc:
            # The script may have run and only its reply been lost: ask before failing.
            try:
                holder, fence = cast("list[str | None]", (yield Command(("MGET", *keys_))))
            except OUTAGE as again:
                raise again from exc
            if holder == token and fence is not None:
                return True, int(fence)
            return False, 0
        except (GeneratorExit, RedisError):
            raise  # the server answered (the script did not run), or the flow was closed
        except BaseException:
            # Interrupted (a cancelled task) while the script may have run: give back
            # a lock that holds our token, so nobody waits for its lease.
            yield from self._delete_if_ours(token)
            raise
        return bool(reply[0]), int(reply[1])

    def _bounded(
        self, blocking: bool | None, blocking_timeout: float | None
    ) -> AbstractContextManager[None]:
        """Where an acquire runs: within a call budget, or unbounded.

        A blocking acquire with a ``blocking_timeout`` keeps every network wait
        within it (plus a grace for the last reply), whatever the server does.
        """
        wait = self.blocking_timeout if blocking_timeout is None else _wait(blocking_timeout)
        if (self.blocking if blocking is None else blocking) and wait is not None:
            return Budget(wait + _GRACE)
        return contextlib.nullcontext()

    def _acquire_flow(self, blocking: bool | None, blocking_timeout: float | None) -> Flow[bool]:
        """Take the lock; True on success, False when not available in time."""
        if self._token is not None:
            msg = f"this Lock instance already holds {self.name!r}; release() it first"
            raise LockError(msg)
        blocking = self.blocking if blocking is None else blocking
        wait = self.blocking_timeout if blocking_timeout is None else _wait(blocking_timeout)
        # A fresh token per acquisition: a retried request is recognised as ours,
        # while a second acquire() elsewhere never is.
        token = secrets.token_hex(16)
        start = self._clock()
        self.attempts = 0
        while True:
            self.attempts += 1
            sent = self._clock()
            acquired, value = yield from self._try_once(token)
            if acquired:
                self._token, self._fencing_token, self.lost = token, value, False
                self._deadline = sent + self._lease_ms / 1000
                return True
            remaining = None if wait is None else start + wait - self._clock()
            if not blocking or (remaining is not None and remaining <= 0):
                return False
            # Jittered backoff so waiters do not retry in lockstep, capped by the
            # holder's remaining lease (it may expire sooner) and by our deadline.
            ceiling = self._sleep_s * min(2 ** (self.attempts - 1), _MAX_BACKOFF_FACTOR)
            pause = random.uniform(ceiling / 2, ceiling)
            if value > 0:
                pause = min(pause, value / 1000)
            if remaining is not None:
                pause = min(pause, remaining)
            yield Sleep(max(pause, 0.001))

    def _release_flow(self) -> Flow[bool]:
        """Delete the lock if it is still ours; False (and nothing deleted) otherwise."""
        token, self._token = self._token, None
        if token is None:
            return False
        released = yield from self._delete_if_ours(token)
        if not released:
            self.lost = True
        return released

    def _delete_if_ours(self, token: str) -> Flow[bool]:
        """Compare-and-delete, sent once; after a lost reply, ask (see the module docstring)."""
        try:
            return (yield from self._compare_and_delete(token))
        except OUTAGE:
            holder = yield Command(("GET", self.key))  # an ordinary, retried read
            if holder == token:
                return (yield from self._compare_and_delete(token))
            return holder is None and self._clock() < self._deadline

    def _compare_and_delete(self, token: str) -> Flow[bool]:
        native = _HAS_DELIFEQ.get(self._client)
        if native is not False:
            try:
                deleted = yield Command(("DELIFEQ", self.key, token), once=True)
            except OUTAGE:
                raise
            except RedisError as exc:
                text = str(exc).lower()
                if "unknown command" not in text and "doesn't exist" not in text:
                    raise
                _HAS_DELIFEQ[self._client] = False
            else:
                _HAS_DELIFEQ[self._client] = True
                return bool(deleted)
        return bool((yield Eval(_RELEASE, (self.key,), (token,), once=True)))

    def _extend_flow(self, seconds: float | None) -> Flow[bool]:
        """Reset the remaining lease to ``seconds`` (default: ``timeout``) if still ours."""
        lease_ms = self._lease_ms if seconds is None else _seconds(seconds, "seconds")
        token = self._token
        if token is None:
            return False
        args = (token, lease_ms, self._counter_ms(max(lease_ms, self._lease_ms)))
        sent = self._clock()
        extended = bool((yield Eval(_EXTEND, (self.key, self.fence_key), args)))
        if not extended:
            self.lost = True
        else:
            self._deadline = sent + lease_ms / 1000
        return extended

    def _renew_flow(self) -> Flow[float | None]:
        """One auto-renewal; returns the seconds until the next one, or None to stop.

        A refusal (the lock is someone else's) sets :attr:`lost`. An error -- a full
        pool (``MaxConnectionsError``), a timeout, a lost reply -- is not a refusal:
        retry soon, while the lease (by the local clock) has not run out; only then
        is the lock lost.
        """
        interval = self._lease_ms / 3000
        try:
            renewed = yield from self._extend_flow(None)
        except RedisError:
            left = self._deadline - self._clock()
            if left <= 0:
                self.lost = True
                return None
            return min(interval / 4, left / 2)
        return interval if renewed else None  # a refusal: _extend_flow set lost

    def _owned_flow(self) -> Flow[bool]:
        return self._token is not None and (yield Command(("GET", self.key))) == self._token

    def _not_acquired(self, waited: float) -> LockNotAcquired:
        msg = (
            f"could not acquire lock {self.name!r} within {waited:.2f}s "
            f"(blocking_timeout={self.blocking_timeout}, attempts={self.attempts})"
        )
        return LockNotAcquired(msg)

    def _exit(self, released: bool, exc: BaseException | None) -> None:
        """What leaving a ``with`` block does: raise LockLost, or note it on ``exc``."""
        if released:
            return
        text = f"lock {self.name!r} expired while held: the protected work was not exclusive"
        if exc is not None:
            exc.add_note(text)  # do not hide the original error
            return
        raise LockLost(text)

    def __repr__(self) -> str:
        state = "held" if self._token is not None else "free"
        return f"{type(self).__name__}({self.name!r}, timeout={self.timeout}, {state})"
