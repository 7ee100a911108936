"""The ``@cache.cached(ttl=...)`` decorator: cache a function's results by its arguments.

Use this when a function's result depends only on its arguments and may be a
little stale (a profile, a price list): decorate it and every call goes through
``Cache.get_or_set``, so misses are stampede-protected and hot keys refresh
early. The wrapper has ``.invalidate(*args, **kwargs)`` to drop one result and
``.cache_key(*args, **kwargs)`` to see its key.

Not for: functions with side effects, results that depend on something other
than the arguments (the clock, the current user), or arguments without a stable
JSON form (objects, ``self``) unless you pass ``key=``.

How it fails: an argument with no canonical JSON form raises ``TypeError`` --
never a key built from ``hash()``, which differs between processes. Otherwise it
fails like ``get_or_set``: a dead cache server serves the function's result
uncached, and an exception from the function propagates with nothing cached.

Keys are ``<module>.<qualname>:<arguments>``: the arguments bound to the
signature (so ``f(1)`` and ``f(x=1)`` match, defaults filled in) as canonical
JSON (:func:`valkey_redis.keys.argument_key`). Binding arguments costs more than
a cache hit, so the keys of calls with scalar arguments are remembered in-process.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from valkey_redis import keys
from valkey_redis.cache.tags import tag_list

__all__ = ["CachedFunction", "decorate"]

P = ParamSpec("P")
R = TypeVar("R")

# The decorator remembers the keys of calls whose arguments are all of these types.
# Not float: 0.0 == -0.0 (and NaN != NaN) in a dict, while their JSON keys differ.
_SCALARS = frozenset({str, int, bool, type(None)})
_MEMO_SIZE = 4096


class _Owner(Protocol):
    """What the decorator needs from its cache (a Protocol: no import of ``Cache``)."""

    def redis_key(self, key: str | int) -> str: ...
    def delete(self, *keys_: str | int) -> Any: ...
    def _get_or_set(
        self,
        key: str | int,
        name: str,
        loader: Callable[[], Any],
        ttl: float | None,
        tags: list[str],
    ) -> Any: ...


class CachedFunction(Protocol[P, R]):
    """A function wrapped by :meth:`Cache.cached`."""

    __wrapped__: Callable[P, R]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Return the cached result, calling the function on a miss."""
        ...

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> int:
        """Delete the cached result for these arguments; return 1 if it existed."""
        ...

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Return the cache key (as passed to ``Cache.get``) for these arguments."""
        ...


def decorate(
    cache: _Owner,
    func: Callable[P, R],
    *,
    ttl: float,
    key: Callable[..., str | int] | None,
    tags: Iterable[str] | Callable[..., Iterable[str]],
    asynchronous: bool = False,
) -> Any:
    """Wrap ``func`` for :meth:`Cache.cached`; the arguments are documented there.

    With ``asynchronous`` (``aio.Cache.cached``) the wrapper is a coroutine function
    and ``invalidate`` returns an awaitable; the keys are the same either way, so a
    sync and an async process share the cached results of one function.
    """
    if not asynchronous and inspect.iscoroutinefunction(func):  # it would cache coroutines
        msg = f"{func.__qualname__} is async: decorate it with valkey_redis.aio.Cache(...).cached"
        raise TypeError(msg)
    prefix = f"{func.__module__}.{func.__qualname__}"
    # Memo of scalar calls: (argument types, arguments[, keyword names]) -> (cache key,
    # full Valkey key). The types are part of it so that 1, 1.0 and True (equal in
    # Python) stay apart; the key itself is still keys.argument_key's canonical JSON.
    memo: dict[tuple[Any, ...], tuple[str, str]] = {}

    def memo_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        if not kwargs:
            return (tuple(map(type, args)), args)
        values = tuple(kwargs.values())
        return (tuple(map(type, (*args, *values))), args, tuple(kwargs), values)

    def keys_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str]:
        if key is not None:
            part = f"{prefix}:{keys.escape(key(*args, **kwargs))}"
            return part, cache.redis_key(part)
        try:
            remembered = memo_key(args, kwargs)
            found = memo.get(remembered)
        except TypeError:  # an unhashable argument (a list, a model): not memoised
            remembered, found = (), None
        if found is not None:
            return found  # only calls with scalar arguments are stored
        # `wrapper` carries func's signature, computed once below.
        part = f"{prefix}:{keys.argument_key(wrapper, args, kwargs)}"
        found = (part, cache.redis_key(part))
        if remembered and _SCALARS.issuperset(remembered[0]):
            if len(memo) >= _MEMO_SIZE:
                memo.clear()  # crude but bounded; hot calls come back at once
            memo[remembered] = found
        return found

    def call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        part, name = keys_of(args, kwargs)
        chosen = tags(*args, **kwargs) if callable(tags) else tags
        # The key is built and the ttl checked already: skip get_or_set's checks.
        tags_ = tag_list(chosen) if chosen else []
        return cache._get_or_set(part, name, lambda: func(*args, **kwargs), ttl, tags_)

    async def awaiting(*args: Any, **kwargs: Any) -> Any:  # a coroutine function, as
        return await call(args, kwargs)  # frameworks (FastAPI) check for

    def blocking(*args: Any, **kwargs: Any) -> Any:
        return call(args, kwargs)

    wrapper = functools.wraps(func)(awaiting if asynchronous else blocking)

    def cache_key(*args: P.args, **kwargs: P.kwargs) -> str:
        return keys_of(args, kwargs)[0]

    def invalidate(*args: P.args, **kwargs: P.kwargs) -> Any:  # an int, or its awaitable
        return cache.delete(keys_of(args, kwargs)[0])

    decorated = cast(Any, wrapper)
    decorated.__signature__ = inspect.signature(func)
    decorated.invalidate = invalidate
    decorated.cache_key = cache_key
    return wrapper
