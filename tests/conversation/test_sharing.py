"""A contact or a position shared instead of typed, and the offer to share the phone number after a booking:
what the engine decides (conversation.sharing), whatever the channel that brought them."""

from __future__ import annotations

from sqlmodel import func, select

from relai_bot.store.models import ChannelAddress, Conversation, District, Resident
from relai_bot.testing.driver import Chat, Driver

PHONE = "+262692123456"


def count(driver: Driver, model: type, **where: str) -> int:
    with driver.runtime.db.transaction() as session:
        statement = select(func.count()).select_from(model)
        for name, value in where.items():
            statement = statement.where(getattr(model, name) == value)
        return session.exec(statement).one()


def position(driver: Driver, chat: Chat) -> tuple[str, str, int]:
    with driver.runtime.db.transaction() as session:
        row = session.exec(select(Conversation).where(Conversation.address == chat.address)).one()
        return row.flow, row.step, row.turn


async def share_contact(chat: Chat, phone: str = PHONE, *, own: bool = True) -> None:
    await chat.send_kind("contact", phone=phone, own=own)


# -- a contact ---------------------------------------------------------------------------------------------


async def test_a_contact_at_any_other_step_links_the_number_and_answers(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    where = position(driver, chat)
    await share_contact(chat)
    assert "Merci, c'est noté." in chat.text and "Vos rendez-vous pris par SMS" not in chat.text
    assert chat.last.share_phone == "withdraw"  # the one-tap offer goes away
    assert count(driver, ChannelAddress, channel="sms", address=PHONE) == 1
    assert position(driver, chat) == where  # the conversation stays where it was


async def test_a_contact_whose_number_wrote_by_sms_merges_the_two_residents(driver: Driver) -> None:
    sms = await driver.onboarded(channel="sms")
    sms_number = sms.address
    await sms.book_first_slot()
    chat = await driver.onboarded(channel="telegram")
    assert count(driver, Resident) == 2
    with driver.runtime.db.transaction() as session:  # the SMS resident's number, as Telegram would share it
        session.exec(select(ChannelAddress).where(ChannelAddress.address == sms_number)).one().address = PHONE
    await share_contact(chat)
    assert "Vos rendez-vous pris par SMS sont aussi ici maintenant." in chat.text
    assert count(driver, Resident) == 1
    await chat.send("/rendezvous")
    assert "Vous avez 1 rendez-vous." in chat.text


async def test_someone_elses_contact_links_nothing(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    await share_contact(chat, own=False)
    assert "pas celui d'une autre personne" in chat.text
    assert chat.last.share_phone is None  # the offer stays: the resident may still tap it
    assert count(driver, ChannelAddress, channel="sms") == 0


async def test_a_contact_that_is_not_a_number(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    await share_contact(chat, "")
    assert "Je ne peux pas lire ce numéro" in chat.text and chat.last.share_phone == "withdraw"
    assert count(driver, ChannelAddress, channel="sms") == 0


async def test_a_contact_is_the_answer_where_a_phone_number_is_asked(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    await chat.tap("Être rappelé")
    await share_contact(chat, "")
    assert "ne semble pas correct" in chat.text  # the step's own explanation
    await share_contact(chat)
    assert "Quand préférez-vous" in chat.text
    assert count(driver, ChannelAddress, channel="sms") == 0  # a number to call, not an address


async def test_a_contact_before_consent_is_not_kept(driver: Driver) -> None:
    chat = driver.resident(channel="telegram")
    await chat.send("/start")
    await share_contact(chat)
    assert "Je n'ai pas besoin d'un contact ici" in chat.text
    assert chat.labels[0] == "Oui, je suis d'accord"
    assert count(driver, Resident) == 0 and count(driver, ChannelAddress) == 0


# -- a position --------------------------------------------------------------------------------------------


async def test_a_position_answers_the_district_question(driver: Driver) -> None:
    chat = driver.resident(channel="telegram")
    await chat.send("/start")
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Non")
    assert "Dans quel quartier" in chat.text
    await chat.send_kind("location", lat=-20.938, lon=55.328)
    assert "Voulez-vous répondre à 2 questions ?" in chat.text
    with driver.runtime.db.transaction() as session:
        resident = session.exec(select(Resident)).one()
        assert session.get(District, resident.district_id).code == "moulin-joli"  # type: ignore[union-attr]


async def test_a_position_elsewhere_names_the_nearest_district_and_place(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    labels, where = chat.labels, position(driver, chat)
    await chat.send_kind("location", lat=-20.9305, lon=55.3405)
    assert "Le quartier le plus proche : Saint-Laurent." in chat.text
    assert "Le lieu d'accueil le plus proche, à " in chat.text and " km :" in chat.text
    assert chat.labels == labels and position(driver, chat) == where


async def test_a_position_that_cannot_be_read(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    labels = chat.labels
    await chat.send_kind("location", lat="nord", lon=None)
    assert "Je n'ai pas besoin de votre position ici" in chat.text and chat.labels == labels


# -- the offer to share the phone number after a booking ----------------------------------------------------


async def test_after_a_booking_the_phone_number_is_asked_for_where_it_is_unknown(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    await chat.book_first_slot()
    booked = chat.last
    assert "C'est réservé !" in booked.text and booked.share_phone == "offer"
    assert booked.attachment is not None and chat.labels == ["Mes rendez-vous", "Revenir au menu"]
    await share_contact(chat)
    await chat.send("menu")
    await chat.book_first_slot()
    assert "C'est réservé !" in chat.text and chat.last.share_phone is None  # known now


async def test_by_sms_the_number_is_not_asked_for(driver: Driver) -> None:
    chat = await driver.onboarded(channel="sms")
    await chat.book_first_slot()
    assert "C'est réservé !" in chat.text
    assert all(reply.share_phone is None for reply in chat.turn.replies)
