"""`relai-bot doctor`: what is wrong with an installation, one line per check and how to fix each problem.

A town's IT technician runs it after changing a setting or when residents say the bot is silent. The
checks, in order: the settings and the channels they enable; the database answers and its schema is at the
code's head; Telegram accepts the token and its webhook is where `serve` puts it; Twilio accepts the
credentials and owns the sender; RELAI_PUBLIC_URL answers /healthz from outside; the time zone and the clock
(against the Date header of Telegram's or Twilio's answer). Nothing is changed anywhere: every check reads.

No secret is printed: tokens and the auth token show as their last 4 characters at most (`Report.scrub`
replaces them in every line, error messages included).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from relai_bot.config import Settings

Level = Literal["ok", "warning", "problem"]

# Telegram's delivery error counts as current this long (s), as the channel's health check does
WEBHOOK_ERROR_RECENT = 600.0
# Seconds to wait for Telegram, Twilio and the public URL
TIMEOUT = 10.0
PUBLIC_TIMEOUT = 5.0
# Beyond this difference with Telegram's or Twilio's clock, signatures and reminders go wrong
MAX_DRIFT_SECONDS = 60.0
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Check:
    """One check's result: `fix` says what to do when it is not ok; a warning does not fail the command."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False

    @property
    def level(self) -> Level:
        if not self.ok:
            return "problem"
        return "warning" if self.warning else "ok"


@dataclass
class Report:
    """The checks so far, the provider clocks seen (Date headers) and the secrets to keep out of the lines."""

    secrets: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    # (what answered, its Date header, when the answer came: time.time())
    clocks: list[tuple[str, datetime, float]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def add(self, checks: Iterable[Check]) -> None:
        self.checks.extend(checks)

    def saw_date(self, who: str, header: str | None) -> None:
        if not header or any(seen == who for seen, _, _ in self.clocks):
            return
        try:
            moment = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return
        self.clocks.append((who, moment, time.time()))

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, masked(secret))
        return text

    def lines(self) -> list[str]:
        out: list[str] = []
        for check in self.checks:
            out.append(self.scrub(f"{check.level:<8} {check.name}: {check.detail}"))
            if check.fix and check.level != "ok":
                out.append(self.scrub(f"{'':<8}   fix: {check.fix}"))
        return out


def masked(secret: str) -> str:
    """A secret as it may be printed: its last 4 characters."""
    return f"…{secret[-4:]}" if len(secret) > 8 else "…"


def run(settings: Settings) -> Report:
    """Every check, in order (the asynchronous ones in one asyncio.run)."""
    report = Report(secrets=_secrets(settings))
    report.add([settings_check(settings)])
    report.add([database_check(settings)])
    asyncio.run(_providers(settings, report))
    report.add([timezone_check(settings), system_clock_check()])
    report.add(drift_checks(report))
    return report


def _secrets(settings: Settings) -> list[str]:
    found = [settings.telegram_token, settings.twilio_auth_token, settings.telegram_webhook_secret]
    found += [settings.admin_secret_key, settings.metrics_token]
    return [secret.get_secret_value() for secret in found if secret is not None]


async def _providers(settings: Settings, report: Report) -> None:
    if settings.telegram_token is not None:
        report.add(await telegram_checks(settings, report))
    if settings.twilio_account_sid is not None or settings.twilio_auth_token is not None:
        report.add(await twilio_checks(settings, report))
    report.add([await public_url_check(settings)])


# ------------------------------------------------------------------------------------------- settings


def enabled_channels(settings: Settings) -> list[str]:
    """The provider channels `serve` starts with these settings (as channels.registry decides)."""
    names = []
    if settings.telegram_token is not None:
        names.append("telegram (webhook)" if settings.public_url else "telegram (polling)")
    if settings.twilio_account_sid is not None:
        names.append("sms (Twilio)")
    return names


def settings_check(settings: Settings) -> Check:
    channels = ", ".join(enabled_channels(settings))
    if not channels:
        return Check(
            "settings",
            True,
            "loaded; no channel enabled: only the simulator at /admin/simulator",
            "set RELAI_TELEGRAM_TOKEN, or RELAI_TWILIO_ACCOUNT_SID, RELAI_TWILIO_AUTH_TOKEN and RELAI_TWILIO_FROM",
            warning=True,
        )
    return Check("settings", True, f"loaded; channels: {channels}")


# ------------------------------------------------------------------------------------------- database


