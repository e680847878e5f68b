"""Réunion Creole from the first message to the reminder: detected, chosen, kept, followed by what the
service sends on its own. The journey runs on the console, on Telegram and by SMS (real stacks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import func, select

from relai_bot.clock import FrozenClock
from relai_bot.conversation.language_choice import LanguageWords, tokens
from relai_bot.delivery.ticks import reminders_tick, waitlist_tick
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.store.models import ChannelAddress, OutboxMessage, Resident
from relai_bot.testing.driver import Chat, ChatDriver, ConsoleChat, Driver
from relai_bot.turns import Inbound, Turn
from relai_bot.wiring import Runtime
from tests.delivery_support import buttons, sent_texts, telegram_sender
from tests.journeys import book_in_creole
from tests.services.test_appointment_status import _appointment, _set
from tests.services.test_reminders import FAST, onboard
from tests.services.test_waitlist import full_slot, join

pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


def language_of(runtime: Runtime, channel: str, address: str) -> str | None:
    with runtime.db.transaction() as session:
        return session.exec(
            select(Resident.language)
            .join(ChannelAddress, ChannelAddress.resident_id == Resident.id)
            .where(ChannelAddress.channel == channel, ChannelAddress.address == address)
        ).one_or_none()


# -- which language a first message is in ---------------------------------------------------------------

FIRST_MESSAGES = [
    ("bonjour, mi rode in travay", "rcf"),
    ("mi vé in rdv", "rcf"),
    ("kosa i fo fé pou gingn in formasyon", "rcf"),
    ("ou lé la ?", "rcf"),
    ("Zot i pé èd amwin ?", "rcf"),
    ("travay", "rcf"),
    ("bonjour je cherche un travail", "fr"),
    ("je veux un rendez-vous", "fr"),
    ("Est-ce que vous pouvez m'aider", "fr"),
    ("bonjour", None),  # both languages say it: nothing decided
    ("rdv", None),
    ("", None),
    ("😀👍", None),
    ("le", None),  # French "le", not Creole "lé"
]


@pytest.mark.parametrize(("text", "language"), FIRST_MESSAGES)
def test_a_first_message_is_scored_per_language(runtime: Runtime, text: str, language: str | None) -> None:
    assert runtime.renderer.language_words.detected(text) == language, runtime.renderer.language_words.scores(text)


def test_words_keep_their_accents() -> None:
    assert tokens("Ou LÉ la, mi rode in travay !") == ["ou", "lé", "la", "mi", "rode", "in", "travay"]


def test_a_tie_or_a_narrow_lead_decides_nothing() -> None:
    words = LanguageWords(switch_to={}, detect={"fr": {"je": 2, "un": 1}, "rcf": {"mi": 2, "in": 1}})
    assert words.detected("je mi un in") is None
    assert words.detected("je un mi") is None  # 3 against 2: a lead of 1
    assert words.detected("je un") == "fr"


@pytest.mark.parametrize(
    ("text", "language"),
    [("kréol", "rcf"), ("Kreol", "rcf"), ("en créole", "rcf"), ("FRANÇAIS", "fr"), ("fransé", "fr"), ("oui", None)],
)
def test_a_language_asked_for_by_name(runtime: Runtime, text: str, language: str | None) -> None:
    assert runtime.renderer.language_words.requested(text) == language


# -- choosing it ------------------------------------------------------------------------------------------


async def test_a_creole_first_message_gets_the_welcome_in_creole_and_a_way_to_french(driver: Driver) -> None:
    chat = driver.resident("telegram", "7100")
    await chat.send("bonjour, mi rode in travay")
    assert "Ou lé dakor ?" in chat.text and "Fransé" in chat.labels
    await chat.tap("Fransé")
    assert "Êtes-vous d'accord ?" in chat.text and "Kréol" in chat.labels
    await chat.tap("Oui, je suis d'accord")
    assert language_of(driver.runtime, "telegram", "7100") == "fr"


async def test_the_kreol_button_at_the_welcome_is_kept_through_consent(driver: Driver) -> None:
    chat = driver.resident("sms", "+262692000100")
    await chat.send("bonjour")
    assert "tes-vous d'accord ?" in chat.text  # "Etes" by SMS
    await chat.tap("Kréol")
    assert "Ou lé dakor ?" in chat.text
    await chat.tap("Wi, mi lé dakor")
    assert language_of(driver.runtime, "sms", "+262692000100") == "rcf"
    assert "Néna" in chat.text or "kartié" in chat.text  # the next question, in Creole


async def test_kreol_and_francais_work_at_any_step(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    await chat.tap("Prendre rendez-vous")
    where = chat.labels
    await chat.send("kréol")
    assert "Dakor, mi ékri aou an kréol." in chat.text
    assert len(chat.labels) == len(where) and chat.labels != where  # the same question, asked in Creole
    assert language_of(driver.runtime, "telegram", chat.address) == "rcf"
    await chat.send("français")
    assert "D'accord, je vous écris en français." in chat.text and chat.labels == where
    assert language_of(driver.runtime, "telegram", chat.address) == "fr"


async def test_mon_compte_changes_it(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    await chat.tap("Mon compte")
    await chat.tap("Kréol")
    assert "Dakor, mi ékri aou an kréol." in chat.text and "Kosa ou vé fé ?" in chat.text
    assert "Mon kont" in chat.labels
    await chat.tap("Mon kont")
    await chat.tap("Fransé")
    assert "Que voulez-vous faire ?" in chat.text


async def first_turn(driver: Driver, address: str, text: str, hint: str | None) -> Turn:
    inbound = Inbound(channel="telegram", address=address, text=text, language_hint=hint)
    return await driver.runtime.dispatcher.handle(inbound)


async def test_the_apps_language_is_a_hint_only(driver: Driver) -> None:
    assert "Ou lé dakor ?" in (await first_turn(driver, "7201", "bonjour", "rcf")).text
    assert "Êtes-vous d'accord ?" in (await first_turn(driver, "7202", "bonjour", "en")).text  # no texts in it
    # what the person wrote wins over the setting
    assert "Êtes-vous d'accord ?" in (await first_turn(driver, "7203", "je cherche un travail", "rcf")).text
    assert "Ou lé dakor ?" in (await first_turn(driver, "7204", "mi rode in travay", "fr")).text


async def test_the_choice_follows_the_resident_to_sms(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    await chat.send("kréol")
    await chat.send_kind("contact", phone="+262692123456", own=True)  # links the SMS number
    sms = driver.resident("sms", "+262692123456")
    await sms.send("menu")
    assert "Kosa ou vé fé ?" in sms.text


async def test_a_refusal_forgets_the_language_with_the_rest(driver: Driver) -> None:
    chat = driver.resident("sms", "+262692000101")
    await chat.send("mi rode in travay")
    await chat.tap("Non mersi")
    await chat.send("bonjour")
    assert "tes-vous d'accord ?" in chat.text  # nothing kept: a new first contact, in the default language


# -- the journey and the reminder, on every channel ----------------------------------------------------------


@pytest.mark.parametrize("any_channel", ["console", "telegram", "sms"], indirect=True)
async def test_book_in_creole_then_the_reminder_comes_in_creole(any_channel: ChatDriver, chat: Chat) -> None:
    runtime = any_channel.runtime
    # two days before the first free slot: the booking is early enough for both reminders
    runtime.clock.set(runtime.clock.now() - timedelta(days=2))  # type: ignore[attr-defined]
    await book_in_creole(chat)
    assert language_of(runtime, chat.channel, chat.address) == "rcf"
    if chat.channel == "console":
        return  # the reminder needs a provider: Telegram and SMS below
    assert reminders_tick(runtime) == 2
    with runtime.db.transaction() as session:
        due = session.exec(select(func.min(OutboxMessage.due_at)).where(OutboxMessage.kind == "reminder")).one()
    assert due is not None
    sender = any_channel.channel  # type: ignore[attr-defined]
    worker = DeliveryWorker(runtime, {chat.channel: sender}, limits=FAST, poll_seconds=0.01)
    runtime.clock.set(due)  # type: ignore[attr-defined]  (the first reminder is due)
    await worker.drain()
    await worker.stop()
    delivered = last_delivered(any_channel, chat)
    print(f"\n{chat.channel} reminder:\n{delivered}")
    assert delivered.startswith("Rapèl : "), delivered
    assert "désanm" in delivered and "Ou vien ?" in delivered


def last_delivered(stack: ChatDriver, chat: Chat) -> str:
    srv = stack.srv  # type: ignore[attr-defined]
    if chat.channel == "sms":
        return str(srv.messages[-1].body)
    return str([c.text for c in srv.sent_messages(int(chat.address)) if c.ok][-1])


# -- what the service sends on its own follows the resident's language -----------------------------------


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[Any, Any]]:
    async with telegram_sender() as pair:
        yield pair


async def creole_resident(driver: Driver, address: str) -> ConsoleChat:
    chat = await onboard(driver, address)
    await chat.send("kréol")
    return chat


async def test_offers_and_notices_come_in_the_residents_language(
    runtime: Runtime, driver: Driver, telegram: tuple[Any, Any]
) -> None:
    srv, sender = telegram
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    holder = await creole_resident(driver, "6500")
    waiting = await creole_resident(driver, "6501")
    french = await onboard(driver, "6502")
    slot_id, appointment_id = full_slot(runtime, holder)
    join(runtime, waiting, slot_id=slot_id)
    # the service cancels the holder's appointment: a notice to the holder, the place offered to the next
    _set(runtime, appointment_id, "service_cancelled")
    assert waitlist_tick(runtime)["offered"] == 1
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    (notice,) = sent_texts(srv, 6500)
    assert "le sèrvis la anil out randévou" in notice and "désanm" in notice
    (offer,) = sent_texts(srv, 6501)
    assert offer.startswith("Bon nouvèl : néna in plas lib !") and "désanm" in offer
    assert [label for label, _ in buttons(srv, 6501)][:2] == ["Wi, mi pran", "Non mersi"]
    # a no-show's kind word the next morning
    _, second = full_slot(runtime, french)
    clock.set(_appointment(runtime, second).starts_at + timedelta(hours=3))
    _set(runtime, second, "no_show")
    clock.advance(days=1)
    await worker.drain()
    (kind_word,) = sent_texts(srv, 6502)
    assert "Nous ne vous avons pas vu" in kind_word  # French for the French resident
    await worker.stop()
