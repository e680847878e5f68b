"""What `relai-bot serve` does at start: it imports only what the settings use, builds the back-office when
it is first asked for, keeps the start-up's objects out of the garbage collector's way, and runs the
scheduler on uvloop (its event loop)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvloop
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from starlette.types import Receive, Scope, Send

from relai_bot.cli import _start_up
from relai_bot.config import load_settings
from relai_bot.scheduler import build_scheduler
from relai_bot.web.admin.app import BuiltOnFirstRequest
from relai_bot.wiring import Runtime, build_runtime, migrate, seed_demo

# Heavy parts that no start needs unless its settings use them
OPTIONAL = (
    "alembic",  # the migrations: a database at head is only read
    "telegram",  # python-telegram-bot: with RELAI_TELEGRAM_TOKEN
    "relai_bot.staff.telegram_desk",
    "twilio",  # with RELAI_TWILIO_*
    "relai_bot.web.admin.routes",  # the back-office's pages: its first request
    "pygal",  # the dashboard's charts
    "segno",  # the posters' QR codes
    "icalendar",  # the first .ics written
    "phonenumbers",  # the first phone number read
    "holidays",  # the first day checked for a public holiday
    "relai_bot.seed.load",  # the demo data: an empty database only
    "sqlalchemy.dialects.postgresql",  # PostgreSQL only
    "pygments",  # httpx's command-line client would bring it (and rich's console) with python-telegram-bot
    "rich.console",
)

# Builds the app as `serve` does (up to uvicorn.run), then says which of OPTIONAL got imported
PROBE = """
import json, sys
from relai_bot.cli import _prepare_database, _runtime, _serving_app, _settings, _start_up
with _start_up():
    runtime = _runtime(_settings())
    _prepare_database(runtime)
    app, channels = _serving_app(runtime)
optional = json.loads(sys.argv[1])
print(json.dumps({"loaded": [m for m in optional if m in sys.modules], "channels": [c.name for c in channels]}))
"""


def start_probe(tmp_path: Path, **env: str) -> dict[str, Any]:
    database = tmp_path / "relai.sqlite3"
    url = f"sqlite:///{database}"
    if not database.exists():  # an existing database, at head, with the demo data
        runtime = build_runtime(load_settings(database_url=url))
        migrate(runtime)
        seed_demo(runtime)
        runtime.close()
    clean = {name: value for name, value in os.environ.items() if not name.startswith("RELAI_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(OPTIONAL)],
        env=clean | {"RELAI_DATABASE_URL": url} | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_a_start_without_channels_imports_none_of_the_optional_parts(tmp_path: Path) -> None:
    started = start_probe(tmp_path)
    assert started["channels"] == ["web_telegram", "web_sms"]  # the simulator's two
    assert started["loaded"] == []


def test_a_telegram_token_brings_python_telegram_bot_and_the_staff_desk(tmp_path: Path) -> None:
    started = start_probe(tmp_path, RELAI_TELEGRAM_TOKEN="123456:TEST-relai-token")
    assert "telegram" in started["channels"]
    assert {"telegram", "relai_bot.staff.telegram_desk"} <= set(started["loaded"])
    assert "twilio" not in started["loaded"]
    assert "pygments" not in started["loaded"] and "rich.console" not in started["loaded"]


# -- the back-office, built by its first request ----------------------------------------------------------
class Answer:
    def __init__(self, built: list[str]) -> None:
        self.built = built

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b",".join(b.encode() for b in self.built)})


async def test_the_first_requests_build_the_app_once_and_each_gets_an_answer() -> None:
    built: list[str] = []
    release = threading.Event()

    def build() -> Answer:
        release.wait(5)  # the second request arrives while the first is still building
        built.append(threading.current_thread().name)
        return Answer(built)

    lazy = BuiltOnFirstRequest(build)
    assert not lazy.built
    answers: list[list[dict[str, Any]]] = [[], []]

    async def request(n: int) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            answers[n].append(message)

        await lazy({"type": "http", "path": "/"}, receive, send)  # type: ignore[arg-type]

    first = asyncio.create_task(request(0))
    second = asyncio.create_task(request(1))
    await asyncio.sleep(0.05)
    assert not first.done() and not second.done()  # both wait for the build, the event loop does not
    release.set()
    await asyncio.gather(first, second)
    assert len(built) == 1 and built[0] != threading.current_thread().name  # once, in a worker thread
    assert lazy.built
    assert [a[0]["status"] for a in answers] == [200, 200]
    await request(0)
    assert len(built) == 1


# -- the garbage collector at start --------------------------------------------------------------------
def test_the_start_up_pauses_the_collector_then_freezes_what_it_built() -> None:
    assert gc.isenabled()
    try:
        with _start_up():
            assert not gc.isenabled()
            kept = [[n] for n in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()
        gc.enable()


def test_the_collector_comes_back_when_the_start_fails() -> None:
    try:
        with pytest.raises(RuntimeError), _start_up():
            raise RuntimeError("the database does not answer")
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


# -- the scheduler on uvloop -----------------------------------------------------------------------------
def test_the_scheduler_runs_its_jobs_on_uvloop(runtime: Runtime) -> None:
    async def run_one_job() -> JobExecutionEvent:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, uvloop.Loop)
        finished: asyncio.Future[JobExecutionEvent] = loop.create_future()

        def listener(event: JobExecutionEvent) -> None:  # called from the executor's thread
            loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(event))

        scheduler = build_scheduler(runtime)
        scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        scheduler.start()
        try:
            scheduler.modify_job("purge_transient", next_run_time=datetime.now(UTC))
            return await asyncio.wait_for(finished, 20)
        finally:
            scheduler.shutdown(wait=False)

    event = uvloop.run(run_one_job())
    assert event.job_id == "purge_transient"
    assert event.exception is None
    assert isinstance(event.retval, dict)