def database_check(settings: Settings) -> Check:
    """The database answers and its schema is the code's head."""
    from sqlalchemy.exc import SQLAlchemyError

    from relai_bot.store.db import Database, current_revision, head_revision

    name = "database"
    kind = settings.database_url.split(":", 1)[0].split("+", 1)[0]
    head = head_revision()
    file = settings.database_url.removeprefix("sqlite:///") if settings.is_sqlite else ""
    if file not in ("", ":memory:", settings.database_url) and not Path(file).is_file():
        # connecting would create it: the doctor changes nothing
        return Check(name, False, f"sqlite: no file {file} yet", "run relai-bot db upgrade (serve also makes it)")
    try:
        db = Database(settings.database_url)
        try:
            current = current_revision(db)
        finally:
            db.dispose()
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return Check(
            name,
            False,
            f"{kind}: does not answer: {reason}",
            "check RELAI_DATABASE_URL (host, port, user, database) and that the server runs",
        )
    if current != head:
        upgrade = "run relai-bot db upgrade"
        if settings.is_sqlite:
            upgrade += " (serve also does it when it starts on SQLite)"
        at = current or "no revision (empty)"
        return Check(name, False, f"{kind}: the schema is at {at}, the code needs {head}", upgrade)
    return Check(name, True, f"{kind}: answers; schema at {head} (the code's head)")


# ------------------------------------------------------------------------------------------- Telegram


async def telegram_checks(settings: Settings, report: Report) -> list[Check]:
    """getMe (the token, the bot's username) and getWebhookInfo (where Telegram delivers updates)."""
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError
    from telegram.request import HTTPXRequest

    assert settings.telegram_token is not None
    token = settings.telegram_token.get_secret_value()

    async def seen(response: httpx.Response) -> None:
        report.saw_date("Telegram", response.headers.get("date"))

    request = HTTPXRequest(
        read_timeout=TIMEOUT, connect_timeout=TIMEOUT, httpx_kwargs={"event_hooks": {"response": [seen]}}
    )
    bot = Bot(token, base_url=settings.telegram_api_url, request=request)
    try:
        await bot.initialize()  # getMe
        me = bot.bot
    except InvalidToken:
        return [
            Check(
                "telegram token",
                False,
                f"Telegram refused the token ending {masked(token)} (RELAI_TELEGRAM_TOKEN)",
                "copy the bot's token from @BotFather (/mybots, API Token) into RELAI_TELEGRAM_TOKEN",
            )
        ]
    except TelegramError as error:
        return [
            Check(
                "telegram token",
                False,
                f"cannot reach Telegram at {settings.telegram_api_url}: {error}",
                "check the server's outgoing HTTPS access (proxy, firewall) and RELAI_TELEGRAM_API_URL",
            )
        ]
    checks = [Check("telegram token", True, f"accepted: the bot is @{me.username}")]
    configured = settings.telegram_bot_username
    if configured and configured.lower() != str(me.username).lower():
        checks.append(
            Check(
                "telegram username",
                True,
                f"RELAI_TELEGRAM_BOT_USERNAME is {configured} but the token's bot is @{me.username}: "
                "the district posters' links lead to another bot",
                f"set RELAI_TELEGRAM_BOT_USERNAME={me.username}, or use that bot's token",
                warning=True,
            )
        )
    try:
        info = await bot.get_webhook_info()
    except TelegramError as error:
        checks.append(Check("telegram webhook", False, f"getWebhookInfo failed: {error}", "run relai-bot doctor again"))
        return checks
    finally:
        await bot.shutdown()
    checks.append(
        webhook_check(settings, info.url, info.pending_update_count, info.last_error_date, info.last_error_message)
    )
    return checks


def webhook_check(
    settings: Settings, url: str, pending: int, error_date: datetime | None, error_message: str | None
) -> Check:
    """Where Telegram delivers updates, against the mode the settings choose, and its last delivery error."""
    from relai_bot.channels.telegram.channel import WEBHOOK_PATH

    name = "telegram webhook"
    last = ""
    if error_date is not None:
        local = error_date.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S")
        last = f"; last error at {local}: {error_message or 'no reason given'}"
    state = f"{pending} update(s) pending{last}"
    if settings.public_url is None:
        if url:
            return Check(
                name,
                False,
                f"a webhook is registered at {url} while RELAI_PUBLIC_URL is unset (polling mode): "
                "getUpdates would get 409 Conflict",
                "serve removes it when it starts in polling mode; if it comes back, another installation uses this "
                "token: set RELAI_PUBLIC_URL to that address, or give this installation its own bot",
            )
        return Check(name, True, f"none (polling mode); {state}")
    expected = f"{settings.public_url}{WEBHOOK_PATH}"
    if url != expected:
        where = f"registered at {url}" if url else "missing: no webhook is registered"
        return Check(
            name,
            False,
            f"{where}, expected {expected}",
            "start relai-bot serve: it registers the webhook at RELAI_PUBLIC_URL when it starts "
            "(elsewhere: another installation may use this token)",
        )
    recent = error_date is not None and (datetime.now(UTC) - error_date).total_seconds() < WEBHOOK_ERROR_RECENT
    if recent and pending:
        return Check(
            name,
            False,
            f"at {expected}, but Telegram cannot deliver: {state}",
            f"make {expected} reachable from the internet over https (reverse proxy, certificate, firewall)",
        )
    return Check(name, True, f"at {expected}; {state}")


