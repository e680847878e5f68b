"""The journeys every channel must carry, written once and run on the console, on Telegram and by SMS.

`chat` is a new resident and `any_channel` makes more (both come from tests/conftest.py, once per channel).
What differs between channels (buttons or numbers, the SMS's shorter texts) is the drivers' business:
a scenario taps labels and reads texts. What only one channel does is tested with that channel.
"""

from __future__ import annotations

from typing import cast

import pytest
from sqlmodel import func, select

from relai_bot.store.models import (
    Appointment,
    CallbackRequest,
    ChannelAddress,
    Conversation,
    District,
    MessageLog,
    Resident,
    Slot,
)
from relai_bot.testing.driver import ButtonChat, Chat, ChatDriver
from relai_bot.wiring import Runtime
from tests.journeys import book_the_first_slot, consent_and_settle_in, whole_journey

pytestmark = [
    # twilio 9.13's async client still passes aiohttp's deprecated BasicAuth: not ours to fix
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]
WITH_BUTTONS = pytest.mark.parametrize("any_channel", ["console", "telegram"], indirect=True)


def count(runtime: Runtime, model: type) -> int:
    with runtime.db.transaction() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def resident_of(runtime: Runtime, chat: Chat) -> Resident | None:
    with runtime.db.transaction() as session:
        row = session.exec(
            select(Resident)
            .join(ChannelAddress, ChannelAddress.resident_id == Resident.id)
            .where(ChannelAddress.channel == chat.channel, ChannelAddress.address == chat.address)
        ).one_or_none()
        if row is not None:
            session.expunge(row)
        return row


def conversation_step(runtime: Runtime) -> tuple[str, str, int]:
    with runtime.db.transaction() as session:
        row = session.exec(select(Conversation)).one()
        return row.flow, row.step, row.turn


def appointment_statuses(runtime: Runtime) -> list[str]:
    with runtime.db.transaction() as session:
        return [a.status for a in session.exec(select(Appointment).order_by(Appointment.id))]


def booked_places(runtime: Runtime) -> int:
    with runtime.db.transaction() as session:
        return sum(s.booked for s in session.exec(select(Slot)))


# -- onboarding -----------------------------------------------------------------------------------------


async def test_onboarding_with_consent(any_channel: ChatDriver, chat: Chat) -> None:
    await consent_and_settle_in(chat)
    resident = resident_of(any_channel.runtime, chat)
    assert resident is not None and resident.consent_at is not None and resident.opportunities is True
    with any_channel.runtime.db.transaction() as session:
        assert session.get(District, resident.district_id).code == "saint-laurent"


async def test_refusing_consent_stores_nothing(any_channel: ChatDriver, chat: Chat) -> None:
    await chat.send("bonjour")
    await chat.tap("Non merci")
    assert "Je n'ai rien gardé" in chat.text
    for model in (Resident, Conversation, MessageLog, ChannelAddress):
        assert count(any_channel.runtime, model) == 0, model.__name__
    # Coming back starts again from the question
    await chat.send("bonjour")
    assert "Êtes-vous d'accord ?" in chat.text


async def test_the_privacy_notice_then_consent(any_channel: ChatDriver, chat: Chat) -> None:
    await chat.send("salut")
    await chat.tap("En savoir plus")
    assert "12 mois" in chat.text
    assert count(any_channel.runtime, Resident) == 0
    await chat.send("oui")
    assert "offres de votre quartier" in chat.text
    assert count(any_channel.runtime, Resident) == 1


# -- find a scheme, book, my appointments, cancel ------------------------------------------------------------


async def test_the_whole_journey(any_channel: ChatDriver, chat: Chat) -> None:
    """Onboarding -> three questions -> the CEJ -> book it -> "Mes rendez-vous" -> cancel."""
    await whole_journey(chat)
    assert appointment_statuses(any_channel.runtime) == ["cancelled"]
    assert booked_places(any_channel.runtime) == 0
    with any_channel.runtime.db.transaction() as session:
        assert session.exec(select(Appointment)).one().scheme_id is not None


