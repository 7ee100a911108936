"""Example 8 — Valkey Cluster: hash slots, hash tags, CROSSSLOT, the helpers, a failover.

Run it with ``make example-8`` (real Valkey only). By default it starts a
throw-away local cluster (3 primaries, a replica each) for this run and talks to
nothing else: a cluster already running on this machine may be somebody else's.
To use a cluster of yours, say so: ``VALKEY_CLUSTER_URL=redis://127.0.0.1:7000
make example-8`` (where ``make cluster-up`` puts one); when nothing answers at
that URL it says so and starts its own. Every key lives under ``ex8`` and is
deleted at the end; a failover demo puts the primaries back where they were.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, ResponseError

from valkey_redis import Cache, Lock, SessionStore, SlidingWindowCounter, keys
from valkey_redis.client import connect
from valkey_redis.cluster import EmbeddedCluster, wait_for_agreement
from valkey_redis.examples.runner import example_backend, plural
from valkey_redis.server import ServerError

CLUSTER_URL_ENV = "VALKEY_CLUSTER_URL"
MAKE_CLUSTER_URL = "redis://127.0.0.1:7000"  # where `make cluster-up` starts one
PREFIX = "ex8"

# Moves stock from one key to another: a script's keys must all live in one slot.
MOVE_STOCK = """
local from = tonumber(redis.call('GET', KEYS[1]) or '0')
if from < tonumber(ARGV[1]) then return 0 end
redis.call('DECRBY', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[2], ARGV[1])
return 1
"""


def _cluster_answers(url: str) -> bool:
    """True when a cluster in state ok answers at ``url`` (asked with a plain client)."""
    probe = connect(url, retries=0, socket_connect_timeout=1.0)
    try:
        info = cast("str", _command(probe, "CLUSTER", "INFO"))
    except redis.RedisError:
        return False
    finally:
        probe.close()
    return "cluster_state:ok" in info


@contextmanager
def cluster_client() -> Iterator[RedisCluster]:
    """Yield a RedisCluster client: of ``VALKEY_CLUSTER_URL`` when set, else of one started here."""
    url = os.environ.get(CLUSTER_URL_ENV)
    if url and _cluster_answers(url):
        print(f"[cluster] using the Valkey Cluster at {url} ({CLUSTER_URL_ENV})")
        client = connect(url, cluster=True)
        yield client
        client.close()
        return
    if url:
        print(f"[cluster] no cluster answers at {url} ({CLUSTER_URL_ENV}):")
    else:
        print(f"[cluster] {CLUSTER_URL_ENV} is not set (to use yours: {MAKE_CLUSTER_URL}):")
    print("[cluster] starting a local one (3 primaries + 3 replicas)")
    with EmbeddedCluster(replicas=1) as cluster:
        print(f"[cluster] started on 127.0.0.1 ports {cluster.ports} for this run")
        client = connect(cluster.url, cluster=True)
        yield client
        client.close()


# redis-py leaves these untyped; the casts keep mypy --strict honest at the boundary.
def _command(target: redis.Redis | RedisCluster, *args: Any, **options: Any) -> Any:
    execute: Callable[..., Any] = target.execute_command
    return execute(*args, **options)


def _node_of(client: RedisCluster, key: str) -> ClusterNode:
    find: Callable[[str], ClusterNode] = client.get_node_from_key
    return find(key)


def _port(node: ClusterNode) -> int:
    return int(node.port)


def _shards(client: RedisCluster) -> list[tuple[int, int, int, list[int]]]:
    """(first slot, last slot, primary port, replica ports), read from CLUSTER NODES.

    CLUSTER SLOTS would hide a replica until it has copied some data.
    """
    nodes = cast("dict[str, dict[str, Any]]", client.cluster_nodes())
    port_of = {info["node_id"]: int(addr.rsplit(":", 1)[1]) for addr, info in nodes.items()}
    replicas: dict[str, list[int]] = {}
    for info in nodes.values():
        if "slave" in info["flags"]:
            replicas.setdefault(info["master_id"], []).append(port_of[info["node_id"]])
    shards = []
    for info in nodes.values():
        if "master" in info["flags"]:
            for first, last in info["slots"]:
                own = sorted(replicas.get(info["node_id"], []))
                shards.append((int(first), int(last), port_of[info["node_id"]], own))
    return sorted(shards)


def slots(client: RedisCluster) -> None:
    """Every key hashes to one of 16384 slots; each primary owns a range of slots."""
    print("\n1. Hash slots — CRC16(key) mod 16384 picks the slot, the slot picks the node")
    for first, last, primary, replicas in _shards(client):
        names = ", ".join(f"127.0.0.1:{port}" for port in replicas) or "none"
        print(f"   slots {first:>5}-{last:<5} primary 127.0.0.1:{primary}  replica {names}")
    for key in (f"{PREFIX}:user:1", f"{PREFIX}:user:2", f"{PREFIX}:cart:1"):
        slot = client.cluster_keyslot(key)
        port = _port(_node_of(client, key))
        print(f"   CLUSTER KEYSLOT {key:<10} -> slot {slot:>5} on port {port}")


def hash_tags(client: RedisCluster) -> None:
    """Only the part of a key inside {...} is hashed: keys with one tag share a slot."""
    print("\n2. Hash tags — only the part inside {...} is hashed")
    for key in (f"{PREFIX}:user:42:profile", f"{PREFIX}:user:42:cart"):
        print(f"   CLUSTER KEYSLOT {key:<21} -> slot {client.cluster_keyslot(key):>5}")
    for key in (f"{PREFIX}:{{user:42}}:profile", f"{PREFIX}:{{user:42}}:cart"):
        print(f"   CLUSTER KEYSLOT {key:<21} -> slot {client.cluster_keyslot(key):>5}")
    print("   Same tag 'user:42', same slot, same node: one script or MULTI may use both.")
    tagged = keys.tagged(PREFIX, "user:42", "cart")
    print(f"   keys.tagged({PREFIX!r}, 'user:42', 'cart') -> {tagged!r}")
    escaped = keys.join(PREFIX, "{admin}")
    print(f"   keys.join({PREFIX!r}, '{{admin}}') -> {escaped!r} (user input cannot pick a slot)")


def crossslot(client: RedisCluster) -> None:
    """Multi-key commands and scripts must stay in one slot; a hash tag is the fix."""
    print("\n3. CROSSSLOT — a multi-key command must stay in one slot")
    a, b = f"{PREFIX}:stock:a", f"{PREFIX}:stock:b"
    print(f"   {a} -> slot {client.cluster_keyslot(a)}, {b} -> slot {client.cluster_keyslot(b)}")
    client.set(a, 10, ex=60)
    client.set(b, 0, ex=60)
    try:
        client.mget([a, b])
    except RedisClusterException as exc:
        print(f"   MGET a b: redis-py refuses before sending -> {exc}")
    try:
        _command(client, "MGET", a, b, target_nodes=_node_of(client, a))
    except ResponseError as exc:
        print(f"   MGET a b sent to a node anyway -> server error: CROSSSLOT {exc}")
    move = client.register_script(MOVE_STOCK)
    try:
        move(keys=[a, b], args=[3])
    except RedisClusterException as exc:
        print(f"   script moving stock a -> b -> {exc}")
    tagged_a, tagged_b = keys.tagged(PREFIX, "stock", "a"), keys.tagged(PREFIX, "stock", "b")
    slot_a, slot_b = client.cluster_keyslot(tagged_a), client.cluster_keyslot(tagged_b)
    print(f"   Fix: one hash tag -> {tagged_a} (slot {slot_a}), {tagged_b} (slot {slot_b})")
    client.set(tagged_a, 10, ex=60)
    client.set(tagged_b, 0, ex=60)
    moved = move(keys=[tagged_a, tagged_b], args=[3])
    print(f"   script moving 3 -> {moved}; MGET both -> {client.mget([tagged_a, tagged_b])}")
    many = [f"{PREFIX}:user:{i}" for i in range(6)]
    for i, key in enumerate(many):
        client.set(key, i, ex=60)
    slots_used = len({client.cluster_keyslot(key) for key in many})
    values = client.mget_nonatomic(many)
    print(
        f"   Unrelated keys: mget_nonatomic groups {len(many)} keys by slot ({slots_used} slots),"
    )
    print(f"   pipelines one MGET per slot -> {values}")


def _ports_of(client: RedisCluster, names: list[str]) -> list[int]:
    return sorted({_port(_node_of(client, name)) for name in names})


def helpers(client: RedisCluster) -> None:
    """The library's helpers run unchanged on the cluster client."""
    print("\n4. The helpers on the cluster — the same code as on one server")
    cache = Cache(client, namespace=f"{PREFIX}-cache", ttl=60)
    products: dict[str | int, Any] = {f"sku:{i}": {"price": 10 + i} for i in range(6)}
    cache.set_many(products)
    names = [cache.redis_key(key) for key in products]
    print(f"   Cache.set_many of 6 products -> keys on ports {_ports_of(client, names)}")
    found = cache.get_many([*products, "sku:missing"])
    print(f"   Cache.get_many(7 keys) -> {len(found)} found (one MGET per slot, one pipeline)")
    for key, value in products.items():
        cache.set(key, value, tags=["catalog"])
    deleted = cache.invalidate_tags("catalog")
    print(f"   6 entries tagged 'catalog' on several nodes -> invalidate_tags: {deleted} deleted")
    loads: list[str] = []

    def build_report() -> str:
        loads.append("built")
        return "built"

    for _ in range(3):
        cache.get_or_set("report", build_report, ttl=30)
    print(f"   get_or_set('report') x3 -> loader ran {len(loads)} time")

    store = SessionStore(client, ttl=1800, prefix=f"{PREFIX}-session")
    sid = store.create(user_id=42, data={"theme": "dark"})
    store.create(user_id=42, data={"theme": "light"})  # a second device
    bucket = sid.split(".", 1)[0]
    print(f"   SessionStore: user 42's ids start with bucket {bucket!r}; session and index")
    print(f"   share the hash tag {{{bucket}}} (slot {client.cluster_keyslot('{' + bucket + '}')})")
    new_sid = store.rotate(sid)
    print(f"   rotate -> new id, same data: {store.get(new_sid or '')}")
    print(f"   destroy_all(user_id=42) -> {store.destroy_all(user_id=42)} sessions removed")

    lock = Lock(client, "invoice:7", timeout=10, prefix=f"{PREFIX}-lock")
    same = client.cluster_keyslot(lock.key) == client.cluster_keyslot(lock.fence_key)
    print(f"   Lock: {lock.key} and {lock.fence_key} in one slot -> {same}")
    with lock:
        port = _port(_node_of(client, lock.key))
        print(f"   acquired on port {port}, fencing token {lock.fencing_token}")

    limiter = SlidingWindowCounter(client, limit=3, window=60, prefix=f"{PREFIX}-ratelimit")
    for user in ("user:1", "user:2"):
        allowed = [limiter.hit(user).allowed for _ in range(4)]
        port = _port(_node_of(client, limiter.key_for(user)))
        print(f"   SlidingWindowCounter 3/min, {user} (port {port}) x4 -> {allowed}")


