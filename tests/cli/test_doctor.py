"""`relai-bot doctor`, run as the technician runs it (the installed command, in a subprocess) against the fake
Telegram and Twilio servers, a SQLite database at head and a stand-in for the public address's /healthz."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from relai_bot.channels.telegram.channel import WEBHOOK_PATH
from relai_bot.doctor import Check, Report, drift_checks, system_clock_check
from relai_bot.store.db import Database, head_revision, upgrade
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.twilio_api import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilioServer

RELAI_BOT = Path(sys.executable).with_name("relai-bot")
TOKEN = "4242:AAHdoctorSecretTokenValue-xyzW9q1"
SENDER = "+262262000001"
WRONG_AUTH = "0bad" * 8


@pytest.fixture
def head_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'relai.sqlite3'}"
    db = Database(url)
    upgrade(db)
    db.dispose()
    return url


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(token=TOKEN) as server:
        yield server


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioServer]:
    async with FakeTwilioServer(incoming_numbers=[SENDER]) as server:
        yield server


@pytest.fixture
async def public_url() -> AsyncIterator[str]:
    """Where RELAI_PUBLIC_URL leads: /healthz answers 200, the Telegram webhook 503 (serve is not running)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post(WEBHOOK_PATH, unavailable)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # aiohttp keeps it there
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def settings_env(
    database_url: str, telegram: FakeTelegramServer, twilio: FakeTwilioServer | None, public_url: str | None
) -> dict[str, str]:
    env = {
        "RELAI_DATABASE_URL": database_url,
        "RELAI_TELEGRAM_TOKEN": TOKEN,
        "RELAI_TELEGRAM_API_URL": telegram.base_url,
    }
    if twilio is not None:
        env |= {
            "RELAI_TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
            "RELAI_TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
            "RELAI_TWILIO_FROM": SENDER,
            "RELAI_TWILIO_API_URL": twilio.base_url,
        }
    if public_url is not None:
        env["RELAI_PUBLIC_URL"] = public_url
    return env


