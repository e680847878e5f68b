"""RELAI_LOG_FORMAT: `serve`'s log lines as text (as before) or as one JSON object a line, uvicorn's
included; a turn's ids as fields of their own; a traceback inside its line."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from relai_bot.cli import _logging
from relai_bot.config import SettingsError, load_settings
from relai_bot.services.residents import address_tag
from relai_bot.testing.driver import Driver
from relai_bot.wiring import Runtime
from tests.web.test_serve import RELAI_BOT, STOP_TIMEOUT, free_port, serve_env, wait_until_healthy

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+ .*$")


@pytest.fixture(autouse=True)
def root_logger() -> Iterator[logging.Logger]:
    """`_logging` configures the process's root logger: put it back as it was after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def lines_of(captured: str) -> list[str]:
    return [line for line in captured.splitlines() if line]


def json_lines(captured: str) -> list[dict[str, Any]]:
    """Every line, each parsed as one JSON object (fails on a line that is not one)."""
    parsed = [json.loads(line) for line in lines_of(captured)]
    assert all(isinstance(entry, dict) for entry in parsed)
    return parsed


def test_json_lines_carry_time_level_logger_message_and_context(capsys: pytest.CaptureFixture[str]) -> None:
    _logging(load_settings(log_format="json"))
    log = logging.getLogger("relai_bot.delivery.claims")
    log.info("outbox skip id=%s kind=%s", 41, "broadcast", extra={"outbox_id": 41, "broadcast_id": 7})
    log.debug("below the level: not written")
    [skip] = json_lines(capsys.readouterr().err)
    assert list(skip)[:4] == ["time", "level", "logger", "message"]
    assert skip["level"] == "INFO" and skip["logger"] == "relai_bot.delivery.claims"
    assert skip["message"] == "outbox skip id=41 kind=broadcast"
    assert (skip["outbox_id"], skip["broadcast_id"]) == (41, 7)
    written = datetime.fromisoformat(skip["time"])
    assert written.utcoffset() == timedelta(0) and abs(datetime.now(UTC) - written) < timedelta(minutes=1)
    assert skip["time"].endswith("+00:00")


def test_an_exception_is_one_line_with_its_traceback_in_one_field(capsys: pytest.CaptureFixture[str]) -> None:
    _logging(load_settings(log_format="json"))
    try:
        int("not a number")
    except ValueError:
        logging.getLogger("relai_bot.conversation.dispatcher").exception("turn failed", extra={"channel": "sms"})
    captured = capsys.readouterr().err
    assert len(lines_of(captured)) == 1
    [entry] = json_lines(captured)
    assert entry["level"] == "ERROR" and entry["message"] == "turn failed" and entry["channel"] == "sms"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: invalid literal" in entry["exception"] and "\n" in entry["exception"]


def test_the_text_format_is_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    _logging(load_settings())
    logging.getLogger("relai_bot.wiring").info("demo data loaded: %s", "x", extra={"channel": "sms"})
    [line] = lines_of(capsys.readouterr().err)
    assert TEXT_LINE.match(line) and line.endswith(" INFO relai_bot.wiring demo data loaded: x")  # no fields added


def test_the_log_format_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().log_format == "text"
    monkeypatch.setenv("RELAI_LOG_FORMAT", " JSON ")
    assert load_settings().log_format == "json"
    monkeypatch.setenv("RELAI_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match=r"^setting RELAI_LOG_FORMAT is invalid: unknown log format 'xml' \("):
        load_settings()


async def test_a_turn_is_logged_with_its_ids(runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    _logging(load_settings(log_format="json"))
    chat = Driver(runtime).resident("sms", "+262692000777")
    turn = await chat.send("bonjour")
    [line] = [e for e in json_lines(capsys.readouterr().err) if e["logger"] == "relai_bot.conversation.dispatcher"]
    assert line["message"].startswith("turn channel=sms ")
    assert line["channel"] == "sms" and line["who"] == address_tag("sms", "+262692000777")
    assert (line["kind"], line["flow"], line["step"], line["replies"]) == ("text", turn.flow, turn.step, 1)
    assert isinstance(line["ms"], float) and line["duplicate"] is False
    assert "692000777" not in json.dumps(line)


# -- relai-bot serve itself ---------------------------------------------------------------------------------
def serve_log(tmp_path: Path, **settings: str) -> list[str]:
    """The log lines of a real `relai-bot serve`: started, sent a request uvicorn cannot parse (uvicorn.error
    warns), stopped. The command's own words to the operator (where it listens, how to make the first
    admin) are not log records: those plain lines starting "relai-bot:" are left out."""
    port = free_port()
    env = serve_env(tmp_path / "x.sqlite3", port) | settings
    log = tmp_path / "serve.log"
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [str(RELAI_BOT), "serve"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
    try:
        wait_until_healthy(process, f"http://127.0.0.1:{port}/healthz", log)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as garbage:
            garbage.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert garbage.recv(200).startswith(b"HTTP/1.1 400")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return [line for line in log.read_text().splitlines() if line and not line.startswith("relai-bot: ")]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_serve_writes_json_lines_uvicorn_s_included(tmp_path: Path) -> None:
    lines = serve_log(tmp_path, RELAI_LOG_FORMAT="json")
    records = json_lines("\n".join(lines))
    assert {"relai_bot.wiring", "uvicorn.error"} <= {entry["logger"] for entry in records}, lines
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in records)
    [uvicorn] = [entry for entry in records if entry["logger"] == "uvicorn.error"]
    assert (uvicorn["level"], uvicorn["message"]) == ("WARNING", "Invalid HTTP request received.")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_serve_s_text_lines_are_as_before(tmp_path: Path) -> None:
    assert "RELAI_LOG_FORMAT" not in os.environ
    lines = serve_log(tmp_path)
    assert lines and all(TEXT_LINE.match(line) for line in lines), lines
    assert any(" INFO relai_bot.wiring demo data loaded: " in line for line in lines)
    [uvicorn] = [line for line in lines if " uvicorn." in line]
    assert uvicorn.endswith(" WARNING uvicorn.error Invalid HTTP request received.")
