"""Whole conversations, as a resident would have them, through dispatcher, engine and database."""

from __future__ import annotations

import asyncio
import json

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
from relai_bot.testing.driver import Driver


def count(driver: Driver, model: type) -> int:
    with driver.runtime.db.transaction() as session:
        return session.exec(select(func.count()).select_from(model)).one()


async def test_refusing_consent_stores_nothing(driver: Driver) -> None:
    chat = driver.resident()
    await chat.send("bonjour")
    assert "Êtes-vous d'accord ?" in chat.text
    await chat.tap("Non merci")
    assert "Je n'ai rien gardé" in chat.text
    assert count(driver, Resident) == 0
    assert count(driver, Conversation) == 0
    assert count(driver, MessageLog) == 0
    assert count(driver, ChannelAddress) == 0
    # Coming back starts again from the privacy notice
    await chat.send("bonjour")
    assert "Êtes-vous d'accord ?" in chat.text


async def test_privacy_notice_then_consent(driver: Driver) -> None:
    chat = driver.resident()
    await chat.send("salut")
    await chat.tap("En savoir plus")
    assert "12 mois" in chat.text
    await chat.send("oui")
    assert "offres de votre quartier" in chat.text
    assert count(driver, Resident) == 1


async def test_books_an_appointment_in_under_ten_exchanges(driver: Driver) -> None:
    chat = driver.resident()
    await chat.send("bonjour")
    await chat.send("1")  # consent
    await chat.send("1")  # opportunities: yes
    await chat.send("2")  # Saint-Laurent
    await chat.send("2")  # questions: later
    assert "Que voulez-vous faire ?" in chat.text
    await chat.send("2")  # Prendre rendez-vous
    await chat.send("1")  # I don't know which scheme
    assert "prochains rendez-vous libres" in chat.text
    first_slot = chat.labels[0]
    await chat.send("1")
    assert "Je réserve ?" in chat.text
    await chat.send("oui")
    assert chat.exchanges <= 9
    assert "C'est réservé !" in chat.text
    assert first_slot.split(",")[0] in chat.text  # "mardi 1er décembre à 11 h" read back
    attachment = chat.last.attachment
    assert attachment is not None and attachment.media_type == "text/calendar"
    assert b"BEGIN:VEVENT" in attachment.content and b"DTSTART" in attachment.content
    with driver.runtime.db.transaction() as session:
        appointment = session.exec(select(Appointment)).one()
        assert appointment.status == "booked"
        assert session.get(Slot, appointment.slot_id).booked == 1
        resident = session.get(Resident, appointment.resident_id)
        assert resident.opportunities is True
        assert session.get(District, resident.district_id).code == "saint-laurent"


