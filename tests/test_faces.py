"""The sync and the async faces as one contract: same API, same results, same errors, shared data.

Tests take ``face`` (the sync or the async helpers, on fakeredis and on real
Valkey; ``face.other()`` is the other face on the same server) and run a
*check*. Each contract also runs its check once on the wrong implementation a
person would plausibly write (patched in), which the check must fail
(``assert_fails``): a sync-only limit, a lock of its own, a cache without the
entry format, an async face that skips validation.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import valkey_redis
from valkey_redis import aio

ALGORITHMS = ["FixedWindow", "SlidingWindowLog", "SlidingWindowCounter", "TokenBucket", "GCRA"]
HELPERS = ["Cache", "Lock", "SessionStore", "WriteBehind", *ALGORITHMS]
# Public methods that do no I/O (or, for get_or_set, return the awaitable at once).
LOCAL = {"cached", "redis_key", "reset_stats", "key_for", "headers", "key", "start", "get_or_set"}


def assert_fails(check: Callable[[], object]) -> None:
    """The check must fail (an AssertionError) on the wrong implementation patched in."""
    with pytest.raises(AssertionError):
        check()


def only_sync(face: Any) -> Any:
    """For symmetric checks: run them once, from the sync face (``face.other()`` is async)."""
    if face.kind != "sync":
        pytest.skip("symmetric: run from the sync face only")
    return face


# -- one API --------------------------------------------------------------------------


def _params(func: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


def check_same_api(sync_cls: type, async_cls: type) -> None:
    """Same constructor, same public names, same parameters; I/O methods are coroutines."""
    assert _params(sync_cls.__init__) == _params(async_cls.__init__)  # type: ignore[misc]
    public = {n for n in dir(sync_cls) if not n.startswith("_")}
    assert public == {n for n in dir(async_cls) if not n.startswith("_")}
    for name in sorted(public):
        mine, theirs = getattr(sync_cls, name), getattr(async_cls, name)
        if not inspect.isfunction(mine):
            continue
        assert _params(mine) == _params(theirs), name
        assert not inspect.iscoroutinefunction(mine), name
        assert inspect.iscoroutinefunction(theirs) or name in LOCAL, name


@pytest.mark.parametrize("helper", HELPERS)
def test_both_faces_have_the_same_api(helper: str) -> None:
    """valkey_redis.X and aio.X: same constructor and methods, the async ones awaitable."""
    check_same_api(getattr(valkey_redis, helper), getattr(aio, helper))


def test_an_async_limiter_without_cost_is_caught() -> None:
    """Wrong: an async limiter whose hit() forgot the cost argument."""

    class NoCost(aio.GCRA):
        async def hit(self, key: str) -> valkey_redis.RateLimitResult:  # type: ignore[override]
            return await super().hit(key)

    assert_fails(lambda: check_same_api(valkey_redis.GCRA, NoCost))


def test_the_async_names_of_the_contract_exist() -> None:
    """Every name of the issue's contract is in valkey_redis.aio, RateLimitResult shared."""
    for name in [*HELPERS, "connect", "RateLimitResult", "LockNotAcquired", "LockLost"]:
        assert name in aio.__all__, name
    assert aio.RateLimitResult is valkey_redis.RateLimitResult
    assert aio.LockNotAcquired is valkey_redis.LockNotAcquired


MADE: dict[str, dict[str, Any]] = {
    "Cache": {"namespace": "t", "ttl": 60},
    "Lock": {"name": "x", "timeout": 10},
    "SessionStore": {"ttl": 60},
    "WriteBehind": {"name": "q", "apply_batch": print},
    **{algorithm: {"limit": 10, "window": 60} for algorithm in ALGORITHMS},
}


@pytest.mark.parametrize("helper", HELPERS)
def test_a_client_of_the_other_face_is_refused(helper: str, both_clients: Any) -> None:
    """aio.X refuses a sync client and X an asyncio one, at once, naming the right one."""
    sync_client, async_client = both_clients
    with pytest.raises(TypeError, match=r"aio\.connect"):
        getattr(aio, helper)(sync_client, **MADE[helper])
    with pytest.raises(TypeError, match=rf"aio\.{helper}"):
        getattr(valkey_redis, helper)(async_client, **MADE[helper])


