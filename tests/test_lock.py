"""Lock: leases, owner-only release and extend, fencing tokens, waiting, real contention."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
import types
from typing import Any

import fakeredis
import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from valkey_redis import Lock, LockError, LockLost, LockNotAcquired
from valkey_redis.client import connect
from valkey_redis.examples.example_5_locks import locked_increments, process_context
from valkey_redis.server import EmbeddedValkey


def _expire_now(client: redis.Redis, key: str) -> None:
    """Let the server expire ``key`` (a lease running out), then wait until it is gone."""
    client.pexpire(key, 1)
    deadline = time.monotonic() + 5
    while client.exists(key) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert client.exists(key) == 0


@pytest.fixture
def plain_main(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes skip re-running pytest's entry script: they need only our modules."""
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))


def _wait_for(condition: Any, timeout: float = 5.0) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return bool(condition())


# -- configuration ----------------------------------------------------------------


def test_timeout_has_no_default(fake_client: redis.Redis) -> None:
    """A lock without a lease is refused: no lock lives forever."""
    with pytest.raises(TypeError):
        Lock(fake_client, "job")  # type: ignore[call-arg]


@pytest.mark.parametrize("bad", [0, -1, float("nan"), True, "5"])
def test_bad_timeouts_are_rejected(fake_client: redis.Redis, bad: Any) -> None:
    """Zero, negative, NaN, bool and string leases raise ValueError."""
    with pytest.raises(ValueError, match="timeout"):
        Lock(fake_client, "job", timeout=bad)


def test_bad_names_and_waits_are_rejected(fake_client: redis.Redis) -> None:
    """An empty name, a negative blocking_timeout and a zero sleep raise ValueError."""
    with pytest.raises(ValueError, match="empty"):
        Lock(fake_client, "", timeout=1)
    with pytest.raises(ValueError, match="blocking_timeout"):
        Lock(fake_client, "job", timeout=1, blocking_timeout=-1)
    with pytest.raises(ValueError, match="sleep"):
        Lock(fake_client, "job", timeout=1, sleep=0)


@pytest.mark.parametrize("bad", [-1, float("nan"), "1", True])
def test_acquire_rejects_a_bad_blocking_timeout(fake_client: redis.Redis, bad: Any) -> None:
    """acquire(blocking_timeout=-1 or NaN) raises ValueError (not a spent-budget TimeoutError)."""
    from valkey_redis import aio

    with pytest.raises(ValueError, match="blocking_timeout"):
        Lock(fake_client, "job", timeout=1).acquire(blocking_timeout=bad)
    lock = aio.Lock(fakeredis.FakeAsyncRedis(decode_responses=True), "job", timeout=1)
    with pytest.raises(ValueError, match="blocking_timeout"):
        asyncio.run(lock.acquire(blocking_timeout=bad))
    assert fake_client.exists("lock:{job}") == 0


def test_constructor_needs_no_server() -> None:
    """Building a lock talks to nobody, so an app starts while Valkey is down."""
    unreachable = connect("redis://127.0.0.1:1/0", retries=0)
    lock = Lock(unreachable, "job", timeout=1)
    assert lock.key == "lock:{job}:owner"
    with pytest.raises(redis.ConnectionError):
        lock.acquire()
    assert lock.lost is False
    with pytest.raises(LockError, match="not been acquired"):
        _ = lock.fencing_token


def test_keys_share_one_cluster_slot(fake_client: redis.Redis) -> None:
    """The lock and its fencing counter hash to the same slot, and names are escaped."""
    lock = Lock(fake_client, "invoice:{7}", timeout=1)
    assert lock.key == "lock:{invoice%3A%7B7%7D}:owner"
    assert key_slot(lock.key.encode()) == key_slot(lock.fence_key.encode())


# -- one holder at a time -----------------------------------------------------------


