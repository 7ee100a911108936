"""The async runner: performs a flow's effects with ``redis.asyncio`` awaits.

Use this from the async faces (``aio.Cache``, ``aio.Lock``, the async limiters,
...): ``await run(client, flow)`` drives the same :mod:`valkey_redis.core.flow`
generators as :mod:`valkey_redis._run`, and :func:`eval_script` is the one way
any async helper runs a Lua script.

Not for: sync code; :mod:`valkey_redis._run` is the same runner with blocking calls.

How it fails: an effect's error -- a ``CancelledError`` from ``task.cancel()`` or
``asyncio.timeout()`` included -- is thrown into the flow at its ``yield``, so its
cleanup (releasing a fill lock or a lock) runs, then the error propagates.
redis-py drops a connection whose command was interrupted before its reply was
read, so the pool never hands out a connection with a late reply in it; the
``once`` path here does the same with its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import AskError, MovedError, NoScriptError, RedisError, ResponseError

from valkey_redis.aio._lean import command
from valkey_redis.core import flow as fx
from valkey_redis.core.scripts import Script
from valkey_redis.core.send import OUTAGE, REDIRECTS, queued, redirect_error

__all__ = ["eval_script", "run"]

T = TypeVar("T")


async def run(
    client: Any, flow: fx.Flow[T], *, pause: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> T:
    """Drive ``flow`` to its return value, awaiting each effect on ``client``."""
    outcome: fx.Outcome = (None, None)
    while True:
        done, out = fx.resume(flow, *outcome)
        if done:
            return cast(T, out)
        try:  # inline, not a helper coroutine: one frame less per effect
            outcome = (
                await (
                    pause(out.seconds)
                    if type(out) is fx.Sleep
                    else _PERFORM[type(out)](client, out)
                ),
                None,
            )
        except BaseException as exc:  # noqa: BLE001 - thrown into the flow, which decides
            outcome = (None, exc)


# Each returns the awaitable to wait for (no coroutine of its own: one layer less per effect).


def _command(client: Any, effect: fx.Command) -> Awaitable[Any]:
    if effect.once:
        return _command_once(client, effect)
    return command(client, *effect.args, **effect.options)


async def _command_once(client: Any, effect: fx.Command) -> Any:
    """Outside the retry loop (see ``Command.once``); the command's key is its first argument."""
    cluster: Any = client  # untyped routing
    node: Any = (
        cluster.get_node_from_key(effect.key or effect.args[1])
        if isinstance(client, RedisCluster)
        else client
    )
    pool = getattr(node, "connection_pool", None)  # a Redis has a pool; a ClusterNode not
    conn = await pool.get_connection() if pool is not None else node.acquire_connection()
    try:
        return await _send_on(conn, node.parse_response, effect.args, False)
    finally:
        await pool.release(conn) if pool is not None else node.release(conn)


def _pipeline(client: Any, effect: fx.Pipeline) -> Awaitable[Any]:
    return cast(
        Awaitable[Any], queued(client, effect.commands, transaction=effect.transaction).execute()
    )


def _eval(client: Any, effect: fx.Eval) -> Awaitable[Any]:
    return eval_script(client, effect.script, effect.keys, effect.args, once=effect.once)


async def _call(client: Any, effect: fx.Call) -> Any:
    value = effect.func()
    return await value if inspect.isawaitable(value) else value


def _merge(client: Any, effect: fx.Merge) -> Awaitable[Any]:
    work = effect.flow
    if isinstance(work, fx.Command):  # one shared command (a GET): no flow to drive
        args, options = work.args, work.options
        return cast(
            Awaitable[Any],
            effect.flight.run(
                effect.name,
                lambda: command(client, *args, **options),
                timeout=effect.timeout,
            ),
        )
    return cast(
        Awaitable[Any],
        effect.flight.run(effect.name, lambda: run(client, work), timeout=effect.timeout),
    )