async def doctor(settings: dict[str, str], cwd: Path) -> tuple[int, str]:
    """The command's exit code and output; no secret may appear in it."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RELAI_")}
    process = await asyncio.create_subprocess_exec(
        str(RELAI_BOT),
        "doctor",
        env={**env, **settings},
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    text = out.decode()
    for secret in (TOKEN, TOKEN.split(":", 1)[1], DEFAULT_AUTH_TOKEN, WRONG_AUTH):
        assert secret not in text
    assert process.returncode is not None
    return process.returncode, text


def line(output: str, name: str) -> str:
    """The line of one check and its fix line, if any."""
    lines = output.splitlines()
    for index, text in enumerate(lines):
        if text.split(":", 1)[0].split(maxsplit=1)[-1] == name:
            follow = lines[index + 1] if index + 1 < len(lines) and "fix:" in lines[index + 1] else ""
            return f"{text}\n{follow}".strip()
    raise AssertionError(f"no {name!r} line in:\n{output}")


async def set_webhook(telegram: FakeTelegramServer, url: str) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{telegram.base_url}{TOKEN}/setWebhook", json={"url": url})
    assert answer.json()["ok"] is True


async def test_all_good(
    head_url: str, telegram: FakeTelegramServer, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    await set_webhook(telegram, public_url + WEBHOOK_PATH)
    code, out = await doctor(settings_env(head_url, telegram, twilio, public_url), tmp_path)
    assert code == 0, out
    assert [text.split()[0] for text in out.splitlines()] == ["ok"] * len(out.splitlines()), out
    assert "channels: telegram (webhook), sms (Twilio)" in line(out, "settings")
    assert f"sqlite: answers; schema at {head_revision()}" in line(out, "database")
    assert "@relai_possession_bot" in line(out, "telegram token")
    assert f"at {public_url}{WEBHOOK_PATH}" in line(out, "telegram webhook")
    assert f"{SENDER} belongs to the account" in line(out, "twilio sender")
    assert "answered 200" in line(out, "public url")
    assert "local time" in line(out, "time zone")
    assert "against Telegram's clock" in out and "against Twilio's clock" in out
    assert [request.path for request in twilio.requests][:1] == [f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}.json"]


async def test_a_wrong_telegram_token_is_refused(
    head_url: str, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    async with FakeTelegramServer(token="4242:AnotherTokenOfAnotherBot") as other:
        code, out = await doctor(settings_env(head_url, other, twilio, public_url), tmp_path)
    assert code == 1
    found = line(out, "telegram token")
    assert found.startswith("problem") and "Telegram refused the token ending …W9q1" in found
    assert "@BotFather" in found


async def test_no_webhook_while_the_public_url_is_set(
    head_url: str, telegram: FakeTelegramServer, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    code, out = await doctor(settings_env(head_url, telegram, twilio, public_url), tmp_path)
    assert code == 1
    found = line(out, "telegram webhook")
    assert found.startswith("problem") and "missing: no webhook is registered" in found
    assert f"expected {public_url}{WEBHOOK_PATH}" in found and "serve" in found


async def test_a_webhook_elsewhere(
    head_url: str, telegram: FakeTelegramServer, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    await set_webhook(telegram, "https://elsewhere.example/webhooks/telegram")
    code, out = await doctor(settings_env(head_url, telegram, twilio, public_url), tmp_path)
    assert code == 1
    assert "registered at https://elsewhere.example/webhooks/telegram" in line(out, "telegram webhook")


async def test_a_recent_delivery_error_with_pending_updates(
    head_url: str, telegram: FakeTelegramServer, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    await set_webhook(telegram, public_url + WEBHOOK_PATH)
    telegram.deliver_webhooks = True
    telegram.user_message(1001, "bonjour")
    await telegram.wait_until(lambda: bool(telegram.webhook_deliveries), 10)
    code, out = await doctor(settings_env(head_url, telegram, twilio, public_url), tmp_path)
    assert code == 1
    found = line(out, "telegram webhook")
    assert found.startswith("problem") and "Telegram cannot deliver: 1 update(s) pending; last error at" in found
    assert "Wrong response from the webhook: 503" in found


async def test_a_webhook_in_polling_mode(head_url: str, telegram: FakeTelegramServer, tmp_path: Path) -> None:
    await set_webhook(telegram, "https://old.example/webhooks/telegram")
    code, out = await doctor(settings_env(head_url, telegram, None, None), tmp_path)
    assert code == 1
    found = line(out, "telegram webhook")
    assert found.startswith("problem") and "409 Conflict" in found
    assert "not set" in line(out, "public url") and line(out, "public url").startswith("ok")


async def test_an_unreachable_database(
    telegram: FakeTelegramServer, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    await set_webhook(telegram, public_url + WEBHOOK_PATH)
    env = settings_env("postgresql://postgres@127.0.0.1:1/test", telegram, twilio, public_url)
    code, out = await doctor(env, tmp_path)
    assert code == 1
    found = line(out, "database")
    assert found.startswith("problem") and "postgresql: does not answer:" in found and "Connection refused" in found


async def test_a_schema_behind_head(
    telegram: FakeTelegramServer, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    env = settings_env(f"sqlite:///{empty}", telegram, twilio, public_url)
    code, out = await doctor(env, tmp_path)
    assert code == 1
    found = line(out, "database")
    assert found.startswith("problem") and f"needs {head_revision()}" in found
    assert "run relai-bot db upgrade" in found


async def test_a_missing_sqlite_file_is_not_created(
    telegram: FakeTelegramServer, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "none.sqlite3"
    code, out = await doctor(settings_env(f"sqlite:///{missing}", telegram, twilio, public_url), tmp_path)
    assert code == 1
    assert "run relai-bot db upgrade" in line(out, "database")
    assert not missing.exists()


async def test_wrong_twilio_credentials(
    head_url: str, telegram: FakeTelegramServer, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    await set_webhook(telegram, public_url + WEBHOOK_PATH)
    env = settings_env(head_url, telegram, twilio, public_url) | {"RELAI_TWILIO_AUTH_TOKEN": WRONG_AUTH}
    code, out = await doctor(env, tmp_path)
    assert code == 1
    found = line(out, "twilio credentials")
    assert found.startswith("problem") and "Twilio refused the credentials" in found and "…0bad" in found


async def test_a_from_number_not_in_the_account(
    head_url: str, telegram: FakeTelegramServer, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    await set_webhook(telegram, public_url + WEBHOOK_PATH)
    env = settings_env(head_url, telegram, twilio, public_url) | {"RELAI_TWILIO_FROM": "+262262999999"}
    code, out = await doctor(env, tmp_path)
    assert code == 1
    found = line(out, "twilio sender")
    assert found.startswith("problem") and "+262262999999 is not a number of this account" in found


async def test_an_unknown_messaging_service(
    head_url: str, telegram: FakeTelegramServer, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    """The fake has no Messaging API (its spec is not committed): it answers 404 / 20404 as Twilio does for a
    service that does not exist; the request goes to the messaging domain's path at RELAI_TWILIO_API_URL."""
    await set_webhook(telegram, public_url + WEBHOOK_PATH)
    service = "MG" + "0a" * 16
    env = settings_env(head_url, telegram, twilio, public_url) | {"RELAI_TWILIO_FROM": service}
    code, out = await doctor(env, tmp_path)
    assert code == 1
    assert f"Twilio knows no Messaging Service {service}" in line(out, "twilio sender")
    assert f"/v1/Services/{service}" in [request.path for request in twilio.requests]


