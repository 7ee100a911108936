"""The shop as a real server process (what `make app` runs) and in a real browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import httpx
import pytest

from valkey_redis.server import EmbeddedValkey
from valkey_redis.shop.load import Served, served_app

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def served(valkey_server: EmbeddedValkey) -> Iterator[Served]:
    """The shop in its own process on a free port, over the session's Valkey; stopped by pid."""
    with served_app(valkey_server.url, {"SHOP_RATE_LIMIT": "1000/10"}) as app:
        yield app


def test_the_served_app_says_its_server_and_caches(served: Served) -> None:
    """Over real HTTP: one line names the Valkey in use; MISS then HIT; 304 on the ETag."""
    assert served.banner[0].startswith("[server] Valkey ")
    assert "alice" in served.banner[1]
    with httpx.Client(base_url=served.url, timeout=10) as client:
        first = client.get("/products/11")
        second = client.get("/products/11")
        revalidated = client.get("/products/11", headers={"If-None-Match": first.headers["ETag"]})
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert revalidated.status_code == 304


def test_the_served_app_logs_in_and_out(served: Served) -> None:
    """A session round trip against the real server, cookies kept by the client."""
    with httpx.Client(base_url=served.url, timeout=10) as client:
        login = client.post("/login", json={"username": "alice", "password": "wonderland"})
        me = client.get("/me")
        client.post("/logout")
        after = client.get("/me")
    assert login.status_code == 200
    assert me.json()["username"] == "alice"
    assert after.status_code == 401


def test_a_taken_port_is_said_before_anything_starts() -> None:
    """`make app` on a taken port exits 1 naming it; no banner, no embedded Valkey started."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "valkey_redis.shop"],
            env={**os.environ, "PORT": str(port), "VALKEY_URL": "redis://127.0.0.1:1/0"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "[shop]" not in done.stdout
    assert "[server]" not in done.stdout


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_the_page_renders_in_headless_chromium(served: Served) -> None:
    """Real headless Chromium loads / and its DOM shows the products, requests and keyspace."""
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    httpx.get(f"{served.url}/products/12", timeout=10)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--dump-dom",
                f"{served.url}/",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    dom = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<h1>The valkey-redis shop</h1>" in dom
    assert 'id="products"' in dom
    assert "<code>GET /products/12</code>" in dom
    assert "shop.product:{#12}" in dom
