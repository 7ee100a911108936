"""``make app``: serve the shop on 127.0.0.1:$PORT (8000), on VALKEY_URL or an embedded Valkey.

Use: ``make app`` (``PORT=8080 make app``; ``SHOP_RATE_LIMIT=N/S`` and the other
``SHOP_*`` settings of :class:`~valkey_redis.shop.Settings`). The server in use is
said in one line, as the examples do: the configured URL when it answers, else an
embedded Valkey started for this run and stopped when the app stops.

Not for: serving beyond this machine (it binds 127.0.0.1).

How it fails: a malformed setting or a taken port stops it at once with the reason;
with neither a server nor a runnable bundled binary it says so and exits 1.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager

import uvicorn
from fastapi import FastAPI

from valkey_redis.client import configured_url, connect, describe, redacted
from valkey_redis.server import EmbeddedValkey, ServerError, binary_can_run
from valkey_redis.shop.app import create_app
from valkey_redis.shop.settings import Settings
from valkey_redis.shop.valkey import Valkey

__all__ = ["choose_server", "main"]


def choose_server(stack: ExitStack) -> Valkey:
    """The configured server when it answers, else an embedded one (owned by ``stack``).

    Raises:
        ServerError: nothing answers and the bundled binary cannot run.
    """
    url = configured_url()
    probe = connect(url, retries=0, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        line = describe(probe, url)
    except Exception:  # noqa: BLE001 - any failure means "nothing usable answers"
        line = None
    finally:
        probe.close()
    if line is not None:
        return Valkey.connect(url, line)
    if not binary_can_run():
        msg = f"nothing answers at {redacted(url)} and the bundled valkey-server cannot run here"
        raise ServerError(msg)
    server = stack.enter_context(EmbeddedValkey())
    line = (
        f"nothing answers at {redacted(url)}: started an embedded Valkey on "
        f"127.0.0.1:{server.port} for this run"
    )
    return Valkey.connect(server.url, line)


def _port_taken(port: int) -> bool:
    """True when 127.0.0.1:``port`` cannot be bound (say, by another ``make app``)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _announced(app: FastAPI, line: str) -> FastAPI:
    """Print ``line`` once the app's startup (seeding, workers) is done, not before."""
    startup = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[None]:
        async with startup(served):  # the shop's lifespan keeps no state
            print(line, flush=True)
            yield

    app.router.lifespan_context = lifespan
    return app


def main() -> int:
    """Serve the shop until interrupted."""
    port = int(os.environ.get("PORT", "8000"))
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if _port_taken(port):
        print(
            f"error: port {port} on 127.0.0.1 is in use (another `make app`?); "
            f"stop it, or pick another: `make app PORT={port + 1}`",
            file=sys.stderr,
        )
        return 1
    with ExitStack() as stack:
        try:
            valkey = choose_server(stack)
        except (ServerError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"[server] {valkey.description}", flush=True)
        limit, window = settings.rate_limit
        line = (
            f"[shop] http://127.0.0.1:{port}/ (rate limit {limit} per {window:g} s;"
            " users alice/wonderland (admin), bob/builder)"
        )
        app = _announced(create_app(settings, valkey), line)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
