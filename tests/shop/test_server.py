"""The shop as a real server process (what `make app` runs) and in a real browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from valkey_redis.server import EmbeddedValkey, free_port

pytestmark = pytest.mark.real


@dataclass
class Served:
    """A running shop process."""

    url: str
    banner: list[str]


def _wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"the shop exited with {proc.returncode}"
            raise AssertionError(msg)
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)  # polling for the server to come up, not synchronising a test
    msg = f"the shop did not answer at {url} within {timeout:.0f} s"
    raise AssertionError(msg)


@pytest.fixture(scope="module")
def served(
    valkey_server: EmbeddedValkey, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The shop in its own process on a free port, over the session's Valkey; stopped by pid."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "VALKEY_URL": valkey_server.url}
    env["SHOP_RATE_LIMIT"] = "1000/10"
    log = tmp_path_factory.mktemp("shop") / "out.txt"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "valkey_redis.shop"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        yield Served(url, log.read_text().splitlines()[:2])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
