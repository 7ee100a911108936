"""Where the benchmarks run: the server, the clients, key names, and the machine.

Use :func:`open_server` to get a URL: ``VALKEY_URL`` when it is set and answers,
otherwise an embedded Valkey on a free port, stopped at the end. Every key a
benchmark writes contains the run id, so :meth:`BenchContext.cleanup` removes
exactly those keys (with SCAN) and never touches anything else on a shared server.

Every client of a run -- ours and the peers' -- gets :data:`TIMEOUT`: the library's
production defaults (a 0.3 s reply timeout, a 1 s budget per call, a breaker that
opens after a few replies slower than 0.2 s) would end a run on a loaded machine,
where a slow reply is a slow figure, not an outage.

How it fails: a server that stops answering mid-run raises
``redis.exceptions.ConnectionError`` (or a timeout after :data:`TIMEOUT` seconds)
out of the benchmark in progress.
"""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, cast

import redis

from benchmarks.harness import CountingConnection
from valkey_redis.breaker import CircuitBreaker
from valkey_redis.client import connect, redacted
from valkey_redis.server import EmbeddedValkey

__all__ = ["TIMEOUT", "BenchContext", "client_options", "machine_info", "open_server"]

#: Seconds any one reply of a benchmark client may take (every client, every library).
TIMEOUT = 30.0


def client_options() -> dict[str, Any]:
    """Options of ``connect()`` / ``aio.connect()`` for a benchmark client.

    Generous timeouts, and a breaker of its own (its cost is part of what is
    measured) that counts a reply as slow only after :data:`TIMEOUT` seconds.
    """
    return {
        "socket_timeout": TIMEOUT,
        "socket_connect_timeout": TIMEOUT,
        "call_timeout": 2 * TIMEOUT,
        "breaker": CircuitBreaker("bench", slow_call_duration=TIMEOUT),
    }


PEERS = ("redis", "hiredis", "limits", "python-redis-lock", "cashews", "dogpile.cache")


@contextlib.contextmanager
def open_server(url: str | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(url, how)``: the given or configured server if it answers, else an embedded one."""
    candidate = url or os.environ.get("VALKEY_URL")
    if candidate:
        probe = connect(candidate, retries=0, socket_connect_timeout=1.0, socket_timeout=TIMEOUT)
        try:
            answers = bool(probe.ping())
        except (redis.ConnectionError, redis.TimeoutError):
            answers = False
        finally:
            probe.close()
        if answers:
            yield candidate, f"the server at {redacted(candidate)}"
            return
        print(f"[bench] nothing answers at {redacted(candidate)}: using an embedded Valkey")
    with EmbeddedValkey() as server:
        yield server.url, f"an embedded Valkey on {server.url}"


@dataclass
class BenchContext:
    """What every benchmark module gets: the URL, a shared client, names, scale.

    Args:
        url: the server's URL.
        scale: multiplies every operation count (``--quick`` and the smoke test shrink it).
    """

    url: str
    scale: float = 1.0
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    _clients: list[redis.Redis] = field(default_factory=list, repr=False)
    _probe: redis.Redis | None = field(default=None, repr=False)

    def new_client(self, **kwargs: Any) -> redis.Redis:
        """A ``connect()`` client (decode_responses, retries) whose round trips are counted."""
        options = {**client_options(), "connection_class": CountingConnection, **kwargs}
        client = cast(redis.Redis, connect(self.url, **options))
        self._clients.append(client)
        return client

    @property
    def client(self) -> redis.Redis:
        """The client shared by raw redis-py and our helpers, so both pay the same pool."""
        if not self._clients:
            self.new_client()
        return self._clients[0]

    def name(self, *parts: str) -> str:
        """A key or namespace name that contains the run id, e.g. ``bench1a2b3c4d-cache``."""
        return "-".join((f"bench{self.run_id}", *parts))

    def ops(self, count: int) -> int:
        """``count`` scaled for this run, at least 1."""
        return max(1, round(count * self.scale))

    def cleanup(self) -> int:
        """Delete every key of this run (SCAN, never KEYS); return how many."""
        client = self.client
        deleted = 0
        batch: list[str] = []
        for key in client.scan_iter(match=f"*bench{self.run_id}*", count=1000):
            batch.append(cast(str, key))
            if len(batch) >= 500:
                deleted += client.unlink(*batch)
                batch.clear()
        if batch:
            deleted += client.unlink(*batch)
        return deleted

    def server_cpu(self) -> float:
        """The server's CPU seconds so far (user + system), by INFO on an uncounted client."""
        if self._probe is None:
            self._probe = connect(self.url, **client_options())
        info = self._probe.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def close(self) -> None:
        """Close every client this context made."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self._probe is not None:
            self._probe.close()
            self._probe = None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def machine_info(client: redis.Redis, server: str) -> dict[str, Any]:
    """Describe the machine, the interpreter, the libraries and the server."""
    info = client.info("server")
    product = (
        f"Valkey {info['valkey_version']}"
        if "valkey_version" in info
        else f"Redis {info.get('redis_version', '?')}"
    )
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cpus_usable": usable,
        "cpus_total": os.cpu_count(),
        "memory": _memory(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "server": product,
        "server_at": server,
        "libraries": {name: _version(name) for name in PEERS},
    }
