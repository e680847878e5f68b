"""Database engine, transactions and migrations.

SQLite is the embedded default: WAL journal, foreign keys on, and every transaction opened with
BEGIN IMMEDIATE so that concurrent writers queue instead of failing half-way. PostgreSQL is the
scale-out database (psycopg 3).
"""

from __future__ import annotations

import ast
import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Insert, create_engine, event, inspect, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

import relai_bot.store.models  # noqa: F401  (registers the tables)
from relai_bot import metrics

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.dialects import postgresql as pg
    from sqlalchemy.dialects import sqlite

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
# Where Alembic keeps the schema's revision (its default name; env.py does not change it)
VERSION_TABLE = "alembic_version"
# A script's own revision and the one(s) it revises, as Alembic writes them: `down_revision = "0009_x"`
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)
# How long a transaction waits for SQLite's one writer before giving up (the busy timeout, in seconds)
SQLITE_WAIT = 60


def insert_new(
    session: Session,
    model: type[Any],
    values: dict[str, Any] | list[dict[str, Any]],
    *,
    unique: list[str] | None = None,
) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect: rows whose unique key exists are left alone
    (`unique`: the columns of the constraint, when the table has several). Add `.returning(...)` to learn
    which rows were new (rowcount is -1 on PostgreSQL with psycopg 3)."""
    return (
        upsert_insert(session.get_bind().dialect.name, model)
        .values(values)
        .on_conflict_do_nothing(index_elements=unique)
    )


def upsert_insert(dialect: str, table: Any) -> pg.Insert | sqlite.Insert:
    """The INSERT of `dialect` that knows ON CONFLICT (PostgreSQL's or SQLite's), for a model or a table.
    (Imported here: a process on SQLite never loads the PostgreSQL dialect.)"""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Build the SQLAlchemy engine for a database URL (sqlite:///… or postgresql+psycopg://…)."""
    engine: Engine
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_WAIT})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_WAIT * 1000}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
    event.listen(engine, "handle_error", _count_error)
    return engine


def _count_error(context: ExceptionContext) -> None:
    """Every error the driver raised, by its class (relai_database_errors); the error goes on as before."""
    metrics.DATABASE_ERRORS.labels(type(context.original_exception).__name__[:40]).inc()


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` once the session's transaction is committed, never if it rolls back (a counter counts
    what happened, not what was tried)."""
    event.listen(session, "after_commit", lambda _session: action(), once=True)


class Database:
    """The one handle on the database that services receive."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        # SQLite has one writer, and every transaction here opens with BEGIN IMMEDIATE: the threads of this
        # process take turns on this lock, woken as soon as it is free, instead of each polling SQLite's
        # lock in its busy handler (which sleeps longer and longer: seconds of latency under load).
        # Another process still waits in the busy handler. Re-entrant: a transaction opened inside
        # another in the same thread behaves as it did without the lock.
        self._writer: threading.RLock | None = threading.RLock() if self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        with self._turn_to_write(), Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _turn_to_write(self) -> Iterator[None]:
        if self._writer is None:
            yield
            return
        if not self._writer.acquire(timeout=SQLITE_WAIT):
            metrics.DATABASE_ERRORS.labels("WriterBusy").inc()
            raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("the database stayed busy"))
        try:
            yield
        finally:
            self._writer.release()

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (idempotent). A database already at head is left as it is
    without loading Alembic or the scripts (the usual start of `serve` on its SQLite file)."""
    if revision == "head" and current_revision(db) == head_revision():
        return
    from alembic import command

    config = alembic_config(db.url)
    with db.engine.connect() as connection, _foreign_keys_off(connection), connection.begin():
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        _check_foreign_keys(connection)


@contextmanager
def _foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: foreign keys not enforced while the migrations run (SQLite's own procedure for changing a table).
    Alembic changes a SQLite table by copying it and dropping the old one; with foreign keys on, that drop
    deletes the rows pointing at it first (ON DELETE CASCADE, SET NULL) or fails (the others). The pragma is
    a no-op inside a transaction: set on the driver's connection before BEGIN, and set back on afterwards."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Connection) -> None:
    """SQLite: refuse (and roll back) a migrated schema with rows whose foreign key points nowhere, as the
    enforcement off during the migrations would have let it through. Names the tables only."""
    if connection.dialect.name != "sqlite":
        return
    broken = sorted({row[0] for row in connection.exec_driver_sql("PRAGMA foreign_key_check")})
    if broken:
        raise RuntimeError(f"the migrations left rows whose foreign keys point nowhere in: {', '.join(broken)}")


def current_revision(db: Database) -> str | None:
    """The revision the database's schema is at; None before the first migration."""
    with db.engine.connect() as connection:
        return revision_of(connection)


def revision_of(connection: Connection) -> str | None:
    """The revision in Alembic's version table, read with plain SQL (what Alembic's MigrationContext reads):
    None when there is no table or no row. Several rows (unmerged branches) read as "a+b", which is no
    revision the code expects."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    found = sorted(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    return "+".join(found) if found else None


@functools.cache
def head_revision() -> str:
    """The revision the code expects: the one migration script no other revises. Read once per process
    from the scripts' `revision = ...` and `down_revision = ...` lines, without importing the scripts or
    Alembic (the tests check it against Alembic's own ScriptDirectory)."""
    revises: dict[str, set[str]] = {}
    for script in sorted(VERSIONS_DIR.glob("*.py")):
        values = {name: ast.literal_eval(value) for name, value in _ASSIGNMENT.findall(script.read_text("utf-8"))}
        if isinstance(values.get("revision"), str):
            down = values.get("down_revision")
            revises[values["revision"]] = {down} if isinstance(down, str) else set(down or ())
    heads = sorted(set(revises).difference(*revises.values()))
    if len(heads) != 1:
        raise RuntimeError(f"the migrations in {VERSIONS_DIR} have {len(heads)} heads: {heads}")
    return heads[0]


def is_empty(db: Database) -> bool:
    """True when the database has no migration applied yet."""
    return current_revision(db) is None
