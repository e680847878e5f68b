"""Settings: defaults, one clear line per bad setting (also from the CLI), and `relai-bot seed --demo`."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from relai_bot.cli import app
from relai_bot.config import SettingsError, load_settings
from tests.paths import REPO

RELAI_BOT = Path(sys.executable).with_name("relai-bot")

BAD_SETTINGS = [
    ("RELAI_TIMEZONE", "Mars/Olympus_Mons"),
    ("RELAI_PORT", "eighty"),
    ("RELAI_PORT", "70000"),
    ("RELAI_DATABASE_URL", "mysql://root@localhost/relai"),
    ("RELAI_LOG_LEVEL", "loud"),
    ("RELAI_CONTENT_DIR", "/no/such/folder"),
    ("RELAI_SMS_PRICE_PER_SEGMENT", "-0.07"),
    ("RELAI_SMS_CURRENCY", "euro"),
    ("RELAI_BROADCAST_APPROVAL_ABOVE", "many"),
    ("RELAI_TELEGRAM_BOT_USERNAME", "https://t.me/RelaiBot"),
]


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///relai_bot.sqlite3"
    assert settings.is_sqlite
    assert settings.timezone == "Indian/Reunion"
    assert settings.tz == ZoneInfo("Indian/Reunion")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.content_dir is None
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_a_bad_setting_is_named_in_one_line(name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"setting {name} is invalid: ")
    assert "\n" not in message
    assert "Value error" not in message  # pydantic's wording stays out of the message


def test_the_bot_username_is_kept_without_its_at(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().telegram_bot_username is None
    monkeypatch.setenv("RELAI_TELEGRAM_BOT_USERNAME", " @RelaiPossessionBot ")
    assert load_settings().telegram_bot_username == "RelaiPossessionBot"


def test_a_bad_setting_in_the_dotenv_file_is_named(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RELAI_TIMEZONE=Europe/Nowhere\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^setting RELAI_TIMEZONE is invalid: unknown time zone"):
        load_settings()


def test_postgresql_urls_get_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAI_DATABASE_URL", "postgresql://relai@db.example:5432/relai")
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://relai@db.example:5432/relai"
    assert not settings.is_sqlite
    explicit = "postgresql+psycopg://relai@db.example:5432/relai"
    assert load_settings(database_url=explicit).database_url == explicit


def test_an_empty_content_dir_means_the_shipped_content(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAI_CONTENT_DIR", "")
    assert load_settings().content_dir is None


def test_a_content_dir_holds_conversations_and_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAI_CONTENT_DIR", str(REPO))
    assert load_settings().content_dir == REPO


def test_the_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAI_LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"


# -- the CLI with a bad setting ---------------------------------------------------------------------------
COMMANDS = [
    ["serve"],
    ["chat"],
    ["seed", "--demo"],
    ["db", "upgrade"],
    ["flows", "validate"],
    ["flows", "graph", "booking"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_refuses_a_bad_setting(command: list[str]) -> None:
    result = CliRunner().invoke(app, command, env={"RELAI_TIMEZONE": "Mars/Olympus_Mons"})
    assert result.exit_code == 2
    assert result.stdout == ""
    assert re.fullmatch(r"relai-bot: setting RELAI_TIMEZONE is invalid: [^\n]+\n", result.stderr)


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_the_cli_names_each_bad_setting(name: str, value: str) -> None:
    result = CliRunner().invoke(app, ["flows", "validate"], env={name: value})
    assert result.exit_code == 2
    assert result.stderr.startswith(f"relai-bot: setting {name} is invalid: ")
    assert result.stderr.count("\n") == 1


def test_a_bad_setting_gives_one_line_and_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAI_")}
    env["RELAI_PORT"] = "eighty"
    done = subprocess.run(
        [str(RELAI_BOT), "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("relai-bot: setting RELAI_PORT is invalid: ")
    assert "Traceback" not in done.stderr


# -- relai-bot seed --demo ----------------------------------------------------------------------------------
SEED_REPORT = re.compile(r"districts=(\d+) venues=(\d+) schemes=(\d+) advisers=(\d+) staff=(\d+) new_slots=(\d+)\n")


def count_rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_seed_demo_loads_the_data_once(tmp_path: Path) -> None:
    file = tmp_path / "seed.sqlite3"
    env = {"RELAI_DATABASE_URL": f"sqlite:///{file}"}

    first = CliRunner().invoke(app, ["seed", "--demo"], env=env)
    assert first.exit_code == 0, first.output
    found = SEED_REPORT.fullmatch(first.stdout)
    assert found, first.stdout
    districts, venues, schemes, advisers, staff, new_slots = map(int, found.groups())
    assert min(districts, venues, schemes, advisers, staff) > 0
    assert new_slots > 0
    assert count_rows(file, "scheme") == schemes
    slots = count_rows(file, "slot")
    assert slots == new_slots

    second = CliRunner().invoke(app, ["seed", "--demo"], env=env)
    assert second.exit_code == 0, second.output
    again = SEED_REPORT.fullmatch(second.stdout)
    assert again, second.stdout
    assert again.groups()[:5] == found.groups()[:5]
    assert int(again.group(6)) == 0
    assert count_rows(file, "scheme") == schemes
    assert count_rows(file, "slot") == slots


def test_seed_needs_to_be_told_what_to_load() -> None:
    result = CliRunner().invoke(app, ["seed"])
    assert result.exit_code == 2
    assert "--demo" in result.stderr