def test_the_sync_decorator_refuses_an_async_function(fake_client: Any) -> None:
    """Cache.cached on an async def is a TypeError naming aio (it would cache coroutines)."""
    cache = valkey_redis.Cache(fake_client, namespace="t", ttl=60)

    async def load_user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    with pytest.raises(TypeError, match=r"valkey_redis\.aio\.Cache"):
        cache.cached(ttl=60)(load_user)


def test_aio_connect_has_the_defaults_and_rules_of_connect() -> None:
    """aio.connect: the same connection settings, retries, pool size and URL/option errors."""
    url = "redis://localhost:6399/0"  # never contacted: constructors talk to nobody
    mine, theirs = valkey_redis.connect(url), aio.connect(url)
    objects = {"breaker", "himport_registry", "retry"}  # one per client, of the face's kind
    settings = mine.connection_pool.connection_kwargs
    assert {k: v for k, v in settings.items() if k not in objects} == {
        k: v for k, v in theirs.connection_pool.connection_kwargs.items() if k not in objects
    }
    assert settings["decode_responses"] is True
    assert mine.get_retry()._retries == theirs.get_retry()._retries == 3  # type: ignore[union-attr]
    assert mine.connection_pool.max_connections == theirs.connection_pool.max_connections
    mine.close()
    bad: list[tuple[str, dict[str, Any]]] = [
        ("http://localhost", {}),
        (url, {"socket_timeout": -1}),
        (url, {"socket_timeout": NAN}),
        (url, {"call_timeout": 0}),
        (url, {"retries": -1}),
        (url, {"max_connections": 0}),
    ]
    for bad_url, options in bad:
        errors = []
        for connect in (valkey_redis.connect, aio.connect):
            with pytest.raises(ValueError, match=r"must|not a Valkey URL") as caught:
                connect(bad_url, **options)
            errors.append(str(caught.value))
        assert errors[0] == errors[1]


# -- bad input: the same error from both faces ----------------------------------------