def test_acquire_release_round_trip(client: redis.Redis) -> None:
    """Acquire sets the key with a lease, a second taker fails, release deletes it."""
    lock = Lock(client, "job", timeout=5)
    assert lock.acquire() is True
    assert 0 < client.pttl(lock.key) <= 5000
    assert lock.owned() is True
    other = Lock(client, "job", timeout=5, blocking=False)
    assert other.acquire() is False
    assert other.attempts == 1
    assert lock.release() is True
    assert client.exists(lock.key) == 0
    assert lock.locked() is False
    assert other.acquire() is True
    assert other.release() is True


def test_non_owner_release_is_refused(client: redis.Redis) -> None:
    """Releasing a lock someone else holds returns False and leaves their lock alone."""
    holder = Lock(client, "job", timeout=5)
    assert holder.acquire()
    stranger = Lock(client, "job", timeout=5)
    assert stranger.release() is False
    assert holder.owned() is True
    assert holder.release() is True


def test_expired_lease_old_holder_cannot_release_or_extend(client: redis.Redis) -> None:
    """After the lease runs out and B acquires, A's release and extend leave B's lock intact."""
    first = Lock(client, "job", timeout=5)
    assert first.acquire()
    _expire_now(client, first.key)
    second = Lock(client, "job", timeout=5)
    assert second.acquire()
    token = client.get(second.key)
    assert first.extend(60) is False
    assert first.lost is True
    assert first.release() is False
    assert token == client.get(second.key)
    assert 0 < client.pttl(second.key) <= 5000
    assert second.fencing_token > first.fencing_token
    assert second.release() is True


def test_same_instance_cannot_acquire_twice(client: redis.Redis) -> None:
    """A second acquire on a held instance raises instead of deadlocking on itself."""
    lock = Lock(client, "job", timeout=5)
    assert lock.acquire()
    with pytest.raises(LockError, match="already holds"):
        lock.acquire()
    assert lock.release()


def test_extend_resets_the_lease_and_counter_ttl(client: redis.Redis) -> None:
    """extend() replaces the remaining lease; lock and counter always carry a TTL."""
    lock = Lock(client, "job", timeout=2)
    assert lock.acquire()
    assert lock.extend(30) is True
    assert 2000 < client.pttl(lock.key) <= 30_000
    assert 86_000_000 < client.pttl(lock.fence_key) <= 86_400_000
    assert lock.release()
    assert Lock(client, "job", timeout=1).extend() is False


def test_release_from_another_thread(client: redis.Redis) -> None:
    """The token belongs to the instance: another thread may release it."""
    lock = Lock(client, "job", timeout=5)
    assert lock.acquire()
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(lock.release()))
    worker.start()
    worker.join()
    assert results == [True]
    assert client.exists(lock.key) == 0


# -- fencing tokens -----------------------------------------------------------------


def test_fencing_tokens_strictly_increase(client: redis.Redis) -> None:
    """Each acquisition gets a larger token, even after the counter expired."""
    tokens = []
    for i in range(20):
        lock = Lock(client, "job", timeout=5)
        assert lock.acquire()
        tokens.append(lock.fencing_token)
        assert lock.release()
        if i == 10:
            client.delete(lock.fence_key)  # an idle counter that expired
    assert tokens == sorted(set(tokens))
    assert all(isinstance(t, int) for t in tokens)


def test_a_counter_ahead_of_the_clock_still_grows_by_one(client: redis.Redis) -> None:
    """A counter past the server clock (clocks stepped back): the next token is counter + 1."""
    lock = Lock(client, "job", timeout=5)
    ahead = 5 * 10**15  # years past the clock in microseconds, exact in a Lua double
    client.set(lock.fence_key, ahead, px=60_000)
    assert lock.acquire()
    assert lock.fencing_token == ahead + 1
    assert int(client.get(lock.fence_key)) == ahead + 1  # and the counter remembers it
    assert lock.release()
    again = Lock(client, "job", timeout=5)
    assert again.acquire()
    assert again.fencing_token == ahead + 2
    assert again.release()


