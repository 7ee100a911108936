"""Checks of exercise 7, task get_with_fallback, on real failures.

A port where nothing listens, a real Valkey frozen with SIGSTOP, and a real
Valkey behind the fault proxy (lost replies, silence). On fakeredis each story
runs with a client that fails the same way on demand.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from valkey_redis.faultproxy import FaultProxy, paused
from valkey_redis.grading.checks.ex7_fallback import KEY, Breaker, E, Switchable, T, calls, loader
from valkey_redis.grading.context import Ctx, show
from valkey_redis.grading.harness import Env
from valkey_redis.grading.runner import check
from valkey_redis.server import EmbeddedValkey, free_port


def _fast_pool(url: str, timeout: float = 0.25) -> redis.ConnectionPool:
    """A pool that gives up after ``timeout`` s and never retries (the breaker decides).

    While the server is up the checks use ``timeout=5`` (a loaded machine must
    not look like a hung server); while it hangs, 0.25 s keeps them quick.
    """
    return redis.ConnectionPool.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


@check(E, T, "get_with_fallback stops asking a dead server once the breaker opens")
def _stops_asking(ctx: Ctx) -> None:
    if ctx.backend == "fakeredis":
        client: redis.Redis = Switchable(ctx.env, redis.ConnectionError("Connection refused"))
        ctx.given("the cache server is down (every command raises redis.ConnectionError)")
    else:
        port = free_port()
        client = redis.Redis(connection_pool=_fast_pool(f"redis://127.0.0.1:{port}/0"))
        ctx.given(f"a real client of 127.0.0.1:{port}, where no server listens")
    breaker, load = Breaker(threshold=3), loader()
    ctx.called(f"get_with_fallback(client, breaker, {KEY!r}, load, 100) x 6")
    got = [ctx.func(T)(client, breaker, KEY, load, 100) for _ in range(6)]
    ctx.expect(got == ["from-source"] * 6, "load's value every time", show(got))
    ctx.expect(
        breaker.failures == 3 and breaker.refused >= 3,
        "3 failures recorded, then 3 calls refused by the open breaker",
        f"{breaker.failures} failures, {breaker.refused} refused",
    )


@check(E, T, "get_with_fallback rides out a hung server (SIGSTOP) and recovers")
def _hung(ctx: Ctx) -> None:
    if ctx.backend == "fakeredis":
        fake = Switchable(ctx.env, redis.TimeoutError("Timeout reading"), down=False)

        def switch(down: bool) -> None:
            fake.down = down

        _hung_story(ctx, (fake, fake), switch, "a client that times out while the server hangs")
        return
    with EmbeddedValkey() as server, contextlib.ExitStack() as frozen:
        pool, patient = _fast_pool(server.url), _fast_pool(server.url, 5.0)

        def freeze(down: bool) -> None:
            if down:
                frozen.enter_context(paused(server))
            else:
                frozen.close()

        try:
            where = "a real Valkey: SIGSTOP (socket_timeout 0.25 s while stopped), SIGCONT"
            clients = redis.Redis(connection_pool=patient), redis.Redis(connection_pool=pool)
            _hung_story(ctx, clients, freeze, where)
        finally:
            frozen.close()
            pool.disconnect()
            patient.disconnect()


Clients = tuple[redis.Redis, redis.Redis]


def _hung_story(ctx: Ctx, clients: Clients, down: Callable[[bool], None], where: str) -> None:
    client, impatient = clients
    client.set(KEY, "cached", ex=100)
    breaker, load = Breaker(threshold=2, reset=10.0), loader()
    get = ctx.func(T)
    ctx.given(f"{KEY} = 'cached' on {where}")
    ctx.called(f"get_with_fallback(client, breaker, {KEY!r}, load, 100)  # server up")
    first = get(client, breaker, KEY, load, 100)
    ctx.expect(first == "cached", "'cached' while the server is up", first)
    down(True)
    ctx.called("... the server hangs; 4 more calls")
    hung = [get(impatient, breaker, KEY, load, 100) for _ in range(4)]
    ctx.expect(hung == ["from-source"] * 4, "load's value while it hangs", show(hung))
    ctx.expect(breaker.state == "open", "the breaker open after 2 timeouts", breaker.state)
    down(False)
    breaker.clock.now += 10
    ctx.called("... the server resumes; 10 s later, 2 more calls")
    back = [get(client, breaker, KEY, load, 100) for _ in range(2)]
    ctx.expect(back == ["cached"] * 2, "'cached' again once the probe worked", show(back))


class _FakeNetwork(Switchable):
    """fakeredis's twin of the fault proxy: silent, or losing one SET's reply."""

    def __init__(self, env: Env) -> None:
        super().__init__(env, redis.TimeoutError("Timeout reading"), down=False)
        self.lose_set = False

    def execute_command(self, *args: Any, **options: Any) -> Any:
        """Run the command; then lose its reply if it is the SET to lose."""
        result = super().execute_command(*args, **options)
        if self.lose_set and str(args[0]).upper() == "SET":
            self.lose_set = False
            msg = "Connection reset by peer"
            raise redis.ConnectionError(msg)
        return result


def _network_story(ctx: Ctx, clients: Clients, fault: Callable[[str], None]) -> None:
    client, impatient = clients
    breaker, load = Breaker(threshold=2, reset=10.0), loader()
    get = ctx.func(T)
    fault("lose the SET's reply")
    ctx.called(f"get_with_fallback(client, breaker, {KEY!r}, load, 100)  # a miss; SET reply lost")
    got = get(client, breaker, KEY, load, 100)
    ctx.expect(
        got == "from-source" and len(load.calls) == 1,
        "load's value, load called once",
        f"{got!r}; {calls(load)}",
    )
    ctx.expect(ctx.get(KEY) == "from-source", f"{KEY} stored (the SET ran)", ctx.get(KEY))
    ctx.raw.set(KEY, "cached", ex=100)
    fault("silent")
    ctx.called("... the network goes silent (no replies); 4 more calls")
    hung = [get(impatient, breaker, KEY, load, 100) for _ in range(4)]
    ctx.expect(hung == ["from-source"] * 4, "load's value while nothing answers", show(hung))
    ctx.expect(breaker.state == "open", "the breaker open after 2 timeouts", breaker.state)
    fault("heal")
    breaker.clock.now += 10
    ctx.called("... the network heals; 10 s later, 2 more calls")
    back = [get(client, breaker, KEY, load, 100) for _ in range(2)]
    ctx.expect(back == ["cached"] * 2, "'cached' again once the probe worked", show(back))


@check(E, T, "get_with_fallback survives lost replies and a silent network (fault proxy)")
def _network(ctx: Ctx) -> None:
    if ctx.backend == "fakeredis":
        fake = _FakeNetwork(ctx.env)
        ctx.given("a client whose network loses replies or goes silent on demand")

        def switch(what: str) -> None:
            fake.lose_set = what == "lose the SET's reply"
            fake.down = what == "silent"

        _network_story(ctx, (fake, fake), switch)
        return
    url = ctx.env.backend.url or ""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with FaultProxy("127.0.0.1", port) as proxy:
        pool, patient = _fast_pool(proxy.url), _fast_pool(proxy.url, 5.0)
        ctx.given("a real Valkey behind a fault proxy; socket_timeout 0.25 s while it is silent")

        def switch(what: str) -> None:
            if what == "silent":
                proxy.blackhole()
            elif what == "heal":
                proxy.pass_through()
            else:
                proxy.reset_before_reply(times=1, match="\r\nSET\r\n")  # not CLIENT SETINFO

        try:
            clients = redis.Redis(connection_pool=patient), redis.Redis(connection_pool=pool)
            _network_story(ctx, clients, switch)
        finally:
            pool.disconnect()
            patient.disconnect()