async def _locked(client: Any, effect: fx.Locked) -> Any:
    async with effect.lock:
        return await run(client, effect.flow)


_PERFORM: dict[type[Any], Callable[[Any, Any], Awaitable[Any]]] = {
    fx.Locked: _locked,
    fx.Command: _command,
    fx.Pipeline: _pipeline,
    fx.Eval: _eval,
    fx.Call: _call,
    fx.Merge: _merge,
}


def eval_script(
    client: Any, script: Script, keys: Sequence[str], args: Sequence[Any], *, once: bool = False
) -> Awaitable[Any]:
    """Run ``script`` on ``keys`` with ``args``: EVALSHA, then EVAL after NOSCRIPT.

    Args:
        client: a ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``.
        once: never re-send after the command was written; on a cluster, MOVED and
            ASK are followed (the script did not run).
    """
    evalsha = ("EVALSHA", script.sha, len(keys), *keys, *args)
    if once:
        if not isinstance(client, RedisCluster):  # one coroutine less on every limiter hit
            return _eval_on(client, script, evalsha, asking=False)
        return _once(client, script, evalsha, keys[0])
    return _eval_pooled(client, script, evalsha)


async def _eval_pooled(client: Any, script: Script, evalsha: tuple[Any, ...]) -> Any:
    try:
        return await command(client, *evalsha)
    except NoScriptError:  # it did not run; EVAL runs it and caches it for next time
        return await command(client, "EVAL", script.text, *evalsha[2:])


async def _send_on(conn: Any, parse: Any, command: tuple[Any, ...], asking: bool) -> Any:
    """Send ``command`` on ``conn``; drop the connection if interrupted mid-command."""
    try:
        if asking:
            await conn.send_command("ASKING")
            await parse(conn, "ASKING")
        await conn.send_command(*command)
        return await parse(conn, command[0])
    except ResponseError:
        raise  # an error reply: the connection is still in step with the server
    except BaseException:
        # Cancelled or cut off after writing: a late reply must never answer another command.
        await conn.disconnect(nowait=True)
        raise


async def _eval_on(node: Any, script: Script, evalsha: tuple[Any, ...], *, asking: bool) -> Any:
    """Run the script on one server (a ``Redis``) or cluster node, outside any retry loop."""
    pool = getattr(node, "connection_pool", None)  # a Redis has a pool; a ClusterNode not
    conn = await pool.get_connection() if pool is not None else node.acquire_connection()
    try:
        try:
            return await _send_on(conn, node.parse_response, evalsha, asking)
        except NoScriptError:  # it did not run; EVAL runs it and caches it under the SHA
            return await _send_on(
                conn, node.parse_response, ("EVAL", script.text, *evalsha[2:]), asking
            )
    finally:
        await pool.release(conn) if pool is not None else node.release(conn)


async def _once(client: Any, script: Script, evalsha: tuple[Any, ...], key: str) -> Any:
    node, asking = client.get_node_from_key(key), False
    for _ in range(REDIRECTS):
        try:
            return await _eval_on(node, script, evalsha, asking=asking)
        except (MovedError, AskError) as exc:  # the script did not run: follow the redirect
            node, asking = await _redirected(client, key, exc)
        except OUTAGE:
            # The node may have died: reload the slot map for the next call. This call
            # is not re-sent: the server may have run it.
            with contextlib.suppress(RedisError):
                await client.nodes_manager.initialize()
            raise
    raise redirect_error(key)


async def _redirected(client: Any, key: str, exc: MovedError | AskError) -> tuple[Any, bool]:
    """The node to try next, and whether it needs ASKING first."""
    if isinstance(exc, AskError):  # the slot is migrating and the key has left: ask the target
        target = client.get_node(host=exc.host, port=exc.port)
        if target is None:
            raise exc
        return target, True
    await client.nodes_manager.initialize()  # the slot moved: reload the map
    return client.get_node_from_key(key), False