def _node(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=5)


def _replica_port(client: RedisCluster, primary_port: int) -> int | None:
    for _, _, primary, replicas in _shards(client):
        if primary == primary_port and replicas:
            return replicas[0]
    return None


def _fencing(stale: Lock, current: Lock) -> None:
    newer = current.fencing_token > stale.fencing_token
    print(f"   Two holders at once; worker-b's token is higher -> {newer}: a resource that")
    print("   refuses tokens below the highest it has seen rejects worker-a's late writes.")


def failover(client: RedisCluster) -> None:
    """A replica takes over: after a crash, acknowledged writes can be lost; after a
    planned switch (CLUSTER FAILOVER) they are not."""
    print("\n5. Failover — a replica takes over; what an acknowledged write can lose")
    key = keys.tagged(PREFIX, "order:7", "status")
    primary_port = _port(_node_of(client, key))
    replica_port = _replica_port(client, primary_port)
    if replica_port is None:
        print(
            "   This cluster has no replicas (`make cluster-up` starts one per primary): skipped."
        )
        return
    nodes: Callable[[], list[ClusterNode]] = client.get_nodes
    ports = [_port(node) for node in nodes()]
    primary, replica = _node(primary_port), _node(replica_port)
    # Lock("order:7") uses the key ex8:{order%3A7}: the same hash tag, the same primary.
    earlier = Lock(client, "order:7", timeout=30, prefix=PREFIX)
    with earlier:  # numbers one acquisition, so the fencing counter exists on both nodes
        pass
    client.set(key, "paid", ex=300)
    print(f"   {key} lives on primary :{primary_port}, copied to replica :{replica_port}")
    print(f"   SET status=paid; WAIT 1 replica -> {primary.wait(1, 1000)} (the replica has it)")
    print("   The replication link breaks (simulated: the primary refuses its replica for now):")
    try:
        _command(primary, "ACL", "SETUSER", "default", "-psync", "-sync")
        _command(primary, "CLIENT", "KILL", "TYPE", "replica")
        client.set(key, "refunded", ex=300)
        print("   SET status=refunded -> OK: the client was told the write succeeded")
        worker_a = Lock(client, "order:7", timeout=30, prefix=PREFIX)
        worker_a.acquire()
        print(f"   worker-a acquires Lock('order:7') -> fencing token {worker_a.fencing_token}")
        print(f"   WAIT 1 replica, 100 ms -> {primary.wait(1, 100)}: no replica has it")
        # What the cluster does when the primary is unreachable for cluster-node-timeout:
        _command(replica, "CLUSTER", "FAILOVER", "TAKEOVER")
    finally:
        _command(primary, "ACL", "SETUSER", "default", "+psync", "+sync")
    wait_for_agreement(ports)
    print(
        f"   The primary looks dead: replica :{replica_port} takes over (CLUSTER FAILOVER TAKEOVER)"
    )
    print(f"   :{primary_port} rejoins as a replica and copies the new primary's data")
    print(f"   GET status -> {client.get(key)!r}: the acknowledged 'refunded' is gone")
    worker_b = Lock(client, "order:7", timeout=30, prefix=PREFIX, blocking=False)
    got = worker_b.acquire()
    print(f"   worker-b acquires Lock('order:7') -> {got}, fencing token {worker_b.fencing_token}")
    _fencing(worker_a, worker_b)
    worker_b.release()
    print(f"   worker-a.release() -> {worker_a.release()} (its lock vanished with the failover)")
    client.set(key, "shipped", ex=300)
    _command(primary, "CLUSTER", "FAILOVER")
    wait_for_agreement(ports)
    print(f"   SET status=shipped, then a planned CLUSTER FAILOVER back to :{primary_port}:")
    print(f"   the replica catches up before it takes over -> GET status {client.get(key)!r}")
    print("   Replication is asynchronous: `WAIT n timeout` after a write (or after taking a")
    print("   lock) tells you how many replicas have it; a crash before that can lose it even")
    print(
        "   though the primary said OK. A lock can be held twice across a failover; the\n"
        "   fencing token (never repeated: the server clock is its floor) is the safety net."
    )
    primary.close()
    replica.close()


def cleanup(client: RedisCluster) -> int:
    """Delete every key this example wrote, on every primary."""
    found = list(client.scan_iter(match=f"{PREFIX}*", count=500))
    return int(client.delete(*found)) if found else 0


def main() -> int:
    """Run the cluster tour and return the exit status."""
    print("Example 8 — Valkey Cluster")
    with example_backend() as backend:
        if backend.skip_unless_real("a cluster is several real valkey-server processes"):
            return 0
        try:
            with cluster_client() as client:
                cleanup(client)
                slots(client)
                hash_tags(client)
                crossslot(client)
                helpers(client)
                failover(client)
                removed = cleanup(client)
                print(f"\nCleaned up {plural(removed, 'key')} under '{PREFIX}'. Done.")
        except ServerError as exc:
            print(f"[cluster] could not start a local cluster: {exc}")
            print(
                f"Start one with `make cluster-up`, then {CLUSTER_URL_ENV}={MAKE_CLUSTER_URL}"
                " make example-8."
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