NAN, INF = math.nan, math.inf
# (helper, constructor kwargs, method or None, args, kwargs)
Case = tuple[str, dict[str, Any], str | None, tuple[Any, ...], dict[str, Any]]
BAD: list[Case] = [
    ("Cache", {"namespace": "t", "ttl": NAN}, None, (), {}),
    ("Cache", {"namespace": "t", "ttl": INF}, None, (), {}),
    ("Cache", {"namespace": "t", "ttl": "60"}, None, (), {}),
    ("Cache", {"namespace": "t", "ttl": 60, "lock_timeout": -1}, None, (), {}),
    ("Cache", {"namespace": "t", "ttl": 60}, "set", ("k", 1), {"ttl": NAN}),
    ("Cache", {"namespace": "t", "ttl": 60}, "set", ("k", 1), {"ttl": INF}),
    ("Cache", {"namespace": "t", "ttl": 60}, "set", ("k", 1), {"ttl": 0}),
    ("Cache", {"namespace": "t", "ttl": 60}, "set", ("k", NAN), {}),
    ("Cache", {"namespace": "t", "ttl": 60}, "set", ("k", object()), {}),
    ("Cache", {"namespace": "t", "ttl": 60}, "set", (1.5, 1), {}),
    ("Cache", {"namespace": "t", "ttl": 60}, "set", ("k", 1), {"tags": "user:1"}),
    ("Cache", {"namespace": "t", "ttl": 60}, "get", (None,), {}),
    ("Cache", {"namespace": "t", "ttl": 60}, "get_many", ("ab",), {}),
    ("Cache", {"namespace": "t", "ttl": 60}, "set_many", ({"a": 1},), {"ttl": NAN}),
    ("Cache", {"namespace": "t", "ttl": 60}, "delete", (None,), {}),
    ("Cache", {"namespace": "t", "ttl": 60}, "invalidate_tags", (1,), {}),
    ("Cache", {"namespace": "t", "ttl": 60}, "get_or_set", ("k", lambda: 1), {"ttl": NAN}),
    ("Cache", {"namespace": "t", "ttl": 60}, "get_or_set", ("k", object), {}),
    ("Cache", {"namespace": "t", "ttl": 60}, "cached", (), {"ttl": -1}),
    ("Lock", {"name": "x", "timeout": NAN}, None, (), {}),
    ("Lock", {"name": "x", "timeout": INF}, None, (), {}),
    ("Lock", {"name": "x", "timeout": "10"}, None, (), {}),
    ("Lock", {"name": "", "timeout": 10}, None, (), {}),
    ("Lock", {"name": "x", "timeout": 10, "blocking_timeout": -1}, None, (), {}),
    ("Lock", {"name": "x", "timeout": 10}, "acquire", (), {"blocking_timeout": NAN}),
    ("Lock", {"name": "x", "timeout": 10}, "extend", (INF,), {}),
    ("SessionStore", {"ttl": NAN}, None, (), {}),
    ("SessionStore", {"ttl": True}, None, (), {}),
    ("SessionStore", {"ttl": 60}, "create", (), {"user_id": None}),
    ("SessionStore", {"ttl": 60}, "create", (), {"user_id": 1, "data": {"x": object()}}),
    ("SessionStore", {"ttl": 60}, "create", (), {"user_id": 1, "data": {"user_id": 2}}),
    ("SessionStore", {"ttl": 60}, "create", (), {"user_id": 1, "data": [("cart", 1)]}),
    ("SessionStore", {"ttl": 60}, "get", (42,), {}),
    ("SessionStore", {"ttl": 60}, "update", ("0000." + "a" * 43,), {}),
    ("WriteBehind", {"name": "q", "apply_batch": print, "batch_size": 0}, None, (), {}),
    ("WriteBehind", {"name": "q", "apply_batch": print, "poll_interval": NAN}, None, (), {}),
    ("WriteBehind", {"name": "q", "apply_batch": print}, "submit", ("", 1), {}),
    ("WriteBehind", {"name": "q", "apply_batch": print}, "submit", ("k", object()), {}),
    ("WriteBehind", {"name": "q", "apply_batch": print}, "submit", ("k", NAN), {}),
    ("WriteBehind", {"name": "q", "apply_batch": print}, "submit", (7, 1), {}),
    ("WriteBehind", {"name": "q", "apply_batch": None}, None, (), {}),
]
for _algorithm in ALGORITHMS:
    BAD += [
        (_algorithm, {"limit": 10, "window": NAN}, None, (), {}),
        (_algorithm, {"limit": 10, "window": INF}, None, (), {}),
        (_algorithm, {"limit": 1.5, "window": 60}, None, (), {}),
        (_algorithm, {"limit": True, "window": 60}, None, (), {}),
        (_algorithm, {"limit": 0, "window": 60}, None, (), {}),
        (_algorithm, {"limit": 10, "window": 60, "on_error": "ignore"}, None, (), {}),
        (_algorithm, {"limit": 10, "window": 60}, "hit", ("u", NAN), {}),
        (_algorithm, {"limit": 10, "window": 60}, "hit", ("u", 11), {}),
        (_algorithm, {"limit": 10, "window": 60}, "hit", (42,), {}),
        (_algorithm, {"limit": 10, "window": 60}, "peek", ("",), {}),
    ]


def _outcome(face: Any, case: Case) -> tuple[str, Any]:
    """What the user sees: ``("ok", result)`` or ``(error type, message)``."""
    helper, made, method, args, kwargs = case
    try:
        obj = face.make(helper, **made)
        return "ok", None if method is None else face(getattr(obj, method)(*args, **kwargs))
    except Exception as exc:
        return type(exc).__name__, str(exc)


def check_same_errors(face: Any, case: Case) -> None:
    """Both faces refuse the bad input with the same error, and write nothing."""
    mine, theirs = _outcome(face, case), _outcome(face.other(), case)
    assert mine[0] != "ok", f"accepted: {case}"
    assert mine == theirs
    assert face.sync_client.dbsize() == 0


@pytest.mark.parametrize("case", BAD, ids=lambda c: f"{c[0]}.{c[2] or 'init'}")
@pytest.mark.parametrize("face", ["sync"], indirect=True)
def test_bad_input_gets_the_same_error_from_both_faces(face: Any, case: Any) -> None:
    """NaN, inf, wrong types and empty names: one error (type and text), nothing written."""
    check_same_errors(face, case)


