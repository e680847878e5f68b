"""The key that signs staff session cookies (RELAI_ADMIN_SECRET_KEY, or a file beside the SQLite database)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from relai_bot.config import Settings, SettingsError

SUFFIX = ".admin-secret"


def session_secret(settings: Settings) -> str:
    """The setting when given. On the embedded SQLite database a key is made once and kept in
    `<database file>.admin-secret` (mode 0600) so restarts keep everyone signed in; elsewhere a missing
    setting is a SettingsError naming it (every instance must share one key)."""
    if settings.admin_secret_key is not None:
        return settings.admin_secret_key.get_secret_value()
    if not settings.is_sqlite:
        raise SettingsError(
            "setting RELAI_ADMIN_SECRET_KEY is missing: the back-office needs it outside the embedded SQLite "
            "database (32 random characters or more, the same on every instance)"
        )
    database = settings.database_url.split("///", 1)[-1] if "///" in settings.database_url else ""
    if database in ("", ":memory:"):
        return secrets.token_urlsafe(32)  # nothing to keep it beside: it lasts as long as the process
    return _kept_key(Path(database + SUFFIX))


def _kept_key(path: Path) -> str:
    try:
        key = path.read_text(encoding="ascii").strip()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key + "\n")
    try:
        os.link(temporary, path)  # fails if another process wrote one first: then theirs is the key
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
    finally:
        temporary.unlink()
    return key
