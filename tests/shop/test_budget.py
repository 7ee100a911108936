"""The shop's Valkey calls: one failure per request, the budget, the client's breaker."""

from __future__ import annotations

import asyncio

import pytest
import redis

from valkey_redis.breaker import CircuitOpenError
from valkey_redis.server import free_port
from valkey_redis.shop.valkey import SkippedError, Valkey

pytestmark = pytest.mark.anyio


def _valkey() -> Valkey:
    return Valkey.fake()


class Calls:
    """Counts how often Valkey was really asked."""

    def __init__(self, error: Exception | None = None) -> None:
        self.count = 0
        self.error = error

    async def __call__(self) -> str:
        self.count += 1
        if self.error is not None:
            raise self.error
        return "ok"


async def test_after_one_failure_a_request_sends_nothing_more() -> None:
    """The second call of a request whose first one failed is not sent (SkippedError)."""
    shop = _valkey()
    failing, fine = Calls(redis.ConnectionError("refused")), Calls()
    with Valkey.request_scope():
        with pytest.raises(redis.ConnectionError):
            await shop.call(failing)
        with pytest.raises(SkippedError):
            await shop.call(fine)
    with Valkey.request_scope():  # the next request starts clean
        assert await shop.call(fine) == "ok"
    assert (failing.count, fine.count) == (1, 1)
    await shop.aclose()


async def test_a_call_over_the_budget_is_a_timeout_and_a_failure() -> None:
    """A call that does not answer within the budget raises redis.TimeoutError and counts."""
    shop = _valkey()
    never = asyncio.Event()

    async def hangs() -> None:
        await never.wait()

    with Valkey.request_scope():
        with pytest.raises(redis.TimeoutError):
            await shop.call(hangs)
        assert Valkey.failed_in_this_request()
    await shop.aclose()


async def test_an_open_breaker_refuses_at_once_and_the_request_sends_nothing_more() -> None:
    """On a dead server the client's breaker opens: a call fails unsent, and so does the next."""
    shop = Valkey.connect(f"redis://127.0.0.1:{free_port()}/0", "nothing")
    for _ in range(5):
        with Valkey.request_scope(), pytest.raises(redis.ConnectionError):
            await shop.call(shop.client.ping)
    assert shop.breaker_state() == "open"
    fine = Calls()
    with Valkey.request_scope():
        with pytest.raises(CircuitOpenError):
            await shop.call(shop.client.ping)
        with pytest.raises(SkippedError):
            await shop.call(fine)
    assert fine.count == 0
    await shop.aclose()