@pytest.mark.parametrize("face", ["sync"], indirect=True)
def test_an_async_set_that_skips_validation_is_caught(face: Any, monkeypatch: Any) -> None:
    """Wrong: aio.Cache.set sending SET PX straight away (no ttl or value checks)."""

    async def naive_set(
        self: Any, key: Any, value: Any, *, ttl: Any = None, tags: Any = ()
    ) -> None:
        px = int((ttl or 60) * 1000)
        await self._client.set(self.redis_key(key), json.dumps(value), px=px)

    monkeypatch.setattr(aio.Cache, "set", naive_set)
    assert_fails(lambda: check_same_errors(face, BAD[4]))  # set(ttl=nan)
    assert_fails(lambda: check_same_errors(face, BAD[7]))  # set(value=nan)


# -- same calls, same results ---------------------------------------------------------


def scenario(face: Any, ns: str) -> list[Any]:
    """Every helper's main calls on one face (keys under ``ns``); what each returned."""
    out: list[Any] = []
    cache = face.make("Cache", namespace=ns, ttl=60)
    face(cache.set("k", {"a": 1}, tags=["t"]))
    out += [face(cache.get("k")), face(cache.get("nope", "dflt"))]
    out.append(face(cache.get_or_set("loaded", lambda: [1, 2])))
    face(cache.set_many({"a": 1, "b": None}))
    out += [face(cache.get_many(["a", "b", "c", "k"])), face(cache.delete("a", "c"))]
    out += [face(cache.invalidate_tags("t")), face(cache.get("k")), cache.stats]
    lock = face.make("Lock", f"{ns}:job", timeout=10)
    rival = face.make("Lock", f"{ns}:job", timeout=10, blocking=False)
    out += [face(lock.acquire()), face(rival.acquire()), face(lock.extend(5))]
    out += [face(lock.owned()), face(lock.release()), face(lock.release()), face(lock.locked())]
    for algorithm in ALGORITHMS:
        limiter = face.make(algorithm, limit=3, window=60)
        hits = [face(limiter.hit(f"{ns}:u", cost)) for cost in (2, 1, 1)]
        out.append([(r.allowed, r.limit, r.remaining, r.retry_after > 0) for r in hits])
        out.append(face(limiter.peek(f"{ns}:u")).allowed)
    store = face.make("SessionStore", ttl=60)
    sid = face(store.create(user_id=f"{ns}-7", data={"cart": []}))
    out += [face(store.get(sid)), face(store.update(sid, cart=[1]))]
    new = face(store.rotate(sid))
    out += [face(store.get(sid)), face(store.get(new)), face(store.destroy(new))]
    out += [face(store.destroy(new)), face(store.destroy_all(user_id=f"{ns}-7"))]
    out.append([u.replace(ns, "NS") for u in [str(face(store.get("bad")))]])
    applied: list[Any] = []
    queue = face.make("WriteBehind", name=ns, apply_batch=applied.extend, batch_size=2)
    out += [face(queue.submit("r", n)) is not None for n in range(3)]
    out += [face(queue.backlog()), face(queue.flush()), face(queue.pending()), len(applied)]
    return [json.loads(json.dumps(x, default=str).replace(ns, "NS")) for x in out]


@pytest.mark.parametrize("face", ["sync"], indirect=True)
def test_both_faces_return_the_same_results(face: Any) -> None:
    """The same calls on each face give the same values, counts, flags and stats."""
    assert scenario(face, "zq1") == scenario(face.other(), "zq2")


@pytest.mark.parametrize("face", ["sync"], indirect=True)
def test_an_async_get_many_returning_a_list_is_caught(face: Any, monkeypatch: Any) -> None:
    """Wrong: aio.Cache.get_many returning the values found, as a list."""
    real = aio.Cache.get_many

    async def as_list(self: Any, keys_: Any) -> Any:
        return list((await real(self, keys_)).values())

    monkeypatch.setattr(aio.Cache, "get_many", as_list)
    assert_fails(lambda: test_both_faces_return_the_same_results(face))


# -- shared data: what one face writes, the other reads -------------------------------


def check_cache_shared(face: Any) -> None:
    """Entries, batches, tags and loads written by one face are read by the other."""
    mine, other = face.make("Cache", namespace="sh", ttl=60), face.other()
    theirs = other.make("Cache", namespace="sh", ttl=60)
    face(mine.set("k", {"from": face.kind}, tags=["t"]))
    assert other(theirs.get("k")) == {"from": face.kind}
    other(theirs.set_many({"a": 1, "b": [2]}))
    assert face(mine.get_many(["a", "b", "c"])) == {"a": 1, "b": [2]}
    assert face(mine.get_or_set("loaded", lambda: 7)) == 7
    assert other(theirs.get_or_set("loaded", lambda: 8)) == 7  # no second load
    assert other(theirs.invalidate_tags("t")) == 1
    assert face(mine.get("k")) is None
    assert other(theirs.delete("a")) == 1
    assert face(mine.get("a", "gone")) == "gone"