# --------------------------------------------------------------------------------------------- Twilio


async def twilio_checks(settings: Settings, report: Report) -> list[Check]:
    """The account (the credentials) and the sender RELAI_TWILIO_FROM (a number the account owns, or a
    Messaging Service), through the twilio client at RELAI_TWILIO_API_URL as the SMS channel uses it."""
    from twilio.base.exceptions import TwilioRestException
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    sid, secret = settings.twilio_account_sid, settings.twilio_auth_token
    if sid is None or secret is None:
        return [
            Check(
                "twilio credentials",
                False,
                "RELAI_TWILIO_ACCOUNT_SID and RELAI_TWILIO_AUTH_TOKEN must both be set",
                "copy both from the Twilio console (Account Info)",
            )
        ]
    quiet = logging.getLogger(f"{__name__}.twilio")
    quiet.setLevel(logging.WARNING)
    http = AsyncTwilioHttpClient(logger=quiet, timeout=TIMEOUT)
    client = Client(sid, secret.get_secret_value(), http_client=http)
    client.edge = client.region = None  # TWILIO_EDGE / TWILIO_REGION would rewrite the host
    api_url = settings.twilio_api_url.rstrip("/")
    client.api.base_url = api_url
    if api_url != "https://api.twilio.com":  # a stand-in for Twilio serves every domain at one address
        client.messaging.base_url = api_url
    try:
        try:
            account = await client.api.v2010.accounts(sid).fetch_async()
        except TwilioRestException as error:
            return [_credentials_problem(error, sid, secret.get_secret_value())]
        except Exception as error:  # aiohttp's errors, a timeout: Twilio did not answer
            return [
                Check(
                    "twilio credentials",
                    False,
                    f"cannot reach Twilio at {api_url}: {type(error).__name__} {error}".strip(),
                    "check the server's outgoing HTTPS access (proxy, firewall) and RELAI_TWILIO_API_URL",
                )
            ]
        finally:
            _saw_twilio_date(http, report)
        checks = [_account_check(account.status, account.friendly_name, sid)]
        checks.append(await _sender_check(client, sid, settings.twilio_from))
        return checks
    finally:
        await http.close()


def _saw_twilio_date(http: Any, report: Report) -> None:
    response = getattr(http, "_test_only_last_response", None)  # the client keeps its last answer there
    headers = getattr(response, "headers", None) or {}
    report.saw_date("Twilio", headers.get("Date") or headers.get("date"))


def _credentials_problem(error: Any, sid: str, token: str) -> Check:
    if error.status == 401:
        detail = f"Twilio refused the credentials (account {sid[:6]}…, auth token ending {masked(token)})"
        fix = (
            "copy the Account SID and Auth Token from the Twilio console "
            "into RELAI_TWILIO_ACCOUNT_SID and RELAI_TWILIO_AUTH_TOKEN"
        )
    elif error.status == 404:
        detail = f"Twilio knows no account {sid}"
        fix = "check RELAI_TWILIO_ACCOUNT_SID (AC followed by 32 hex digits, from the Twilio console)"
    else:
        detail = f"Twilio answered {error.status} (code {error.code}) to the account's fetch"
        fix = "run relai-bot doctor again; see https://status.twilio.com"
    return Check("twilio credentials", False, detail, fix)


def _account_check(status: str | None, name: str | None, sid: str) -> Check:
    label = f"account {sid[:6]}… ({name or 'no name'})"
    if status != "active":
        return Check(
            "twilio credentials",
            False,
            f"accepted, but the {label} is {status}",
            "reactivate the account in the Twilio console",
        )
    return Check("twilio credentials", True, f"accepted: {label}, active")


