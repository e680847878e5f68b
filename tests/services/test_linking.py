"""One person, two channels: linking a phone number to a resident, merging two residents into one."""

from __future__ import annotations

import pytest
from sqlmodel import select

from relai_bot.services.linking import link_phone
from relai_bot.store.models import (
    Appointment,
    CallbackRequest,
    ChannelAddress,
    Conversation,
    District,
    MessageLog,
    Resident,
)
from relai_bot.testing.driver import Chat, Driver

PHONE = "+262692123456"


async def booked(chat: Chat) -> None:
    await chat.book_first_slot()
    await chat.tap("Revenir au menu")


def resident_of(driver: Driver, channel: str, address: str) -> int:
    with driver.runtime.db.transaction() as session:
        row = session.exec(
            select(ChannelAddress).where(ChannelAddress.channel == channel, ChannelAddress.address == address)
        ).one()
        return row.resident_id


async def test_a_new_number_becomes_an_sms_address(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    resident_id = resident_of(driver, "telegram", chat.address)
    with driver.runtime.db.transaction() as session:
        assert link_phone(session, resident_id, "0692 12 34 56", driver.clock.now()).outcome == "added"
    with driver.runtime.db.transaction() as session:
        assert link_phone(session, resident_id, PHONE, driver.clock.now()).outcome == "already"
    assert resident_of(driver, "sms", PHONE) == resident_id
    with driver.runtime.db.transaction() as session, pytest.raises(ValueError):
        link_phone(session, resident_id, "12", driver.clock.now())


async def test_two_residents_become_one(driver: Driver) -> None:
    sms = driver.resident(channel="sms", address=PHONE)
    await sms.send("bonjour")
    await sms.tap("Oui, je suis d'accord")
    await sms.tap("Non")
    await sms.tap("Mafate")
    await sms.tap("Oui")
    await sms.tap("18 à 25 ans")
    await sms.tap("Je cherche un emploi")
    await booked(sms)
    await sms.tap("Être rappelé")
    await sms.tap("Le matin")
    driver.clock.advance(days=2)
    telegram = await driver.onboarded(channel="telegram", district="Saint-Laurent")
    await booked(telegram)
    keep = resident_of(driver, "telegram", telegram.address)
    other = resident_of(driver, "sms", PHONE)
    with driver.runtime.db.transaction() as session:
        result = link_phone(session, keep, PHONE, driver.clock.now())
    assert (result.outcome, result.merged_id) == ("merged", other)
    assert result.moved is not None and result.moved["appointment"] == 1 and result.moved["message_log"] > 0
    with driver.runtime.db.transaction() as session:
        assert [r.id for r in session.exec(select(Resident))] == [keep]
        resident = session.get(Resident, keep)
        # Consents and district of the one who consented last (Telegram), profile filled from the other
        assert resident.opportunities is True
        assert session.get(District, resident.district_id).code == "saint-laurent"
        assert (resident.age_bracket, resident.situation) == ("18-25", "demandeur_emploi")
        addresses = {(a.channel, a.address) for a in session.exec(select(ChannelAddress))}
        assert addresses == {("telegram", telegram.address), ("sms", PHONE)}
        for model in (Appointment, CallbackRequest, MessageLog):
            assert {row.resident_id for row in session.exec(select(model))} == {keep}, model.__name__
        assert len(session.exec(select(Appointment)).all()) == 2
        assert {c.resident_id for c in session.exec(select(Conversation))} == {keep}
    # The person carries on by SMS as the same resident: both appointments are theirs
    await sms.send("menu")
    await sms.tap("Mes rendez-vous")
    assert "Vous avez 2 rendez-vous." in sms.text