def test_cache_entries_are_shared(face: Any) -> None:
    """aio.Cache reads what Cache wrote and the reverse: one key layout and entry format."""
    check_cache_shared(face)


class _PlainJsonCache(aio.Cache):
    """Wrong: an async cache storing plain JSON (no entry header) under the same keys."""

    async def set(self, key: Any, value: Any, *, ttl: Any = None, tags: Any = ()) -> None:
        await self._client.set(self.redis_key(key), json.dumps(value), ex=60)

    async def get(self, key: Any, default: Any = None) -> Any:
        raw = await self._client.get(self.redis_key(key))
        try:
            return default if raw is None else json.loads(raw)
        except ValueError:
            return default


def test_an_async_cache_with_its_own_format_is_caught(face: Any, monkeypatch: Any) -> None:
    """Wrong: aio.Cache writing plain JSON -- the other face cannot read it."""
    monkeypatch.setattr(aio, "Cache", _PlainJsonCache)
    assert_fails(lambda: check_cache_shared(face))


def check_locks_exclude(face: Any) -> None:
    """A holder on one face keeps the other out; tokens come from one counter."""
    mine, other = face.make("Lock", "invoice:7", timeout=10), face.other()
    theirs = other.make("Lock", "invoice:7", timeout=10, blocking=False)
    assert face(mine.acquire())
    assert other(theirs.acquire()) is False
    assert other(theirs.locked())
    first = mine.fencing_token
    assert face(mine.release())
    assert other(theirs.acquire())
    assert theirs.fencing_token > first
    assert face(mine.acquire(blocking=False)) is False
    assert other(theirs.release())


def test_sync_and_async_locks_exclude_each_other(face: Any) -> None:
    """Lock and aio.Lock on one name: never both held; fencing tokens keep rising."""
    check_locks_exclude(face)


class _RedisPyAsyncLock:
    """Wrong: aio.Lock as a thin wrapper of redis-py's asyncio Lock (its own key)."""

    def __init__(self, client: Any, name: str, *, timeout: float, blocking: bool = True) -> None:
        self._lock = client.lock(name, timeout=timeout, blocking=blocking)
        self.fencing_token = 0

    async def acquire(self, *, blocking: bool | None = None) -> bool:
        return bool(await self._lock.acquire(blocking=blocking))

    async def release(self) -> bool:
        await self._lock.release()
        return True

    async def locked(self) -> bool:
        return bool(await self._lock.locked())


def test_a_redis_py_async_lock_is_caught(face: Any, monkeypatch: Any) -> None:
    """Wrong: redis.asyncio's Lock for aio.Lock -- a sync holder does not keep it out."""
    monkeypatch.setattr(aio, "Lock", _RedisPyAsyncLock)
    assert_fails(lambda: check_locks_exclude(face))


def check_limits_shared(face: Any, algorithm: str) -> None:
    """Hits of both faces, of any cost, draw on one budget: exactly ``limit`` pass."""
    mine, other = face.make(algorithm, limit=4, window=60), face.other()
    theirs = other.make(algorithm, limit=4, window=60)
    allowed = [
        face(mine.hit("user:42", 2)).allowed,
        other(theirs.hit("user:42")).allowed,
        face(mine.hit("user:42")).allowed,
        other(theirs.hit("user:42")).allowed,  # the fifth unit: denied
        face(mine.hit("user:42")).allowed,
    ]
    assert allowed == [True, True, True, False, False]
    assert other(theirs.peek("user:42")).remaining == 0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_limiters_count_together_across_faces(face: Any, algorithm: str) -> None:
    """All five algorithms: sync and async hits share one limit."""
    check_limits_shared(face, algorithm)