def test_fencing_token_stays_after_release(client: redis.Redis) -> None:
    """A holder keeps its token after release or expiry, to show a fenced resource."""
    lock = Lock(client, "job", timeout=5)
    assert lock.acquire()
    token = lock.fencing_token
    assert lock.release()
    assert token == lock.fencing_token


# -- waiting ------------------------------------------------------------------------


class _FakeTime:
    """A clock that only moves when the lock pauses."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_blocking_timeout_is_honoured(client: redis.Redis) -> None:
    """Waiting gives up after exactly blocking_timeout of pauses, retrying with backoff."""
    holder = Lock(client, "job", timeout=30)
    assert holder.acquire()
    waiter = Lock(client, "job", timeout=5, blocking_timeout=2.0, sleep=0.05)
    fake = _FakeTime()
    waiter._clock, waiter._pause = fake.clock, fake.pause
    assert waiter.acquire() is False
    assert pytest.approx(2.0) == sum(fake.pauses)
    assert waiter.attempts == len(fake.pauses) + 1
    assert max(fake.pauses) <= 0.05 * 8
    assert len(set(fake.pauses)) > 1  # jitter: waiters do not retry in lockstep
    assert holder.owned()


def test_blocking_timeout_with_the_real_clock(client: redis.Redis) -> None:
    """A short blocking_timeout returns False and the holder keeps the lock."""
    holder = Lock(client, "job", timeout=30)
    assert holder.acquire()
    waiter = Lock(client, "job", timeout=5, blocking_timeout=0.1, sleep=0.01)
    assert waiter.acquire() is False
    assert waiter.attempts >= 1
    assert holder.owned()


def test_backoff_never_outlasts_the_holders_lease(client: redis.Redis) -> None:
    """A waiter pauses no longer than the holder's remaining lease before retrying."""
    holder = Lock(client, "job", timeout=30)
    assert holder.acquire()
    waiter = Lock(client, "job", timeout=5, sleep=100)  # uncapped pauses: 50 to 100 s
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        client.delete(holder.key)  # time passes: the holder's lease runs out

    waiter._pause = pause
    assert waiter.acquire() is True
    assert len(pauses) == 1
    assert 0 < pauses[0] <= 30
    assert waiter.release()


@pytest.mark.real
def test_waiter_gets_the_lock_when_released(real_client: redis.Redis) -> None:
    """A blocked acquire succeeds once the holder releases."""
    holder = Lock(real_client, "job", timeout=30)
    assert holder.acquire()
    waiter = Lock(real_client, "job", timeout=5, blocking_timeout=20, sleep=0.01)
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(waiter.acquire()))
    thread.start()
    assert _wait_for(lambda: waiter.attempts >= 2)
    assert holder.release()
    thread.join()
    assert got == [True]
    assert waiter.fencing_token > holder.fencing_token
    assert waiter.release()


# -- context manager ----------------------------------------------------------------


def test_context_manager_holds_then_releases(client: redis.Redis) -> None:
    """Inside the block the lock is held with a token; after it, the key is gone."""
    with Lock(client, "invoice:7", timeout=10) as lock:
        assert lock.owned()
        assert lock.fencing_token > 0
    assert client.exists(lock.key) == 0


def test_context_manager_raises_lock_not_acquired(client: redis.Redis) -> None:
    """When the lock is busy past blocking_timeout, the message names the lock."""
    holder = Lock(client, "invoice:7", timeout=30)
    assert holder.acquire()
    with (
        pytest.raises(LockNotAcquired, match=r"'invoice:7' within \d+\.\d\ds"),
        Lock(client, "invoice:7", timeout=5, blocking=False),
    ):
        pytest.fail("the block must not run")  # pragma: no cover
    assert holder.owned()


def test_context_manager_reports_a_lost_lease(client: redis.Redis) -> None:
    """A lease that ran out inside the block raises LockLost on exit."""
    lock = Lock(client, "job", timeout=5)
    with pytest.raises(LockLost, match="expired while held"), lock:
        _expire_now(client, lock.key)
    assert lock.lost is True


