"""What both fake providers share (tests/fakes/server.py): the fault plan, dropped connections, waiting on
the server's signals. Each fake's own rules are tested in tests/channels/*/test_fake_*_api.py."""

from __future__ import annotations

import asyncio

import pytest
import requests
import telegram
from telegram.error import NetworkError, TimedOut
from twilio.base.exceptions import TwilioRestException

from tests.fakes.server import FaultPlan
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.twilio_api import FakeTwilioServer

TOKEN = "123:ABC"
CHAT = 4242
RESIDENT = "+262692123456"

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*retry_after:telegram.warnings.PTBDeprecationWarning"),
]


def test_one_fault_per_request_first_planned_first_taken() -> None:
    plan = FaultPlan()
    slow = plan.plan(delay=0.5, method="getMe")
    failing = plan.plan(status=500, times=2, method="*", chat_id=CHAT)
    assert plan.take(method="sendMessage", chat_id=CHAT + 1) is None  # another chat
    assert plan.take(method="GETME", chat_id=None) is slow  # names compare without case
    assert plan.take(method="getMe", chat_id=None) is None  # used up
    assert plan.take(method="sendMessage", chat_id=str(CHAT)) is failing  # "4242" is chat 4242
    assert plan.take(method="sendDocument", chat_id=CHAT) is failing
    assert plan.take(method="sendMessage", chat_id=CHAT) is None
    assert (slow.hits, failing.hits, plan.hits) == (1, 2, 3)
    assert plan.pending == [] and plan.taken == [slow, failing]
    assert failing.answers and failing.spent and not slow.answers


def test_a_fault_must_do_something() -> None:
    plan = FaultPlan()
    with pytest.raises(ValueError, match="status, a delay or drop"):
        plan.plan(times=1)
    with pytest.raises(ValueError, match="times"):
        plan.plan(status=500, times=0)
    with pytest.raises(ValueError, match="negative"):
        plan.plan(delay=-1)


async def test_telegram_a_dropped_connection_answers_nothing() -> None:
    async with FakeTelegramServer(token=TOKEN, enforce_rate_limits=False) as srv:
        async with telegram.Bot(TOKEN, base_url=srv.base_url, base_file_url=srv.base_file_url) as bot:
            fault = srv.drop_next("sendMessage", chat_id=CHAT)
            with pytest.raises(NetworkError) as caught:
                await bot.send_message(CHAT, "perdu")
            assert not isinstance(caught.value, TimedOut)
            await bot.send_message(CHAT, "reçu")
        dropped, sent = srv.calls_to("sendMessage")
        assert (dropped.status, dropped.dropped, dropped.injected) == (None, True, True)
        assert sent.ok and srv.texts(CHAT) == ["reçu"]
        assert fault.hits == 1 and srv.faults.pending == [] and srv.violations == []


async def test_telegram_a_late_error_and_the_count_of_faults() -> None:
    async with FakeTelegramServer(token=TOKEN, enforce_rate_limits=False) as srv:
        async with telegram.Bot(TOKEN, base_url=srv.base_url, base_file_url=srv.base_file_url) as bot:
            fault = srv.fail_next("sendMessage", status=502, delay=0.05, times=2)
            for _ in range(2):
                with pytest.raises(NetworkError):
                    await bot.send_message(CHAT, "x")
            await bot.send_message(CHAT, "x")
        assert [(c.status, c.delayed) for c in srv.calls_to("sendMessage")] == [(502, 0.05), (502, 0.05), (200, 0.0)]
        assert fault.hits == 2 and srv.faults.hits == 2


async def test_twilio_a_dropped_connection_sends_nothing() -> None:
    async with FakeTwilioServer() as srv:
        fault = srv.drop_next(to=RESIDENT)
        client = srv.client()
        with pytest.raises(requests.exceptions.ConnectionError):
            await asyncio.to_thread(client.messages.create, to=RESIDENT, from_="MAIRIE", body="perdu")
        await asyncio.to_thread(client.messages.create, to=RESIDENT, from_="MAIRIE", body="reçu")
        dropped, created = srv.requests
        assert (dropped.status, dropped.dropped, dropped.injected) == (None, True, True)
        assert created.status == 201 and [m.body for m in srv.messages] == ["reçu"]
        assert fault.hits == 1 and srv.violations == []


async def test_twilio_a_late_error_and_the_count_of_faults() -> None:
    async with FakeTwilioServer() as srv:
        fault = srv.fail_next(status=503, code=20503, delay=0.05, times=2)
        client = srv.client()
        for _ in range(2):
            with pytest.raises(TwilioRestException) as caught:
                await asyncio.to_thread(client.messages.create, to=RESIDENT, from_="MAIRIE", body="x")
            assert caught.value.code == 20503
        await asyncio.to_thread(client.messages.create, to=RESIDENT, from_="MAIRIE", body="x")
        assert [(r.status, r.code, r.delayed) for r in srv.requests] == [
            (503, 20503, 0.05),
            (503, 20503, 0.05),
            (201, None, 0.0),
        ]
        assert fault.hits == 2 and len(srv.messages) == 1


async def test_waiting_wakes_on_the_servers_own_signals() -> None:
    async with FakeTwilioServer() as srv:
        client = srv.client()
        waiting = asyncio.create_task(srv.wait_for_messages(2))
        for body in ("un", "deux"):
            await asyncio.to_thread(client.messages.create, to=RESIDENT, from_="MAIRIE", body=body)
        assert [m.body for m in await waiting] == ["un", "deux"]
        with pytest.raises(TimeoutError, match="2 messages accepted, expected 3"):
            await srv.wait_for_messages(3, timeout=0.01)


async def test_a_stop_cuts_a_delay_short() -> None:
    srv = await FakeTwilioServer().start()
    srv.delay_next(600)
    client = srv.client()
    sending = asyncio.create_task(asyncio.to_thread(client.messages.create, to=RESIDENT, from_="MAIRIE", body="x"))
    await srv.wait_until(lambda: srv.faults.hits == 1)
    await srv.stop()  # does not wait ten minutes
    await asyncio.gather(sending, return_exceptions=True)
    assert srv.requests[0].delayed == 600
