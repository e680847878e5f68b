"""The key that signs staff sessions: a setting, or made once beside the SQLite file; required elsewhere."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from relai_bot.config import SettingsError, load_settings
from relai_bot.web.admin.secret import session_secret


def test_on_sqlite_the_key_is_made_once_and_kept(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'data' / 'relai.sqlite3'}")
    key = session_secret(settings)
    kept = tmp_path / "data" / "relai.sqlite3.admin-secret"
    assert len(key) >= 32 and kept.read_text().strip() == key
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert session_secret(settings) == key  # a restart keeps everyone signed in
    assert [p.name for p in kept.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_the_setting_wins(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}", admin_secret_key="s" * 40)
    assert session_secret(settings) == "s" * 40
    assert not (tmp_path / "x.sqlite3.admin-secret").exists()


def test_elsewhere_a_missing_key_names_the_setting() -> None:
    settings = load_settings(database_url="postgresql://relai@127.0.0.1:5432/relai")
    with pytest.raises(SettingsError, match="RELAI_ADMIN_SECRET_KEY"):
        session_secret(settings)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="RELAI_ADMIN_SECRET_KEY is invalid: use at least 32"):
        load_settings(admin_secret_key="short")
