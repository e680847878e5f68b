"""The back-office sessions that are open. The session itself rides in a signed cookie, which the server
cannot take back: a copy kept from before signing out would still open the back-office. So each sign-in
opens a row here, named by a random key the cookie carries, and signing out deletes it; a cookie whose key
names no open row is refused. Only the key's SHA-256 hash is stored (a copy of the database opens nothing).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from relai_bot.store.models import StaffSession

# A session's longest life, whatever the activity (the inactivity limit ends it sooner); the cookie's too
LIFETIME = timedelta(hours=12)


def open_session(session: Session, account_id: int, *, now: datetime) -> str:
    """A new session for this account: the key its cookie carries. Sessions past their life are dropped."""
    session.exec(delete(StaffSession).where(col(StaffSession.started_at) < now - LIFETIME))
    key = secrets.token_urlsafe(32)
    session.add(StaffSession(key_hash=_hash(key), staff_user_id=account_id, started_at=now))
    return key


def is_open(session: Session, account_id: int, key: object, *, now: datetime) -> bool:
    """Whether `key` (as read from a cookie) names an open session of this account, still within its life."""
    if not isinstance(key, str) or not key:
        return False
    row = session.get(StaffSession, _hash(key))
    return row is not None and row.staff_user_id == account_id and row.started_at > now - LIFETIME


def close_session(session: Session, key: object) -> None:
    """End this session for good (signing out); nothing happens for a key that names none."""
    if isinstance(key, str) and key:
        session.exec(delete(StaffSession).where(col(StaffSession.key_hash) == _hash(key)))


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