async def test_an_old_delivery_error_is_only_reported(
    head_url: str, twilio: FakeTwilioServer, public_url: str, tmp_path: Path
) -> None:
    async with FakeTelegramServer(token=TOKEN, clock=lambda: time.time() - 3600, deliver_webhooks=True) as telegram:
        await set_webhook(telegram, public_url + WEBHOOK_PATH)
        telegram.user_message(1001, "bonjour")
        await telegram.wait_until(lambda: bool(telegram.webhook_deliveries), 10)
        telegram.deliver_webhooks = False
        env = settings_env(head_url, telegram, twilio, public_url) | {"RELAI_TELEGRAM_BOT_USERNAME": "AnotherBot"}
        code, out = await doctor(env, tmp_path)
    assert code == 0, out
    found = line(out, "telegram webhook")
    assert found.startswith("ok") and "1 update(s) pending; last error at" in found
    warned = line(out, "telegram username")
    assert warned.startswith("warning") and "RELAI_TELEGRAM_BOT_USERNAME=relai_possession_bot" in warned


async def test_the_public_url_unreachable(
    head_url: str, telegram: FakeTelegramServer, twilio: FakeTwilioServer, tmp_path: Path
) -> None:
    nowhere = "http://127.0.0.1:1"
    await set_webhook(telegram, nowhere + WEBHOOK_PATH)
    code, out = await doctor(settings_env(head_url, telegram, twilio, nowhere), tmp_path)
    assert code == 1
    found = line(out, "public url")
    assert found.startswith("problem") and f"GET {nowhere}/healthz failed" in found


async def test_a_public_url_without_https(
    head_url: str, telegram: FakeTelegramServer, twilio: FakeTwilioServer, tmp_path: Path
) -> None:
    plain = "http://relai.example.org"
    await set_webhook(telegram, plain + WEBHOOK_PATH)
    code, out = await doctor(settings_env(head_url, telegram, twilio, plain), tmp_path)
    assert code == 1
    assert "is not https" in line(out, "public url")


async def test_invalid_settings_exit_2(tmp_path: Path) -> None:
    code, out = await doctor({"RELAI_TIMEZONE": "Mars/Olympus_Mons"}, tmp_path)
    assert code == 2
    assert "RELAI_TIMEZONE" in line(out, "settings")


def test_a_drifting_clock_is_a_problem() -> None:
    report = Report()
    report.saw_date("Twilio", format_datetime(datetime.now(UTC) - timedelta(seconds=300), usegmt=True))
    [check] = drift_checks(report)
    assert not check.ok and "ahead of Twilio's" in check.detail and "NTP" in (check.fix or "")
    report.clocks.clear()
    report.saw_date("Telegram", format_datetime(datetime.now(UTC), usegmt=True))
    assert drift_checks(report)[0].ok


def test_a_clock_in_the_past_is_a_problem() -> None:
    assert not system_clock_check(datetime(2020, 1, 1, tzinfo=UTC)).ok
    assert system_clock_check(datetime(2026, 1, 1, tzinfo=UTC)).ok


def test_secrets_are_masked_in_every_line() -> None:
    report = Report(secrets=[TOKEN])
    report.add([Check("telegram token", False, f"refused {TOKEN}", f"not {TOKEN}")])
    assert all(TOKEN not in text and "…W9q1" in text for text in report.lines())