async def _sender_check(client: Any, sid: str, sender: str | None) -> Check:
    from twilio.base.exceptions import TwilioRestException

    name = "twilio sender"
    if sender is None:
        return Check(name, False, "RELAI_TWILIO_FROM is not set", "set it to the account's number (+262...)")
    try:
        if sender.startswith("MG"):
            service = await client.messaging.v1.services(sender).fetch_async()
            return Check(name, True, f"Messaging Service {sender} ({service.friendly_name}) exists")
        if not sender.startswith("+"):
            return Check(name, True, f"short code {sender}: not looked up (the doctor reads phone numbers only)")
        numbers = await client.api.v2010.accounts(sid).incoming_phone_numbers.list_async(phone_number=sender)
    except TwilioRestException as error:
        if sender.startswith("MG") and error.status == 404:
            return Check(
                name,
                False,
                f"Twilio knows no Messaging Service {sender} for this account",
                "set RELAI_TWILIO_FROM to a Messaging Service SID of the account (Twilio console, Messaging)",
            )
        what = "Messaging Service" if sender.startswith("MG") else "number"
        return Check(
            name,
            False,
            f"the {what} {sender} could not be read: Twilio answered {error.status} (code {error.code})",
            "check RELAI_TWILIO_FROM against the Twilio console (Phone Numbers, Messaging Services)",
        )
    found = [number for number in numbers if number.phone_number == sender]
    if not found:
        return Check(
            name,
            False,
            f"{sender} is not a number of this account",
            "set RELAI_TWILIO_FROM to one of the account's numbers (Twilio console, Phone Numbers, Active numbers)",
        )
    sms = (found[0].capabilities or {}).get("sms")
    if sms is False:
        return Check(name, False, f"{sender} belongs to the account but cannot send SMS", "use a number with SMS")
    return Check(name, True, f"{sender} belongs to the account")


# --------------------------------------------------------------------------------------- public URL


async def public_url_check(settings: Settings) -> Check:
    """GET {RELAI_PUBLIC_URL}/healthz, as Telegram and Twilio would reach it (https unless local)."""
    name = "public url"
    if settings.public_url is None:
        if settings.twilio_account_sid is not None:
            return Check(
                name,
                False,
                "RELAI_PUBLIC_URL is not set: Twilio cannot post incoming SMS and their statuses",
                "set RELAI_PUBLIC_URL to the https address the reverse proxy serves",
            )
        return Check(name, True, "not set (Telegram in polling mode; nothing reaches this server from outside)")
    url = f"{settings.public_url}/healthz"
    parts = urlsplit(settings.public_url)
    if parts.scheme != "https" and (parts.hostname or "") not in LOCAL_HOSTS:
        return Check(
            name,
            False,
            f"{settings.public_url} is not https: Telegram and Twilio only call https addresses",
            "serve it behind a reverse proxy with a certificate and set RELAI_PUBLIC_URL=https://...",
        )
    try:
        async with httpx.AsyncClient(timeout=PUBLIC_TIMEOUT, follow_redirects=False) as http:
            response = await http.get(url)
    except httpx.HTTPError as error:
        return Check(
            name,
            False,
            f"GET {url} failed: {type(error).__name__} {error}".strip(),
            "start relai-bot serve, and check DNS, the reverse proxy and the firewall for that address",
        )
    if response.status_code != 200:
        return Check(
            name,
            False,
            f"GET {url} answered {response.status_code}, not 200",
            "check that the reverse proxy forwards that address to relai-bot serve (RELAI_HOST, RELAI_PORT)",
        )
    return Check(name, True, f"GET {url} answered 200")


# -------------------------------------------------------------------------------------------- clock


def timezone_check(settings: Settings) -> Check:
    zone = ZoneInfo(settings.timezone)  # valid: the settings checked it
    local = datetime.now(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
    return Check("time zone", True, f"{settings.timezone}: local time {local}")


def system_clock_check(now: datetime | None = None) -> Check:
    moment = now or datetime.now(UTC)
    if moment.year < 2025:
        return Check(
            "system clock",
            False,
            f"the clock says {moment:%Y-%m-%d %H:%M} UTC",
            "set the clock and keep it synchronised (NTP: timedatectl set-ntp true)",
        )
    return Check("system clock", True, f"{moment:%Y-%m-%d %H:%M:%S} UTC")


def drift_checks(report: Report) -> list[Check]:
    """This clock against the Date header of Telegram's and Twilio's answers (to the second)."""
    checks = []
    for who, theirs, received in report.clocks:
        drift = received - theirs.timestamp()
        if abs(drift) > MAX_DRIFT_SECONDS + 1:  # the header has whole seconds
            checks.append(
                Check(
                    "clock drift",
                    False,
                    f"this clock is {abs(drift):.0f} s {'ahead of' if drift > 0 else 'behind'} {who}'s",
                    "synchronise the clock (NTP: timedatectl set-ntp true): webhook signatures and reminders "
                    "depend on it",
                )
            )
        else:
            checks.append(Check("clock drift", True, f"{drift:+.0f} s against {who}'s clock"))
    return checks
