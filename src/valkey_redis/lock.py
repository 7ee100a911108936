"""A distributed lock with a lease, owner-only release, and fencing tokens.

Use this when several threads, processes or machines must not run the same
critical section at once: one invoice number issued, one job run, one cache
rebuild. ``with Lock(client, "invoice:7", timeout=10) as lock: ...``.

Not for: exactness under every failure. A lease (``timeout``) is required, so a
crashed holder cannot block everyone forever; the price is that a holder paused
longer than its lease (a GC pause, a slow disk, a swapped VM) wakes up believing
it still holds the lock while someone else does. Hand ``lock.fencing_token`` to
the resource you protect and let it reject tokens lower than the highest it has
seen: that, not the lock alone, keeps a stale holder from writing.

How it fails:
- The lease runs out mid-hold: ``release()`` and ``extend()`` return False and
  never touch the new holder's lock; the ``with`` block raises :class:`LockLost`
  on exit; with ``auto_renew=True`` the ``lost`` flag turns True as soon as a
  renewal is refused.
- Acquiring times out (``blocking_timeout``): ``acquire()`` returns False; the
  ``with`` block raises :class:`LockNotAcquired` naming the lock and the wait.
- The server is unreachable: ``redis.exceptions.ConnectionError`` /
  ``TimeoutError``; a lock never pretends to be held. When an acquire's reply is
  lost, we ask the server whether the lock is in fact ours before giving up; if
  even that fails, the error surfaces and any lock we did take expires with its lease.

- A reply is lost (the network drops it after the server acted): redis-py's
  retry of a release finds the key already gone; while our lease cannot have
  run out (by the local monotonic clock) that is our own first attempt, not a
  lost lock. With ``auto_renew``, a renewal that fails locally (a full pool,
  ``MaxConnectionsError``, a timeout) is retried while the lease allows; only
  the server's refusal, or the lease running out unrenewed, sets ``lost``.

Keys: ``lock:{name}:owner`` holds a random token per acquisition;
``lock:{name}:fence`` is the last fencing token handed out. Both share the hash
tag, so one script touches both on Valkey Cluster; the ``:owner`` suffix keeps
lock keys apart from every other helper's (a ``Cache(namespace="lock")`` entry
is ``lock:{name}``). The counter outlives the lock (TTL ``max(1 day, 100 x
timeout)``, refreshed on every acquire and extend).

Fencing tokens never repeat or go backwards, across restarts and failovers:
each is ``max(last token + 1, the server clock in microseconds)`` (so they are
large numbers). A replica promoted before it received the last tokens, or a
server restarted without persistence, hands out clock-derived tokens above
every earlier one. The assumption: server clocks agree (NTP) to better than the
time a failover or restart takes, and are not stepped back; and a name sees at
most about a million acquisitions per second on average.
"""

from __future__ import annotations

import functools
import hashlib
import random
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from importlib import resources
from types import TracebackType
from typing import Any, Self, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from valkey_redis import keys
from valkey_redis._once import node_for, send_once
from valkey_redis._validate import seconds

__all__ = ["Lock", "LockError", "LockLost", "LockNotAcquired"]


class _Script:
    """A Lua script loaded once per process: EVALSHA, and SCRIPT LOAD on NOSCRIPT.

    redis-py's ``register_script`` does the same per call site; a Lock is built for
    every critical section, so we hash each script once at import instead.
    """

    def __init__(self, name: str) -> None:
        self.text = (resources.files("valkey_redis") / "scripts" / name).read_text()
        self.sha = hashlib.sha1(self.text.encode(), usedforsecurity=False).hexdigest()

    def __call__(
        self, client: redis.Redis | RedisCluster, keys: list[str], args: list[str | int]
    ) -> Any:
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # a restarted or new server: load it, then run it
            client.script_load(self.text)
            return client.evalsha(self.sha, len(keys), *keys, *args)


_ACQUIRE = _Script("lock_acquire.lua")
_RELEASE = _Script("lock_release.lua")
_EXTEND = _Script("lock_extend.lua")
_DAY_MS = 86_400_000
_MAX_BACKOFF_FACTOR = 8

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
    return keys.tagged(prefix, name, "owner"), keys.tagged(prefix, name, "fence")


def _seconds(value: object, what: str) -> int:
    """Validate a positive, finite number of seconds and return whole milliseconds (>= 1)."""
    return max(1, round(seconds(what, value) * 1000))


