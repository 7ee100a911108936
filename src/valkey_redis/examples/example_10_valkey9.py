"""Example 10 — Valkey 8 and 9 for caching: per-field TTLs, compare-and-set, MSETEX, COMMANDLOG.

Run it with ``make example-10`` or ``python -m valkey_redis.examples.example_10_valkey9``.
Real Valkey only (fakeredis has none of these commands). Each part sends the new
command, shows the reply, and says what a Redis server answers instead; on a server
that lacks a command (an older Valkey, or Redis) it prints that server's own error
and goes on. Every key lives under ``ex10:`` and is deleted at the end; nothing in
the server's configuration is changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import redis

from valkey_redis import Lock
from valkey_redis.examples.runner import delete_matching, example_backend, plural

PREFIX = "ex10:"
BIG = 1_100_000  # bytes: above commandlog's default 1 MB request and reply thresholds
SLOW_LOOP = 20_000_000  # Lua additions: tens of ms, above the default 10 ms threshold
SLOW_SCRIPT = (
    "-- ex10: a CPU-bound loop\nlocal x = 0 for i = 1, tonumber(ARGV[1]) do x = x + i end return 1"
)


def send(client: redis.Redis, *args: Any) -> Any:
    """Send one command as written (redis-py 8 has no method for some of these)."""
    execute: Callable[..., Any] = client.execute_command  # untyped in redis-py
    return execute(*args)


def tried(client: redis.Redis, *args: Any) -> tuple[bool, Any]:
    """Send a command; return (True, reply), or (False, the server's error text)."""
    try:
        return True, send(client, *args)
    except redis.ResponseError as exc:
        return False, str(exc)


def server_version(client: redis.Redis) -> None:
    """Name the server and the Redis version it says it is compatible with."""
    info = client.info("server")
    name = "Valkey " + str(info["valkey_version"]) if "valkey_version" in info else "Redis"
    print(f"   {name}; reports redis_version {info.get('redis_version')} (compatible with)")


def field_ttls(client: redis.Redis) -> None:
    """Hash field expiration (Valkey 9.0): each field of a hash with its own TTL."""
    print("\n1. A TTL per hash field (Valkey 9.0: HSETEX, HGETEX, HEXPIRE, HTTL, ...)")
    product = f"{PREFIX}product:7"
    ok, reply = tried(
        client, "HSETEX", product, "EX", 3600, "FIELDS", 2, "name", "Lamp", "desc", "A desk lamp"
    )
    if not ok:
        print(f"   HSETEX -> error: {reply}")
        print("   (this server has no hash field expiration; Valkey 9.0 added it)")
        return
    send(client, "HSETEX", product, "PX", 200, "FIELDS", 1, "price", "30")
    print(f"   HSETEX {product} EX 3600 FIELDS 2 name desc -> {reply}")
    print(f"   HSETEX {product} PX 200 FIELDS 1 price -> 1  (prices go stale fast)")
    ttls = send(client, "HPTTL", product, "FIELDS", 3, "name", "price", "nothing")
    print(f"   HPTTL name price nothing -> {ttls}  (ms; -2: no such field)")
    deadline = time.monotonic() + 5
    while client.hexists(product, "price") and time.monotonic() < deadline:
        time.sleep(0.02)  # poll until the field's TTL has passed
    print(f"   once the price expired: HGETALL -> {client.hgetall(product)}")
    print("   The price went alone: the next read reloads just that field, the rest stays.")
    print("   When the last field expires the key goes too, so it needs no key TTL of its own.")

    session = f"{PREFIX}session:abc"
    send(client, "HSETEX", session, "EX", 1800, "FIELDS", 2, "user_id", "42", "theme", "dark")
    first = send(client, "HSETEX", session, "FNX", "EX", 300, "FIELDS", 1, "otp", "123456")
    again = send(client, "HSETEX", session, "FNX", "EX", 300, "FIELDS", 1, "otp", "999999")
    print("\n   A session with a one-time code that lives 5 min inside it (FNX: only if new):")
    print(f"   HSETEX {session} FNX EX 300 FIELDS 1 otp ... -> {first}, a second one -> {again}")
    slid = send(client, "HGETEX", session, "EX", 1800, "FIELDS", 1, "user_id")
    ttls = send(client, "HTTL", session, "FIELDS", 2, "user_id", "otp")
    print(f"   HGETEX {session} EX 1800 FIELDS 1 user_id -> {slid}: read and slide its TTL")
    print(f"   HTTL user_id otp -> {ttls}  (seconds: the code still expires on its own)")
    print("   On Redis: 7.2 answers unknown command; Redis 7.4 added HEXPIRE and HTTL, and")
    print("   8.0 HSETEX and HGETEX, with the same syntax for the forms used here.")


def compare_and_set(client: redis.Redis) -> None:
    """SET ... IFEQ (Valkey 8.1) and DELIFEQ (Valkey 9.0): no Lua for compare-and-swap."""
    print("\n2. Compare-and-set without Lua (Valkey 8.1: SET IFEQ; Valkey 9.0: DELIFEQ)")
    key = f"{PREFIX}lock:report"
    client.set(key, "token-a", nx=True, px=10_000)
    print(f"   worker A holds {key} with token-a (SET NX PX 10000)")
    ok, reply = tried(client, "SET", key, "token-b", "IFEQ", "token-b", "PX", 10_000)
    if not ok:
        print(f"   SET ... IFEQ -> error: {reply}")
        print("   (this server has no SET IFEQ; Valkey 8.1 added it)")
        return
    print(f"   B extends with SET {key} token-b IFEQ token-b PX 10000 -> {reply} (not the owner)")
    reply = send(client, "SET", key, "token-a", "IFEQ", "token-a", "PX", 30_000)
    print(f"   A extends with SET {key} token-a IFEQ token-a PX 30000 -> {reply}")
    print(
        f"   PTTL -> about {round(client.pttl(key), -3)} ms: the owner's lease grew, in one command"
    )
    ok, reply = tried(client, "DELIFEQ", key, "token-b")
    if not ok:
        print(f"   DELIFEQ -> error: {reply}  (Valkey 9.0 added it)")
        return
    print(f"   B releases with DELIFEQ {key} token-b -> {reply} (kept: not B's)")
    print(f"   A releases with DELIFEQ {key} token-a -> {send(client, 'DELIFEQ', key, 'token-a')}")
    before = delifeq_calls(client)
    with Lock(client, "report", timeout=5, prefix=f"{PREFIX}lock"):
        pass
    used = delifeq_calls(client) - before
    print(f"   valkey_redis.Lock's release sent DELIFEQ {plural(used, 'time')} (Lua where missing)")
    print("   On Redis: 7.2 answers 'syntax error' to IFEQ and unknown command to DELIFEQ;")
    print("   Redis 8.4 added SET IFEQ too, but spells compare-and-delete DELEX key IFEQ value,")
    ok, reply = tried(client, "DELEX", key, "IFEQ", "token-a")
    answer = str(reply).split(",", 1)[0] if not ok else repr(reply)
    print(f"   which this server answers with: {answer}")


def delifeq_calls(client: redis.Redis) -> int:
    """How many DELIFEQ commands the server has run (INFO commandstats)."""
    stats = cast("dict[str, dict[str, int]]", client.info("commandstats"))
    return int(stats.get("cmdstat_delifeq", {}).get("calls", 0))


def many_with_one_ttl(client: redis.Redis) -> None:
    """MSETEX (Valkey 9.1): several keys and one TTL, atomically."""
    print("\n3. Many keys, one TTL, one atomic command (Valkey 9.1: MSETEX)")
    parts = [f"{PREFIX}page:home:{part}" for part in ("header", "body", "footer")]
    ok, reply = tried(client, "MSETEX", 3, parts[0], "h", parts[1], "b", parts[2], "f", "EX", 60)
    if not ok:
        print(f"   MSETEX -> error: {reply}")
        print("   (this server has no MSETEX; Valkey 9.1 added it)")
        return
    print(f"   MSETEX 3 <header> h <body> b <footer> f EX 60 -> {reply}")
    print(f"   TTLs -> {[client.ttl(name) for name in parts]}: no moment without one")
    other = f"{PREFIX}page:home:sidebar"
    reply = send(client, "MSETEX", 2, parts[0], "h2", other, "s", "NX", "EX", 60)
    print(f"   MSETEX 2 <header> h2 <sidebar> s NX EX 60 -> {reply}: one exists, so neither")
    print(f"   is written (GET sidebar -> {client.get(other)!r})")
    print("   Good for parts of one page read together. Cache.set_many does not use it:")
    print("   one TTL for all is the expiry cliff that per-key jitter avoids.")
    print("   On Redis: 7.2 answers unknown command; Redis 8.4 added the same MSETEX.")


def command_log(client: redis.Redis) -> None:
    """COMMANDLOG (Valkey 8.1): slow commands, and large requests and replies."""
    print("\n4. Slow and large commands (Valkey 8.1: COMMANDLOG)")
    ok, reply = tried(client, "COMMANDLOG", "LEN", "large-reply")
    if not ok:
        print(f"   COMMANDLOG -> error: {reply}")
        print("   (this server has only SLOWLOG; Valkey 8.1 added COMMANDLOG)")
        return
    limits = cast("dict[str, str]", client.config_get("commandlog-*"))
    report = f"{PREFIX}report:big"
    client.set(report, "x" * BIG, ex=60)  # a large request...
    client.get(report)  # ...and a large reply, both fast to run
    client.eval(SLOW_SCRIPT, 0, SLOW_LOOP)  # a slow one, small both ways
    print(f"   SET and GET of a {BIG:,}-byte value, and a Lua loop of {SLOW_LOOP:,} additions")
    for kind, setting, unit in (
        ("large-request", "commandlog-request-larger-than", "bytes"),
        ("large-reply", "commandlog-reply-larger-than", "bytes"),
        ("slow", "commandlog-execution-slower-than", "us"),
    ):
        ours = [
            entry
            for entry in cast("list[list[Any]]", send(client, "COMMANDLOG", "GET", -1, kind))
            if report in entry[3] or any("ex10: a CPU-bound loop" in str(arg) for arg in entry[3])
        ]
        if ours:
            entry = ours[0]
            print(
                f"   COMMANDLOG GET -1 {kind:<13} -> {entry[3][0]} ({entry[2]:,} {unit};"
                f" logged over {int(limits[setting]):,})"
            )
        else:
            print(f"   COMMANDLOG GET -1 {kind:<13} -> not logged: under {limits[setting]} {unit}")
    print("   SLOWLOG would show only the slow one: a huge reply is quick to build and")
    print("   slow to send, which is what large-reply catches (a big HGETALL, say).")
    print("   On Redis: unknown command 'COMMANDLOG'; Redis has SLOWLOG only.")


def also_new(client: redis.Redis) -> None:
    """I/O threads (8.0) and numbered databases on a cluster (9.0): settings, shown."""
    print("\n5. Also new, as server settings (shown, not changed)")
    config = cast("dict[str, str]", client.config_get("io-threads"))
    config |= cast("dict[str, str]", client.config_get("cluster-databases"))
    if "io-threads" in config:
        print(f"   io-threads {config['io-threads']}: Valkey 8.0's async I/O threads read, parse")
        print("   and write for many clients; commands still run one at a time: atomicity holds.")
    if "cluster-databases" in config:
        print(f"   cluster-databases {config['cluster-databases']}: set it higher and Valkey 9.0")
        print("   lets SELECT work on a cluster; Redis Cluster has database 0 only.")


def main() -> int:
    """Run the tour and return the exit status."""
    print("Example 10 — Valkey 8 and 9 for caching")
    with example_backend() as backend:
        if backend.skip_unless_real("these commands are Valkey 8/9's and fakeredis has none"):
            return 0
        client = backend.client
        delete_matching(client, f"{PREFIX}*")
        server_version(client)
        field_ttls(client)
        compare_and_set(client)
        many_with_one_ttl(client)
        command_log(client)
        also_new(client)
        removed = delete_matching(client, f"{PREFIX}*")
        print(f"\nCleaned up {plural(removed, 'key')} under '{PREFIX}'. Done.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
