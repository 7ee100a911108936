"""The capstone: a small web shop where every pattern of the course runs together.

Use when you want to see cache-aside, tag invalidation, sessions, rate limits, a
fenced lock, write-behind and metrics behind a real web framework, async, under
load: ``make app`` serves it on 127.0.0.1:8000, ``make load`` measures it.

Not for: production use as is (two seeded demo users, one SQLite file).

How it fails: the shop stays up while Valkey is down: reads come from the
database (slower), rate limits fail open, and what needs Valkey to be correct
(sessions, checkout, invalidation) answers 503 or says the cache may be stale.
See ``docs/capstone.md``.
"""

from __future__ import annotations

from valkey_redis.shop.app import create_app
from valkey_redis.shop.settings import Settings
from valkey_redis.shop.valkey import Valkey

__all__ = ["Settings", "Valkey", "create_app"]
