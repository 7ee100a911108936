"""Login, ``GET /me``, logout and logout-everywhere: server-side sessions in a cookie.

Use: the browser holds only an opaque id in a cookie (``HttpOnly``, ``SameSite=Lax``,
``Path=/``, and ``Secure`` when served over https); the session lives in Valkey.
Logging in again rotates the id, so an id seen (or planted) before login is worthless.

Not for: a real identity system (no sign-up, no password reset; two seeded users).

How it fails: a wrong name or password is ``401`` after the same scrypt work
either way (no user enumeration by timing); with Valkey down, login and the routes
that need a user answer ``503``.
"""

from __future__ import annotations

from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from valkey_redis.shop.middleware import COOKIE
from valkey_redis.shop.passwords import DUMMY_HASH, verify_password
from valkey_redis.shop.state import Shop, shop_of

__all__ = ["require_admin", "require_user", "router"]

router = APIRouter()
ShopDep = Annotated[Shop, Depends(shop_of)]


class Credentials(BaseModel):
    """The login form."""

    username: str = Field(max_length=100)
    password: str = Field(max_length=200)


def require_user(request: Request) -> dict[str, Any]:
    """The logged-in user's session data.

    Raises:
        HTTPException: 401 when anonymous; 503 when the session store is unreachable.
    """
    user: dict[str, Any] | None = request.state.user
    if user is None:
        if request.state.sessions_down:
            raise HTTPException(503, "sessions are unavailable (Valkey unreachable)")
        raise HTTPException(401, "not logged in")
    return user


def require_admin(request: Request) -> dict[str, Any]:
    """The logged-in admin's session data (401 anonymous, 403 not an admin)."""
    user = require_user(request)
    if not user.get("admin"):
        raise HTTPException(403, "admins only")
    return user


def _set_cookie(request: Request, response: Response, sid: str) -> None:
    response.set_cookie(
        COOKIE, sid, httponly=True, samesite="lax", path="/", secure=request.url.scheme == "https"
    )


def _public(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["user_id"], "username": user["username"], "admin": user["admin"]}


@router.post("/login")
async def login(creds: Credentials, request: Request, response: Response, shop: ShopDep) -> Any:
    """Check the password; rotate this browser's session or start one."""
    found = await shop.db_call(shop.db.user, creds.username)
    ok = await shop.db_call(
        verify_password, creds.password, found.password_hash if found else DUMMY_HASH
    )
    if found is None or not ok:
        raise HTTPException(401, "wrong username or password")
    current: dict[str, Any] | None = request.state.user
    try:
        sid = None
        if current is not None and current["user_id"] == found.id:
            sid = await shop.sessions.rotate(request.state.sid)
        elif current is not None:
            await shop.sessions.destroy(request.state.sid)
        if sid is None:
            sid = await shop.sessions.create(found.id, username=found.username, admin=found.admin)
    except redis.RedisError as exc:
        raise HTTPException(503, "sessions are unavailable (Valkey unreachable)") from exc
    _set_cookie(request, response, sid)
    return {"id": found.id, "username": found.username, "admin": found.admin}


@router.get("/me")
async def me(request: Request) -> Any:
    """The logged-in user, or 401."""
    return _public(require_user(request))


@router.post("/logout")
async def logout(request: Request, response: Response, shop: ShopDep) -> Any:
    """End this session (if any) and clear the cookie."""
    ended = False
    if request.state.sid is not None:
        try:
            ended = await shop.sessions.destroy(request.state.sid)
        except redis.RedisError as exc:
            raise HTTPException(503, "sessions are unavailable (Valkey unreachable)") from exc
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    return {"logged_out": ended}


@router.post("/logout-everywhere")
async def logout_everywhere(request: Request, response: Response, shop: ShopDep) -> Any:
    """End every session of the logged-in user, on every device."""
    user = require_user(request)
    try:
        ended = await shop.sessions.destroy_all(int(user["user_id"]))
    except redis.RedisError as exc:
        raise HTTPException(503, "sessions are unavailable (Valkey unreachable)") from exc
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
    return {"sessions_ended": ended}
