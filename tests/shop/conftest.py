"""Fixtures for the shop: the app in-process over fakeredis or real Valkey, driven with httpx.

``open_shop(settings)`` is an async context manager giving ``(shop, client)``: the
app's :class:`Shop` (its database, helpers and metrics) and an ``httpx.AsyncClient``
on the app through the ASGI transport, with the app's lifespan running.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from valkey_redis.client import connect
from valkey_redis.server import EmbeddedValkey
from valkey_redis.shop import Settings, Valkey, create_app
from valkey_redis.shop.state import Shop

OpenShop = Callable[..., AbstractAsyncContextManager[tuple[Shop, httpx.AsyncClient]]]


@pytest.fixture
def anyio_backend() -> str:
    """The shop runs on asyncio."""
    return "asyncio"


def client_for(
    app: FastAPI, *, address: str = "127.0.0.1", https: bool = False
) -> httpx.AsyncClient:
    """An httpx client of ``app`` in-process, as if from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    base = "https://shop.test" if https else "http://shop.test"
    return httpx.AsyncClient(transport=transport, base_url=base)


def app_of(client: httpx.AsyncClient) -> FastAPI:
    """The app behind a client made by :func:`client_for` (to open a second browser on it)."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app: FastAPI = transport.app  # type: ignore[assignment]
    return app


@pytest.fixture(params=["fakeredis", pytest.param("valkey", marks=pytest.mark.real)])
def make_valkey(request: pytest.FixtureRequest) -> Callable[[], Valkey]:
    """Build the shop's Valkey adapter on fakeredis or on the session's real server (flushed)."""
    if request.param == "fakeredis":
        return Valkey.fake
    server: EmbeddedValkey = request.getfixturevalue("valkey_server")
    flush = connect(server.url)
    flush.flushall()
    flush.close()
    return lambda: Valkey.connect(server.url, f"Valkey at {server.url}")


@pytest.fixture
def open_shop(make_valkey: Callable[[], Valkey]) -> OpenShop:
    """Open a shop app with the given settings; yields ``(shop, client)``."""

    @asynccontextmanager
    async def opened(
        settings: Settings | None = None, *, https: bool = False
    ) -> AsyncIterator[tuple[Shop, httpx.AsyncClient]]:
        app = create_app(settings or Settings(), make_valkey())
        async with app.router.lifespan_context(app), client_for(app, https=https) as client:
            yield app.state.shop, client

    return opened
