"""The shop's settings, read once from the environment (``SHOP_*``, ``PORT``, ``VALKEY_URL``).

Use when starting the app (``make app``) or building it in a test
(``Settings(rate_limit=(5, 60))``). Not for: secrets (the shop has none to keep).

How it fails: a malformed value (``SHOP_RATE_LIMIT=ten``) raises ``ValueError``
naming the variable and the expected form, before the app starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "parse_rate_limit"]


def parse_rate_limit(text: str) -> tuple[int, float]:
    """``"100/10"`` -> ``(100, 10.0)``: N requests per S seconds.

    Raises:
        ValueError: unless N is a positive integer and S a positive number.
    """
    count, sep, window = text.partition("/")
    try:
        limit, seconds = int(count), float(window)
    except ValueError:
        limit, seconds = 0, 0.0
    if not sep or limit <= 0 or not seconds > 0:
        msg = f"SHOP_RATE_LIMIT must look like N/S (N requests per S seconds), got {text!r}"
        raise ValueError(msg)
    return limit, seconds


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("0", "off", "false", "no", "")


@dataclass(frozen=True)
class Settings:
    """What the shop can be told.

    Attributes:
        rate_limit: ``(N, S)``: N requests per S seconds, per client address and per user.
        cache: cache product reads (off for the load test's no-cache baseline).
        stampede_protection: one loader per key (``get_or_set``) rather than get-then-set.
        cache_ttl: seconds a product stays cached.
        negative_ttl: seconds an unknown product id stays cached as "not found".
        session_ttl: idle seconds before a session expires.
        db_path: the SQLite file; a fresh temporary one when None.
        db_delay: seconds the slow product query takes.
        db_pool: queries the database serves at once (its connection pool).
        products: how many products the seeded database holds.
        lock_timeout: the checkout lock's lease, in seconds.
    """

    rate_limit: tuple[int, float] = (100, 10.0)
    cache: bool = True
    stampede_protection: bool = True
    cache_ttl: float = 60.0
    negative_ttl: float = 30.0
    session_ttl: float = 1800.0
    db_path: Path | None = None
    db_delay: float = 0.08
    db_pool: int = 4
    products: int = 200
    lock_timeout: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the ``SHOP_*`` variables (each optional; see the class docstring).

        ``SHOP_RATE_LIMIT=N/S``, ``SHOP_CACHE=on|off``, ``SHOP_STAMPEDE=on|off``,
        ``SHOP_CACHE_TTL=seconds``, ``SHOP_DB=path``.

        Raises:
            ValueError: for a malformed value.
        """
        env = os.environ if env is None else env
        base = cls()
        db = env.get("SHOP_DB")
        return cls(
            rate_limit=parse_rate_limit(env["SHOP_RATE_LIMIT"])
            if env.get("SHOP_RATE_LIMIT")
            else base.rate_limit,
            cache=_flag(env.get("SHOP_CACHE", "on")),
            stampede_protection=_flag(env.get("SHOP_STAMPEDE", "on")),
            cache_ttl=float(env.get("SHOP_CACHE_TTL", base.cache_ttl)),
            db_path=Path(db) if db else None,
        )