async def test_dates_are_written_the_french_way(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap(1)
    # Tuesday 1 December 2026, the first slots are the same day from 11:00 local time
    assert chat.labels[0].startswith("mardi 1er décembre à ")
    assert " h" in chat.labels[0]


async def test_wrong_answers_emoji_empty_and_huge_messages(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    options_before = chat.labels
    for junk in ["😀😀", "", "   ", "42", "x" * 20000, "🙂 peut-être", "<script>alert(1)</script>"]:
        await chat.send(junk)
        assert chat.text, f"no answer to {junk[:20]!r}"
        assert chat.labels == options_before, f"options lost after {junk[:20]!r}"
        assert "souci technique" not in chat.text
    # Nothing was lost: the next right answer works
    await chat.send("1")
    assert "prochains rendez-vous libres" in chat.text


async def test_change_of_mind_halfway(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap(1)
    await chat.tap(2)
    assert "Je réserve ?" in chat.text
    await chat.send("retour")
    assert "prochains rendez-vous libres" in chat.text
    await chat.send("annuler")
    assert "C'est annulé." in chat.text
    assert "Que voulez-vous faire ?" in chat.text
    await chat.tap("Trouver une aide")
    await chat.send("Menu")
    assert "Que voulez-vous faire ?" in chat.text
    assert count(driver, Appointment) == 0


async def test_help_at_any_step_keeps_the_place(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap(1)
    labels = chat.labels
    await chat.send("AIDE")
    assert "numéro du rendez-vous" in chat.text
    assert chat.labels == labels


async def test_stale_and_forged_buttons(driver: Driver) -> None:
    chat = await driver.onboarded()
    old = chat.option("Prendre rendez-vous").id
    await chat.tap("Trouver une aide")
    current = chat.labels
    for forged in [old, "999.1", "garbage", "", "1.999"]:
        await chat.press(forged)
        assert "Ce bouton est ancien" in chat.text
        assert chat.labels == current


async def test_search_forgives_accents_and_typos(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.send("formasion")  # free text at the menu searches
    assert "Voici ce que j'ai trouvé" in chat.text
    assert any("apprentissage" in label.lower() or "formation" in label.lower() for label in chat.labels)
    await chat.send("creer entreprise")
    labels = " ".join(chat.labels)
    assert "ACRE" in labels or "ADIE" in labels
    await chat.send("permis voiture")
    assert "permis" in chat.labels[0].lower()
    await chat.send("zzzzqqq")
    assert "Je n'ai rien trouvé" in chat.text


async def test_questionnaire_ranks_with_reasons(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Trouver une aide")
    await chat.tap("Répondre à 3 questions")
    await chat.tap("18 à 25 ans")
    await chat.tap("Jeune, ni emploi ni études")
    await chat.tap("Trouver un emploi")
    assert "Voici les aides qui vous vont le mieux" in chat.text
    assert any(label.startswith("CEJ") for label in chat.labels[:3])
    assert "Pourquoi : " in chat.text
    await chat.tap("CEJ")
    assert "Contrat d'engagement jeune" in chat.text
    await chat.tap("Prendre rendez-vous")
    assert "prochains rendez-vous libres" in chat.text
    await chat.tap(1)
    await chat.tap("Oui, je réserve")
    with driver.runtime.db.transaction() as session:
        appointment = session.exec(select(Appointment)).one()
        assert appointment.scheme_id is not None


async def test_profile_given_at_onboarding_skips_questions(driver: Driver) -> None:
    chat = await driver.onboarded(age="18 à 25 ans", situation="Je cherche un emploi")
    await chat.tap("Trouver une aide")
    await chat.tap("Répondre à 3 questions")
    assert "Que cherchez-vous d'abord ?" in chat.text


async def test_my_appointments_move_then_cancel(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.book_first_slot()
    await chat.tap("Mes rendez-vous")
    assert "Vous avez 1 rendez-vous." in chat.text
    await chat.tap(1)
    await chat.tap("Changer d'horaire")
    new_label = chat.labels[0]
    await chat.tap(1)
    await chat.tap("Oui, je change")
    assert "C'est changé !" in chat.text
    assert new_label.split(",")[0] in chat.text
    with driver.runtime.db.transaction() as session:
        statuses = sorted(a.status for a in session.exec(select(Appointment)))
        assert statuses == ["booked", "cancelled"]
        assert sum(s.booked for s in session.exec(select(Slot))) == 1
    await chat.send("menu")
    await chat.tap("Mes rendez-vous")
    await chat.tap(1)
    await chat.send("annuler")  # here, "annuler" means this appointment
    assert "Vous voulez vraiment annuler" in chat.text
    await chat.send("oui")
    assert "C'est annulé" in chat.text
    with driver.runtime.db.transaction() as session:
        assert [a.status for a in session.exec(select(Appointment))] == ["cancelled", "cancelled"]
        assert sum(s.booked for s in session.exec(select(Slot))) == 0
    await chat.tap("Revenir au menu")
    await chat.tap("Mes rendez-vous")
    assert "pas de rendez-vous" in chat.text


async def test_coming_back_after_a_long_pause(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap(1)
    driver.clock.advance(hours=25)
    await chat.send("1")
    assert "Bon retour !" in chat.text
    assert "la prise de rendez-vous" in chat.text
    assert "Que voulez-vous faire ?" in chat.text
    # A short pause changes nothing
    await chat.tap("Prendre rendez-vous")
    driver.clock.advance(hours=2)
    await chat.send("1")
    assert "Bon retour" not in chat.text


async def test_a_message_delivered_twice_is_handled_once(driver: Driver) -> None:
    chat = await driver.onboarded()
    first = await chat.send("2", message_id="provider-42")
    assert first.replies
    again = await chat.send("2", message_id="provider-42")
    assert again.duplicate and not again.replies
    with driver.runtime.db.transaction() as session:
        conversation = session.exec(select(Conversation)).one()
        assert (conversation.flow, conversation.step) == ("booking", "choose_scheme")


async def test_messages_arriving_together_are_handled_in_order(driver: Driver) -> None:
    chat = await driver.onboarded()
    turns = await asyncio.gather(chat.send("2"), chat.send("1"), chat.send("1"))
    assert [t.step for t in turns] == ["choose_scheme", "choose_slot", "confirm"]


async def test_stop_then_start(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.send("STOP")
    assert "vous ne recevrez plus de messages" in chat.text
    with driver.runtime.db.transaction() as session:
        assert session.exec(select(Resident)).one().stopped_at is not None
    await chat.send("bonjour")
    assert "Pour reprendre, écrivez START" in chat.text
    await chat.send("Arrêt")
    assert "Pour reprendre" in chat.text
    await chat.send("start")
    assert "de nouveau nos messages" in chat.text
    with driver.runtime.db.transaction() as session:
        assert session.exec(select(Resident)).one().stopped_at is None


async def test_stop_before_consent_forgets_the_conversation(driver: Driver) -> None:
    chat = driver.resident()
    await chat.send("bonjour")
    await chat.send("stop")
    assert "Nous n'avons rien gardé" in chat.text
    assert count(driver, Conversation) == 0


async def test_forget_my_data_erases_everything(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.book_first_slot()
    await chat.tap("Revenir au menu")
    await chat.tap("Mon compte")
    await chat.tap("Oublier mes données")
    assert "C'est définitif" in chat.text
    await chat.tap("Non")
    assert count(driver, Resident) == 1
    await chat.tap("Oublier mes données")
    await chat.tap("Oui, tout effacer")
    assert "tout est effacé" in chat.text
    for model in (Resident, ChannelAddress, Conversation, MessageLog, Appointment, CallbackRequest):
        assert count(driver, model) == 0, model.__name__
    with driver.runtime.db.transaction() as session:
        assert sum(s.booked for s in session.exec(select(Slot))) == 0
    await chat.send("bonjour")
    assert "Êtes-vous d'accord ?" in chat.text


async def test_export_my_data(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Mon compte")
    await chat.tap("Recevoir mes données")
    attachment = chat.last.attachment
    assert attachment is not None and attachment.media_type == "application/json"
    data = json.loads(attachment.content)
    assert data["resident"]["district"] == "Saint-Laurent"
    assert data["addresses"] == [{"channel": "console", "address": chat.address}]
    assert any(m["direction"] == "in" for m in data["messages"])


async def test_change_district_by_typing_with_a_typo(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Mon compte")
    await chat.tap("Changer de quartier")
    await chat.send("riviere des galet")
    assert "Rivière des Galets" in chat.text
    await chat.tap("Mon compte")
    assert "Quartier : Rivière des Galets" in chat.text


async def test_deep_link_district(driver: Driver) -> None:
    chat = driver.resident(channel="telegram")
    await chat.start("moulin-joli")
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Non")
    assert "Votre quartier : Moulin Joli." in chat.text
    with driver.runtime.db.transaction() as session:
        resident = session.exec(select(Resident)).one()
        assert resident.opportunities is False
        assert session.get(District, resident.district_id).code == "moulin-joli"


async def test_call_back_request(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Être rappelé")
    assert "À quel numéro" in chat.text
    await chat.send("123")
    assert "ne semble pas correct" in chat.text
    await chat.send("0692 12 34 56")
    assert "Quand préférez-vous" in chat.text
    await chat.tap("Le matin")
    assert "vous appellera" in chat.text
    with driver.runtime.db.transaction() as session:
        request = session.exec(select(CallbackRequest)).one()
        assert (request.phone, request.preferred_time, request.status) == ("+262692123456", "matin", "open")


async def test_by_sms_the_number_is_already_known(driver: Driver) -> None:
    chat = await driver.onboarded(channel="sms")
    await chat.tap("Être rappelé")
    assert "Quand préférez-vous" in chat.text


async def test_photos_and_locations_get_a_polite_answer(driver: Driver) -> None:
    chat = await driver.onboarded()
    labels = chat.labels
    await chat.send_kind("media")
    assert "photos" in chat.text and chat.labels == labels
    await chat.send_kind("location", lat=-20.92, lon=55.33)
    assert "position" in chat.text and chat.labels == labels


async def test_no_free_slot_offers_a_call_back(driver: Driver) -> None:
    with driver.runtime.db.transaction() as session:
        for slot in session.exec(select(Slot)):
            slot.booked = slot.capacity
            session.add(slot)
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap(1)
    assert "pas de rendez-vous libre" in chat.text
    assert "Être rappelé" in chat.labels


async def test_far_from_every_venue_phone_slots_come_first(driver: Driver) -> None:
    town = await driver.onboarded(district="Saint-Laurent")
    hauts = await driver.onboarded(district="Mafate")
    for chat in (town, hauts):
        await chat.tap("Prendre rendez-vous")
        await chat.tap(1)
    assert not town.labels[0].endswith("par téléphone")
    assert hauts.labels[0].endswith("par téléphone")


async def test_no_free_slot_then_the_waitlist_offers_the_freed_place(driver: Driver) -> None:
    with driver.runtime.db.transaction() as session:
        for slot in session.exec(select(Slot)):
            slot.booked = slot.capacity
            session.add(slot)
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap(1)
    await chat.tap("Me prévenir si une place se libère")
    assert "liste d'attente" in chat.text
    # A new booking afterwards asks for the scheme again (nothing lingers from the last one)
    await chat.tap("Revenir au menu")
    await chat.tap("Prendre rendez-vous")
    assert "C'est pour quelle aide ?" in chat.text
