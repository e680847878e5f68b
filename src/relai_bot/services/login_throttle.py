"""The sign-in back-off: after repeated failures an account (or a client address) waits, longer each time.

One rule for both: `FREE_FAILURES` failures cost nothing, the next one locks for `FIRST_LOCK`, and every
further failure doubles the wait, up to `MAX_LOCK`. A success clears the account's count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from relai_bot.store.models import LoginThrottle

FREE_FAILURES = 5
# A client address (a shared office may sit behind one) gets more tries before it waits
FREE_FAILURES_PER_CLIENT = 20
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(hours=1)


def lock_after(failures: int, *, free: int = FREE_FAILURES) -> timedelta | None:
    """How long to wait after `failures` consecutive failures (None: no wait yet)."""
    if failures <= free:
        return None
    return min(FIRST_LOCK * (1 << min(failures - free - 1, 20)), MAX_LOCK)


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and locked_until > now


def client_locked_until(session: Session, client: str | None, now: datetime) -> datetime | None:
    if not client:
        return None
    row = session.get(LoginThrottle, _key(client))
    return row.locked_until if row is not None and is_locked(row.locked_until, now) else None


def client_failed(session: Session, client: str | None, now: datetime) -> datetime | None:
    """Count a failure from this client address; the time it must wait until, if it must."""
    if not client:
        return None
    row = session.get(LoginThrottle, _key(client))
    if row is None or (row.last_failure_at < now - MAX_LOCK and not is_locked(row.locked_until, now)):
        row = row or LoginThrottle(key=_key(client), last_failure_at=now)
        row.failures = 0  # an hour of quiet starts the count again
    row.failures += 1
    row.last_failure_at = now
    wait = lock_after(row.failures, free=FREE_FAILURES_PER_CLIENT)
    row.locked_until = now + wait if wait is not None else None
    session.add(row)
    return row.locked_until


def _key(client: str) -> str:
    return f"ip:{client}"[:120]
