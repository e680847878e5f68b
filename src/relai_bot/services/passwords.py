"""Passwords: Argon2id hashes (argon2-cffi's defaults, RFC 9106 low-memory profile) and one-time passwords."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256
_hasher = PasswordHasher()


class WeakPassword(ValueError):
    """The new password does not meet the rule (`MIN_LENGTH` characters at least)."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"at most {MAX_LENGTH} characters")
    if not password.strip():
        raise WeakPassword("not only spaces")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; a missing or unreadable hash never matches."""
    if not password_hash:
        _hasher.hash(password)  # the same work either way, so timing does not tell which accounts exist
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def one_time_password() -> str:
    """A random password shown once (16 characters from an unambiguous alphabet, ~80 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY346789"
    return "".join(secrets.choice(alphabet) for _ in range(16))
