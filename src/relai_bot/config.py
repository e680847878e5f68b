"""Settings, read from the environment and a .env file (prefix RELAI_).

Nothing reads settings at import time: the CLI and the app factory call `load_settings()`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(RuntimeError):
    """A setting is missing or invalid; the message names it in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELAI_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///relai_bot.sqlite3"
    timezone: str = "Indian/Reunion"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None

    # --- Telegram channel (issue 3) -----------------------------------------------------------
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"

    # --- SMS channel through Twilio (issue 4) --------------------------------------------------
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_url: str = "https://api.twilio.com"

    # --- Delivery engine: outbox, reminders, quiet hours (issue 5) ------------------------------

    # Conversation behaviour
    resume_after_hours: float = Field(default=24.0, gt=0)
    slots_offered: int = Field(default=5, ge=1, le=9)
    booking_horizon_days: int = Field(default=42, ge=1, le=365)
    # Where conversations/ and templates/ live; empty = the copy shipped with the package
    content_dir: Path | None = None
    log_level: str = "INFO"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("use sqlite:///FILE or postgresql://USER@HOST:PORT/DB")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("content_dir", mode="before")
    @classmethod
    def _empty_content_dir(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("content_dir")
    @classmethod
    def _content_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not ((value / "conversations").is_dir() and (value / "templates").is_dir()):
            raise ValueError(f"{str(value)!r} is not a folder holding conversations/ and templates/")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown log level {value!r} (DEBUG, INFO, WARNING, ERROR)")
        return value.upper()

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https://")
        return value.rstrip("/")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def resume_after(self) -> timedelta:
        return timedelta(hours=self.resume_after_hours)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read the settings; raise SettingsError with one line naming the bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "RELAI_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"setting {name} is invalid: {message}") from None