class _LocalLimiter:
    """Wrong: an async limiter counting in this process (a dict), not in Valkey."""

    def __init__(self, client: Any, *, limit: int, window: float) -> None:
        self._limit, self._used = limit, 0

    async def hit(self, key: str, cost: int = 1) -> valkey_redis.RateLimitResult:
        allowed = self._used + cost <= self._limit
        self._used += cost if allowed else 0
        left = self._limit - self._used
        return valkey_redis.RateLimitResult(allowed, self._limit, left, 60.0, 0.0, False)

    async def peek(self, key: str) -> valkey_redis.RateLimitResult:
        left = self._limit - self._used
        return valkey_redis.RateLimitResult(left > 0, self._limit, left, 60.0, 0.0, False)


def test_a_limiter_counting_locally_is_caught(face: Any, monkeypatch: Any) -> None:
    """Wrong: an in-process async limiter -- the sync hits are not counted."""
    monkeypatch.setattr(aio, "GCRA", _LocalLimiter)
    assert_fails(lambda: check_limits_shared(face, "GCRA"))


def check_sessions_shared(face: Any) -> None:
    """A session made on one face is read, updated, rotated and ended on the other."""
    mine, other = face.make("SessionStore", ttl=60), face.other()
    theirs = other.make("SessionStore", ttl=60)
    sid = face(mine.create(user_id=42, data={"cart": [1]}))
    assert other(theirs.get(sid)) == {"user_id": 42, "cart": [1]}
    assert other(theirs.update(sid, cart=[1, 2]))
    new = face(mine.rotate(sid))
    assert other(theirs.get(sid)) is None
    assert other(theirs.get(new)) == {"user_id": 42, "cart": [1, 2]}
    face(mine.create(user_id=42))
    assert other(theirs.destroy_all(user_id=42)) == 2
    assert face(mine.get(new)) is None


def test_sessions_are_shared(face: Any) -> None:
    """aio.SessionStore and SessionStore: one id format, one set of keys and scripts."""
    check_sessions_shared(face)


class _JsonSessions(aio.SessionStore):
    """Wrong: async sessions as one JSON string per id under ``session:<id>``."""

    async def create(self, *, user_id: Any, data: Any = None) -> str:
        sid = "s" + str(id(data))
        await self._client.set(f"session:{sid}", json.dumps({"user_id": user_id, **(data or {})}))
        return sid

    async def get(self, sid: str) -> Any:
        raw = await self._client.get(f"session:{sid}")
        return None if raw is None else json.loads(raw)


def test_sessions_of_their_own_are_caught(face: Any, monkeypatch: Any) -> None:
    """Wrong: aio sessions stored their own way -- the other face cannot find them."""
    monkeypatch.setattr(aio, "SessionStore", _JsonSessions)
    assert_fails(lambda: check_sessions_shared(face))


def check_queue_shared(face: Any) -> None:
    """One face submits, the other face's worker applies every write once, in order."""
    applied: list[Any] = []
    other = face.other()
    producer = face.make("WriteBehind", name="views", apply_batch=lambda _: None)
    worker = other.make("WriteBehind", name="views", apply_batch=applied.extend, batch_size=2)
    for n in range(5):
        face(producer.submit(f"page:{n % 2}", n))
    assert other(worker.backlog()) == 5
    assert other(worker.flush()) == 5
    assert [(w.key, w.value) for w in applied] == [(f"page:{n % 2}", n) for n in range(5)]
    assert face(producer.backlog()) == 0


def test_write_behind_queues_are_shared(face: Any) -> None:
    """aio.WriteBehind and WriteBehind: one stream, one group, one submit script."""
    check_queue_shared(face)


class _OwnStream(aio.WriteBehind):
    """Wrong: an async queue on a stream of its own (``aio:`` prefixed)."""

    def __init__(self, client: Any, **settings: Any) -> None:
        super().__init__(client, **settings)
        self.stream = "aio:" + self.stream


def test_a_queue_on_its_own_stream_is_caught(face: Any, monkeypatch: Any) -> None:
    """Wrong: aio.WriteBehind on its own stream -- the other face's worker sees nothing."""
    monkeypatch.setattr(aio, "WriteBehind", _OwnStream)
    assert_fails(lambda: check_queue_shared(face))


# -- auto_renew: a thread on one face, a task on the other ----------------------------


def hold(face: Any, seconds: float) -> None:
    """Hold for ``seconds``, letting the face's renewer run (the event loop runs meanwhile)."""
    face(asyncio.sleep(seconds)) if face.kind == "async" else time.sleep(seconds)