class Lock:
    """A lease-based lock on Valkey; see the module docstring for its guarantees.

    Args:
        client: a redis-py client (``decode_responses=True``) or cluster client.
        name: what the lock protects, e.g. ``"invoice:7"`` (escaped into the key).
        timeout: the lease in seconds (required: no lock lives forever).
        blocking: wait for the lock (True) or give up at once (False).
        blocking_timeout: seconds to wait at most; None waits as long as it takes.
        sleep: first pause between attempts, in seconds; later pauses grow (up to
            8x) with random jitter, and never outlast the holder's lease.
        auto_renew: extend the lease every ``timeout / 3`` s from a background
            thread while held; a refused renewal sets :attr:`lost` and stops.
        prefix: key namespace.

    Raises:
        ValueError: for an empty name or a non-positive ``timeout``/``sleep``.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
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
        if blocking_timeout is not None:
            seconds("blocking_timeout", blocking_timeout, allow_zero=True)
        self.blocking = blocking
        self.blocking_timeout = blocking_timeout
        self.auto_renew = auto_renew
        #: True once we learnt that the lease ran out while we believed we held it.
        self.lost = False
        #: Attempts made by the last ``acquire()`` (1 unless it had to wait).
        self.attempts = 0
        self._client = client
        self._token: str | None = None
        self._fencing_token: int | None = None
        # Local monotonic time by which our lease surely ends (from before the send).
        self._deadline = 0.0
        self._renewer: threading.Thread | None = None
        self._stop_renewing: threading.Event | None = None
        # The acquire script bound to our client (tests replace it to lose replies).
        self._acquire: Callable[..., Any] = functools.partial(_ACQUIRE, client)
        # Injected in tests to check the waiting logic without real waiting.
        self._clock = time.monotonic
        self._pause = time.sleep

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

    def _try_once(self, token: str) -> tuple[bool, int]:
        """One acquire attempt: ``(True, fencing token)`` or ``(False, holder's pttl ms)``."""
        keys_ = [self.key, self.fence_key]
        args: list[str | int] = [token, self._lease_ms, self._counter_ms(self._lease_ms)]
        try:
            reply = cast("list[int]", self._acquire(keys=keys_, args=args))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # The script may have run and only its reply been lost: ask before failing.
            try:
                holder, fence = cast("list[str | None]", self._client.mget(keys_))
            except (RedisConnectionError, RedisTimeoutError) as again:
                raise again from exc
            if holder == token and fence is not None:
                return True, int(fence)
            return False, 0
        return bool(reply[0]), int(reply[1])

    def acquire(
        self, *, blocking: bool | None = None, blocking_timeout: float | None = None
    ) -> bool:
        """Take the lock; True on success, False when not available in time.

        Args:
            blocking: override the instance's ``blocking``.
            blocking_timeout: override the instance's ``blocking_timeout``.

        Raises:
            LockError: if this instance already holds the lock (release it first).
            redis.exceptions.ConnectionError: when the server cannot be reached.
        """
        if self._token is not None:
            msg = f"this Lock instance already holds {self.name!r}; release() it first"
            raise LockError(msg)
        blocking = self.blocking if blocking is None else blocking
        wait = self.blocking_timeout if blocking_timeout is None else blocking_timeout
        # A fresh token per acquisition: a retried request is recognised as ours,
        # while a second acquire() elsewhere never is.
        token = secrets.token_hex(16)
        start = self._clock()
        self.attempts = 0
        while True:
            self.attempts += 1
            sent = self._clock()
            acquired, value = self._try_once(token)
            if acquired:
                self._token, self._fencing_token, self.lost = token, value, False
                self._deadline = sent + self._lease_ms / 1000
                if self.auto_renew:
                    self._start_renewing()
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
            self._pause(max(pause, 0.001))

    def release(self) -> bool:
        """Delete the lock if it is still ours; False (and nothing deleted) otherwise.

        Any thread may release: the token belongs to this instance, not a thread.
        False means the lease had run out. A retried request (its first reply was
        lost) finds the key already gone: while the lease cannot have run out
        yet, that was our own first attempt, and the result is True.
        """
        self._stop_renewer()
        token, self._token = self._token, None
        if token is None:
            return False
        released = self._delete_if_ours(token)
        if not released:
            self.lost = True
        return released

    def _delete_if_ours(self, token: str) -> bool:
        """Compare-and-delete, sent once (a blind retry would find the key gone and say 0).

        When the reply is lost we ask: still our token -> delete again; gone while
        our lease cannot have run out -> our first attempt deleted it.
        """
        node = node_for(self._client, self.key)
        try:
            if _HAS_DELIFEQ.get(self._client) is not False:
                try:
                    deleted = send_once(node, ("DELIFEQ", self.key, token))
                except ResponseError as exc:
                    text = str(exc).lower()
                    if "unknown command" not in text and "doesn't exist" not in text:
                        raise
                    _HAS_DELIFEQ[self._client] = False
                else:
                    _HAS_DELIFEQ[self._client] = True
                    return bool(deleted)
            return bool(send_once(node, ("EVAL", _RELEASE.text, 1, self.key, token)))
        except (RedisConnectionError, RedisTimeoutError):
            holder = self._client.get(self.key)  # an ordinary, retried read
            if holder == token:
                return self._delete_if_ours(token)
            return holder is None and self._clock() < self._deadline

    def extend(self, seconds: float | None = None) -> bool:
        """Reset the remaining lease to ``seconds`` (default: ``timeout``) if still ours.

        The lease is replaced, not added to, so repeated calls cannot grow it
        without bound. Returns False (and sets :attr:`lost`) when the lock has
        expired or belongs to someone else; their lock is left untouched.
        """
        lease_ms = self._lease_ms if seconds is None else _seconds(seconds, "seconds")
        token = self._token
        if token is None:
            return False
        args: list[str | int] = [token, lease_ms, self._counter_ms(max(lease_ms, self._lease_ms))]
        sent = self._clock()
        extended = bool(_EXTEND(self._client, [self.key, self.fence_key], args))
        if not extended:
            self.lost = True
        else:
            self._deadline = sent + lease_ms / 1000
        return extended

    def locked(self) -> bool:
        """True if anyone holds the lock right now (one EXISTS)."""
        return bool(self._client.exists(self.key))

    def owned(self) -> bool:
        """True if this instance holds the lock right now (one GET)."""
        return self._token is not None and self._client.get(self.key) == self._token

    def _start_renewing(self) -> None:
        self._stop_renewing = threading.Event()
        self._renewer = threading.Thread(
            target=_renew_loop,
            args=(weakref.ref(self), self._stop_renewing, self._lease_ms / 3000),
            name=f"lock-renew:{self.name}",
            daemon=True,
        )
        self._renewer.start()

    def _stop_renewer(self) -> None:
        if self._stop_renewing is not None:
            self._stop_renewing.set()
        renewer, self._renewer = self._renewer, None
        if renewer is not None and renewer is not threading.current_thread():
            renewer.join()

    def __enter__(self) -> Self:
        start = self._clock()
        if not self.acquire():
            waited = self._clock() - start
            msg = (
                f"could not acquire lock {self.name!r} within {waited:.2f}s "
                f"(blocking_timeout={self.blocking_timeout}, attempts={self.attempts})"
            )
            raise LockNotAcquired(msg)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.release():
            return
        text = f"lock {self.name!r} expired while held: the protected work was not exclusive"
        if exc is not None:
            exc.add_note(text)  # do not hide the original error
            return
        raise LockLost(text)

    def __repr__(self) -> str:
        state = "held" if self._token is not None else "free"
        return f"Lock({self.name!r}, timeout={self.timeout}, {state})"


def _renew_loop(ref: weakref.ref[Lock], stop: threading.Event, interval: float) -> None:
    """Extend the lease every ``interval`` s until stopped, refused, or the Lock is gone.

    The thread holds only a weak reference: a Lock dropped without release() stops
    being renewed and expires with its lease instead of living as long as the process.
    A renewal that raises (no connection free in the pool, a timeout, a lost reply)
    is retried a few times per interval while the lease lasts; only the server's
    refusal, or the lease running out before a renewal got through, means lost.
    """
    wait = interval
    while not stop.wait(wait):
        lock = ref()
        if lock is None:
            return
        try:
            renewed: bool | None = lock.extend()
        except RedisError:  # a local or network error (a full pool, a timeout): not a refusal
            renewed = None
        if renewed is False:
            return  # extend() set lock.lost: the server says it is someone else's
        if renewed is None:
            left = lock._deadline - lock._clock()
            if left <= 0:
                lock.lost = True
                return
            wait = min(interval / 4, left / 2)
        else:
            wait = interval
        del lock
