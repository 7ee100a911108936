"""Example 5 — distributed locks: contention, a lease running out, and fencing tokens.

Run it with ``make example-5`` or ``python -m valkey_redis.examples.example_5_locks``.
Every key lives under ``ex5:`` and is deleted at the end.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable

import redis

from valkey_redis.client import configured_url, connect
from valkey_redis.examples.runner import Backend, delete_matching, example_backend, plural
from valkey_redis.lock import Lock

PREFIX = "ex5"
THREADS, PROCESSES, TIMES = 8, 4, 5
WORK = 0.002  # seconds between reading and writing the counter: the "slow" part


def read_sleep_write(client: redis.Redis, counter: str) -> int:
    """Increment ``counter`` the unsafe way (GET, think, SET); return the value read."""
    value = int(client.get(counter) or 0)
    time.sleep(WORK)
    client.set(counter, value + 1, ex=60)
    return value


def locked_increments(url: str, name: str, counter: str, times: int) -> list[tuple[int, int]]:
    """Increment ``counter`` ``times`` times under ``Lock(name)``; a process entry point.

    Returns:
        ``(value read, fencing token)`` for each increment.
    """
    client = connect(url)
    done = []
    try:
        for _ in range(times):
            with Lock(client, name, timeout=5, sleep=0.002, prefix=PREFIX) as lock:
                done.append((read_sleep_write(client, counter), lock.fencing_token))
    finally:
        client.close()
    return done


def _run_threads(worker: Callable[[], None]) -> None:
    start = threading.Barrier(THREADS)

    def body() -> None:
        start.wait()  # everyone starts together, as in a burst of requests
        worker()

    threads = [threading.Thread(target=body) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def process_context() -> multiprocessing.context.BaseContext:
    """Processes that start fast: forked from a server that imported the library once.

    ``spawn`` (the only choice on Windows) re-imports everything in every child;
    plain ``fork`` copies a possibly multi-threaded parent, which is unsafe.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["valkey_redis.lock"])  # the slow imports, done once
    return context


def threads_contend(client: redis.Redis) -> None:
    """The same read-modify-write from 8 threads, without and with the lock."""
    expected = THREADS * TIMES
    print(f"\n1. Contention: {THREADS} threads x {TIMES} increments, each GET, think, SET")
    unsafe = f"{PREFIX}:counter:unsafe"

    def unlocked() -> None:
        for _ in range(TIMES):
            read_sleep_write(client, unsafe)

    _run_threads(unlocked)
    got = int(client.get(unsafe) or 0)
    print(f"   without a lock: {got} of {expected} ({expected - got} lost)")
    print("      two threads read the same value, and both write value + 1")

    safe = f"{PREFIX}:counter:threads"

    def locked() -> None:
        for _ in range(TIMES):
            with Lock(client, "counter", timeout=5, sleep=0.002, prefix=PREFIX):
                read_sleep_write(client, safe)

    _run_threads(locked)
    print(f"   with Lock(...): {client.get(safe)!s} of {expected} (none lost)")


def _url(client: redis.Redis) -> str:
    """Rebuild a URL for child processes from the parent's connection settings."""
    kwargs = client.connection_pool.connection_kwargs
    if "host" not in kwargs:  # a Sentinel client (VALKEY_URL=redis+sentinel://...): ask them too
        return configured_url()
    auth = ""
    if kwargs.get("password"):
        auth = f"{kwargs.get('username') or ''}:{kwargs['password']}@"
    return f"redis://{auth}{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def processes_contend(backend: Backend) -> None:
    """4 processes share nothing but the server; the lock still serialises them."""
    expected = PROCESSES * TIMES
    print(f"\n2. Contention across {PROCESSES} processes x {TIMES} increments")
    if not backend.is_real:
        print("   skipped: fakeredis lives inside this process, so other processes cannot see it")
        return
    counter = f"{PREFIX}:counter:processes"
    args = [(_url(backend.client), "counter", counter, TIMES)] * PROCESSES
    with process_context().Pool(PROCESSES) as pool:
        results = pool.starmap(locked_increments, args)
    tokens = sorted(token for pairs in results for _, token in pairs)
    print(f"   with Lock(...): {backend.client.get(counter)!s} of {expected} (none lost)")
    print(f"   {len(set(tokens))} distinct fencing tokens, from {tokens[0]} to {tokens[-1]}")
    print("   (tokens start from the server clock in microseconds, so they keep growing")
    print("   even if the lock's counter expires while nobody uses the lock)")


class FencedStorage:
    """A toy resource that remembers the highest fencing token it has seen."""

    def __init__(self) -> None:
        self.highest = 0
        self.value = ""

    def write(self, token: int, value: str) -> bool:
        """Accept the write unless a newer lock holder has already written."""
        if token < self.highest:
            return False
        self.highest, self.value = token, value
        return True


def lease_runs_out(client: redis.Redis) -> None:
    """A holder stalls past its lease; fencing stops its late write."""
    print("\n3. A lease that runs out during a long hold")
    worker_a = Lock(client, "report", timeout=0.2, prefix=PREFIX)
    worker_a.acquire()
    print(f"   A acquires with a 0.2 s lease, fencing token {worker_a.fencing_token}")
    print("   A stalls (a GC pause, a slow disk)...")
    while worker_a.locked():  # the server expires the lease while A is stuck
        time.sleep(0.01)
    worker_b = Lock(client, "report", timeout=5, prefix=PREFIX)
    worker_b.acquire()
    print(f"   ...the lease expired; B acquires, fencing token {worker_b.fencing_token}")

    storage = FencedStorage()
    accepted = storage.write(worker_b.fencing_token, "B's report")
    print(f"   B writes with token {worker_b.fencing_token}: accepted={accepted}")
    print("\n4. Fencing: A wakes up, still believing it holds the lock")
    accepted = storage.write(worker_a.fencing_token, "A's stale report")
    print(
        f"   A writes with token {worker_a.fencing_token}: accepted={accepted} "
        f"(storage has seen {storage.highest})"
    )
    print(f"   storage still holds {storage.value!r}")
    print(f"   A.release() -> {worker_a.release()} (not A's lock any more; B's is untouched)")
    print(f"   A.extend()  -> {worker_a.extend()}; B.owned() -> {worker_b.owned()}")
    print(f"   B.release() -> {worker_b.release()}")
    print("   A lease keeps a crashed holder from blocking everyone forever; the fencing")
    print("   token is what keeps a stalled holder from writing after its lease ran out.")


def cleanup(client: redis.Redis) -> int:
    """Delete every key this example wrote."""
    return delete_matching(client, f"{PREFIX}:*")


def main() -> int:
    """Run the locks tour and return the exit status."""
    print("Example 5 — distributed locks")
    with example_backend() as backend:
        client = backend.client
        cleanup(client)
        threads_contend(client)
        processes_contend(backend)
        lease_runs_out(client)
        removed = cleanup(client)
        print(f"\nCleaned up {plural(removed, 'key')} under '{PREFIX}:'. Done.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