def check_auto_renew(face: Any, lock: Any) -> None:
    """An auto-renewed lock outlives its lease 2.5 times; the other face stays out meanwhile."""
    rival = face.other().make("Lock", "renewed", timeout=5, blocking=False)
    assert face(lock.acquire())
    for _ in range(8):  # 8 x 0.2 s: 2.5 leases of 0.6 s (renewed every 0.2 s)
        hold(face, 0.2)
        assert face.other()(rival.acquire()) is False
    assert lock.lost is False
    assert face(lock.release()) is True


def test_auto_renew_keeps_the_lease_while_held(face: Any) -> None:
    """auto_renew=True (a thread, or a task of the loop) keeps the lock held past its lease."""
    lock = face.make("Lock", "renewed", timeout=0.6, auto_renew=True)
    check_auto_renew(face, lock)
    if face.kind == "async":
        assert lock._renewer is None  # the task ended with the release


def test_a_lock_that_ignores_auto_renew_is_caught(face: Any) -> None:
    """Wrong: auto_renew accepted and ignored -- the lease runs out under the holder."""
    lock = face.make("Lock", "renewed", timeout=0.6, auto_renew=True)
    lock.auto_renew = False
    assert_fails(lambda: check_auto_renew(face, lock))


def test_a_dropped_async_auto_renewed_lock_expires(both_clients: Any, aio_loop: Any) -> None:
    """An aio.Lock dropped without release: its renewal task ends, the lock expires."""
    sync_client, async_client = both_clients

    async def main() -> str:
        lock = aio.Lock(async_client, "dropped", timeout=0.3, auto_renew=True)
        assert await lock.acquire()
        renewer, key = lock._renewer, lock.key
        assert isinstance(renewer, asyncio.Task)
        del lock
        gc.collect()
        async with asyncio.timeout(10):
            await renewer  # ends at its next turn: the lock is gone
        return key

    key = aio_loop.run(main())
    deadline = time.monotonic() + 10
    while sync_client.exists(key) and time.monotonic() < deadline:
        time.sleep(0.02)  # the lease runs out on the server
    assert sync_client.exists(key) == 0


# -- real contention: threads of one face, tasks of the other --------------------------


def check_contended_increments(sync_client: Any, async_client: Any, loop: Any) -> int:
    """4 threads (Lock) and 20 tasks (aio.Lock) each do read-pause-write under one name."""
    counter = "contended:counter"

    def thread_body() -> None:
        for _ in range(3):
            with valkey_redis.Lock(sync_client, "contended", timeout=10, sleep=0.002):
                value = int(sync_client.get(counter) or 0)
                time.sleep(0.002)  # the read-modify-write window a lock must protect
                sync_client.set(counter, value + 1)

    async def task_body() -> None:
        async with aio.Lock(async_client, "contended", timeout=10, sleep=0.002):
            value = int(await async_client.get(counter) or 0)
            await asyncio.sleep(0.002)
            await async_client.set(counter, value + 1)

    async def tasks() -> None:
        await asyncio.gather(*(task_body() for _ in range(20)))

    threads = [threading.Thread(target=thread_body) for _ in range(4)]
    for thread in threads:
        thread.start()
    loop.run(tasks())
    for thread in threads:
        thread.join()
    return int(sync_client.get(counter))


def test_threads_and_tasks_under_one_lock_lose_no_increment(
    both_clients: Any, aio_loop: Any
) -> None:
    """12 increments from sync threads and 20 from async tasks: exactly 32."""
    sync_client, async_client = both_clients
    assert check_contended_increments(sync_client, async_client, aio_loop) == 32


def test_tasks_under_a_redis_py_lock_are_caught(
    both_clients: Any, aio_loop: Any, monkeypatch: Any
) -> None:
    """Wrong: the tasks take redis-py's asyncio Lock -- the threads' Lock does not see it."""

    class RedisPyLock:
        def __init__(self, client: Any, name: str, **_: Any) -> None:
            self._lock = client.lock(name, timeout=10, sleep=0.002)

        async def __aenter__(self) -> None:
            await self._lock.acquire()

        async def __aexit__(self, *exc: object) -> None:
            await self._lock.release()

    monkeypatch.setattr(aio, "Lock", RedisPyLock)
    sync_client, async_client = both_clients
    assert check_contended_increments(sync_client, async_client, aio_loop) < 32
