"""Build the shop's FastAPI app: :func:`create_app`.

Use: ``create_app(Settings.from_env(), Valkey.connect(url, description))`` for a
server (``make app`` does this), ``create_app(Settings(), Valkey.fake())`` in a
test. Routes: ``GET /``, ``GET|PUT /products/{id}``, ``POST /login``, ``GET /me``,
``POST /logout``, ``POST /logout-everywhere``, ``POST /checkout``, ``GET /metrics``,
``GET /healthz``.

Not for: running without an event loop; each app owns its database, helpers and
metrics registry, so build one per server (or per test).

How it fails: building the app never touches Valkey; the app's lifespan starts
the view-count worker and stops it (applying what it can), then closes the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from valkey_redis.shop import auth, checkout, middleware, ops, products
from valkey_redis.shop.settings import Settings
from valkey_redis.shop.state import Shop
from valkey_redis.shop.valkey import Valkey

__all__ = ["create_app"]


def create_app(settings: Settings, valkey: Valkey) -> FastAPI:
    """The shop over ``valkey``, with a fresh seeded database unless ``settings.db_path``."""
    shop = Shop.build(settings, valkey)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        shop.views.start()
        try:
            yield
        finally:
            await shop.aclose()

    app = FastAPI(title="valkey-redis shop", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.shop = shop
    for module in (products, auth, checkout, ops):
        app.include_router(module.router)
    middleware.install(app)
    return app
