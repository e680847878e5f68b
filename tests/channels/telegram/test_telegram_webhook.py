"""Webhook mode: our Starlette app under uvicorn on 127.0.0.1, the fake Bot API POSTing updates to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from relai_bot.channels.telegram.channel import SECRET_HEADER, WEBHOOK_PATH, webhook_secret
from relai_bot.clock import FrozenClock
from relai_bot.store.models import Appointment, Conversation, MessageLog, ProcessedMessage, Resident
from tests.journeys import whole_journey
from tests.telegram_harness import RELAXED_CHANNEL, TOKEN, TelegramStack, telegram_stack

CHAT = 4242


@pytest.fixture
async def stack(sqlite_url: str, clock: FrozenClock) -> AsyncIterator[TelegramStack]:
    async with telegram_stack(sqlite_url, clock, mode="webhook") as running:
        yield running
        running.assert_clean()


def count(stack: TelegramStack, model: type) -> int:
    with stack.runtime.db.transaction() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def update(update_id: int, text: str, chat_id: int = CHAT, message_id: int = 1) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "date": 1_780_000_000,
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Test"},
            "text": text,
            **({"entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]} if text[0] == "/" else {}),
        },
    }


async def post(stack: TelegramStack, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    assert stack.public_url is not None
    async with httpx.AsyncClient(base_url=stack.public_url) as client:
        return await client.post(WEBHOOK_PATH, json=body, headers=headers or {})


async def test_the_whole_journey_by_buttons_through_the_webhook(stack: TelegramStack) -> None:
    chat = stack.resident(CHAT)
    await whole_journey(chat)
    assert len(stack.srv.calls_to("answerCallbackQuery")) == chat.presses
    assert stack.srv.calls_to("getUpdates") == []
    deliveries = stack.srv.webhook_deliveries
    assert deliveries and all(d.secret_token == stack.channel.secret for d in deliveries)
    assert {d.status for d in deliveries if d.status is not None} == {200}
    with stack.runtime.db.transaction() as session:
        assert [a.status for a in session.exec(select(Appointment))] == ["cancelled"]


async def test_the_webhook_is_registered_with_a_secret(stack: TelegramStack) -> None:
    [call] = stack.srv.calls_to("setWebhook")
    assert call.params["url"] == f"{stack.public_url}{WEBHOOK_PATH}"
    assert call.params["secret_token"] == webhook_secret(TOKEN) == stack.channel.secret
    assert "callback_query" in call.params["allowed_updates"]


@pytest.mark.parametrize("secret", [None, "", "wrong", webhook_secret("123456:another-bot")])
async def test_a_forged_webhook_is_refused_and_stores_nothing(stack: TelegramStack, secret: str | None) -> None:
    headers = {} if secret is None else {SECRET_HEADER: secret}
    response = await post(stack, update(1_000_001, "/start"), headers)
    assert response.status_code == 403
    await stack.channel.idle()
    assert count(stack, Conversation) == 0 and count(stack, ProcessedMessage) == 0
    assert stack.srv.sent_messages() == []


async def test_the_same_update_posted_twice_is_handled_once(stack: TelegramStack) -> None:
    headers = {SECRET_HEADER: stack.channel.secret}
    body = update(2_000_001, "/start")
    first = await post(stack, body, headers)
    second = await post(stack, body, headers)
    assert (first.status_code, second.status_code) == (200, 200)
    await stack.channel.idle()
    assert len(stack.srv.texts(CHAT)) == 1


async def test_a_redelivery_after_a_restart_is_handled_once(stack: TelegramStack) -> None:
    """The update-id memory is gone after a restart: the message id, kept in the database, still knows."""
    headers = {SECRET_HEADER: stack.channel.secret}
    chat = stack.chat(CHAT)
    await chat.send("/start")
    await chat.tap("Oui, je suis d'accord")
    body = update(3_000_001, "permis", message_id=77)
    await post(stack, body, headers)
    stack.channel._seen.clear()  # as after a restart
    await post(stack, body, headers)
    await stack.channel.idle()
    assert count(stack, Resident) == 1
    with stack.runtime.db.transaction() as session:
        ins = session.exec(select(MessageLog).where(MessageLog.direction == "in", MessageLog.body == "permis")).all()
        assert len(ins) == 1


async def test_bad_bodies_are_refused(stack: TelegramStack) -> None:
    headers = {SECRET_HEADER: stack.channel.secret}
    assert (await post(stack, ["not", "an", "update"], headers)).status_code == 400
    async with httpx.AsyncClient(base_url=stack.public_url or "") as client:
        as_json = headers | {"Content-Type": "application/json"}
        response = await client.post(WEBHOOK_PATH, content=b"{not json", headers=as_json)
        assert response.status_code == 400
        # Telegram posts JSON: another type is refused unread
        for other in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}):
            response = await client.post(WEBHOOK_PATH, content=b'{"update_id": 1}', headers=headers | other)
            assert response.status_code == 415, other
        # Telegram does not retry what we could not read: an unknown shape is acknowledged and skipped
        response = await client.post(WEBHOOK_PATH, json={"update_id": "x"}, headers=headers)
        assert response.status_code == 200


async def test_a_configured_secret_is_used(sqlite_url: str, clock: FrozenClock) -> None:
    settings = {**RELAXED_CHANNEL, "telegram_webhook_secret": "my-own_Secret-42"}
    async with telegram_stack(sqlite_url, clock, mode="webhook", settings=settings) as stack:
        assert stack.srv.calls_to("setWebhook")[0].params["secret_token"] == "my-own_Secret-42"
        chat = stack.chat(CHAT)
        await chat.send("/start")
        assert "Êtes-vous d'accord ?" in chat.text
        derived = {SECRET_HEADER: webhook_secret(TOKEN)}
        assert (await post(stack, update(4_000_001, "/start"), derived)).status_code == 403


async def test_polling_mode_has_no_webhook(sqlite_url: str, clock: FrozenClock) -> None:
    async with telegram_stack(sqlite_url, clock, mode="polling") as stack:
        assert stack.srv.calls_to("deleteWebhook") and not stack.srv.calls_to("setWebhook")
        response = await stack.channel.webhook(_request({SECRET_HEADER: stack.channel.secret}))
        assert response.status_code == 404


def _request(headers: dict[str, str]) -> Any:
    from starlette.requests import Request

    scope = {
        "type": "http",
        "method": "POST",
        "path": WEBHOOK_PATH,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope)
