"""The sync runner: performs a flow's effects with blocking redis-py calls.

Use this from the sync faces (``Cache``, ``Lock``, the limiters, ...): ``run(client,
flow)`` drives a :mod:`valkey_redis.core.flow` generator to its result, and
:func:`eval_script` is the one way any sync helper runs a Lua script.

Not for: asyncio code; :mod:`valkey_redis.aio._run` is the same runner with awaits.

How it fails: every error of an effect is thrown into the flow, which decides
(fallback, cleanup, re-raise). Scripts are sent with ``EVALSHA`` and re-sent with
``EVAL`` after ``NOSCRIPT`` (the script did not run, so that is safe). A script
marked ``once`` bypasses redis-py's retry loop: a network error after the command
was written raises, and the connection is dropped so that its late reply is never
read as the answer to another command.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import (
    AskError,
    MovedError,
    NoScriptError,
    RedisClusterException,
    RedisError,
)

from valkey_redis._lean import command
from valkey_redis._once import node_for
from valkey_redis._once import send_once as _send_once
from valkey_redis.core.flow import (
    Call,
    Command,
    Eval,
    Flow,
    Locked,
    Merge,
    Outcome,
    Pipeline,
    Sleep,
    resume,
)
from valkey_redis.core.scripts import Script
from valkey_redis.core.send import OUTAGE, REDIRECTS, queued, redirect_error

__all__ = ["eval_script", "run"]

T = TypeVar("T")


def run(client: Any, flow: Flow[T], *, pause: Callable[[float], object] = time.sleep) -> T:
    """Drive ``flow`` to its return value, performing each effect on ``client``.

    ``pause`` performs :class:`~valkey_redis.core.flow.Sleep` (tests inject a fake clock).
    """
    outcome: Outcome = (None, None)
    while True:
        done, out = resume(flow, *outcome)
        if done:
            return cast(T, out)
        outcome = _settle(client, out, pause)


def _settle(client: Any, effect: Any, pause: Callable[[float], object]) -> Outcome:
    """Perform ``effect``: ``(result, None)``, or ``(None, error)`` to throw into the flow."""
    try:
        if type(effect) is Sleep:
            return pause(effect.seconds), None
        return _PERFORM[type(effect)](client, effect), None
    except BaseException as exc:  # noqa: BLE001 - thrown into the flow, which decides
        return None, exc


def _command(client: Any, effect: Command) -> Any:
    if effect.once:  # outside the retry loop; the command's key is its first argument
        return _send_once(
            node_for(client, effect.key or effect.args[1]), effect.args, **effect.options
        )
    return command(client, *effect.args, **effect.options)


def _pipeline(client: Any, effect: Pipeline) -> Any:
    return queued(client, effect.commands, transaction=effect.transaction).execute()


def _eval(client: Any, effect: Eval) -> Any:
    return eval_script(client, effect.script, effect.keys, effect.args, once=effect.once)


def _call(client: Any, effect: Call) -> Any:
    value = effect.func()
    if inspect.isawaitable(value):  # an async loader handed to a sync helper
        close = getattr(value, "close", None)
        if close is not None:
            close()  # never awaited: say so plainly instead of a RuntimeWarning
        msg = "got an awaitable from a loader of a sync helper: use valkey_redis.aio for async code"
        raise TypeError(msg)
    return value


def _merge(client: Any, effect: Merge) -> Any:
    work = effect.flow
    if isinstance(work, Command):
        return effect.flight.run(
            effect.name, lambda: _command(client, work), timeout=effect.timeout
        )
    return effect.flight.run(effect.name, lambda: run(client, work), timeout=effect.timeout)


def _locked(client: Any, effect: Locked) -> Any:
    with effect.lock:
        return run(client, effect.flow)


_PERFORM: dict[type[Any], Callable[[Any, Any], Any]] = {
    Locked: _locked,
    Command: _command,
    Pipeline: _pipeline,
    Eval: _eval,
    Call: _call,
    Merge: _merge,
}


def eval_script(
    client: Any, script: Script, keys: Sequence[str], args: Sequence[Any], *, once: bool = False
) -> Any:
    """Run ``script`` on ``keys`` with ``args``: EVALSHA, then EVAL after NOSCRIPT.

    Args:
        client: a ``redis.Redis`` or ``RedisCluster`` (or fakeredis).
        once: never re-send after the command was written (see the module docstring);
            on a cluster, MOVED and ASK are followed (the script did not run).
    """
    evalsha = ("EVALSHA", script.sha, len(keys), *keys, *args)
    if once:
        return _once(client, script, evalsha, keys[0])
    try:
        return command(client, *evalsha)
    except NoScriptError:  # it did not run; EVAL runs it and caches it for next time
        return command(client, "EVAL", script.text, *evalsha[2:])


def _eval_on(node: redis.Redis, script: Script, evalsha: tuple[Any, ...], *, asking: bool) -> Any:
    first = [("ASKING",)] if asking else []
    try:
        return _send_once(node, *first, evalsha)
    except NoScriptError:
        return _send_once(node, *first, ("EVAL", script.text, *evalsha[2:]))


def _once(client: Any, script: Script, evalsha: tuple[Any, ...], key: str) -> Any:
    if not isinstance(client, RedisCluster):
        return _eval_on(client, script, evalsha, asking=False)
    cluster: Any = client  # RedisCluster's routing methods are untyped
    node, asking = cluster.get_node_from_key(key), False
    for _ in range(REDIRECTS):
        try:
            return _eval_on(client.get_redis_connection(node), script, evalsha, asking=asking)
        except MovedError as exc:  # the slot moved: the script did not run, follow it
            client.nodes_manager.move_slot(exc)
            node, asking = cluster.get_node_from_key(key), False
        except AskError as exc:  # the slot is migrating and the key has left: ask the target
            node, asking = cluster.get_node(host=exc.host, port=exc.port), True
            if node is None:
                raise
        except OUTAGE:
            # The node may have died and a replica taken over: refresh the slot map (as
            # RedisCluster does for its own commands) so the next call finds the new
            # primary. This call is not re-sent: the server may have run it.
            with contextlib.suppress(RedisError, RedisClusterException):
                client.nodes_manager.initialize()
            raise
    raise redirect_error(key)
