"""Exercise 10 — pub/sub invalidation and a local cache.

Before you start: read "Invalidation" in docs/patterns.md, run `make example-7`.
Then replace each `raise NotImplementedError` and run `make grade EX=10`.
Stuck? `make hint EX=10`. Solved? Compare with exercises/solutions/exercise_10.py.

A copy kept in the process's own memory is the fastest read there is, and the
stalest: another process may have changed the value long ago. Every process
keeps a `LocalCache` on the same channel; a write goes to Valkey and then
announces the key on the channel, and every cache drops its copy of it.
`client` is a redis-py client with `decode_responses=True`.

Start with `__init__` (every task needs it), then:
1. LocalCache.get    — serve from the local copy, else GET and keep it.
2. LocalCache.set    — write through to Valkey with the TTL, then publish the key.
3. LocalCache.listen — the background listener: drop published keys; drop
                       everything when its connection drops.
4. LocalCache.close  — stop the listener.
"""

from __future__ import annotations

import redis


class LocalCache:
    """Values of Valkey keys kept in this process, dropped when any process publishes the key.

    Args:
        client: a redis-py client with ``decode_responses=True``.
        channel: the pub/sub channel every ``LocalCache`` of this data shares.

    When the constructor returns, the cache is already subscribed to ``channel``
    (a key published right afterwards is not missed), and a daemon thread runs
    :meth:`listen` in the background (say ``daemon=True``: a thread started by
    an application's main thread is not a daemon otherwise).
    """

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self.client = client
        self.channel = channel
        # TODO: a dict for the local copies, and a lock: two threads use it.
        # TODO: subscribe to `channel` (client.pubsub()) and wait for the
        #       confirmation, so that no message published from now on is missed.
        # TODO: start a daemon threading.Thread running self.listen.
        raise NotImplementedError

    def get(self, key: str) -> str | None:
        """Return the value of ``key``: the local copy, else a GET to Valkey (kept locally).

        A second read of the same key sends no command at all. A key Valkey does
        not have returns None and is not kept: the next get asks Valkey again.
        If an invalidation arrives while the GET is on the wire, the answer may
        be older than it: return it, but do not keep it (count the drops, say).
        """
        # TODO: the local copy, if there is one.
        # TODO: otherwise GET it, keep it (unless it is None), and return it.
        raise NotImplementedError

    def set(self, key: str, value: str, ttl: int) -> None:
        """Write ``value`` to Valkey with a TTL of ``ttl`` seconds, then publish ``key``.

        The value and its TTL go in one command (``SET ... EX``), so that no crash
        can leave the key without a TTL. The message is the key itself.

        Every ``LocalCache`` on the channel, in this process or another, drops its
        copy of ``key`` when the message arrives; this one's next get returns
        ``value`` at once. Publish only after the write: a cache that drops its
        copy and reads again before the write lands would keep the old value.
        If the write fails, the error propagates and no copy of ``value`` is
        kept: only a value Valkey accepted may be served locally.
        """
        # TODO: SET with the TTL, in one command.
        # TODO: then PUBLISH the key on the channel, and forget this cache's own copy.
        raise NotImplementedError

    def listen(self) -> None:
        """The listener loop, run by the background thread until :meth:`close`.

        For each message on the channel, drop the local copy of the key it names,
        and only that one (the other copies stay). Wait on the socket for each
        message (``get_message(timeout=0.1)``), never a loop that spins: the
        grader counts the reads of an idle listener (a few hundred a second at
        most).
        When the listener's connection drops (the server restarted, a network
        blip, ``CLIENT KILL``), messages may have been missed while it was gone:
        drop every local copy, then keep listening (redis-py reconnects and
        subscribes again on the next read). Two things show it, and each alone
        must drop every copy: a read that raises ``redis.ConnectionError`` (the
        server unreachable), and a new "subscribe" confirmation (redis-py
        reconnected and subscribed again by itself, without raising).
        """
        # TODO: loop until closed: read a message with a short timeout
        #       (pubsub.get_message(timeout=...)) and drop the key it names.
        # TODO: on redis.ConnectionError, or a second "subscribe" confirmation
        #       (redis-py reconnected on its own), drop every local copy.
        raise NotImplementedError

    def close(self) -> None:
        """Stop the listener: its thread ends and its connection leaves the channel.

        The loop notices it was closed and returns; it must not be stopped by
        crashing it (closing the pubsub under its feet makes it raise).
        """
        # TODO: tell the loop to stop, wait for the thread (join), close the pubsub.
        raise NotImplementedError