async def test_book_the_first_slot_and_see_it_in_my_appointments(any_channel: ChatDriver) -> None:
    chat = await any_channel.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap("Je ne sais pas")
    first = await book_the_first_slot(chat)
    assert appointment_statuses(any_channel.runtime) == ["booked"] and booked_places(any_channel.runtime) == 1
    await chat.tap("Mes rendez-vous")
    assert "Vous avez 1 rendez-vous." in chat.text
    assert chat.labels[0].startswith(first.split(",")[0])
    await chat.send("menu")
    await chat.tap("Mes rendez-vous")
    assert "Vous avez 1 rendez-vous." in chat.text


async def test_find_a_scheme_by_a_word(any_channel: ChatDriver) -> None:
    chat = await any_channel.onboarded()
    await chat.send("formasion")  # free text at the menu searches, typos forgiven
    assert "Voici ce que j'ai trouvé" in chat.text
    assert chat.labels
    await chat.send("zzzzqqq")
    assert "Je n'ai rien trouvé" in chat.text


# -- changing one's mind -------------------------------------------------------------------------------------


async def test_back_and_menu_from_the_middle_of_a_booking(any_channel: ChatDriver) -> None:
    chat = await any_channel.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap("Je ne sais pas")
    await chat.tap(2)
    assert "Je réserve ?" in chat.text
    await chat.send("retour")
    assert "prochains rendez-vous libres" in chat.text
    await chat.send("annuler")
    assert "C'est annulé." in chat.text and "Que voulez-vous faire ?" in chat.text
    await chat.tap("Trouver une aide")
    await chat.send("Menu")
    assert "Que voulez-vous faire ?" in chat.text
    assert count(any_channel.runtime, Appointment) == 0


async def test_a_number_out_of_the_list_is_not_understood(any_channel: ChatDriver) -> None:
    chat = await any_channel.onboarded()
    await chat.tap("Prendre rendez-vous")
    labels, where = chat.labels, conversation_step(any_channel.runtime)
    await chat.send(str(len(labels) + 1))
    assert "Je n'ai pas compris" in chat.text
    assert chat.labels == labels
    assert conversation_step(any_channel.runtime)[:2] == where[:2]
    await chat.tap(1)
    assert "prochains rendez-vous libres" in chat.text


@WITH_BUTTONS
async def test_an_old_or_forged_button_changes_nothing(any_channel: ChatDriver) -> None:
    """By SMS an old number is an option of the current list: see the test above."""
    chat = cast(ButtonChat, any_channel.resident())
    await chat.send("bonjour")
    agree, refuse = chat.option("Oui, je suis d'accord"), chat.option("Non merci")
    await chat.tap("Oui, je suis d'accord")
    current, where = chat.labels, conversation_step(any_channel.runtime)
    # (the same button again right away would be a double tap: ignored)
    for option_id in [refuse.id, agree.id, "999.1", "garbage", "<b>&", "1." + "9" * 62]:
        await chat.press(option_id)
        assert "Ce bouton est ancien" in chat.text, option_id
        assert chat.labels == current
    assert conversation_step(any_channel.runtime)[:2] == where[:2]
    assert count(any_channel.runtime, Resident) == 1  # the old "Non merci" erased nothing


# -- STOP, erasing -----------------------------------------------------------------------------------------


async def test_stop_is_confirmed_and_start_comes_back(any_channel: ChatDriver) -> None:
    chat = await any_channel.onboarded()
    await chat.send("STOP")
    assert "vous ne recevrez plus de messages" in chat.text
    resident = resident_of(any_channel.runtime, chat)
    assert resident is not None and resident.stopped_at is not None
    await chat.send("START")
    assert "de nouveau nos messages" in chat.text
    resident = resident_of(any_channel.runtime, chat)
    assert resident is not None and resident.stopped_at is None


async def test_erase_my_data(any_channel: ChatDriver) -> None:
    runtime = any_channel.runtime
    chat = await any_channel.onboarded()
    await chat.book_first_slot()
    await chat.tap("Revenir au menu")
    await chat.tap("Mon compte")
    await chat.tap("Oublier mes données")
    assert "C'est définitif" in chat.text
    await chat.tap("Non")
    assert count(runtime, Resident) == 1
    await chat.tap("Oublier mes données")
    await chat.tap("Oui, tout effacer")
    assert "tout est effacé" in chat.text
    for model in (Resident, ChannelAddress, Conversation, MessageLog, Appointment, CallbackRequest):
        assert count(runtime, model) == 0, model.__name__
    assert booked_places(runtime) == 0
    await chat.send("bonjour")
    assert "Êtes-vous d'accord ?" in chat.text
