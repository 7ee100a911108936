"""A tiny product database in a real SQLite file, with a deliberately slow read.

Example 2 puts the cache in front of this. ``get`` sleeps inside the query (a
SQLite user function) to stand for a slow join or a remote database, and counts
how often it ran, so the example can show which reads reached the database.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from valkey_redis.write_behind import Write

__all__ = ["ProductDB", "product_id"]

Product = dict[str, Any]


def _pause(seconds: float) -> int:
    time.sleep(seconds)
    return 1


def product_id(key: str) -> int:
    """``"product:7"`` -> ``7``: the id inside a cache / write-behind key."""
    return int(key.rsplit(":", 1)[1])


class ProductDB:
    """Products ``(id, name, price)`` in ``path``; every row remembers the write version.

    Args:
        path: the SQLite file (created if missing).
        delay: seconds each :meth:`get` query takes.
    """

    def __init__(self, path: Path, *, delay: float = 0.08) -> None:
        self.path = path
        self.delay = delay
        self.queries = 0  # slow reads that reached the database
        self.batches = 0  # write-behind batches applied
        self._count = threading.Lock()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                " price REAL NOT NULL, v_ms INTEGER NOT NULL DEFAULT 0,"
                " v_seq INTEGER NOT NULL DEFAULT 0)"
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # One connection per call: sqlite3 connections must not cross threads, and
        # the stampede section reads from 20 threads at once.
        with contextlib.closing(sqlite3.connect(self.path, timeout=10)) as db, db:
            db.create_function("pause", 1, _pause)
            yield db

    def seed(self, products: Iterable[Product]) -> None:
        """Insert or replace ``products`` (fast, not counted)."""
        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO products (id, name, price) VALUES (:id, :name, :price)",
                list(products),
            )

    def get(self, pid: int) -> Product:
        """The slow query: about ``delay`` seconds; counted in :attr:`queries`.

        Raises:
            LookupError: no product has this id.
        """
        with self._count:
            self.queries += 1
        with self._connect() as db:
            row = db.execute(
                "SELECT id, name, price FROM products WHERE id = ? AND pause(?)",
                (pid, self.delay),
            ).fetchone()
        if row is None:
            msg = f"no product {pid}"
            raise LookupError(msg)
        return {"id": row[0], "name": row[1], "price": row[2]}

    def peek(self, pid: int) -> float:
        """The stored price, read fast and not counted: for showing the database's state."""
        with self._connect() as db:
            row = db.execute("SELECT price FROM products WHERE id = ?", (pid,)).fetchone()
        return float(row[0])

    def update_price(self, pid: int, price: float) -> None:
        """A plain UPDATE, as another part of the application would do it."""
        with self._connect() as db:
            db.execute("UPDATE products SET price = ? WHERE id = ?", (price, pid))

    def save(self, product: Product) -> None:
        """Write one product now (the write-through target)."""
        self.seed([product])

    def apply_writes(self, writes: list[Write]) -> None:
        """Write-behind sink: one transaction per batch, idempotent.

        Upsert by id, but only when the write is newer than the stored version:
        a replayed batch, or an old write applied after a newer one, changes nothing.
        """
        with self._connect() as db:
            for write in writes:
                ms, seq = write.version
                db.execute(
                    "INSERT INTO products VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                    " name = excluded.name, price = excluded.price,"
                    " v_ms = excluded.v_ms, v_seq = excluded.v_seq"
                    " WHERE (excluded.v_ms, excluded.v_seq) > (products.v_ms, products.v_seq)",
                    (product_id(write.key), write.value["name"], write.value["price"], ms, seq),
                )
        self.batches += 1
