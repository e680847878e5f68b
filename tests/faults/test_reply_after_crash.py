"""A reply survives its process dying between the turn's commit and the send (issue 15's "done when").

`relai-bot serve` runs as a process of its own, against the fake providers of this test. The provider
refuses the reply for a moment (a 5xx: the channel retries it inline, 1 s later), so the turn is
committed and its reply is on its way when the test kills the process with SIGKILL. Before, the reply
lived in memory only: it was lost. Now it is in the outbox, written in the turn's transaction; the
restarted service (same host: it takes the dead process's rows back at once) sends it, once.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from bench.systems import FAKE_TELEGRAM_LIMITS, Spawned, spawn_relai

from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.twilio_api import FakeTwilioServer, signed_form
from tests.proof import record

pytestmark = pytest.mark.slow

NUMBER = "+262692114477"
CHAT = 6_100_001


async def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not seen within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.05)


def _reply_rows(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT status, channel FROM outbox_message WHERE kind = 'reply'").fetchall()


def _kill(sut: Spawned) -> None:
    sut.process.send_signal(signal.SIGKILL)
    sut.process.wait(timeout=10)


async def _serve(spawn: Callable[[], Spawned]) -> Spawned:
    sut = spawn()
    await sut.wait_healthy(timeout=60)
    return sut


async def test_an_sms_reply_is_sent_after_a_kill_between_commit_and_send(tmp_path: Path) -> None:
    database = tmp_path / "relai.sqlite3"
    async with FakeTwilioServer() as twilio:
        twilio.incoming_numbers.append("+262939001122")

        def spawn() -> Spawned:
            return spawn_relai(tmp_path, database, twilio=(twilio.account_sid, twilio.auth_token, twilio.base_url))

        sut = await _serve(spawn)
        try:
            refused = twilio.fail_next(status=503, code=20500, message="Service Unavailable", times=50)
            params = {"From": NUMBER, "To": "+262939001122", "Body": "Bonjour", "MessageSid": "SM" + "a" * 32}
            url = f"{sut.base_url}/webhooks/twilio/sms"
            async with httpx.AsyncClient() as http:
                answer = await http.post(url, data=params, headers=signed_form(url, twilio.auth_token, params))
            assert answer.status_code == 200  # the turn is committed: Twilio will not send it again
            await _until(lambda: refused.hits >= 1, "the reply's first try")
            _kill(sut)
            assert [status for status, _ in _reply_rows(database)] == ["sending"]
            assert not [m for m in twilio.messages if m.to == NUMBER]
            twilio.faults.clear()

            sut = await _serve(spawn)
            await _until(lambda: bool([m for m in twilio.messages if m.to == NUMBER]), "the reply after the restart")
            await asyncio.sleep(1.0)  # anything more would come now
            received = [m for m in twilio.messages if m.to == NUMBER]
            assert len(received) == 1, [m.body for m in received]
            await _until(lambda: _reply_rows(database) == [("sent", "sms")], "the row marked sent")
        finally:
            if sut.alive():
                sut.process.terminate()
                sut.process.wait(timeout=20)
    record("kills", crash_after_commit_kills=1, crash_after_commit_replies_lost=0)


async def test_a_telegram_reply_is_sent_after_a_kill_between_commit_and_send(tmp_path: Path) -> None:
    database = tmp_path / "relai.sqlite3"
    async with FakeTelegramServer(**FAKE_TELEGRAM_LIMITS) as telegram:

        def spawn() -> Spawned:
            return spawn_relai(tmp_path, database, telegram_api=telegram.base_url)

        sut = await _serve(spawn)
        try:
            refused = telegram.fail_next("sendMessage", status=502, chat_id=CHAT, times=50)
            telegram.user_message(CHAT, "Bonjour")
            await _until(lambda: refused.hits >= 1, "the reply's first try")
            _kill(sut)
            assert [status for status, _ in _reply_rows(database)] == ["sending"], sut.log_tail(60)
            assert telegram.texts(CHAT) == []
            telegram.faults.clear()

            sut = await _serve(spawn)
            await _until(lambda: bool(telegram.texts(CHAT)), "the reply after the restart")
            await asyncio.sleep(1.0)
            assert len(telegram.texts(CHAT)) == 1, telegram.texts(CHAT)
            await _until(lambda: _reply_rows(database) == [("sent", "telegram")], "the row marked sent")
        finally:
            if sut.alive():
                sut.process.terminate()
                sut.process.wait(timeout=20)
    record("kills", crash_after_commit_kills=1, crash_after_commit_replies_lost=0)
