"""Fixtures: every test gets its own database (a SQLite file, or a fresh PostgreSQL database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from relai_bot.clock import FrozenClock
from relai_bot.config import Settings, load_settings
from relai_bot.testing.driver import Chat, ChatDriver, Driver
from relai_bot.wiring import Runtime, build_runtime, migrate, seed_demo

# A Tuesday, 10:00 in La Réunion: slots exist from the next hour on.
START = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
# Signs /admin sessions where no key is kept beside a SQLite file (PostgreSQL requires the setting)
TEST_ADMIN_SECRET = "test-admin-secret-not-for-production-0123456789"
POSTGRES_URL = os.environ.get("RELAI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server at 127.0.0.1:5432")
    config.addinivalue_line("markers", "slow: starts real servers or processes; takes seconds, not milliseconds")


def pytest_sessionstart(session: pytest.Session) -> None:
    from tests.proof import start

    start()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fuzz tests' count (tests/conversation/test_fuzz.py), when they ran; then every suite's figures
    for the reliability report (tests/proof.py)."""
    from tests.fuzzing import FUZZ
    from tests.paths import REPO
    from tests.proof import outcome, record, write

    if FUZZ["inputs"]:
        waiting: set[tuple[str, str]] = FUZZ.get("waiting", set())
        reached = FUZZ["steps"] & waiting
        unreached = ", ".join(f"{flow}/{step}" for flow, step in sorted(waiting - reached)) or "none"
        terminalreporter.write_line(
            f"fuzz: {FUZZ['inputs']} inputs tried; answers at {len(reached)} of the {len(waiting)} steps that wait"
            f" for the resident (not reached this run: {unreached})"
        )
        record("fuzz", inputs=FUZZ["inputs"], steps_reached=len(reached), steps_waiting=len(waiting))
        record("fuzz", steps_not_reached=sorted(f"{flow}/{step}" for flow, step in waiting - reached))
    args = terminalreporter.config.invocation_params.args
    written = write(session=outcome(terminalreporter.stats, args))
    if written is not None:
        terminalreporter.write_line(f"proof: figures of this run in {written.relative_to(REPO)}")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings come from the test, never from a developer's .env or environment."""
    for name in list(os.environ):
        if name.startswith("RELAI_") and name not in ("RELAI_TEST_POSTGRES_URL", "RELAI_REQUIRE_POSTGRES"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'relai.sqlite3'}"


@contextmanager
def fresh_postgres(prefix: str = "relai_t") -> Iterator[str]:
    """The URL of a new PostgreSQL database, dropped on the way out (the server itself is left alone).
    Without a server: skipped, or failed where CI requires PostgreSQL (RELAI_REQUIRE_POSTGRES=1)."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        if os.environ.get("RELAI_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but does not answer at {POSTGRES_URL}: {error}")
        pytest.skip(f"no PostgreSQL answers at {POSTGRES_URL}")
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


def make_runtime(url: str, clock: FrozenClock, **overrides: object) -> Runtime:
    if not url.startswith("sqlite"):
        overrides.setdefault("admin_secret_key", TEST_ADMIN_SECRET)
    settings: Settings = load_settings(database_url=url, **overrides)
    runtime = build_runtime(settings, clock, strict=True)
    migrate(runtime)
    seed_demo(runtime)
    return runtime


@pytest.fixture
def runtime(sqlite_url: str, clock: FrozenClock) -> Iterator[Runtime]:
    rt = make_runtime(sqlite_url, clock)
    yield rt
    rt.close()


@pytest.fixture
def any_runtime(database_url: str, clock: FrozenClock) -> Iterator[Runtime]:
    """The same tests on SQLite and on PostgreSQL."""
    rt = make_runtime(database_url, clock)
    yield rt
    rt.close()


@pytest.fixture
def driver(runtime: Runtime) -> Driver:
    return Driver(runtime)


CHANNELS = ("console", "telegram", "sms")


@pytest.fixture(params=CHANNELS)
async def any_channel(request: pytest.FixtureRequest, sqlite_url: str, clock: FrozenClock) -> AsyncIterator[ChatDriver]:
    """The same scenario on the console (the engine through the dispatcher), on Telegram (python-telegram-bot
    against the fake Bot API) and by SMS (signed webhooks in, the fake Twilio out); each channel checks
    after the test that nothing its provider would refuse happened."""
    if request.param == "console":
        yield Driver(request.getfixturevalue("runtime"))
    elif request.param == "telegram":
        from tests.telegram_harness import telegram_stack

        async with telegram_stack(sqlite_url, clock) as telegram:
            yield telegram
            telegram.assert_clean()
    else:
        from tests.sms_harness import sms_stack

        async with sms_stack(sqlite_url, clock) as sms:
            yield sms
            sms.assert_clean()


@pytest.fixture
def chat(any_channel: ChatDriver) -> Chat:
    """A new resident, on each channel in turn."""
    return any_channel.resident()
