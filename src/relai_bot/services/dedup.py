"""Handled once: the one guard that says whether a key (a provider's message id, a marker) is new.

Keys are kept with the processed-message ids, so the answer holds for every instance until the scheduler
purges them (48 hours). The insert either takes the key or does nothing, atomically on SQLite and
PostgreSQL, so two instances given the same key at once cannot both see it as new.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col

from relai_bot.store.db import insert_new
from relai_bot.store.models import ProcessedMessage

# The longest key kept (the column's size); a longer key counts by its first characters
KEY_CHARS = 80


def first_time(session: Session, channel: str, key: str, now: datetime) -> bool:
    """True the first time `key` is seen for `channel`, False ever after (until purged)."""
    row = {"channel": channel, "external_id": key[:KEY_CHARS], "received_at": now}
    statement = insert_new(session, ProcessedMessage, row).returning(col(ProcessedMessage.external_id))
    return session.execute(statement).first() is not None
