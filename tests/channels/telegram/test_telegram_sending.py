"""Sending to Telegram: flood limits, retries, errors that make an address unreachable, long texts,
escaping; through python-telegram-bot to the fake Bot API.

Retries follow relai_bot.sending.retry: a conversation reply is retried in place (INLINE), a send for
the delivery engine is tried once and handed back (the engine retries it, ONE_TRY)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select

from relai_bot.channels.telegram.render import utf16_len
from relai_bot.clock import FrozenClock
from relai_bot.sending.contract import SendFailure
from relai_bot.store.models import ChannelAddress, MessageLog, Resident
from relai_bot.turns import Option, Reply
from tests.telegram_harness import RELAXED_CHANNEL, TelegramStack, telegram_stack

CHAT = 4242
# PTB 22 warns when it builds a RetryAfter (its retry_after will become a timedelta)
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after:telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
async def stack(sqlite_url: str, clock: FrozenClock) -> AsyncIterator[TelegramStack]:
    async with telegram_stack(sqlite_url, clock) as running:
        yield running
        running.assert_clean()


def statuses(stack: TelegramStack, method: str = "sendMessage") -> list[int]:
    return [c.status for c in stack.srv.calls_to(method)]


async def test_a_429_on_a_send_for_the_engine_is_handed_back_and_pauses_the_chat(stack: TelegramStack) -> None:
    stack.srv.fail_next("sendMessage", status=429, retry_after=1)
    with pytest.raises(SendFailure) as caught:
        await stack.channel.send(str(CHAT), Reply(text="Bonjour"))
    assert (caught.value.kind, caught.value.retry_after, caught.value.code) == ("retry", 1.0, "429")
    # the engine's next try (here at once) waits for the pause Telegram asked for
    result = await stack.channel.send(str(CHAT), Reply(text="Bonjour"))
    assert statuses(stack) == [429, 200]
    refused, sent = stack.srv.calls_to("sendMessage")
    assert sent.time - refused.time >= 1.0
    assert stack.srv.texts(CHAT) == ["Bonjour"]
    assert result.provider_message_id == f"{CHAT}:{stack.srv.sent_messages(CHAT)[0].result['message_id']}"


async def test_429_in_a_conversation_delays_the_reply_without_duplicate(stack: TelegramStack) -> None:
    stack.srv.fail_next("sendMessage", status=429, retry_after=1)
    chat = stack.chat(CHAT)
    new = await chat.send("/start")
    assert len(new) == 1 and "Êtes-vous d'accord ?" in new[0]
    assert statuses(stack) == [429, 200]


async def test_a_long_429_is_handed_back_to_the_delivery_engine(stack: TelegramStack) -> None:
    stack.srv.fail_next("sendMessage", status=429, retry_after=30)
    with pytest.raises(SendFailure) as caught:
        await stack.channel.send(str(CHAT), Reply(text="Rappel"))
    assert (caught.value.kind, caught.value.retry_after, caught.value.code) == ("retry", 30.0, "429")
    assert stack.srv.texts(CHAT) == []


async def test_a_reply_is_retried_in_place_after_5xx(stack: TelegramStack) -> None:
    stack.srv.fail_next("sendMessage", status=500)
    stack.srv.fail_next("sendMessage", status=502)
    new = await stack.chat(CHAT).send("/start")
    assert len(new) == 1 and "Êtes-vous d'accord ?" in new[0]
    assert statuses(stack) == [500, 502, 200]


async def test_a_reply_is_given_up_after_three_tries(stack: TelegramStack) -> None:
    await stack.onboarded(CHAT)
    stack.srv.fail_next("sendMessage", status=500, times=3)
    before = len(statuses(stack))
    stack.srv.user_message(CHAT, "menu")
    await stack.settle()
    assert statuses(stack)[before:] == [500, 500, 500]
    with stack.runtime.db.transaction() as session:
        out = session.exec(select(MessageLog).where(MessageLog.direction == "out")).all()
        assert ("failed", "5xx") in {(row.status, row.error_code) for row in out}


async def test_a_send_for_the_engine_is_tried_once(stack: TelegramStack) -> None:
    stack.srv.fail_next("sendMessage", status=500, times=3)
    with pytest.raises(SendFailure) as caught:
        await stack.channel.send(str(CHAT), Reply(text="Bonjour"))
    assert (caught.value.kind, caught.value.code, caught.value.ambiguous) == ("retry", "5xx", False)
    assert statuses(stack) == [500]


async def test_blocked_bot_marks_the_address_unreachable(stack: TelegramStack) -> None:
    await stack.onboarded(CHAT)
    stack.srv.block_chat(CHAT)
    with pytest.raises(SendFailure) as caught:
        await stack.channel.send(str(CHAT), Reply(text="Rappel"), proactive=True)
    assert (caught.value.kind, caught.value.code) == ("unreachable", "403")
    assert statuses(stack).count(403) == 1  # not retried
    with stack.runtime.db.transaction() as session:
        assert session.exec(select(ChannelAddress)).one().unreachable_at is not None
        assert session.exec(select(Resident)).one().unreachable_at is not None


async def test_a_reply_to_a_blocked_chat_is_recorded_as_failed(stack: TelegramStack) -> None:
    await stack.onboarded(CHAT)
    stack.srv.block_chat(CHAT)
    stack.srv.user_message(CHAT, "permis")
    await stack.settle()
    with stack.runtime.db.transaction() as session:
        last = session.exec(select(MessageLog).order_by(MessageLog.id.desc())).first()  # type: ignore[union-attr]
        assert (last.direction, last.status, last.error_code) == ("out", "failed", "403")
        assert session.exec(select(ChannelAddress)).one().unreachable_at is not None
    # Writing again makes it reachable
    stack.srv.unblock_chat(CHAT)
    stack.srv.user_message(CHAT, "menu")
    await stack.settle()
    with stack.runtime.db.transaction() as session:
        assert session.exec(select(ChannelAddress)).one().unreachable_at is None


async def test_chat_not_found_is_unreachable(stack: TelegramStack) -> None:
    await stack.onboarded(CHAT)
    stack.srv.unknown_chats.add(CHAT)
    with pytest.raises(SendFailure) as caught:
        await stack.channel.send(str(CHAT), Reply(text="Rappel"))
    assert (caught.value.kind, caught.value.code) == ("unreachable", "400")
    with stack.runtime.db.transaction() as session:
        assert session.exec(select(ChannelAddress)).one().unreachable_at is not None


async def test_other_bad_requests_are_invalid_and_not_repeated(stack: TelegramStack) -> None:
    stack.srv.fail_next("sendMessage", status=400, description="Bad Request: something is wrong")
    with pytest.raises(SendFailure) as caught:
        await stack.channel.send(str(CHAT), Reply(text="x"))
    assert caught.value.kind == "invalid" and statuses(stack) == [400]
    with pytest.raises(SendFailure, match="invalid"):
        await stack.channel.send("not-a-chat", Reply(text="x"))


async def test_a_timeout_after_sending_is_never_resent(sqlite_url: str, clock: FrozenClock) -> None:
    settings = {**RELAXED_CHANNEL, "telegram_timeout_seconds": 0.3}
    async with telegram_stack(sqlite_url, clock, settings=settings) as stack:
        stack.srv.delay_next("sendMessage", 0.8)
        with pytest.raises(SendFailure) as caught:
            await stack.channel.send(str(CHAT), Reply(text="Rappel"))
        assert (caught.value.kind, caught.value.code, caught.value.ambiguous) == ("retry", "timeout", True)
        # Telegram took it after all: shown once, never sent a second time
        await stack.srv.wait_until(lambda: len(stack.srv.calls_to("sendMessage")) == 1)
        assert stack.srv.texts(CHAT) == ["Rappel"]
        # nor is a conversation reply, which is otherwise retried in place
        stack.srv.delay_next("sendMessage", 0.8)
        stack.srv.user_message(CHAT, "/start")
        await stack.settle()
        await stack.srv.wait_until(lambda: len(stack.srv.calls_to("sendMessage")) == 2)
        await asyncio.sleep(0.2)
        assert len(stack.srv.calls_to("sendMessage")) == 2


async def test_a_stopped_resident_gets_nothing_proactive(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    await chat.send("/stop")
    with pytest.raises(SendFailure) as caught:
        await stack.channel.send(str(CHAT), Reply(text="Offre"), proactive=True)
    assert caught.value.kind == "stopped"


async def test_long_text_is_split_at_line_breaks_buttons_last(stack: TelegramStack) -> None:
    lines = [" ".join([f"Ligne {n} : é😀", *["mot"] * (n % 40)]) for n in range(600)]
    text = "\n".join(lines)
    assert utf16_len(text) > 3 * 4096
    options = [Option(id="7.1", label="Oui", number=1), Option(id="7.2", label="Non", number=2)]
    await stack.channel.send(str(CHAT), Reply(text=text, options=options))
    calls = stack.srv.sent_messages(CHAT)
    assert len(calls) >= 4
    assert all(utf16_len(c.result["text"]) <= 4096 for c in calls)
    assert "\n".join(c.result["text"] for c in calls) == text
    assert [("reply_markup" in c.params) for c in calls] == [False] * (len(calls) - 1) + [True]


async def test_parts_already_sent_are_not_sent_again(stack: TelegramStack, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "\n".join(["a" * 3000, "b" * 3000, "c" * 3000])
    original = stack.channel.sender.send
    sent = 0

    async def fail_after_the_first_part(chat_id: int, message: Any, **options: Any) -> Any:
        nonlocal sent
        result = await original(chat_id, message, **options)
        sent += 1
        if sent == 1:
            stack.srv.fail_next("sendMessage", status=500)
        return result

    monkeypatch.setattr(stack.channel.sender, "send", fail_after_the_first_part)
    with pytest.raises(SendFailure):
        await stack.channel.send(str(CHAT), Reply(text=text))
    assert stack.srv.texts(CHAT) == ["a" * 3000]
    # The delivery engine tries again later: only the parts Telegram did not take go
    result = await stack.channel.send(str(CHAT), Reply(text=text))
    assert stack.srv.texts(CHAT) == ["a" * 3000, "b" * 3000, "c" * 3000]
    assert result.provider_message_id == f"{CHAT}:{stack.srv.sent_messages(CHAT)[0].result['message_id']}"


async def test_html_is_escaped_and_shown_as_typed(stack: TelegramStack) -> None:
    text = "<b>Tom & Jerry</b> <script>alert(1)</script> 3 < 4 > 2 &amp;"
    await stack.channel.send(str(CHAT), Reply(text=text))
    [call] = stack.srv.sent_messages(CHAT)
    assert call.params["parse_mode"] == "HTML"
    assert call.result["text"] == text and "entities" not in call.result


async def test_pacing_stays_under_realistic_limits(sqlite_url: str, clock: FrozenClock) -> None:
    """Telegram's real limits (1 a second per chat after a burst of 3; 30 a second overall): no 429.

    The channel's own burst is one less than the fake's, a margin against scheduling jitter on a loaded
    machine (the fake measures arrival times, the channel paces departures)."""
    async with telegram_stack(sqlite_url, clock, fake={}, settings={"telegram_chat_burst": 2}) as stack:
        await asyncio.gather(*(stack.channel.send(str(CHAT), Reply(text=f"n°{n}")) for n in range(5)))
        await asyncio.gather(*(stack.channel.send(str(1000 + n), Reply(text="Info")) for n in range(40)))
        assert stack.srv.violations == [] and all(c.ok for c in stack.srv.calls)
        assert stack.srv.texts(CHAT) == [f"n°{n}" for n in range(5)]  # in order
        times = [c.time for c in stack.srv.sent_messages(CHAT)]
        assert times[3] - times[0] >= 1.0


async def test_a_send_the_caller_stopped_waiting_for_is_not_sent_twice(stack: TelegramStack) -> None:
    stack.srv.delay_next("sendMessage", 0.5)
    reply = Reply(text="Rappel : demain 9 h", log_id=None)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(stack.channel.send(str(CHAT), reply), 0.1)
    await stack.channel.idle()
    assert stack.srv.texts(CHAT) == ["Rappel : demain 9 h"]
    # The delivery engine tries again: Telegram took it meanwhile, nothing goes a second time
    again = await stack.channel.send(str(CHAT), reply)
    assert again.provider_message_id == f"{CHAT}:{stack.srv.sent_messages(CHAT)[0].result['message_id']}"
    assert len(stack.srv.calls_to("sendMessage")) == 1


async def test_a_connection_lost_after_the_request_left_is_not_resent(stack: TelegramStack) -> None:
    """Telegram closed the connection without an answer: it may have shown the reply, so the reply is not
    sent again in place; its log row says "unknown", and the next reply goes normally."""
    await stack.onboarded(CHAT)
    before = len(stack.srv.calls_to("sendMessage"))
    stack.srv.drop_next("sendMessage", chat_id=CHAT)
    stack.srv.user_message(CHAT, "permis")
    await stack.settle()
    assert len(stack.srv.calls_to("sendMessage")) == before + 1  # the dropped call only
    with stack.runtime.db.transaction() as session:
        last = session.exec(select(MessageLog).order_by(col(MessageLog.id).desc())).first()
        assert last is not None and (last.direction, last.status) == ("out", "unknown")
    stack.srv.user_message(CHAT, "menu")
    await stack.settle()
    assert len(stack.srv.calls_to("sendMessage")) == before + 2
