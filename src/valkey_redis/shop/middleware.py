"""Per request: find the session, apply both rate limits, time it, and record it.

Use: :func:`install` adds this to a shop app; routes read ``request.state.user``
(``None`` when anonymous) and ``request.state.sid``.

Not for: authorisation (routes decide who may do what).

How it fails: when Valkey cannot answer, the limiters allow the request (fail
open, counted as ``fallback``) and the session reads as unknown; routes that need
a user then answer 503 rather than 401 (``request.state.sessions_down``).
Headers follow the IETF draft (``RateLimit-Policy: "addr";q=100;w=10`` and
``RateLimit: "addr";r=42;t=3``, from :func:`~valkey_redis.ratelimit.rate_limit_headers`),
one list member per policy.
"""

from __future__ import annotations

import time

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from valkey_redis.ratelimit import rate_limit_headers
from valkey_redis.shop.state import Recent, Shop, shop_of
from valkey_redis.shop.valkey import Valkey

__all__ = ["COOKIE", "ShopMiddleware", "install"]

COOKIE = "sid"


async def _session(shop: Shop, request: Request) -> None:
    request.state.user, request.state.sid, request.state.sessions_down = None, None, False
    sid = request.cookies.get(COOKIE)
    if not sid:
        return
    try:
        data = await shop.sessions.get(sid)
    except redis.RedisError:
        request.state.sessions_down = True
        return
    if data is not None:
        request.state.user, request.state.sid = data, sid


async def _limit(shop: Shop, request: Request) -> tuple[list[str], list[str], int | None]:
    """Hit the address limiter, then the user's: (policies, states, retry_after if denied)."""
    address = request.client.host if request.client else "unknown"
    checks = [(shop.by_addr, address)]
    if request.state.user is not None:
        checks.append((shop.by_user, str(request.state.user["user_id"])))
    policies, states = [], []
    for limiter, key in checks:
        result = await limiter.hit(key)
        decision = "fallback" if result.fallback else "allowed" if result.allowed else "denied"
        shop.metrics.limiter.labels(policy=limiter.name, decision=decision).inc()
        fields = rate_limit_headers(result, window=limiter.window, policy=limiter.name)
        policies.append(fields["RateLimit-Policy"])
        states.append(fields["RateLimit"])
        if not result.allowed:
            return policies, states, int(fields["Retry-After"])
    return policies, states, None


class ShopMiddleware:
    """Plain ASGI middleware (no extra task per request, unlike ``@app.middleware``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Find the session, apply the limits, then serve, time and record the request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with Valkey.request_scope():
            await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request = Request(scope)
        shop = shop_of(request)
        await _session(shop, request)
        policies, states, retry_after = await _limit(shop, request)
        seen: list[tuple[int, str]] = []  # (status, X-Cache) once the response starts

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["RateLimit-Policy"] = ", ".join(policies)
                headers["RateLimit"] = ", ".join(states)
                ms = (time.perf_counter() - started) * 1000
                valkey_ms = Valkey.waited() * 1000
                headers["Server-Timing"] = f"app;dur={ms:.1f}, valkey;dur={valkey_ms:.1f}"
                seen.append((int(message["status"]), headers.get("X-Cache", "-")))
            await send(message)

        if retry_after is not None:
            refused = JSONResponse(
                {"detail": f"too many requests: retry in {retry_after} s"},
                status_code=429,
                headers={"Retry-After": str(retry_after)},
            )
            await refused(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)
        ms = (time.perf_counter() - started) * 1000
        name = getattr(scope.get("route"), "path", "unmatched")
        status, cache = seen[0] if seen else (500, "-")
        shop.metrics.requests.labels(route=name, status=str(status)).observe(ms / 1000)
        shop.recent.appendleft(Recent(request.method, request.url.path, status, cache, ms))


def install(app: FastAPI) -> None:
    """Add the session, rate-limit and timing middleware to ``app``."""
    app.add_middleware(ShopMiddleware)
