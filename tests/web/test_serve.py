"""`relai-bot serve` with no configuration: migrates its SQLite file, loads the demo data, answers /healthz."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from starlette.exceptions import StarletteDeprecationWarning

from relai_bot.clock import FrozenClock
from relai_bot.config import load_settings
from relai_bot.store.db import head_revision
from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime, build_runtime
from tests.fakes.telegram_api import FakeTelegramServer

RELAI_BOT = Path(sys.executable).with_name("relai-bot")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"relai-bot serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            response = httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return response
        time.sleep(0.2)
    pytest.fail(f"/healthz did not answer 200 within {START_TIMEOUT:.0f} s:\n{log.read_text(errors='replace')}")


def serve_env(database: Path, port: int) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("RELAI_")}
    return env | {"RELAI_DATABASE_URL": f"sqlite:///{database}", "RELAI_PORT": str(port)}


def test_serve_starts_on_an_empty_sqlite_file_with_the_demo_data(tmp_path: Path) -> None:
    database = tmp_path / "x.sqlite3"
    port = free_port()
    env = serve_env(database, port)
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(RELAI_BOT), "serve"], cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        response = wait_until_healthy(process, f"http://127.0.0.1:{port}/healthz", log)
        assert response.json() == {"status": "ok", "database": True, "schema": head_revision()}
        with sqlite3.connect(database) as connection:
            schemes = connection.execute("SELECT count(*) FROM scheme").fetchone()[0]
        assert schemes >= 20

        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"relai-bot serve did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM")
        # uvicorn shuts down gracefully, then lets the signal end the process as it would have
        assert returncode in (0, -signal.SIGTERM), log.read_text(errors="replace")
        assert "Traceback" not in log.read_text(errors="replace")
        assert "create one with relai-bot users create --role admin --email" in log.read_text(errors="replace")
        assert (tmp_path / "x.sqlite3.admin-secret").is_file()  # the session key, kept for the next start
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- the app in process -------------------------------------------------------------------------------------
def health(runtime: Runtime) -> httpx.Response:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)  # it prefers httpx2; the project ships httpx
        from starlette.testclient import TestClient

    with TestClient(create_app(runtime, with_scheduler=False)) as client:
        return client.get("/healthz")


def test_healthz_is_ok_on_a_migrated_database(runtime: Runtime) -> None:
    response = health(runtime)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "schema": head_revision()}


@pytest.fixture
def unmigrated(sqlite_url: str, clock: FrozenClock) -> Iterator[Runtime]:
    runtime = build_runtime(load_settings(database_url=sqlite_url), clock)
    yield runtime
    runtime.close()


def test_healthz_is_503_on_a_database_at_no_revision(unmigrated: Runtime) -> None:
    response = health(unmigrated)
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": True, "schema": None}


@pytest.fixture
def unreachable(clock: FrozenClock) -> Iterator[Runtime]:
    port = free_port()  # nothing listens there
    url = f"postgresql://nobody@127.0.0.1:{port}/none"
    runtime = build_runtime(load_settings(database_url=url, admin_secret_key="k" * 32), clock)
    yield runtime
    runtime.close()


def test_healthz_is_503_when_the_database_does_not_answer(unreachable: Runtime) -> None:
    response = health(unreachable)
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": False, "schema": None}


def test_healthz_reads_the_schema_of_the_running_database(runtime: Runtime) -> None:
    """The expected revision is read from the scripts once; the database's own is read on each call, so a
    schema changed under a running instance shows at once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient

    def set_revision(revision: str) -> None:
        with runtime.db.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})

    with TestClient(create_app(runtime, with_scheduler=False)) as client:
        assert client.get("/healthz").status_code == 200
        set_revision("0009_scheme_texts")
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "degraded", "database": True, "schema": "0009_scheme_texts"}
        set_revision(head_revision())
        assert client.get("/healthz").json() == {"status": "ok", "database": True, "schema": head_revision()}


# -- serve on uvloop and httptools, with python-telegram-bot ----------------------------------------------
TOKEN = "123456:TEST-relai-token"
CHAT = 7_100_001


async def until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """As wait_until_healthy, without holding the event loop (the fake Telegram server runs on it)."""
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"relai-bot serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    pytest.fail(f"/healthz did not answer 200 within {START_TIMEOUT:.0f} s:\n{log.read_text(errors='replace')}")


async def stopped(process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + STOP_TIMEOUT
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"relai-bot serve did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM")
        await asyncio.sleep(0.05)
    return process.returncode


def mapped_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_serve_answers_telegram_on_uvloop_and_httptools(tmp_path: Path, mode: str) -> None:
    port = free_port()
    env = serve_env(tmp_path / "x.sqlite3", port)
    log = tmp_path / "serve.log"
    async with FakeTelegramServer(TOKEN, enforce_rate_limits=False, deliver_webhooks=mode == "webhook") as fake:
        env |= {"RELAI_TELEGRAM_TOKEN": TOKEN, "RELAI_TELEGRAM_API_URL": fake.base_url}
        if mode == "webhook":  # the fake POSTs the updates to serve: httptools parses them
            env["RELAI_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [str(RELAI_BOT), "serve"], cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        try:
            await until_healthy(process, f"http://127.0.0.1:{port}/healthz", log)
            libraries = mapped_libraries(process.pid)
            assert "/uvloop/loop." in libraries and "/httptools/parser/parser." in libraries
            if mode == "webhook":
                assert fake.webhook_url == f"http://127.0.0.1:{port}/webhooks/telegram"
            fake.user_message(CHAT, "/start")
            await fake.wait_until(lambda: bool(fake.sent_messages(CHAT)), timeout=30)
            assert fake.texts(CHAT)[0].strip()
        finally:
            process.send_signal(signal.SIGTERM)
            returncode = await stopped(process)  # the fake answers its last calls meanwhile
    assert returncode in (0, -signal.SIGTERM), log.read_text(errors="replace")
    assert "Traceback" not in log.read_text(errors="replace")
