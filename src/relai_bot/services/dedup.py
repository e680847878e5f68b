"""Handled once: the one guard that says whether a key (a provider's message id, a marker) is new.

Keys are kept with the processed-message ids, so the answer holds for every instance until the scheduler
purges them (48 hours). The insert either takes the key or does nothing, atomically on SQLite and
PostgreSQL, so two instances given the same key at once cannot both see it as new.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from relai_bot.store.models import ProcessedMessage

# The longest key kept (the column's size); a longer key counts by its first characters
KEY_CHARS = 80


def first_time(session: Session, channel: str, key: str, now: datetime) -> bool:
    """True the first time `key` is seen for `channel`, False ever after (until purged)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(ProcessedMessage)
        .values(channel=channel, external_id=key[:KEY_CHARS], received_at=now)
        .on_conflict_do_nothing()
        .returning(ProcessedMessage.external_id)  # rowcount is -1 here on PostgreSQL (psycopg 3)
    )
    return session.execute(statement).first() is not None
