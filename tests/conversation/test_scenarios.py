"""Whole conversations, as a resident would have them, through dispatcher, engine and database.

The journeys every channel carries (consent, find a scheme, book, cancel, STOP, old buttons, erasing) are
in test_journeys.py and run on every channel; here is what the engine does beyond them."""

from __future__ import annotations

import asyncio
import json

from sqlmodel import func, select

from relai_bot.store.models import (
    Appointment,
    CallbackRequest,
    Conversation,
    District,
    Resident,
    Slot,
)
from relai_bot.testing.driver import Driver


def count(driver: Driver, model: type) -> int:
    with driver.runtime.db.transaction() as session:
        return session.exec(select(func.count()).select_from(model)).one()


async def test_a_booking_takes_nine_exchanges_and_brings_a_calendar_file(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.book_first_slot()
    assert chat.exchanges <= 9
    assert "C'est réservé !" in chat.text
    attachment = chat.last.attachment
    assert attachment is not None and attachment.media_type == "text/calendar"
    assert b"BEGIN:VEVENT" in attachment.content and b"DTSTART" in attachment.content


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


async def test_help_at_any_step_keeps_the_place(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap(1)
    labels = chat.labels
    await chat.send("AIDE")
    assert "numéro du rendez-vous" in chat.text
    assert chat.labels == labels


async def test_search_forgives_accents_and_typos(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.send("formasion")  # free text at the menu searches
    assert any("apprentissage" in label.lower() or "formation" in label.lower() for label in chat.labels)
    await chat.send("creer entreprise")
    labels = " ".join(chat.labels)
    assert "ACRE" in labels or "ADIE" in labels
    await chat.send("permis voiture")
    assert "permis" in chat.labels[0].lower()


async def test_the_ranking_says_why_and_pages_show_the_next_ones(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Trouver une aide")
    await chat.tap("Répondre à 3 questions")
    await chat.tap("18 à 25 ans")
    await chat.tap("Je cherche un emploi")
    await chat.tap("Trouver un emploi")
    assert "Pour les personnes qui cherchent un emploi, de 16 à 25 ans." in chat.text  # the CEJ, first
    first = chat.labels[:5]
    assert first[0] == "CEJ - Contrat d'engagement jeune"
    await chat.tap("Voir d'autres aides")
    assert "Voici d'autres aides" in chat.text
    second = [label for label in chat.labels if label not in ("Voir d'autres aides", "Chercher par un mot")][:5]
    assert second and not set(second) & set(first)
    await chat.tap(second[0])
    await chat.tap("Revenir à la liste")
    assert chat.labels[: len(second)] == second  # back to the page the resident was reading


async def test_the_goal_answered_is_kept_for_broadcasts_by_goal(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Trouver une aide")
    await chat.tap("Répondre à 3 questions")
    await chat.tap("Passer")
    await chat.tap("Passer")
    await chat.tap("Me former")
    with driver.runtime.db.transaction() as session:
        (resident,) = session.exec(select(Resident)).all()
        assert resident.goal == "formation"
    await chat.tap("Revenir au menu")
    await chat.tap("Mon compte")
    await chat.tap("Recevoir mes données")
    assert chat.last.attachment is not None
    assert json.loads(chat.last.attachment.content)["resident"]["goal"] == "formation"


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


async def test_a_stopped_resident_who_writes_is_told_how_to_come_back(driver: Driver) -> None:
    """(By SMS, a stopped number gets nothing at all: see the SMS channel's tests.)"""
    chat = await driver.onboarded()
    await chat.send("STOP")
    await chat.send("bonjour")
    assert "Pour reprendre, écrivez REPRENDRE" in chat.text
    await chat.send("Arrêt")
    assert "Pour reprendre" in chat.text
    await chat.send("start")
    assert "de nouveau nos messages" in chat.text


async def test_stop_before_consent_forgets_the_conversation(driver: Driver) -> None:
    chat = driver.resident()
    await chat.send("bonjour")
    await chat.send("stop")
    assert "Nous n'avons rien gardé" in chat.text
    assert count(driver, Conversation) == 0


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
