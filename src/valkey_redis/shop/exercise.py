"""The given half of exercise 13: the database's shape and the routes around your functions.

Use: ``exercises/exercise_13.py`` holds the three functions you write
(``get_product``, ``update_price``, ``my_orders``); :func:`build_app` wraps them in
FastAPI routes, which is how the grader (and you, with any ASGI client) calls them.

Not for: the capstone shop itself (:mod:`valkey_redis.shop`); this is its smallest
slice, small enough to write in an exercise.

How it fails: whatever your function raises propagates to the caller (a test
client re-raises it), so an unfinished task is seen as ``NotImplementedError``.
"""

from __future__ import annotations

from typing import Any, Protocol

import redis
from fastapi import FastAPI, Header, Request, Response
from pydantic import BaseModel

__all__ = ["PriceChange", "ShopData", "build_app"]


class ShopData(Protocol):
    """The shop's (slow) database, as the grader hands it to your functions."""

    def get(self, pid: int) -> dict[str, Any] | None:
        """The product (``{"id", "name", "price"}``), or None; slow."""

    def set_price(self, pid: int, price: float) -> bool:
        """Store a new price; False when no product has this id."""

    def orders(self, user: str) -> list[dict[str, Any]]:
        """``user``'s orders, oldest first; slow."""


class PriceChange(BaseModel):
    """The body of ``PUT /products/{pid}``."""

    price: float


def build_app(handlers: Any, client: redis.Redis, db: ShopData) -> FastAPI:
    """Routes that call ``handlers.get_product``, ``.update_price`` and ``.my_orders``.

    Args:
        handlers: the module (or any object) holding your three functions; each is
            looked up on every request, so an edited module is picked up.
        client: the Valkey client passed to them.
        db: the database passed to them.
    """
    app = FastAPI()

    @app.get("/products/{pid}")
    def product(pid: int, request: Request) -> Response:
        answer: Response = handlers.get_product(
            client, db, pid, request.headers.get("if-none-match")
        )
        return answer

    @app.put("/products/{pid}")
    def change(pid: int, body: PriceChange) -> Response:
        answer: Response = handlers.update_price(client, db, pid, body.price)
        return answer

    @app.get("/orders")
    def orders(x_user: str = Header()) -> Response:
        answer: Response = handlers.my_orders(client, db, x_user)
        return answer

    return app
