"""Fixtures of the fault suite (``make faults``): a server per test, a fault proxy in front.

Every test under ``tests/faults`` is marked ``faults``: plain ``make test`` leaves
them out (they start servers and wait for timeouts), ``make faults`` and CI run them.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from valkey_redis.client import connect
from valkey_redis.faultproxy import FaultProxy
from valkey_redis.server import EmbeddedValkey, binary_can_run

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this directory ``faults`` (and ``real``: they need Valkey)."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.real)


@pytest.fixture(autouse=True)
def _collect_dropped_clients() -> Iterator[None]:
    """After each test, collect the clients it dropped (their sockets' ResourceWarnings only).

    Fault tests build throw-away clients and servers; collecting them here keeps
    their unclosed-socket warnings out of a later test that calls ``gc.collect()``
    to check that the library frees its own threads and connections.
    """
    yield
    original = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, ResourceWarning):
            original(unraisable)

    sys.unraisablehook = hook
    try:
        gc.collect()
    finally:
        sys.unraisablehook = original


@pytest.fixture
def server() -> Iterator[EmbeddedValkey]:
    """A Valkey of this test alone (it may be paused or killed)."""
    if not binary_can_run():
        pytest.skip("the bundled valkey-server cannot run on this machine")
    with EmbeddedValkey() as valkey:
        yield valkey


@pytest.fixture
def proxy(server: EmbeddedValkey) -> Iterator[FaultProxy]:
    """A fault proxy in front of ``server``, passing through until told otherwise."""
    assert server.port is not None
    with FaultProxy("127.0.0.1", server.port) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def direct(server: EmbeddedValkey) -> Iterator[redis.Redis]:
    """A client of ``server`` that bypasses the proxy (to check what really happened)."""
    client = connect(server.url)
    yield client
    client.close()


@pytest.fixture
def faulty(proxy: FaultProxy) -> Iterator[redis.Redis]:
    """A ``connect()`` client (default retries) whose traffic goes through ``proxy``."""
    client = connect(proxy.url, socket_timeout=1.0, socket_connect_timeout=1.0)
    yield client
    client.close()
