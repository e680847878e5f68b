"""`relai-bot backup` and `relai-bot restore` on the embedded SQLite database: a copy taken while residents
are being written is whole (every row it holds points at rows it holds), and restoring it brings back every
resident and appointment as they were; restore asks for --yes, keeps what was there, refuses what is not
a backup; on PostgreSQL both point to pg_dump."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import delete, select, update
from typer.testing import CliRunner

from relai_bot.cli import app
from relai_bot.clock import FrozenClock
from relai_bot.store.models import Appointment, ChannelAddress, Resident
from relai_bot.wiring import Runtime
from tests.agenda_support import appointment_at, local
from tests.conftest import make_runtime
from tests.delivery_support import add_residents
from tests.proof import record

pytestmark = pytest.mark.proof  # its figures go to docs/reliability.md (`make proof`)

TABLES = ("resident", "channel_address", "appointment", "slot")


def rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()


def populated(tmp_path: Path) -> tuple[Runtime, Path, dict[str, str]]:
    """Demo data, 30 residents, 5 of them with an appointment."""
    database = tmp_path / "relai.sqlite3"
    clock = FrozenClock(local(2026, 12, 7, 9))
    runtime = make_runtime(f"sqlite:///{database}", clock)
    with runtime.db.transaction() as session:
        residents = add_residents(session, 30, clock.now())
    for index, resident in enumerate(residents[:5]):
        appointment_at(runtime, resident, local(2026, 12, 9, 9) + timedelta(hours=index))
    return runtime, database, {"RELAI_DATABASE_URL": f"sqlite:///{database}"}


def test_a_backup_taken_while_residents_are_written_is_whole_and_brings_everyone_back(tmp_path: Path) -> None:
    runtime, database, env = populated(tmp_path)
    stop = threading.Event()
    written = [0]  # residents the writer added while the backup ran

    def keep_writing() -> None:  # a turn's worth of writes, again and again, as serve would
        while not stop.is_set():
            with runtime.db.transaction() as session:
                add_residents(session, 3, runtime.clock.now(), first_address=50_000 + written[0])
            written[0] += 3

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        copy = tmp_path / "copies" / "monday.sqlite3"
        result = CliRunner().invoke(app, ["backup", "--to", str(copy)], env=env)
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    assert f"backup written: {copy}" in result.output and "appointment 5" in result.output
    assert not copy.with_name(copy.name + ".part").exists() and not Path(f"{copy}-wal").exists()
    with sqlite3.connect(copy) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        residents, addresses = (
            connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("resident", "channel_address")
        )
    assert residents == addresses and residents % 3 == 0 and residents >= 30  # whole turns only
    saved = {table: rows(copy, table) for table in TABLES}

    # Later: appointments and addresses lost, names overwritten (a wrong manipulation); the backup comes back
    with runtime.db.transaction() as session:
        session.exec(delete(Appointment))  # type: ignore[call-overload]
        session.exec(delete(ChannelAddress).where(ChannelAddress.resident_id > 10))  # type: ignore[call-overload, arg-type]
        session.exec(update(Resident).values(display_name="Écrasé"))  # type: ignore[call-overload]
    refused = CliRunner().invoke(app, ["restore", str(copy)], env=env)
    assert refused.exit_code == 2 and "stop relai-bot serve, then run again with --yes" in refused.output
    assert rows(database, "appointment") == []
    restored = CliRunner().invoke(app, ["restore", str(copy), "--yes"], env=env)
    back = {table: rows(database, table) for table in TABLES}
    record(
        "backup",
        backups_taken_while_writing=1,
        residents_written_during_the_backup=written[0],
        residents_expected=residents,  # as many as the copy holds: the 30, and whole turns of the writer
        residents_restored=len(back["resident"]),
        appointments_expected=5,
        appointments_restored=len(back["appointment"]),
        lost=sum(len(set(saved[table]) - set(back[table])) for table in TABLES),  # rows of the copy not back
    )
    assert restored.exit_code == 0, restored.output
    for table in TABLES:
        assert back[table] == saved[table], table
    # What was there before the restore was kept aside
    (kept,) = tmp_path.glob("relai-before-restore-*.sqlite3")
    assert rows(kept, "appointment") == [] and len(rows(kept, "channel_address")) == 10
    # The running runtime reads the restored data (same file, WAL again)
    with runtime.db.transaction() as session:
        assert len(session.exec(select(Appointment)).all()) == 5
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    runtime.close()


def test_restore_refuses_what_is_not_a_backup_and_backup_never_overwrites(tmp_path: Path) -> None:
    runtime, database, env = populated(tmp_path)
    runtime.close()
    text = tmp_path / "notes.txt"
    text.write_text("pas une base\n" * 200)
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x)")
    for path, reason in ((text, "is not a SQLite database"), (other, "is not a relai-bot database")):
        result = CliRunner().invoke(app, ["restore", str(path), "--yes"], env=env)
        assert result.exit_code == 2 and reason in result.output, result.output
    assert len(rows(database, "appointment")) == 5
    taken = tmp_path / "copy.sqlite3"
    assert CliRunner().invoke(app, ["backup", "--to", str(taken)], env=env).exit_code == 0
    again = CliRunner().invoke(app, ["backup", "--to", str(taken)], env=env)
    assert again.exit_code == 2 and "exists already" in again.output


def test_on_postgresql_both_point_to_pg_dump(tmp_path: Path) -> None:
    env = {"RELAI_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"}
    for args in (["backup"], ["restore", str(tmp_path / "x.sqlite3"), "--yes"]):
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 2 and "pg_dump" in result.output, result.output
