"""Example 4 — rate limiting: five algorithms, the boundary burst, refill, and HTTP headers.

Run it with ``make example-4`` or ``python -m valkey_redis.examples.example_4_rate_limiting``.
Every key lives under ``ex4:`` and is deleted at the end. It takes about four seconds:
the limiters read the time from the server, so the example really waits.
"""

from __future__ import annotations

import time

import redis

from valkey_redis import (
    GCRA,
    FixedWindow,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
    connect,
)
from valkey_redis.examples.runner import delete_matching, example_backend, plural
from valkey_redis.server import free_port

PREFIX = "ex4"
LIMIT = 5
WINDOW = 1.0
ALGORITHMS = [FixedWindow, SlidingWindowLog, SlidingWindowCounter, TokenBucket, GCRA]


def server_time(client: redis.Redis) -> float:
    """The server's clock in seconds: the limiters use it, so the example does too."""
    seconds, micros = client.time()
    return seconds + micros / 1_000_000


def sleep_until(client: redis.Redis, moment: float) -> None:
    """Sleep until the server clock reads ``moment`` (no time if it already has)."""
    time.sleep(max(0.0, moment - server_time(client)))


def next_window_start(client: redis.Redis) -> float:
    """When the next fixed window starts: windows are aligned to the clock (whole seconds here)."""
    now = server_time(client)
    return now - now % WINDOW + WINDOW


def marks(results: list[bool]) -> str:
    """Show a burst as a row of ok/no marks, e.g. ``+++++...``."""
    return "".join("+" if allowed else "." for allowed in results)


def same_burst(client: redis.Redis) -> None:
    """Each algorithm takes the same traffic: 8 requests, then 8 more half a window later."""
    print(f"\n1. The same traffic through each algorithm (limit {LIMIT} per {WINDOW:g} s)")
    print("   8 requests at once at t=0, then 8 more at t=0.5 s ('+' allowed, '.' refused)")
    limiters = [cls(client, limit=LIMIT, window=WINDOW, prefix=PREFIX) for cls in ALGORITHMS]
    sleep_until(client, next_window_start(client))
    first = [[limiter.hit("burst").allowed for _ in range(8)] for limiter in limiters]
    time.sleep(WINDOW / 2)
    second = [[limiter.hit("burst").allowed for _ in range(8)] for limiter in limiters]
    print(f"   {'algorithm':<22} {'t=0':<10} {'t=0.5 s':<10} allowed")
    for limiter, a, b in zip(limiters, first, second, strict=True):
        name = type(limiter).__name__
        print(f"   {name:<22} {marks(a):<10} {marks(b):<10} {sum(a) + sum(b)}")
    print("   The windows allow nothing new until their window has passed; the token bucket")
    print("   and GCRA have refilled about half their burst (one unit every 0.2 s).")


def boundary_burst(client: redis.Redis) -> None:
    """Fixed window's flaw: a full burst just before a boundary and another just after."""
    print("\n2. The boundary burst: 5 requests 0.15 s before a window ends, 5 just after")
    fixed = FixedWindow(client, limit=LIMIT, window=WINDOW, prefix=PREFIX)
    log = SlidingWindowLog(client, limit=LIMIT, window=WINDOW, prefix=PREFIX)
    print(f"   {'algorithm':<17} {'window end':<13} next start")
    boundary = next_window_start(client)
    sleep_until(client, boundary - 0.15)
    before = [(fixed.hit("edge").allowed, log.hit("edge").allowed) for _ in range(LIMIT)]
    sleep_until(client, boundary + 0.05)
    after = [(fixed.hit("edge").allowed, log.hit("edge").allowed) for _ in range(LIMIT)]
    for name, column in (("FixedWindow", 0), ("SlidingWindowLog", 1)):
        a = [pair[column] for pair in before]
        b = [pair[column] for pair in after]
        total = sum(a) + sum(b)
        print(f"   {name:<17} {marks(a):<13} {marks(b):<13} {total} allowed in 0.2 s")
    print(f"   The fixed window let {2 * LIMIT} through in 0.2 s: twice the limit. The sliding log")
    print(f"   counts the last {WINDOW:g} s, whatever the clock says, so it stays at {LIMIT}.")


