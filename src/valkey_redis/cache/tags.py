"""Tag-based invalidation: a set per tag listing the cache keys stored with it.

Use this when one change makes many entries stale and you cannot name them all:
store entries with ``tags=["user:42"]``, then ``invalidate_tags("user:42")``
deletes every entry that mentions the user. :class:`TagIndex` keeps, for each
tag, a set ``namespace:tags:<tag>`` of full cache keys.

Not for: exact-key invalidation (``Cache.delete`` is one command), or one tag on
everything: a tag set is one key, so on Valkey Cluster one hot tag puts all its
index traffic on one primary. Tag per entity (a user, an invoice), not per feature.

How it fails:
- A ``set`` racing with ``invalidate_tags`` can survive until its TTL: if the
  entry is written after the index was read and removed, the new member lands in
  a fresh set and the entry stays. Invalidate again after the write if that
  window matters.
- A crash between indexing and writing leaves a harmless dangling member (its
  key does not exist); the index is written *first* so that the opposite -- an
  entry that ``invalidate_tags`` cannot find -- never happens.
- Tag sets expire: their TTL only grows, and is always a little longer than the
  longest-lived entry they list, so the index never disappears before its members.
- Server errors raise ``redis.exceptions.RedisError``: losing an invalidation
  silently would serve stale data. Each step (read the set, remove exactly those
  members, delete the entries) is idempotent, so redis-py's retry after a lost
  reply re-runs it safely; a set popped atomically would be empty on the retry,
  and the entries would stay.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from valkey_redis import keys
from valkey_redis.core.flow import Command, Eval, Flow
from valkey_redis.core.scripts import script

__all__ = ["TagIndex", "tag_list"]

# Tag sets are written just before their entry: this slack keeps them alive a little
# longer than it, so an entry is never left without its index.
TAG_SLACK_MS = 5_000
_ADD = script("cache_tag_add")


def tag_list(tags: Iterable[str]) -> list[str]:
    """Return ``tags`` as a list after checking each is a non-empty string.

    Raises:
        TypeError: for a bare string (a common slip for ``[tag]``) or a non-string tag.
        ValueError: for an empty tag.
    """
    if isinstance(tags, str):
        msg = f"tags must be a list of strings, e.g. tags=[{tags!r}], not a single string"
        raise TypeError(msg)
    out = list(tags)
    for tag in out:
        keys.escape(tag)  # TypeError/ValueError for non-str or empty tags
        if not isinstance(tag, str):
            msg = f"tags must be strings, not {type(tag).__name__}"
            raise TypeError(msg)
    return out


class TagIndex:
    """The tag sets of one cache namespace (flows: both cache faces run them).

    Args:
        namespace: the cache's namespace; tag sets live at ``namespace:tags:<tag>``.
    """

    def __init__(self, namespace: str) -> None:
        self._namespace = namespace

    def key(self, tag: str) -> str:
        """Return the key of ``tag``'s index set."""
        return keys.join(self._namespace, "tags", tag)

    def add(self, name: str, px: int, tags: Iterable[str]) -> Flow[None]:
        """List the cache key ``name`` (living ``px`` ms) in each tag's set.

        One script per tag (tag sets hash to their own slots on a cluster); each
        adds the member and stretches the set's TTL to outlive it.
        """
        for tag in tags:
            yield Eval(_ADD, (self.key(tag),), (name, px + TAG_SLACK_MS))

    def members(self, tags: Iterable[str]) -> Flow[list[str]]:
        """Return the members of the sets of ``tags`` (full cache keys), deduplicated."""
        members: dict[str, None] = {}
        for tag in tags:
            found = cast(list[Any], (yield Command(("SMEMBERS", self.key(tag)))))
            for member in found:
                members[member.decode() if isinstance(member, bytes) else member] = None
        return list(members)

    def remove(self, tags: Iterable[str], members: list[str]) -> Flow[None]:
        """Remove ``members`` (read by :meth:`members`, deleted next) from the sets of ``tags``.

        Only those members: one added meanwhile stays listed, so the next
        invalidation finds it. SREM is idempotent, so a retried call is harmless.
        """
        if not members:
            return
        for tag in tags:
            yield Command(("SREM", self.key(tag), *members))
