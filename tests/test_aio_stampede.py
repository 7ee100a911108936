"""One loader call per cold key across tasks AND processes, sync and async (real Valkey).

Three processes start together on one cold key: two asyncio processes of 500
tasks each and one sync process of 10 threads. The loader counts its calls in
Valkey; exactly one call may happen, and all 1,010 callers get its value. The
same run with the cross-process fill lock left out (only the per-process
single-flight: what a person writing an async cache with ``asyncio.Lock`` per key
gets) must fail the check. A load that fails gives every task its error once,
caches nothing and leaves no lock.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from valkey_redis import Cache, aio, connect
from valkey_redis.server import EmbeddedValkey

CALLS = "xp:calls"  # the loaders' call counter (test data)
VALUE = {"v": 1}
# (face, callers) per process
PROCESSES = [("async", 500), ("async", 500), ("sync", 10)]


def run_processes(url: str, mode: str) -> tuple[int, list[int]]:
    """Start the processes together; return the loader calls and each one's good results."""
    children = [
        subprocess.Popen(
            [sys.executable, __file__, url, mode, face, str(callers)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for face, callers in PROCESSES
    ]
    try:
        for child in children:  # every process is connected and waiting
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        for child in children:  # go
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        good = [int(json.loads(child.communicate(timeout=120)[0])["good"]) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(10)
    return int(connect(url).get(CALLS) or 0), good


def check_one_load(url: str, mode: str) -> None:
    """One loader call for all 1,010 callers of three processes; each got the value."""
    calls, good = run_processes(url, mode)
    assert calls == 1
    assert good == [callers for _, callers in PROCESSES]


@pytest.mark.real
def test_one_loader_call_across_tasks_and_processes(
    valkey_server: EmbeddedValkey, real_client: Any
) -> None:
    """2 x 500 asyncio tasks and 10 sync threads in three processes: one loader call."""
    check_one_load(valkey_server.url, "right")


@pytest.mark.real
def test_a_cache_merging_only_within_a_process_is_caught(
    valkey_server: EmbeddedValkey, real_client: Any
) -> None:
    """Wrong: single-flight per process only (no fill lock in Valkey) -- one load each."""
    with pytest.raises(AssertionError):
        check_one_load(valkey_server.url, "local-only")


def test_a_failing_load_fails_every_task_once_and_caches_nothing(
    both_clients: Any, aio_loop: Any
) -> None:
    """500 tasks on a cold key whose loader raises: one call, 500 errors, no lock left;
    the next call loads afresh."""
    sync_client, async_client = both_clients
    cache = aio.Cache(async_client, namespace="xp", ttl=60)
    calls: list[int] = []

    async def failing() -> str:
        calls.append(1)
        await asyncio.sleep(0.05)  # the others pile up behind it
        raise LookupError("no such report")

    async def main() -> list[BaseException | str]:
        jobs = (cache.get_or_set("cold", failing) for _ in range(500))
        return await asyncio.gather(*jobs, return_exceptions=True)

    outcomes = aio_loop.run(main())
    assert len(calls) == 1
    assert all(isinstance(o, LookupError) for o in outcomes)
    assert len(outcomes) == 500
    assert sync_client.exists(cache.redis_key("cold"), f"{cache.redis_key('cold')}:lock") == 0
    assert aio_loop.run(cache.get_or_set("cold", lambda: "fixed")) == "fixed"


# -- the child processes ----------------------------------------------------------------


def _local_only() -> None:
    """Patch in the wrong cache: a miss loads at once, merged only within this process."""
    from valkey_redis.cache._fill import Filler

    def load_here(self: Any, *args: Any, **_: Any) -> Any:  # (key, name, loader, ttl, tags)
        _, name, loader, ttl, tags = args
        return (yield from self._load_and_store(name, loader, ttl, tags, None))

    Filler._lead_or_wait = load_here  # type: ignore[method-assign]


def _async_child(url: str, callers: int) -> int:
    async def main() -> int:
        client = aio.connect(url)
        cache = aio.Cache(client, namespace="xp", ttl=60, lock_timeout=30, wait_timeout=30)

        async def loader() -> dict[str, int]:
            await client.incr(CALLS)
            await asyncio.sleep(0.5)  # the load takes a while: everybody piles up behind it
            return VALUE

        await client.ping()
        print("ready", flush=True)  # noqa: T201 - the parent waits for this line
        await asyncio.to_thread(sys.stdin.readline)
        results = await asyncio.gather(*(cache.get_or_set("cold", loader) for _ in range(callers)))
        await client.aclose()
        return sum(result == VALUE for result in results)

    return asyncio.run(main())


def _sync_child(url: str, callers: int) -> int:
    client = connect(url, max_connections=callers + 2)
    cache = Cache(client, namespace="xp", ttl=60, lock_timeout=30, wait_timeout=30)
    go, results = threading.Event(), []

    def loader() -> dict[str, int]:
        client.incr(CALLS)
        time.sleep(0.5)  # the load takes a while (work, not synchronisation)
        return VALUE

    def call() -> None:
        go.wait()
        results.append(cache.get_or_set("cold", loader))

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    client.ping()
    print("ready", flush=True)  # noqa: T201 - the parent waits for this line
    sys.stdin.readline()
    go.set()
    for thread in threads:
        thread.join()
    return sum(result == VALUE for result in results)


if __name__ == "__main__":
    _url, _mode, _face, _callers = sys.argv[1:5]
    if _mode == "local-only":
        _local_only()
    child = _async_child if _face == "async" else _sync_child
    print(json.dumps({"good": child(_url, int(_callers))}), flush=True)  # noqa: T201
