"""Everything one shop app holds: database, Valkey helpers, metrics, recent requests.

Use: :func:`valkey_redis.shop.create_app` builds one :class:`Shop` and routes reach
it with :func:`shop_of`. Not for: sharing between apps (each has its own registry).

How it fails: building it never touches Valkey; the database file is created and
seeded at once (a temporary one unless ``Settings.db_path`` names a file).
"""

from __future__ import annotations

import asyncio
import collections
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from fastapi import Request

from valkey_redis.shop.db import ShopDB
from valkey_redis.shop.helpers import CartLock, Limiter, ProductCache, Sessions, Views
from valkey_redis.shop.metrics import Metrics
from valkey_redis.shop.settings import Settings
from valkey_redis.shop.valkey import Valkey

__all__ = ["Recent", "Shop", "shop_of"]

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Recent:
    """One served request, for the home page."""

    method: str
    path: str
    status: int
    cache: str
    ms: float


@dataclass
class Shop:
    """The parts of one app."""

    settings: Settings
    valkey: Valkey
    db: ShopDB
    cache: ProductCache
    sessions: Sessions
    by_addr: Limiter
    by_user: Limiter
    cart_lock: CartLock
    views: Views
    metrics: Metrics = field(default_factory=Metrics)
    recent: collections.deque[Recent] = field(default_factory=lambda: collections.deque(maxlen=25))
    #: Awaited between taking the cart lock and writing the order (tests pause here).
    before_commit: Callable[[], Awaitable[None]] | None = None
    _tmp: Path | None = None
    #: The database's "connection pool": the slow query runs on these threads only,
    #: first come first served (a queue, so no request starves).
    _queries: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="shop-db")
    )

    @classmethod
    def build(cls, settings: Settings, valkey: Valkey) -> Shop:
        """Open (or create and seed) the database and configure every helper."""
        tmp = None
        path = settings.db_path
        if path is None:
            tmp = Path(tempfile.mkdtemp(prefix="shop-"))
            path = tmp / "shop.sqlite3"
        db = ShopDB(path, delay=settings.db_delay, products=settings.products)
        limit, window = settings.rate_limit
        return cls(
            settings=settings,
            valkey=valkey,
            db=db,
            cache=ProductCache(
                valkey,
                ttl=settings.cache_ttl,
                negative_ttl=settings.negative_ttl,
                stampede_protection=settings.stampede_protection,
            ),
            sessions=Sessions(valkey, ttl=settings.session_ttl),
            by_addr=Limiter(valkey, name="addr", limit=limit, window=window),
            by_user=Limiter(valkey, name="user", limit=limit, window=window),
            cart_lock=CartLock(valkey, timeout=settings.lock_timeout, wait=2.0),
            views=Views(valkey, db.apply_views),
            _tmp=tmp,
            _queries=ThreadPoolExecutor(settings.db_pool, thread_name_prefix="shop-db"),
        )

    async def find(self, pid: int) -> dict[str, Any] | None:
        """The slow product query through the pool, awaited."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._queries, self.db.find, pid)

    async def db_call(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking database call off the event loop."""
        return await asyncio.to_thread(func, *args, **kwargs)

    async def aclose(self) -> None:
        """Stop the view worker, close the clients, and remove a temporary database."""
        await self.views.stop()
        await self.valkey.aclose()
        self._queries.shutdown(wait=True)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def shop_of(request: Request) -> Shop:
    """The :class:`Shop` of the app serving ``request``."""
    shop: Shop = request.app.state.shop
    return shop