def test_context_manager_keeps_the_original_error(client: redis.Redis) -> None:
    """An error raised in the block propagates, with a note if the lease was also lost."""

    def crash_after_losing_the_lease() -> None:
        with Lock(client, "job", timeout=5) as lock:
            _expire_now(client, lock.key)
            raise KeyError("boom")

    with pytest.raises(KeyError) as info:
        crash_after_losing_the_lease()
    assert any("expired while held" in note for note in info.value.__notes__)


# -- ambiguous failures -------------------------------------------------------------


class _LossyReplies(fakeredis.FakeRedis):
    """Runs scripts, then loses the reply ``lose_after`` times, or fails before running."""

    lose_after = 0
    fail_before = 0
    fail_mget = False

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if args[0] == "MGET" and self.fail_mget:
            raise redis.ConnectionError("still down")
        if args[0] != "EVALSHA":
            return super().execute_command(*args, **kwargs)
        if self.fail_before:
            self.fail_before -= 1
            raise redis.TimeoutError("no reply")
        result = super().execute_command(*args, **kwargs)
        if self.lose_after:
            self.lose_after -= 1
            raise redis.TimeoutError("reply lost")
        return result


def _lossy() -> _LossyReplies:
    return _LossyReplies(server=fakeredis.FakeServer(), decode_responses=True)


def test_lost_acquire_reply_is_recognised_as_ours() -> None:
    """When the acquire ran but its reply was lost, the lock is ours with its token."""
    client = _lossy()
    client.lose_after = 1
    lock = Lock(client, "job", timeout=5, blocking=False)
    assert lock.acquire() is True
    assert lock.owned()
    assert int(client.get(lock.fence_key)) == lock.fencing_token
    assert lock.release()


def test_failed_acquire_against_a_holder_is_reported_as_not_acquired() -> None:
    """When the acquire never ran and someone holds the lock, acquire returns False."""
    client = _lossy()
    holder = Lock(client, "job", timeout=5)
    assert holder.acquire()
    client.fail_before = 1
    assert Lock(client, "job", timeout=5, blocking=False).acquire() is False
    assert holder.owned()


def test_unreachable_check_surfaces_the_error() -> None:
    """If even the ownership check fails, the error surfaces: no pretending to hold."""
    client = _lossy()
    client.fail_before, client.fail_mget = 1, True
    lock = Lock(client, "job", timeout=5)
    with pytest.raises(redis.ConnectionError):
        lock.acquire()
    with pytest.raises(LockError):
        _ = lock.fencing_token