def refill(client: redis.Redis) -> None:
    """A token bucket empties in a burst, then refills one token per window/limit."""
    capacity = 4
    print(f"\n3. Token bucket refill (capacity {capacity}, refills {capacity} per {WINDOW:g} s)")
    bucket = TokenBucket(client, limit=capacity, window=WINDOW, prefix=PREFIX)
    bucket.hit("refill", cost=capacity)
    start = server_time(client)
    print(f"   burst of {capacity}: empty, next token in {bucket.peek('refill').retry_after:.2f} s")
    for at in (0.3, 0.55, 0.8, 1.05):
        sleep_until(client, start + at)
        left = bucket.peek("refill").remaining
        state = "full again" if left == capacity else f"{left} token(s)"
        print(f"   t={server_time(client) - start:4.2f} s  {'#' * left:<{capacity}}  {state}")


def headers(client: redis.Redis) -> None:
    """What an HTTP API would send: RateLimit and RateLimit-Policy, Retry-After with a 429."""
    print("\n4. HTTP headers (GCRA, 5 per 60 s; the IETF draft's RateLimit fields)")
    limiter = GCRA(client, limit=5, window=60, prefix=PREFIX)
    result = limiter.hit("api-key-7")
    print("   first request -> 200 OK")
    for name, value in limiter.headers(result).items():
        print(f"      {name}: {value}")
    for _ in range(4):
        limiter.hit("api-key-7")
    refused = limiter.hit("api-key-7")
    print("   sixth request -> 429 Too Many Requests")
    for name, value in limiter.headers(refused).items():
        print(f"      {name}: {value}")
    print("   RateLimit-Policy: q=5 requests per w=60 s. RateLimit: r requests left now,")
    print("   t seconds until they are all back (after a 429: until the next one may pass).")
    print("   Retry-After: one unit comes back every 12 s, so t=12 too.")
    print("   Clients of drafts -00 to -06 read three fields: headers(result, legacy=True)")
    for name, value in limiter.headers(refused, legacy=True).items():
        print(f"      {name}: {value}")
    print("   There RateLimit-Reset counts until all 5 are back: 60 s.")


def failure_policy() -> None:
    """With the server unreachable, on_error decides: raise, allow (open) or deny (closed)."""
    print("\n5. When the server is unreachable (a port where nothing listens)")
    dead = connect(f"redis://127.0.0.1:{free_port()}/0", retries=0, socket_connect_timeout=0.5)
    try:
        FixedWindow(dead, limit=LIMIT, window=WINDOW).hit("k")
    except redis.ConnectionError as exc:
        print(f"   on_error='raise' (default) -> {type(exc).__name__}")
    for policy in ("allow", "deny"):
        result = FixedWindow(dead, limit=LIMIT, window=WINDOW, on_error=policy).hit("k")
        print(f"   on_error='{policy}' -> allowed={result.allowed}, fallback={result.fallback}")
    dead.close()


def cleanup(client: redis.Redis) -> int:
    """Delete every key this example wrote."""
    return delete_matching(client, f"{PREFIX}:*")


def main() -> int:
    """Run the rate-limiting tour and return the exit status."""
    print("Example 4 — rate limiting")
    with example_backend() as backend:
        client = backend.client
        cleanup(client)
        same_burst(client)
        boundary_burst(client)
        refill(client)
        headers(client)
        failure_policy()
        removed = cleanup(client)
        print(
            f"\nCleaned up {plural(removed, 'key')} under '{PREFIX}:' (the rest had expired: every"
        )
        print("limiter key has a TTL). Done.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
