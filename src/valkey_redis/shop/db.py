"""The shop's database: products (with the slow query), users, orders, fences, view counts.

Use through the shop's routes; it extends the examples' :class:`ProductDB` (a real
SQLite file, a ~80 ms read) with the tables a shop needs. The shop runs the slow
query on a few threads only (:meth:`Shop.find`), like a database behind a
connection pool: that, not the CPU, is what caps the uncached shop's throughput.

Not for: production; one SQLite file, no migrations.

How it fails: an order whose fencing token is not higher than the last one seen
for its cart is refused (:class:`StaleToken`) in the same transaction that would
have stored it, so a lock holder whose lease ran out cannot write. View-count
batches are applied exactly once per stream entry (replays change nothing).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valkey_redis.examples._sqlite_db import ProductDB, product_id
from valkey_redis.shop.passwords import hash_password
from valkey_redis.write_behind import Write

__all__ = ["Order", "ShopDB", "StaleToken", "User"]

_NAMES = ["Teapot", "Kettle", "Mug", "Saucer", "Spoon", "Tray", "Cosy", "Strainer", "Caddy", "Jar"]
_COLOURS = ["red", "blue", "green", "white", "black", "amber", "violet", "grey", "gold", "teal"]

SEED_USERS = {"alice": ("wonderland", True), "bob": ("builder", False)}


@dataclass(frozen=True)
class User:
    """A shop user: ``admin`` may edit products."""

    id: int
    username: str
    password_hash: str
    admin: bool


@dataclass(frozen=True)
class Order:
    """An accepted order."""

    id: int
    user_id: int
    items: dict[int, int]
    total: float
    fencing_token: int


class StaleToken(Exception):  # noqa: N818 - names the outcome
    """The database has seen a higher fencing token for this cart: the order was refused."""

    def __init__(self, token: int, last: int) -> None:
        super().__init__(f"fencing token {token} is not above {last}, the last one seen")
        self.token, self.last = token, last


class ShopDB(ProductDB):
    """The examples' product database plus users, orders, fences and views.

    Args:
        path: the SQLite file (created and seeded if new).
        delay: seconds each product read takes.
        products: how many products to seed.
    """

    def __init__(self, path: Path, *, delay: float = 0.08, products: int = 200) -> None:
        super().__init__(path, delay=delay)
        with self._connect() as db:
            # WAL: the view-count writer and the slow readers do not block each other.
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(
                "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, username TEXT UNIQUE"
                " NOT NULL, password_hash TEXT NOT NULL, admin INTEGER NOT NULL);"
                "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT"
                " NULL, items TEXT NOT NULL, total REAL NOT NULL, token INTEGER NOT NULL,"
                " created REAL NOT NULL);"
                "CREATE TABLE IF NOT EXISTS fences (resource TEXT PRIMARY KEY, token INTEGER"
                " NOT NULL);"
                "CREATE TABLE IF NOT EXISTS views (product_id INTEGER PRIMARY KEY, count"
                " INTEGER NOT NULL);"
                "CREATE TABLE IF NOT EXISTS applied (entry_id TEXT PRIMARY KEY);"
            )
            seeded = db.execute("SELECT count(*) FROM users").fetchone()[0]
        if not seeded:
            self._seed(products)

    def _seed(self, products: int) -> None:
        self.seed(
            {
                "id": i,
                "name": f"{_COLOURS[(i // 10) % 10].title()} {_NAMES[i % 10].lower()} {i}",
                "price": round(3 + (i * 7.3) % 60, 2),
            }
            for i in range(1, products + 1)
        )
        with self._connect() as db:
            for name, (password, admin) in SEED_USERS.items():
                db.execute(
                    "INSERT INTO users (username, password_hash, admin) VALUES (?, ?, ?)",
                    (name, hash_password(password), int(admin)),
                )

    # --- products -------------------------------------------------------------

    def find(self, pid: int) -> dict[str, Any] | None:
        """The slow query (counted); None for an unknown id."""
        try:
            return self.get(pid)
        except LookupError:
            return None

    def listing(self, limit: int = 50) -> list[dict[str, Any]]:
        """The first ``limit`` products with their view counts (a fast, uncounted read)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT p.id, p.name, p.price, coalesce(v.count, 0) FROM products p"
                " LEFT JOIN views v ON v.product_id = p.id ORDER BY p.id LIMIT ?",
                (limit,),
            ).fetchall()
        return [{"id": r[0], "name": r[1], "price": r[2], "views": r[3]} for r in rows]

    def update(self, pid: int, *, name: str | None, price: float | None) -> dict[str, Any] | None:
        """Change a product's name and/or price; return the new row (None: no such id)."""
        with self._connect() as db:
            row = db.execute(
                "UPDATE products SET name = coalesce(?, name), price = coalesce(?, price)"
                " WHERE id = ? RETURNING id, name, price",
                (name, price, pid),
            ).fetchone()
        return None if row is None else {"id": row[0], "name": row[1], "price": row[2]}

    # --- users and orders -----------------------------------------------------

    def user(self, username: str) -> User | None:
        """The user called ``username``, or None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT id, username, password_hash, admin FROM users WHERE username = ?",
                (username,),
            ).fetchone()
        return None if row is None else User(row[0], row[1], row[2], bool(row[3]))

    def place_order(self, user_id: int, items: dict[int, int], *, cart: str, token: int) -> Order:
        """Store an order if ``token`` is above every token seen for ``cart``; one transaction.

        Raises:
            StaleToken: a higher (or equal) token was seen: nothing was stored.
            LookupError: an item names no product.
        """
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO fences VALUES (?, ?) ON CONFLICT(resource) DO UPDATE"
                " SET token = excluded.token WHERE excluded.token > fences.token",
                (cart, token),
            )
            if cursor.rowcount != 1:
                last = db.execute("SELECT token FROM fences WHERE resource = ?", (cart,))
                raise StaleToken(token, int(last.fetchone()[0]))
            total = 0.0
            for pid, qty in items.items():
                row = db.execute("SELECT price FROM products WHERE id = ?", (pid,)).fetchone()
                if row is None:
                    msg = f"no product {pid}"
                    raise LookupError(msg)
                total += float(row[0]) * qty
            cursor = db.execute(
                "INSERT INTO orders (user_id, items, total, token, created) VALUES (?, ?, ?, ?, ?)",
                (user_id, json.dumps(items), round(total, 2), token, time.time()),
            )
        return Order(int(cursor.lastrowid or 0), user_id, items, round(total, 2), token)

    def orders(self, user_id: int) -> list[Order]:
        """Every order of ``user_id``, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, items, total, token FROM orders WHERE user_id = ? ORDER BY id",
                (user_id,),
            ).fetchall()
        return [
            Order(r[0], user_id, {int(k): v for k, v in json.loads(r[1]).items()}, r[2], r[3])
            for r in rows
        ]

    # --- view counts (the write-behind sink) ------------------------------------

    def apply_views(self, writes: list[Write]) -> None:
        """Add each write's ``delta`` to its product's views, once per stream entry."""
        with self._connect() as db:
            for write in writes:
                fresh = db.execute("INSERT OR IGNORE INTO applied VALUES (?)", (write.entry_id,))
                if fresh.rowcount == 1:
                    db.execute(
                        "INSERT INTO views VALUES (?, ?) ON CONFLICT(product_id)"
                        " DO UPDATE SET count = count + excluded.count",
                        (product_id(write.key), int(write.value["delta"])),
                    )
        self.batches += 1

    def views(self, pid: int) -> int:
        """The stored view count of product ``pid``."""
        with self._connect() as db:
            row = db.execute("SELECT count FROM views WHERE product_id = ?", (pid,)).fetchone()
        return 0 if row is None else int(row[0])
