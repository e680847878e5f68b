"""Backups of the embedded SQLite database, taken while `serve` runs, and brought back.

A copy is made with SQLite's online backup API in one step: one read transaction, so the copy is the
database as it was at one moment, every turn whole or absent, while the service goes on writing (WAL:
readers do not block the writer). The copy is a single self-contained file (rollback journal, no -wal
beside it), written under a temporary name, checked (`PRAGMA integrity_check`, the schema's revision),
then renamed: a backup that exists is a whole one.

Restoring writes a checked copy back over the database through the same API, under the database's write
lock (a running `serve` waits, then reads the restored data), after keeping a copy of what was there. On
PostgreSQL, pg_dump and pg_restore do this (README, "Upgrading").
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from relai_bot.store.db import SQLITE_WAIT, VERSION_TABLE

# What a copy is described by: how many of these rows it holds
COUNTED = ("resident", "appointment", "slot", "outbox_message", "message_log")


class BackupError(RuntimeError):
    """The copy cannot be made or used; the message says why in one line."""


@dataclass(frozen=True)
class Copy:
    path: Path
    revision: str | None
    rows: dict[str, int]
    size: int


def sqlite_file(url: str) -> Path:
    """The database file of a sqlite:/// URL; BackupError for another database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        raise BackupError(
            "backup and restore copy the embedded SQLite file; on PostgreSQL use pg_dump and pg_restore (README)"
        )
    return Path(parsed.database)


def default_destination(database: Path, now: datetime) -> Path:
    """Beside the database: relai_bot-backup-20261208-0630.sqlite3 (UTC)."""
    return database.with_name(f"{database.stem}-backup-{now:%Y%m%d-%H%M%S}.sqlite3")


def backup(url: str, destination: Path) -> Copy:
    """A consistent copy of the database at `destination` (which must not exist)."""
    source = sqlite_file(url)
    if not source.is_file():
        raise BackupError(f"there is no database at {source}")
    if destination.exists():
        raise BackupError(f"{destination} exists already: choose another name")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    partial.unlink(missing_ok=True)
    try:
        with _connect(source) as live, _connect(partial) as copy:
            live.backup(copy)  # all pages in one step: one read transaction, one moment
            copy.execute("PRAGMA journal_mode=DELETE")  # one file, nothing beside it
        checked = describe(partial)
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return Copy(destination, checked.revision, checked.rows, destination.stat().st_size)


def describe(path: Path) -> Copy:
    """A backup's revision and row counts, after SQLite found it whole; BackupError if it is not one."""
    if not path.is_file():
        raise BackupError(f"there is no file at {path}")
    try:
        with _connect(path) as copy:
            (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise BackupError(f"{path} is damaged: {verdict}")
            tables = {name for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if VERSION_TABLE not in tables or "resident" not in tables:
                raise BackupError(f"{path} is not a relai-bot database")
            row = copy.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
            rows = {
                name: copy.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in COUNTED if name in tables
            }
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a SQLite database ({error})") from None
    return Copy(path, row[0] if row else None, rows, path.stat().st_size)


def restore(url: str, source: Path, *, keep: Path | None) -> Copy:
    """Write the backup `source` over the database; what was there is first copied to `keep` (if the
    database exists and `keep` is given). Returns the restored database's description."""
    checked = describe(source)
    target = sqlite_file(url)
    if keep is not None and target.is_file():
        backup(url, keep)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _connect(source) as copy, _connect(target) as live:
        copy.backup(live)  # under the database's write lock: a running serve waits, then reads this
        live.execute("PRAGMA journal_mode=WAL")  # the embedded database's mode (serve sets it at connect too)
    restored = describe(target)
    if restored.rows != checked.rows:
        raise BackupError(f"the restored database does not hold what {source} holds: {restored.rows}")
    return restored


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, timeout=SQLITE_WAIT, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()
