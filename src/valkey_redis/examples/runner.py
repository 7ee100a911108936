"""Pick the server an example talks to, and run examples by number.

Order: the configured URL (``VALKEY_URL``, ``REDIS_URL``, default) when it
answers; otherwise an embedded Valkey from the bundled binary, for this run only;
only where that binary cannot run, fakeredis. Each choice is announced in one line.
Set ``VALKEY_REDIS_BACKEND=fakeredis`` to force the in-memory emulation.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import redis

from valkey_redis.client import configured_url, connect, describe, redacted
from valkey_redis.server import EmbeddedValkey, ServerError, binary_can_run

__all__ = ["Backend", "delete_matching", "example_backend", "example_modules", "main", "plural"]

_EMBEDDED_ENV = "VALKEY_REDIS_EMBEDDED"


@dataclass(frozen=True)
class Backend:
    """The server an example runs against."""

    client: redis.Redis
    kind: Literal["server", "embedded", "fakeredis"]
    description: str
    url: str | None = None  # None for fakeredis

    def async_client(self) -> Any:
        """A ``redis.asyncio`` client of the same server (same data), for async examples.

        Make it inside the event loop that uses it; close it with ``await c.aclose()``.
        """
        if self.url is not None:
            from valkey_redis import aio  # noqa: PLC0415 - only the async parts need it

            return aio.connect(self.url)
        import fakeredis  # noqa: PLC0415 - the fakeredis backend has it

        server = self.client.connection_pool.connection_kwargs["server"]
        return fakeredis.FakeAsyncRedis(server=server, decode_responses=True)

    @property
    def is_real(self) -> bool:
        """True for a real Valkey/Redis server (eviction, INFO, tracking work)."""
        return self.kind != "fakeredis"

    def skip_unless_real(self, why: str) -> bool:
        """Print why the example needs a real server and return True on fakeredis."""
        if self.is_real:
            return False
        print(f"This example needs a real Valkey server: {why}.")
        print("fakeredis cannot show it, so it stops here (run `make infra-up` and retry).")
        return True


def delete_matching(client: redis.Redis, *patterns: str) -> int:
    """Delete every key matching any of the SCAN ``patterns``; return how many went.

    Examples call this to clean up after themselves. SCAN walks the key space in
    small steps, unlike KEYS, so it is safe on a shared server.
    """
    found = [key for pattern in patterns for key in client.scan_iter(match=pattern, count=500)]
    return int(client.delete(*found)) if found else 0


def plural(count: int, noun: str, many: str | None = None) -> str:
    """Return ``"1 key"`` or ``"3 keys"``: ``count`` and ``noun``, plural unless it is 1.

    ``many`` is the plural when adding an s is wrong (``plural(n, "query", "queries")``).
    """
    return f"{count} {noun}" if count == 1 else f"{count} {many or noun + 's'}"


def _fake_client() -> redis.Redis:
    try:
        import fakeredis  # noqa: PLC0415 - optional, only for the last-resort fallback
    except ModuleNotFoundError as exc:
        msg = "fakeredis is not installed; run `make setup` (or start Valkey: `make infra-up`)"
        raise SystemExit(msg) from exc
    client: redis.Redis = fakeredis.FakeRedis(decode_responses=True)
    return client


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False


@contextmanager
def example_backend() -> Iterator[Backend]:
    """Yield the backend for an example and print the one-line banner naming it."""
    with ExitStack() as stack:
        backend = _choose(stack)
        print(f"[server] {backend.description}")
        yield backend
        backend.client.close()


def _choose(stack: ExitStack) -> Backend:
    if os.environ.get("VALKEY_REDIS_BACKEND") == "fakeredis":
        return Backend(_fake_client(), "fakeredis", "fakeredis (in-memory emulation, forced)")
    url = configured_url()
    client = connect(url, retries=0, socket_connect_timeout=1.0)
    if _answers(client):
        client.close()
        client = connect(url)
        kind: Literal["server", "embedded"] = "server"
        text = describe(client, url)
        if os.environ.get(_EMBEDDED_ENV) == url:
            kind, text = "embedded", f"{text} (embedded Valkey started for this run)"
        return Backend(client, kind, text, url)
    client.close()
    if binary_can_run():
        try:
            server = stack.enter_context(EmbeddedValkey())
        except ServerError as exc:
            print(f"[server] could not start the embedded Valkey: {exc}")
        else:
            client = connect(server.url)
            text = (
                f"nothing answers at {redacted(url)}: started an embedded "
                f"{describe(client, server.url)} on port {server.port} for this run"
            )
            return Backend(client, "embedded", text, server.url)
    text = (
        f"nothing answers at {redacted(url)} and the bundled valkey-server cannot run "
        "here: using fakeredis (in-memory emulation)"
    )
    return Backend(_fake_client(), "fakeredis", text)


def example_modules() -> dict[int, str]:
    """Map example numbers to module names, e.g. ``{1: "...example_1_basics"}``."""
    package = importlib.import_module("valkey_redis.examples")
    found: dict[int, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        parts = info.name.split("_")
        if len(parts) >= 2 and parts[0] == "example" and parts[1].isdigit():
            found[int(parts[1])] = f"{package.__name__}.{info.name}"
    return dict(sorted(found.items()))


def _unknown(numbers: list[int], modules: dict[int, str]) -> str | None:
    """The error for numbers that name no example, or None when all do."""
    unknown = [str(n) for n in numbers if n not in modules]
    if not unknown:
        return None
    there = ", ".join(map(str, modules))
    return f"no example numbered {', '.join(unknown)}; there are {there} (`make example-N`)"


def _run_all(numbers: list[int]) -> int:
    modules = example_modules()
    error = _unknown(numbers, modules)
    if error:
        print(error, file=sys.stderr)
        return 2
    chosen = numbers or list(modules)
    failed: list[int] = []
    for number in chosen:
        print(f"\n=== example {number}: {modules[number].rsplit('.', 1)[1]} ===")
        module = importlib.import_module(modules[number])
        status = module.main()
        if status:
            failed.append(number)
    if failed:
        print(f"\nexamples failed: {failed}", file=sys.stderr)
        return 1
    print(
        "\nthe example finished" if len(chosen) == 1 else f"\nall {len(chosen)} examples finished"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the given examples (all when none) against one server shared by the run."""
    parser = argparse.ArgumentParser(prog="python -m valkey_redis.examples.runner")
    parser.add_argument("numbers", nargs="*", type=int, help="example numbers (default: all)")
    args = parser.parse_args(argv)
    error = _unknown(args.numbers, example_modules())
    if error:  # before any server is started for nothing
        print(error, file=sys.stderr)
        return 2
    url = configured_url()
    try:
        probe = connect(url, retries=0, socket_connect_timeout=1.0)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reachable = _answers(probe)
    probe.close()
    if reachable or not binary_can_run() or os.environ.get("VALKEY_REDIS_BACKEND"):
        return _run_all(args.numbers)
    # Start one embedded server for the whole run rather than one per example.
    with EmbeddedValkey() as server:
        print(
            f"[runner] nothing answers at {redacted(url)}: started an embedded Valkey "
            f"on 127.0.0.1:{server.port} for this run (stopped at exit)"
        )
        saved = {name: os.environ.get(name) for name in ("VALKEY_URL", _EMBEDDED_ENV)}
        os.environ["VALKEY_URL"] = os.environ[_EMBEDDED_ENV] = server.url
        try:
            return _run_all(args.numbers)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


if __name__ == "__main__":
    raise SystemExit(main())
