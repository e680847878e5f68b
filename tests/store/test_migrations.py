"""Migrations: an empty database reaches head, and the migrated schema is exactly what the models declare."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlmodel import SQLModel
from typer.testing import CliRunner

from relai_bot.cli import app
from relai_bot.store.db import Database, current_revision, head_revision, upgrade


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, pool_size=2)
    yield database
    database.dispose()


def test_there_is_one_head() -> None:
    assert head_revision() is not None


def test_an_empty_database_upgrades_to_head(db: Database) -> None:
    assert current_revision(db) is None
    upgrade(db)
    assert current_revision(db) == head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables


def test_the_migrations_match_the_models(db: Database) -> None:
    upgrade(db)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, SQLModel.metadata)
        assert compare_metadata(context, MetaData()), "the comparison sees the tables at all"
    assert differences == [], "models and migrations drifted apart; write a migration"


def test_upgrading_twice_is_harmless(db: Database) -> None:
    upgrade(db)
    upgrade(db)
    assert current_revision(db) == head_revision()


def test_cli_db_upgrade(database_url: str) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"], env={"RELAI_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert result.stdout == f"schema at revision {head_revision()}\n"
    db = Database(database_url, pool_size=1)
    try:
        assert current_revision(db) == head_revision()
    finally:
        db.dispose()


def test_cli_db_upgrade_creates_the_sqlite_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'relai.sqlite3'}"
    result = CliRunner().invoke(app, ["db", "upgrade"], env={"RELAI_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "relai.sqlite3").is_file()
