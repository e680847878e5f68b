"""Handled once: the one guard that says whether a key (a provider's message id, a marker) is new.

Keys are kept with the processed-message ids, so the answer holds for every instance until the scheduler
purges them (48 hours). The insert either takes the key or does nothing, atomically on SQLite and
PostgreSQL, so two instances given the same key at once cannot both see it as new.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import Session

from relai_bot.store.db import upsert_insert
from relai_bot.store.models import ProcessedMessage

# The longest key kept (the column's size); a longer key counts by its first characters
KEY_CHARS = 80


def first_time(session: Session, channel: str, key: str, now: datetime) -> bool:
    """True the first time `key` is seen for `channel`, False ever after (until purged)."""
    connection = session.connection()  # a turn's first statement: straight to the connection, prepared once
    row = {"channel": channel, "external_id": key[:KEY_CHARS], "received_at": now}
    return connection.execute(_insert_once(connection.dialect.name), row).first() is not None


@cache
def _insert_once(dialect: str) -> ReturningInsert[tuple[str]]:
    table = ProcessedMessage.__table__  # type: ignore[attr-defined]
    return upsert_insert(dialect, table).on_conflict_do_nothing().returning(table.c.external_id)
