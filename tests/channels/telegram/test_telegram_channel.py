"""The Telegram channel in polling mode: python-telegram-bot for real, FakeTelegramServer where Telegram
would be. What only Telegram has (commands, deep links, buttons' limits, contacts, locations, groups,
edits); the journeys every channel carries run through Telegram in tests/conversation/test_journeys.py."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import func, select

from relai_bot.clock import FrozenClock
from relai_bot.store.models import (
    CallbackRequest,
    ChannelAddress,
    Conversation,
    District,
    MessageLog,
    Resident,
)
from relai_bot.testing.driver import Driver
from tests.journeys import whole_journey
from tests.telegram_harness import RELAXED_CHANNEL, TelegramStack, telegram_stack

CHAT = 4242


@pytest.fixture
async def stack(sqlite_url: str, clock: FrozenClock) -> AsyncIterator[TelegramStack]:
    async with telegram_stack(sqlite_url, clock) as running:
        yield running
        running.assert_clean()


def count(stack: TelegramStack, model: type, **where: Any) -> int:
    with stack.runtime.db.transaction() as session:
        statement = select(func.count()).select_from(model)
        for name, value in where.items():
            statement = statement.where(getattr(model, name) == value)
        return session.exec(statement).one()


def conversation(stack: TelegramStack, chat_id: int = CHAT) -> tuple[str, str, int]:
    with stack.runtime.db.transaction() as session:
        row = session.exec(select(Conversation).where(Conversation.address == str(chat_id))).one()
        return row.flow, row.step, row.turn


async def test_every_press_is_acknowledged_and_every_button_fits_telegram(stack: TelegramStack) -> None:
    chat = stack.resident(CHAT)
    await whole_journey(chat)
    assert len(stack.srv.calls_to("answerCallbackQuery")) == chat.presses == 17
    assert all(c.ok for c in stack.srv.calls_to("answerCallbackQuery"))
    for call in stack.srv.sent_messages(CHAT):
        markup = call.params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            assert len(row) == 1 and len(row[0]["text"]) <= 60
            assert 1 <= len(row[0]["callback_data"].encode()) <= 64


async def test_booking_sends_the_calendar_file_and_offers_to_share_the_phone(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    await chat.book_first_slot()
    booked, document, offer = stack.srv.sent_messages(CHAT)[-3:]
    assert "C'est réservé !" in booked.text and document.method == "sendDocument"
    assert document.params["document"].filename.endswith(".ics")
    keyboard = offer.params["reply_markup"]["keyboard"]
    assert keyboard == [[{"text": "Partager mon numéro", "request_contact": True}]]
    # The replies' Telegram ids are on their message-log rows
    with stack.runtime.db.transaction() as session:
        rows = session.exec(select(MessageLog).where(MessageLog.direction == "out")).all()
        assert rows and all(r.provider_message_id and r.status == "sent" for r in rows)
        assert rows[-1].provider_message_id == f"{CHAT}:{booked.result['message_id']}"


async def test_commands_are_set_in_french(stack: TelegramStack) -> None:
    [call] = stack.srv.calls_to("setMyCommands")
    commands = call.params["commands"]
    assert [c["command"] for c in commands] == ["start", "menu", "rendezvous", "aide", "stop"]
    assert commands[2]["description"] == "Voir mes rendez-vous"
    assert call.params["scope"] == {"type": "all_private_chats"}


async def test_deep_link_chooses_the_district_after_consent(stack: TelegramStack) -> None:
    chat = stack.chat(CHAT)
    await chat.send("/start saint-laurent")
    assert "Êtes-vous d'accord ?" in chat.text
    assert count(stack, Resident) == 0
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Non")
    assert "Votre quartier : Saint-Laurent." in chat.text
    with stack.runtime.db.transaction() as session:
        resident = session.exec(select(Resident)).one()
        assert session.get(District, resident.district_id).code == "saint-laurent"


async def test_start_twice_and_commands(stack: TelegramStack) -> None:
    chat = stack.chat(CHAT)
    await chat.send("/start")
    await chat.send("/start")
    assert "Êtes-vous d'accord ?" in chat.text
    assert conversation(stack)[:2] == ("onboarding", "welcome")
    chat = await stack.onboarded(5151)
    await chat.tap("Trouver une aide")
    await chat.send("/aide")
    assert "Voici comment faire" in chat.text or "questions" in chat.text
    await chat.send("/menu")
    assert "Que voulez-vous faire ?" in chat.text
    await chat.send("/start")
    assert "Que voulez-vous faire ?" in chat.text
    await chat.send("/rendezvous")
    assert "pas de rendez-vous" in chat.text


async def test_rendezvous_from_the_middle_of_a_flow(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    await chat.book_first_slot()
    await chat.tap("Revenir au menu")
    await chat.tap("Trouver une aide")
    new = await chat.send("/rendezvous")
    assert len(new) == 1 and "Vous avez 1 rendez-vous." in new[0]
    # The menu it passed through was not shown, nor kept in the log
    with stack.runtime.db.transaction() as session:
        outs = session.exec(select(MessageLog).where(MessageLog.direction == "out")).all()
        assert all(r.provider_message_id for r in outs)


async def test_stop_and_start_as_commands(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    await chat.send("/stop")
    assert "vous ne recevrez plus de messages" in chat.text
    await chat.send("bonjour")
    assert "/start" in chat.text
    await chat.send("/start")
    assert "de nouveau nos messages" in chat.text


async def test_a_button_pressed_twice_quickly_counts_once(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    data = chat.button("Trouver une aide")
    before = conversation(stack)[2]
    chat.seen = len(stack.srv.texts(CHAT))
    stack.srv.callback_press(CHAT, data)
    stack.srv.callback_press(CHAT, data)
    await stack.settle()
    assert conversation(stack)[2] == before + 1
    assert len(chat.new) == 1 and "3 questions" in chat.new[0]  # one answer, no "old button" notice
    answers = stack.srv.calls_to("answerCallbackQuery")
    assert len(answers) == 4 + 2 and all(a.ok for a in answers)


async def test_the_same_update_delivered_twice_is_handled_once(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    update = stack.srv.user_message(CHAT, "permis")
    stack.srv.push_update(update)
    await stack.settle()
    assert sum("Voici ce que j'ai trouvé" in t for t in chat.srv.texts(CHAT)) == 1


@pytest.mark.parametrize(
    "content",
    [
        {"photo": [{"file_id": "AgAC1", "file_unique_id": "p1", "width": 90, "height": 90}]},
        {
            "sticker": {
                "file_id": "CAAC1",
                "file_unique_id": "s1",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        },
        {"voice": {"file_id": "AwAC1", "file_unique_id": "v1", "duration": 3}},
        "document",
    ],
    ids=["photo", "sticker", "voice", "document"],
)
async def test_media_get_a_polite_answer_and_change_nothing(stack: TelegramStack, content: Any) -> None:
    chat = await stack.onboarded(CHAT)
    labels, where = chat.labels, conversation(stack)[:2]
    if content == "document":
        content = {"document": stack.srv.store_file(b"%PDF-1.4", "cv.pdf", "application/pdf")}
    await chat.send(None, **content)
    assert "Je ne sais pas lire les photos" in chat.text
    assert chat.labels == labels and conversation(stack)[:2] == where


async def test_contacts_own_and_someone_elses(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    await chat.send(None, contact={"phone_number": "262692000111", "first_name": "Cousin", "user_id": 999})
    assert "pas celui d'une autre personne" in chat.text
    await chat.send(None, contact={"phone_number": "262692000111", "first_name": "Sans compte"})
    assert "pas celui d'une autre personne" in chat.text
    assert count(stack, ChannelAddress, channel="sms") == 0
    await chat.send(None, contact={"phone_number": "262692123456", "first_name": "Test", "user_id": CHAT})
    assert "Merci, c'est noté." in chat.text
    with stack.runtime.db.transaction() as session:
        assert session.exec(select(ChannelAddress.address).where(ChannelAddress.channel == "sms")).one() == (
            "+262692123456"
        )
    last = stack.srv.sent_messages(CHAT)[-1]
    assert last.params["reply_markup"] == {"remove_keyboard": True}


async def test_a_contact_is_the_answer_where_a_phone_is_asked(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    await chat.tap("Être rappelé")
    assert "À quel numéro" in chat.text
    await chat.send(None, contact={"phone_number": "+262 692 12 34 56", "first_name": "Test", "user_id": CHAT})
    assert "Quand préférez-vous" in chat.text
    await chat.tap("Le matin")
    with stack.runtime.db.transaction() as session:
        assert session.exec(select(CallbackRequest.phone)).one() == "+262692123456"
    assert count(stack, ChannelAddress, channel="sms") == 0  # asked for a call, not linked


async def test_a_contact_before_consent_is_not_kept(stack: TelegramStack) -> None:
    chat = stack.chat(CHAT)
    await chat.send("/start")
    await chat.send(None, contact={"phone_number": "262692123456", "first_name": "Test", "user_id": CHAT})
    assert "Je n'ai pas besoin d'un contact ici" in chat.text
    assert count(stack, Resident) == 0 and count(stack, ChannelAddress) == 0


async def test_location_suggests_the_nearest_district_and_place(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    where = conversation(stack)
    await chat.send(None, location={"latitude": -20.9305, "longitude": 55.3405})
    assert "Le quartier le plus proche : Saint-Laurent." in chat.text
    assert "Le lieu d'accueil le plus proche, à " in chat.text and " km :" in chat.text
    assert conversation(stack) == where


async def test_location_answers_the_district_question(stack: TelegramStack) -> None:
    chat = stack.chat(CHAT)
    await chat.send("/start")
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Non")
    assert "Dans quel quartier" in chat.text
    await chat.send(None, location={"latitude": -20.938, "longitude": 55.328})
    with stack.runtime.db.transaction() as session:
        resident = session.exec(select(Resident)).one()
        assert session.get(District, resident.district_id).code == "moulin-joli"


async def test_edited_messages_get_a_polite_answer_and_change_nothing(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    where = conversation(stack)
    sent = stack.srv.user_message(CHAT, "permis")
    await stack.settle()
    edited = {**sent["message"], "text": "formation", "edit_date": sent["message"]["date"] + 5}
    await chat.push({"edited_message": edited})
    assert "Vous avez modifié un message." in chat.text
    assert conversation(stack)[2] == where[2] + 1  # only the first message moved the conversation


async def test_group_messages_get_one_answer(stack: TelegramStack) -> None:
    group = stack.chat(-1001234567890)
    await group.send("bonjour", user_id=777)
    assert "seulement en conversation privée" in group.text
    assert "t.me/relai_possession_bot" in group.text
    await group.send("/start", user_id=777)
    await group.send("encore", user_id=778)
    assert len(stack.srv.texts(-1001234567890)) == 1
    assert count(stack, Conversation) == 0 and count(stack, Resident) == 0


async def test_a_resident_typing_html_breaks_nothing(stack: TelegramStack) -> None:
    chat = await stack.onboarded(CHAT)
    await chat.send("<b>permis</b> & <i>voiture")
    assert "permis" in chat.text.lower()
    await chat.send("<script>alert(1)</script>")
    assert chat.text  # answered, and the fake refused no markup


async def test_blocking_the_bot_marks_the_address_unreachable(stack: TelegramStack) -> None:
    await stack.onboarded(CHAT)
    member = {"status": "member", "user": stack.srv.bot_user}
    kicked = {"status": "kicked", "user": stack.srv.bot_user, "until_date": 0}
    change = {
        "chat": {"id": CHAT, "type": "private", "first_name": "Test"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Test"},
        "date": 0,
        "old_chat_member": member,
        "new_chat_member": kicked,
    }
    await stack.chat(CHAT).push({"my_chat_member": change})
    with stack.runtime.db.transaction() as session:
        assert session.exec(select(ChannelAddress)).one().unreachable_at is not None
    await stack.chat(CHAT).push({"my_chat_member": {**change, "old_chat_member": kicked, "new_chat_member": member}})
    with stack.runtime.db.transaction() as session:
        assert session.exec(select(ChannelAddress)).one().unreachable_at is None


async def test_sharing_the_phone_makes_telegram_and_sms_one_resident(stack: TelegramStack) -> None:
    phone = "+262692123456"
    sms = await Driver(stack.runtime).onboarded(channel="sms", address=phone, district="Pichette")
    await sms.book_first_slot()
    chat = await stack.onboarded(CHAT)
    await chat.tap("Prendre rendez-vous")
    await chat.tap("Je ne sais pas")
    await chat.tap(2)
    await chat.tap("Oui, je réserve")
    assert "Partager mon numéro" in chat.text
    await chat.send(None, contact={"phone_number": phone.removeprefix("+"), "first_name": "Test", "user_id": CHAT})
    assert "Vos rendez-vous pris par SMS sont aussi ici maintenant." in chat.text
    assert count(stack, Resident) == 1
    await chat.send("/rendezvous")
    assert "Vous avez 2 rendez-vous." in chat.text
    # Booking again offers nothing more: the number is known
    await chat.tap("Revenir au menu")
    await chat.tap("Prendre rendez-vous")
    await chat.tap("Je ne sais pas")
    await chat.tap(3)
    await chat.tap("Oui, je réserve")
    assert "C'est réservé !" in chat.text and "Partager mon numéro" not in chat.text


async def test_on_sqlite_and_postgresql(database_url: str, clock: FrozenClock) -> None:
    """The journey, a group told once, a delivery twice and a phone merge, on both databases."""
    async with telegram_stack(database_url, clock) as stack:
        await whole_journey(stack.resident(CHAT))
        group = stack.chat(-1009876543210)
        await group.send("bonjour", user_id=777)
        await group.send("encore", user_id=777)
        assert len(stack.srv.texts(-1009876543210)) == 1
        await stack.chat(CHAT).send("/menu")
        update = stack.srv.user_message(CHAT, "permis")
        stack.srv.push_update(update)
        await stack.settle()
        assert sum("Voici ce que j'ai trouvé" in t for t in stack.srv.texts(CHAT)) == 1
        sms = Driver(stack.runtime).resident(channel="sms", address="+262692123456")
        await sms.send("bonjour")
        await sms.tap("Oui, je suis d'accord")
        chat = stack.chat(CHAT)
        await chat.send(None, contact={"phone_number": "262692123456", "first_name": "Test", "user_id": CHAT})
        assert "Vos rendez-vous pris par SMS sont aussi ici maintenant." in chat.text
        assert count(stack, Resident) == 1
        stack.assert_clean()


@pytest.mark.parametrize(("configured", "warned"), [("Autre_Bot", True), ("RELAI_POSSESSION_BOT", False)])
async def test_a_bot_username_set_for_the_posters_is_checked_against_the_token(
    sqlite_url: str, clock: FrozenClock, caplog: pytest.LogCaptureFixture, configured: str, warned: bool
) -> None:
    settings = {**RELAXED_CHANNEL, "telegram_bot_username": configured}
    with caplog.at_level(logging.WARNING, logger="relai_bot.channels.telegram.channel"):
        async with telegram_stack(sqlite_url, clock, settings=settings):
            pass
    found = [r.getMessage() for r in caplog.records if "RELAI_TELEGRAM_BOT_USERNAME" in r.getMessage()]
    assert found == (
        [
            f"RELAI_TELEGRAM_BOT_USERNAME is {configured} but the token's bot is relai_possession_bot: "
            "the district posters link elsewhere"
        ]
        if warned
        else []
    )
