"""One sending outbox worker per channel across instances (PostgreSQL advisory locks).

A provider's limits (Telegram: 30 messages/s) are the whole service's, not one instance's. With several
`serve` processes on PostgreSQL, the one holding a channel's advisory lock sends on that channel; the
others stand by and take over within a poll when it stops or dies (the server drops a dead session's
locks). Claims stay safe without it (FOR UPDATE SKIP LOCKED): the lock only keeps the rate right.
On SQLite (one machine, one `serve`) there is nothing to elect.
"""

from __future__ import annotations

import logging
import zlib

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from relai_bot.store.db import Database

log = logging.getLogger(__name__)


class LaneLock:
    def __init__(self, db: Database, channel: str, *, enabled: bool = True) -> None:
        self.db = db
        self.channel = channel
        self.enabled = enabled and db.dialect == "postgresql"
        self.key = zlib.crc32(f"relai_bot.outbox.{channel}".encode())
        self._connection: Connection | None = None

    def held(self) -> bool:
        """True when this worker may send on the channel (takes the lock if it is free). Blocking."""
        if not self.enabled:
            return True
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:
                log.warning("lost the %s lane (database connection gone)", self.channel)
                self._drop()
        try:
            connection = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError:
            return False
        try:
            taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
        except SQLAlchemyError:
            connection.invalidate()
            connection.close()
            return False
        if taken:
            log.info("this outbox worker now sends on the %s lane", self.channel)
            self._connection = connection
            return True
        connection.close()
        return False

    @property
    def holding(self) -> bool:
        """This worker sends on the channel now (as far as it last knew: no database round trip)."""
        return not self.enabled or self._connection is not None

    def taken_elsewhere(self) -> bool:
        """Another session holds the channel's lock (another instance sends on it). Blocking, one query."""
        if not self.enabled:
            return False
        with self.db.engine.connect() as connection:
            found = connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = 0 AND objid::bigint = :key AND objsubid = 1 AND pid <> pg_backend_pid()"
                ),
                {"key": self.key},
            ).scalar()
        return bool(found)

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._connection.close()
        except SQLAlchemyError:
            self._drop()
        self._connection = None

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.invalidate()  # closes the session for good: the server frees its locks
            self._connection.close()
            self._connection = None
