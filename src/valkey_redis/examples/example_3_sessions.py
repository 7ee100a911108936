"""Example 3 — sessions: login, sliding expiry, field updates, id rotation, logout.

Run it with ``make example-3`` or ``python -m valkey_redis.examples.example_3_sessions``.
Every key lives under ``ex3:`` and is deleted at the end.
"""

from __future__ import annotations

import json

import redis

from valkey_redis.examples.runner import delete_matching, example_backend, plural
from valkey_redis.session import SessionStore

PREFIX = "ex3"
TTL = 1800  # 30 minutes of inactivity ends a session


def short(sid: str) -> str:
    """An id shortened for printing (never log whole session ids: they are passwords)."""
    return f"{sid[:12]}..."


def login(store: SessionStore, client: redis.Redis) -> str:
    """Logging in creates a session; the browser gets only its id."""
    print("\n1. Login creates a session")
    sid = store.create(user_id=42, data={"name": "Ada", "theme": "dark", "role": "user"})
    key = store.key(sid) or ""
    print(f"   id {short(sid)} ({len(sid)} chars, 256 random bits from `secrets`)")
    print(f"   stored as the hash {key.split(':')[0]}:{key.split(':')[1]}:... with fields:")
    print(f"   {client.hgetall(key)} (values are JSON)")
    print(f"   TTL {store.ttl_of(sid):.0f} s")
    return sid


def sliding_ttl(store: SessionStore, client: redis.Redis, sid: str) -> None:
    """Every read restarts the inactivity timer."""
    print("\n2. Reads slide the TTL")
    key = store.key(sid) or ""
    client.pexpire(key, 1_200_000)  # fast-forward: as if 10 quiet minutes had passed
    print(f"   10 minutes later (fast-forwarded): TTL {store.ttl_of(sid):.0f} s")
    session = store.get(sid)
    print(f"   get() -> {session}")
    print(f"   TTL back to {store.ttl_of(sid):.0f} s: an active user is never logged out")


def field_updates(store: SessionStore, client: redis.Redis, sid: str) -> None:
    """Two requests change different fields at once: a blob loses one, a hash keeps both."""
    print("\n3. Field updates: two requests at the same time")
    blob = f"{PREFIX}:blob"
    client.set(blob, json.dumps({"theme": "dark", "cart": []}), ex=60)
    seen_by_a = json.loads(client.get(blob) or "{}")  # request A reads the whole session
    seen_by_b = json.loads(client.get(blob) or "{}")  # request B reads it too
    client.set(blob, json.dumps({**seen_by_a, "theme": "light"}), ex=60)
    client.set(blob, json.dumps({**seen_by_b, "cart": ["book"]}), ex=60)
    print(f"   one JSON blob per session: {client.get(blob)!s} (A's theme change is lost)")
    store.update(sid, theme="light")  # request A
    store.update(sid, cart=["book"])  # request B
    session = store.get(sid) or {}
    kept = {name: session[name] for name in ("theme", "cart")}
    print(f"   a hash, one field each:   {kept} (both kept)")
    print(f"   update() of an unknown id -> {store.update('0000.' + 'x' * 43, theme='x')}")
    print("   (it never creates a session, so nobody can plant one)")


def rotation(store: SessionStore, sid: str) -> str:
    """A privilege change gets a new id: an id seen or planted earlier becomes useless."""
    print("\n4. Id rotation on privilege change")
    store.update(sid, role="admin")
    new_sid = store.rotate(sid)
    if new_sid is None:
        msg = "the session expired before it could be rotated"
        raise RuntimeError(msg)
    print(f"   Ada becomes admin; rotate() -> new id {short(new_sid)}")
    print(f"   old id {short(sid)} -> {store.get(sid)}")
    print(f"   new id -> role {(store.get(new_sid) or {}).get('role')!r}, same data, fresh TTL")
    return new_sid


def logout(store: SessionStore, sid: str) -> None:
    """Logging out deletes the session on the server, not just the cookie."""
    print("\n5. Logout")
    print(f"   destroy() -> {store.destroy(sid)}; get() afterwards -> {store.get(sid)}")


def logout_everywhere(store: SessionStore) -> None:
    """After a password change, end every session of the user."""
    print('\n6. "Log out everywhere"')
    devices = {d: store.create(user_id=42, data={"device": d}) for d in ("phone", "laptop", "tv")}
    other = store.create(user_id=7, data={"device": "phone"})
    print(f"   Ada logs in on {', '.join(devices)}; user 7 is logged in too")
    removed = store.destroy_all(user_id=42)
    left = [d for d, sid in devices.items() if store.get(sid) is not None]
    print(f"   destroy_all(user_id=42) -> {removed}; Ada's sessions left: {left}")
    print(f"   user 7 is still logged in: {store.get(other) is not None}")


def cleanup(client: redis.Redis) -> int:
    """Delete every key this example wrote."""
    return delete_matching(client, f"{PREFIX}:*")


def main() -> int:
    """Run the sessions tour and return the exit status."""
    print("Example 3 — sessions")
    with example_backend() as backend:
        client = backend.client
        cleanup(client)
        store = SessionStore(client, ttl=TTL, prefix=PREFIX)
        sid = login(store, client)
        sliding_ttl(store, client, sid)
        field_updates(store, client, sid)
        sid = rotation(store, sid)
        logout(store, sid)
        logout_everywhere(store)
        removed = cleanup(client)
        print(f"\nCleaned up {plural(removed, 'key')} under '{PREFIX}:'. Done.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
