"""Salted password hashes with ``hashlib.scrypt``; constant-time checks.

Use for the shop's seeded users (and any demo that stores passwords). Not for:
choosing parameters for a real service without measuring them on its hardware.

How it fails: a stored hash in any other format never verifies (False), it never
raises; a wrong password costs as much time as a right one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["hash_password", "verify_password"]

_N, _R, _P = 2**14, 8, 1  # about 16 MiB and a few tens of ms per check


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)


def hash_password(password: str) -> str:
    """Return ``scrypt$n$r$p$<salt hex>$<hash hex>`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = _derive(password, bytes.fromhex(salt), int(n), int(r), int(p))
        return hmac.compare_digest(computed, bytes.fromhex(digest))
    except ValueError:
        return False


#: Checked when the user does not exist, so an unknown name takes as long as a known one.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
