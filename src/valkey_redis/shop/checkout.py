"""``POST /checkout``: one order per cart at a time, fenced by the database.

Use: the route takes the cart's :class:`~valkey_redis.Lock` (a lease), then asks
the database to store the order with the lock's fencing token. The database keeps
the highest token it has seen per cart and refuses anything not above it.

Not for: payment (this shop has none) or stock reservation.

How it fails: a holder paused past its lease (a GC pause, a slow disk) comes back
to find a newer holder's order stored with a higher token: its own order is
refused with ``409`` and ``"stale": true``, and nothing is written. Another
checkout holding the cart for more than 2 s: ``409`` ``"busy"``. Valkey down:
``503``, and no order is taken without a lock.
"""

from __future__ import annotations

from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from valkey_redis.shop.auth import require_user
from valkey_redis.shop.db import StaleToken
from valkey_redis.shop.state import Shop, shop_of
from valkey_redis.shop.valkey import LockNotAcquired

__all__ = ["router"]

router = APIRouter()
ShopDep = Annotated[Shop, Depends(shop_of)]


Quantity = Annotated[int, Field(gt=0, le=100)]


class Line(BaseModel):
    """One line of a cart given as a list: ``{"product_id": 7, "quantity": 2}``."""

    product_id: int
    quantity: Quantity = 1


class Cart(BaseModel):
    """``{"items": {"<product id>": quantity}}``, or a list of :class:`Line`."""

    items: dict[int, Quantity] | list[Line] = Field(min_length=1, max_length=50)

    def quantities(self) -> dict[int, int]:
        """Product id -> quantity (a list naming a product twice adds up)."""
        if isinstance(self.items, dict):
            return dict(self.items)
        found: dict[int, int] = {}
        for line in self.items:
            found[line.product_id] = found.get(line.product_id, 0) + line.quantity
        return found


@router.post("/checkout")
async def checkout(cart: Cart, request: Request, shop: ShopDep) -> Any:
    """Place the order under the cart's lock; the database checks the fencing token."""
    user = require_user(request)
    name = f"cart:{user['user_id']}"
    outcome = "error"
    try:
        async with shop.cart_lock.hold(name) as (token, waited):
            shop.metrics.lock_wait.observe(waited)
            if shop.before_commit is not None:
                await shop.before_commit()
            try:
                order = await shop.db_call(
                    shop.db.place_order,
                    int(user["user_id"]),
                    cart.quantities(),
                    cart=name,
                    token=token,
                )
            except StaleToken as exc:
                outcome = "stale"
                return JSONResponse(
                    {
                        "detail": f"order refused: stale lock holder ({exc})",
                        "stale": True,
                        "fencing_token": exc.token,
                        "last_seen": exc.last,
                    },
                    status_code=409,
                )
            except LookupError as exc:
                raise HTTPException(400, str(exc)) from exc
        outcome = "accepted"
        return JSONResponse(
            {"order_id": order.id, "total": order.total, "fencing_token": order.fencing_token},
            status_code=201,
        )
    except LockNotAcquired as exc:
        outcome = "busy"
        raise HTTPException(409, f"checkout busy: {exc}; retry") from exc
    except redis.RedisError as exc:
        raise HTTPException(503, "checkout unavailable: the lock service is unreachable") from exc
    finally:
        shop.metrics.checkouts.labels(outcome=outcome).inc()