class _RetriedScripts(fakeredis.FakeRedis):
    """Runs every script twice, as a retry after a lost reply would."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if args[0] == "EVALSHA":
            super().execute_command(*args, **kwargs)
        return super().execute_command(*args, **kwargs)


def test_retried_acquire_counts_once() -> None:
    """An acquire script that runs twice takes the lock once and one fencing token."""
    client = _RetriedScripts(server=fakeredis.FakeServer(), decode_responses=True)
    lock = Lock(client, "job", timeout=5)
    assert lock.acquire()
    assert int(client.get(lock.fence_key)) == lock.fencing_token
    assert lock.extend()
    lock.release()  # may say False: the retry finds the lock already deleted (documented)
    assert client.exists(lock.key) == 0
    again = Lock(client, "job", timeout=5)
    assert again.acquire()
    assert again.fencing_token > lock.fencing_token


# -- server capabilities ------------------------------------------------------------


@pytest.mark.real
def test_release_uses_delifeq_on_valkey(real_client: redis.Redis) -> None:
    """On Valkey 9 release is the native DELIFEQ command, not a script."""
    real_client.config_resetstat()
    lock = Lock(real_client, "job", timeout=5)
    assert lock.acquire()
    assert lock.release()
    stats = real_client.info("commandstats")
    assert stats["cmdstat_delifeq"]["calls"] == 1


def test_release_falls_back_to_a_script(fake_client: redis.Redis) -> None:
    """Where DELIFEQ is unknown (fakeredis), compare-and-delete runs as a script."""
    for _ in range(2):
        lock = Lock(fake_client, "job", timeout=5)
        assert lock.acquire()
        assert lock.release() is True
        assert fake_client.exists(lock.key) == 0


# -- auto-renew ---------------------------------------------------------------------


@pytest.mark.real
def test_auto_renew_keeps_the_lock_past_its_lease(real_client: redis.Redis) -> None:
    """With auto_renew the lock outlives several leases while held."""
    lock = Lock(real_client, "job", timeout=0.45, auto_renew=True)
    assert lock.acquire()
    end = time.monotonic() + 1.0  # more than two leases
    while time.monotonic() < end:
        assert lock.owned()
        time.sleep(0.01)
    assert lock.lost is False
    assert lock.release() is True


@pytest.mark.real
def test_auto_renew_sets_lost_when_renewal_is_refused(real_client: redis.Redis) -> None:
    """When another owner took the key, renewal stops, ``lost`` turns True, theirs stays."""
    lock = Lock(real_client, "job", timeout=0.3, auto_renew=True)
    assert lock.acquire()
    real_client.set(lock.key, "someone-else", px=10_000)
    assert _wait_for(lambda: lock.lost)
    assert lock.release() is False
    assert real_client.get(lock.key) == "someone-else"


@pytest.mark.real
def test_dropped_auto_renew_lock_expires(real_client: redis.Redis) -> None:
    """A lock dropped without release() stops being renewed and expires with its lease."""
    lock = Lock(real_client, "job", timeout=0.3, auto_renew=True)
    assert lock.acquire()
    renewer, key = lock._renewer, lock.key
    assert renewer is not None
    del lock
    gc.collect()
    renewer.join(timeout=5)
    assert not renewer.is_alive()
    assert _wait_for(lambda: real_client.exists(key) == 0)


# -- real contention ----------------------------------------------------------------


@pytest.mark.real
def test_eight_threads_lose_no_increment(real_client: redis.Redis) -> None:
    """8 threads x 10 read-sleep-write increments under the lock give exactly 80."""
    seen: list[tuple[int, int]] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(10):
            with Lock(real_client, "counter", timeout=5, sleep=0.002) as lock:
                value = int(real_client.get("counter") or 0)
                time.sleep(0.001)  # the slow part of a read-modify-write
                real_client.set("counter", value + 1, ex=60)
                seen.append((value, lock.fencing_token))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert real_client.get("counter") == "80"
    values = [value for value, _ in sorted(seen)]
    assert list(range(80)) == values
    tokens = [token for _, token in sorted(seen)]
    assert tokens == sorted(set(tokens))


@pytest.mark.real
def test_four_processes_lose_no_increment(
    real_client: redis.Redis, valkey_server: EmbeddedValkey, plain_main: None
) -> None:
    """4 processes x 10 read-sleep-write increments under the lock give exactly 40."""
    context = process_context()
    args = [(valkey_server.url, "counter", "procs:counter", 10)] * 4
    with context.Pool(4) as pool:
        per_process = pool.starmap(locked_increments, args)
    assert real_client.get("procs:counter") == "40"
    seen = sorted(pair for pairs in per_process for pair in pairs)
    assert list(range(40)) == [value for value, _ in seen]
    tokens = [token for _, token in seen]
    assert tokens == sorted(set(tokens))


@pytest.mark.cluster
def test_lock_on_valkey_cluster(cluster_client: RedisCluster) -> None:
    """Acquire, extend, fencing and owner-only release work on a cluster."""
    first = Lock(cluster_client, "invoice:7", timeout=5)
    assert first.acquire()
    assert Lock(cluster_client, "invoice:7", timeout=5, blocking=False).acquire() is False
    assert first.extend(10)
    assert first.release() is True
    second = Lock(cluster_client, "invoice:7", timeout=5)
    assert second.acquire()
    assert second.fencing_token > first.fencing_token
    assert first.release() is False
    assert second.release() is True
