"""The grader's Valkey Cluster: three primaries started once per run, only when a check needs it.

Use :class:`ClusterHandle` in :func:`~valkey_redis.grading.workspace.grading_backends`
(its ``url`` starts the cluster on first use, on free ports; ``stop`` ends it), and
:class:`ClusterEnv` from checks marked ``on=("cluster",)`` through ``ctx.env.cluster``:
the grader's own ``RedisCluster`` client (every primary flushed for each check) and
:meth:`ClusterEnv.learner`, the client handed to learner code, which notes every
pipeline it opens and whether it was a transaction.

Not for: a cluster you care about (checks flush it), or one you started yourself
with ``make cluster-up`` (the grader never uses it).

How it fails: :class:`~valkey_redis.server.ServerError` from the first check that
needs the cluster when its nodes cannot start or agree; that check fails with the
reason and the others go on.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from redis.cluster import ClusterPipeline, RedisCluster

from valkey_redis.cluster import EmbeddedCluster

if TYPE_CHECKING:
    from valkey_redis.grading.harness import Env

__all__ = ["PRIMARIES", "ClusterEnv", "ClusterHandle", "TracedCluster"]

PRIMARIES = 3


class ClusterHandle:
    """A cluster of ``PRIMARIES`` primaries (no replicas), started on the first ``url()``."""

    def __init__(self) -> None:
        self._cluster: EmbeddedCluster | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """Has a check needed the cluster yet?"""
        return self._cluster is not None

    @property
    def ports(self) -> list[int]:
        """The nodes' ports ([] until started)."""
        return [] if self._cluster is None else self._cluster.ports

    def url(self) -> str:
        """A node's URL, starting the cluster the first time (about two seconds)."""
        with self._lock:
            if self._cluster is None:
                self._cluster = EmbeddedCluster(primaries=PRIMARIES, replicas=0).start()
            return self._cluster.url

    def stop(self) -> None:
        """Stop every node (each by its pid), if it was started."""
        with self._lock:
            cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.stop()


class TracedCluster(RedisCluster):
    """The learner's cluster client: notes each pipeline it opens (transaction or not)."""

    def __init__(self, url: str, env: Env) -> None:
        # Set before the base class runs: it sends commands (slot discovery) itself.
        self.env = env
        #: One entry per pipeline opened: was it a MULTI/EXEC transaction?
        self.pipelines: list[bool] = []
        super().__init__(url=url, decode_responses=True, socket_timeout=10)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """Every command: refused once the check is over."""
        self.env.ensure_alive()
        run: Any = RedisCluster.execute_command  # untyped in redis-py
        return run(self, *args, **kwargs)

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> ClusterPipeline:
        """A cluster pipeline; on a cluster, ``pipeline()`` is *not* a transaction by default."""
        self.env.ensure_alive()
        self.pipelines.append(bool(transaction))
        make: Any = RedisCluster.pipeline  # untyped in redis-py
        return cast(ClusterPipeline, make(self, transaction=transaction, shard_hint=shard_hint))


class ClusterEnv:
    """One check's view of the grader's cluster."""

    def __init__(self, env: Env, url: str) -> None:
        self.env = env
        self.url = url
        self.client = RedisCluster.from_url(url, decode_responses=True, socket_timeout=10)
        self.client.flushall(target_nodes=RedisCluster.PRIMARIES)
        self._learners: list[TracedCluster] = []

    def learner(self) -> TracedCluster:
        """A new client for learner code."""
        client = TracedCluster(self.url, self.env)
        self._learners.append(client)
        return client

    def keys(self) -> list[str]:
        """Every key on every primary (the per-check cluster is tiny)."""
        found: set[str] = set()
        primaries: Any = self.client.get_primaries  # untyped in redis-py
        for node in primaries():
            found.update(str(k) for k in self.client.scan_iter(count=1000, target_nodes=node))
        return sorted(found)

    def slot_owner(self, key: str) -> str:
        """``host:port`` of the primary that owns ``key``'s slot."""
        lookup: Any = self.client.get_node_from_key  # untyped in redis-py
        node = lookup(key)
        return f"{node.host}:{node.port}"

    def close(self) -> None:
        """Close every client made for the check."""
        for client in [*self._learners, self.client]:
            client.close()
