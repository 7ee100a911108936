"""Example 9 — when Valkey fails: a hung, a dead and a slow server, and the circuit breaker.

Run it with ``make example-9`` or ``python -m valkey_redis.examples.example_9_failures``.
It starts its own throw-away servers (it pauses, stops and slows them), so it
needs the bundled ``valkey-server`` and ignores ``VALKEY_URL``. Every client is
a plain ``connect(url)``: the time budgets and the circuit breaker are defaults.

What to watch: the first call on a broken server waits a bounded time (about a
second: three timed-out attempts open the breaker); every later call falls back
(or raises ``CircuitOpenError``) in well under a millisecond, with no network
wait; the breaker's state changes are logged one line each; and once the server
answers again, one probe closes the breaker and the cache is used again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from valkey_redis import (
    GCRA,
    Cache,
    Lock,
    SessionStore,
    TokenBucket,
    breaker_of,
    connect,
)
from valkey_redis.breaker import CircuitBreaker
from valkey_redis.faultproxy import FaultProxy, paused
from valkey_redis.server import EmbeddedValkey, binary_can_run


class _PrintStateChanges(logging.Handler):
    """Print the breaker's one log line per state change, indented like the rest."""

    def emit(self, record: logging.LogRecord) -> None:
        state = record.getMessage().split(": ", 1)[1].split(" (", 1)[0]
        print(f"      [breaker -> {state}]")


@contextmanager
def _breaker_log() -> Iterator[None]:
    logger = logging.getLogger("valkey_redis.breaker")
    handler = _PrintStateChanges()
    logger.addHandler(handler)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logging.getLogger("valkey_redis.cache").setLevel(logging.ERROR)  # its warnings say the same
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
        logging.getLogger("valkey_redis.cache").setLevel(logging.NOTSET)


def timed(what: str, call: Callable[[], Any]) -> None:
    """Run ``call`` and print what it gave and how long it took."""
    started = time.perf_counter()
    try:
        result: Any = repr(call())
    except redis.exceptions.RedisError as exc:
        result = f"raises {type(exc).__name__}"
    took = (time.perf_counter() - started) * 1000
    print(f"   {what:<46} -> {result:<24} {took:8.1f} ms")


def guard(client: redis.Redis) -> CircuitBreaker:
    breaker = breaker_of(client)
    if breaker is None:  # connect() always adds one
        raise RuntimeError("this client has no circuit breaker")
    return breaker


def every_helper(client: redis.Redis, cache: Cache) -> None:
    """Each helper once more while the breaker is open: its fallback, or an error, at once."""
    sessions = SessionStore(client, ttl=60)
    allow = GCRA(client, limit=10, window=60, on_error="allow")
    deny = TokenBucket(client, limit=10, window=60, on_error="deny")
    timed("cache.get('price:7', 'n/a')", lambda: cache.get("price:7", "n/a"))
    timed("cache.get_many(['a', 'b'])", lambda: cache.get_many(["a", "b"]))
    timed("GCRA(on_error='allow').hit(...).allowed", lambda: allow.hit("ip:1").allowed)
    timed("TokenBucket(on_error='deny').hit(...).allowed", lambda: deny.hit("ip:1").allowed)
    timed("cache.write_through(..., save)", lambda: cache.write_through("p", 1, lambda v: None))
    timed("sessions.get(sid)", lambda: sessions.get("abcd." + "a" * 43))
    timed(
        "Lock(..., blocking_timeout=1).acquire()",
        lambda: Lock(client, "job", timeout=5, blocking_timeout=1).acquire(),
    )
    timed("cache.set('price:7', 9.5)", lambda: cache.set("price:7", 9.5))


def recover(client: redis.Redis, cache: Cache) -> None:
    """Poll until a read is served by Valkey again; print how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < 30:
        errors = cache.stats.errors
        cache.get("price:7")
        if cache.stats.errors == errors and guard(client).state == "closed":
            took = time.monotonic() - started
            print(f"   the cache is used again after {took:.1f} s (one probe per cool-down)")
            return
        time.sleep(0.05)
    print("   the server did not come back within 30 s")


def load_price() -> float:
    """The 'database': what get_or_set falls back to."""
    return 9.5


def first_and_next(cache: Cache) -> None:
    """The first read waits (bounded) and opens the breaker; the next one does not wait."""
    timed("first cache.get_or_set('price:7', load)", lambda: cache.get_or_set("p7", load_price))
    timed("next cache.get_or_set (breaker open)", lambda: cache.get_or_set("p7", load_price))


@contextmanager
def cached_on(url: str) -> Iterator[tuple[redis.Redis, Cache]]:
    """A plain ``connect(url)`` client and a cache on it holding ``price:7``."""
    client = connect(url)
    cache = Cache(client, namespace="ex9", ttl=60)
    cache.set("price:7", 9.5)
    try:
        yield client, cache
    finally:
        client.close()


def hung() -> None:
    """SIGSTOP: the server accepts connections and answers nothing."""
    print("\n1. A hung server (SIGSTOP: connections are accepted, nothing is answered)")
    with EmbeddedValkey() as server, cached_on(server.url) as (client, cache):
        with paused(server):
            first_and_next(cache)
            every_helper(client, cache)
            snap = guard(client).snapshot()
            print(f"   breaker: {snap.state}, {snap.failures} failures, {snap.rejected} refused")
        print("   SIGCONT: the server answers again")
        recover(client, cache)


def dead() -> None:
    """Stopped: every connection is refused."""
    print("\n2. A dead server (stopped: connections refused), then restarted")
    with EmbeddedValkey() as server, cached_on(server.url) as (client, cache):
        port = server.port
        server.stop()
        first_and_next(cache)
        timed("cache.get('price:7', 'n/a')", lambda: cache.get("price:7", "n/a"))
        print("   restarted on the same port (empty: no persistence)")
        server.port = port
        server.start()
        recover(client, cache)


def slow() -> None:
    """A proxy delays every reply by 1.5 s: slower than any reply is worth waiting for."""
    print("\n3. A slow server (every reply 1.5 s late, through a TCP proxy)")
    with (
        EmbeddedValkey() as server,
        FaultProxy("127.0.0.1", server.port or 0) as proxy,
        cached_on(proxy.url) as (client, cache),
    ):
        proxy.latency(1.5)
        first_and_next(cache)
        print("   the proxy passes replies through again")
        proxy.pass_through()
        recover(client, cache)
        snap = guard(client).snapshot()
        print(f"   for /healthz: breaker_of(client).snapshot().state == {snap.state!r}")


def main() -> int:
    """Run the three failures; needs the bundled valkey-server."""
    print("[server] example 9 starts its own servers (it pauses, stops and slows them)")
    if not binary_can_run():
        print("[server] the bundled valkey-server cannot run here: nothing to show")
        return 0
    with _breaker_log():
        hung()
        dead()
        slow()
    print("\nEvery call was bounded; with the breaker open, no call waited on the network.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
