"""Settings, read from the environment and a .env file (prefix RELAI_).

Nothing reads settings at import time: the CLI and the app factory call `load_settings()`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from relai_bot.logs import LogFormat
from relai_bot.time_settings import ReminderOffset, SendingWindow, parse_offsets, parse_window


class SettingsError(RuntimeError):
    """A setting is missing or invalid; the message names it in one line."""


def _long_enough(value: SecretStr | None, minimum: int) -> SecretStr | None:
    """A secret setting of at least `minimum` characters (the message says how to make one)."""
    if value is not None and len(value.get_secret_value()) < minimum:
        raise ValueError(
            f"use at least {minimum} random characters,"
            " e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELAI_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///relai_bot.sqlite3"
    timezone: str = "Indian/Reunion"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None
    # Behind a reverse proxy: the proxy's addresses or networks (comma-separated), the only ones whose
    # X-Forwarded-For and X-Forwarded-Proto are believed; empty = no proxy, the headers are ignored
    forwarded_allow_ips: str = ""

    # --- Telegram channel (issue 3) -----------------------------------------------------------
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    # Where files are downloaded from; empty = derived from telegram_api_url (".../bot" -> ".../file/bot")
    telegram_file_url: str | None = None
    # The secret Telegram sends back with every webhook request; empty = derived from the token (HMAC)
    telegram_webhook_secret: SecretStr | None = None
    # The short burst of messages one chat may get at once (the pace itself: telegram_rate and
    # telegram_chat_interval, in the delivery engine's section, shared by replies and the outbox)
    telegram_chat_burst: int = Field(default=3, ge=1, le=20)
    # Seconds to wait for Telegram's answer to a send, and for a long poll (polling mode)
    telegram_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    telegram_poll_seconds: int = Field(default=30, ge=1, le=50)
    # The bot's username (without @), for links made offline: the district posters' deep links
    telegram_bot_username: str | None = None

    @field_validator("telegram_token", "telegram_file_url", "telegram_webhook_secret", mode="before")
    @classmethod
    def _empty_telegram_text(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_bot_username", mode="before")
    @classmethod
    def _telegram_bot_username(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        name = value.strip().removeprefix("@")
        if not name:
            return None
        # Telegram: 5 to 32 characters, letters, digits and underscores, starting with a letter
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{4,31}", name):
            raise ValueError("use the bot's username as @BotFather shows it, e.g. RelaiPossessionBot")
        return name

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("use 1 to 256 characters among A-Z, a-z, 0-9, _ and -")
        return value

    # --- SMS channel through Twilio (issue 4) --------------------------------------------------
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    # One-way alphanumeric sender (e.g. "MAIRIE") for reminders and broadcasts; it cannot receive replies
    twilio_one_way_from: str | None = None
    twilio_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Longest SMS sent in one go (segments); a longer text is split into several SMS, never inside its
    # option list (channels/sms/render.py). 2: what the resident receives stays short and cheap
    sms_max_segments: int = Field(default=2, ge=1, le=10)
    # Replace what GSM-7 lacks (’ œ ê ç « » …) before sending: 160 characters a segment instead of 70
    sms_transliterate: bool = True
    # Added to SMS the service sends on its own initiative, e.g. "STOP au 36xxx"
    sms_opt_out_mention: str | None = None
    # How to answer a one-way SMS: the number to text (default: RELAI_TWILIO_FROM when it is a number),
    # a Telegram link, the mairie's phone
    sms_reply_number: str | None = None
    sms_telegram_link: str | None = None
    sms_contact_phone: str | None = None

    @field_validator(
        "twilio_from",
        "twilio_one_way_from",
        "sms_opt_out_mention",
        "sms_reply_number",
        "sms_telegram_link",
        "sms_contact_phone",
        mode="before",
    )
    @classmethod
    def _empty_sms_text(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("twilio_from")
    @classmethod
    def _twilio_from(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\+[1-9]\d{4,14}|\d{3,8}|MG[0-9a-fA-F]{32}", value.strip()):
            raise ValueError("use a Twilio number in E.164 (+262...), a short code or a Messaging Service SID (MG...)")
        return value.strip() if value else value

    @field_validator("twilio_one_way_from")
    @classmethod
    def _twilio_one_way_from(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}|\+[1-9]\d{4,14}|\d{3,8}", value):
            raise ValueError("use an alphanumeric sender of 1 to 11 letters, digits or spaces (e.g. MAIRIE)")
        return value

    # --- Delivery engine: outbox, reminders, quiet hours (issue 5) ------------------------------
    # Local hours when residents may get messages the service sends on its own ("08:00-20:00" or "off");
    # broadcasts are also held on Sundays and public holidays
    quiet_hours: str = "08:00-20:00"
    broadcasts_per_week: int = Field(default=3, ge=0, le=50)
    # "1d@18:00" = the day before at 18:00 local; "2h", "30m" = that long before; "off" = none
    reminder_offsets: str = "1d@18:00,2h"
    # Provider limits: Telegram messages/s overall and seconds between two messages to one chat;
    # SMS segments/s for the whole account, replies and outbox together (Twilio allows 10 per sender outside
    # North America: one budget for both senders stays under it)
    telegram_rate: float = Field(default=30.0, gt=0, le=1000)
    telegram_chat_interval: float = Field(default=1.0, ge=0, le=60)
    sms_rate: float = Field(default=10.0, gt=0, le=1000)
    # An outbox worker owns the rows it claimed this long; then another may take them (a crashed one's)
    outbox_lease_seconds: float = Field(default=120.0, ge=10, le=3600)
    # A turn's replies wait in the outbox while their channel sends them (inline retries take up to 60 s):
    # past this, a reply not marked sent is taken to have been lost with its process and is sent again
    reply_lease_seconds: float = Field(default=90.0, ge=5, le=3600)
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # Broadcast composer: what an SMS segment costs (the preview's estimate), and when a broadcast waits for
    # an admin other than its author (more recipients than this, or an SMS cost above this)
    sms_price_per_segment: Decimal = Field(default=Decimal("0.07"), ge=0, le=10)
    sms_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    broadcast_approval_above: int = Field(default=500, ge=0)
    broadcast_approval_cost: Decimal = Field(default=Decimal("20.00"), ge=0)
    # How long a resident may take a place offered from the waitlist
    waitlist_offer_minutes: int = Field(default=120, ge=5, le=2880)
    # Advisers' morning digest (local time) and how long data is kept
    digest_time: str = "07:30"
    # A resident marked "absent" gets a kind message offering new slots the next morning at this local
    # time (held further by the quiet hours); "off": no such message
    no_show_follow_up: str = "09:00"
    retention_months: int = Field(default=12, ge=1, le=120)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        parse_window(value)
        return value

    @field_validator("reminder_offsets")
    @classmethod
    def _reminder_offsets(cls, value: str) -> str:
        parse_offsets(value)
        return value

    @field_validator("no_show_follow_up")
    @classmethod
    def _no_show_follow_up(cls, value: str) -> str:
        value = value.strip().lower()
        return value if value == "off" else cls._digest_time(value)

    @field_validator("digest_time")
    @classmethod
    def _digest_time(cls, value: str) -> str:
        try:
            time.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r}: write HH:MM, e.g. 07:30") from None
        return value.strip()

    # --- Back-office (/admin) ------------------------------------------------------------------
    # Signs the staff's session cookies. Empty on the embedded SQLite database: made once and kept in a file
    # beside it (mode 0600); elsewhere start-up stops without it (every instance must share one key)
    admin_secret_key: SecretStr | None = None
    # A staff session ends after this many minutes without a request
    admin_session_minutes: int = Field(default=30, ge=1, le=24 * 60)

    @field_validator("admin_secret_key", "metrics_token", mode="before")
    @classmethod
    def _empty_secret(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admin_secret_key")
    @classmethod
    def _admin_secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        return _long_enough(value, 32)

    # --- Operations: /metrics and /readyz -------------------------------------------------------
    # The bearer token Prometheus sends to read /metrics (Authorization: Bearer ...); empty = /metrics is off
    metrics_token: SecretStr | None = None
    # /readyz says "not ready" when a message other than a broadcast has waited past its time this long
    # (seconds): a reminder, a notice or a waitlist offer the outbox does not manage to send
    ready_backlog_seconds: int = Field(default=300, ge=10, le=86_400)

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_length(cls, value: SecretStr | None) -> SecretStr | None:
        return _long_enough(value, 24)

    # An empty embedded SQLite database gets the demo catalog at start (districts, venues, schemes, slots)
    # and, with this, fictional residents and their appointments around today: the demo of `make run`.
    # false for a real service on SQLite: only people who wrote to it are residents
    demo_activity: bool = True

    # Conversation behaviour
    resume_after_hours: float = Field(default=24.0, gt=0)
    slots_offered: int = Field(default=5, ge=1, le=9)
    booking_horizon_days: int = Field(default=42, ge=1, le=365)
    # Where conversations/ and templates/ live; empty = the copy shipped with the package
    content_dir: Path | None = None
    log_level: str = "INFO"
    # "text": a line a person reads; "json": one JSON object a line, for a log collector (relai_bot.logs)
    log_format: LogFormat = "text"

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

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if value.strip().lower() not in ("text", "json"):
            raise ValueError(f"unknown log format {value!r} (text or json)")
        return value.strip().lower()

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips(cls, value: str) -> str:
        allowed = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            try:
                allowed.append(
                    str(ipaddress.ip_network(item, strict=False) if "/" in item else ipaddress.ip_address(item))
                )
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network: name the proxy's, e.g. 127.0.0.1 or 10.0.0.0/8"
                ) from None
        return ",".join(allowed)

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
    def sending_window(self) -> SendingWindow:
        """RELAI_QUIET_HOURS, parsed (validated when the settings were read)."""
        return parse_window(self.quiet_hours)

    @property
    def reminder_schedule(self) -> list[ReminderOffset]:
        """RELAI_REMINDER_OFFSETS, parsed (validated when the settings were read)."""
        return parse_offsets(self.reminder_offsets)

    @property
    def no_show_follow_up_at(self) -> time | None:
        """RELAI_NO_SHOW_FOLLOW_UP as a local time, None when turned off."""
        return None if self.no_show_follow_up == "off" else time.fromisoformat(self.no_show_follow_up)

    @property
    def resume_after(self) -> timedelta:
        return timedelta(hours=self.resume_after_hours)

    @property
    def forwarded_networks(self) -> list[str]:
        """RELAI_FORWARDED_ALLOW_IPS as a list (validated when the settings were read; empty: no proxy)."""
        return self.forwarded_allow_ips.split(",") if self.forwarded_allow_ips else []

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; raise SettingsError with one line naming the bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "RELAI_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"setting {name} is invalid: {message}") from None
