"""Migrations: an empty database reaches head, and the migrated schema is exactly what the models declare."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, text
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

from relai_bot.cli import app
from relai_bot.store.db import Database, alembic_config, current_revision, head_revision, revision_of, upgrade
from relai_bot.store.models import Scheme


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, pool_size=2)
    yield database
    database.dispose()


def test_there_is_one_head() -> None:
    assert head_revision() is not None


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    """head_revision reads the scripts' revision lines without Alembic: it must name Alembic's own head."""
    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def alembics_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_the_revision_read_with_plain_sql_is_alembics(db: Database) -> None:
    assert current_revision(db) is None and alembics_revision(db) is None
    upgrade(db, "0008_eligibility")
    assert current_revision(db) == alembics_revision(db) == "0008_eligibility"
    upgrade(db)
    assert current_revision(db) == alembics_revision(db) == head_revision()
    with db.engine.begin() as connection:  # rows of two unmerged branches: no revision the code expects
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0099_elsewhere')"))
        assert revision_of(connection) == f"{head_revision()}+0099_elsewhere"  # sorted


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


def test_schemes_stored_before_their_texts_get_none_and_keep_their_french(db: Database) -> None:
    """0009_scheme_texts: a scheme already there has no text in another language (an empty mapping, not
    null), and its French columns stay as they were."""
    upgrade(db, "0008_eligibility")
    empty = "[]"
    row = {
        "code": "pec",
        "name": "Parcours emploi compétences",
        "summary": "Un emploi payé.",
        "details": "Dix mois.",
        "operator": "L'État",
        "no": False,
        "yes": True,
        "empty": empty,
    }
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO scheme (code, name, summary, details, operator, disabled_any_age, without_work,"
                " available_locally, verified, age_exceptions, situations, criteria, priority, goals, keywords,"
                " sources) VALUES (:code, :name, :summary, :details, :operator, :no, :no, :yes, :yes, :empty,"
                " :empty, :empty, :empty, :empty, :empty, :empty)"
            ),
            row,
        )
    upgrade(db)
    with Session(db.engine) as session:
        scheme = session.exec(select(Scheme).where(Scheme.code == "pec")).one()
    assert scheme.texts == {}
    assert scheme.name == "Parcours emploi compétences"


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
