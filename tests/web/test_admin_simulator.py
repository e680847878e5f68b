"""The simulator in /admin: each signed-in person talks to the bot as their own test resident, through the
same dispatcher and engine as Telegram and SMS, and can reach no other conversation."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from relai_bot.services import audit, simulator
from relai_bot.store.models import Appointment, ChannelAddress, Conversation, MessageLog, Resident, Slot
from relai_bot.testing.driver import Driver
from relai_bot.wiring import Runtime
from tests.journeys import book_the_first_slot, consent_and_settle_in, whole_journey
from tests.web.admin_support import Staff, admin_browser, make_account
from tests.web.simulator_support import SimulatorChat, bot_texts, page_buttons, resident_texts
from tests.web.test_admin_routes import assert_accessible

ROLES = ("admin", "staff", "adviser")


def sign_in(runtime: Runtime, browser: Staff, role: str = "staff") -> int:
    email = f"{role}@mairie.re"
    account = make_account(runtime, email, role, districts=["saint-laurent"] if role == "staff" else None)
    assert browser.log_in(email).status_code == 303
    return account.id


async def book(chat: SimulatorChat) -> None:
    await consent_and_settle_in(chat)
    await chat.tap("Prendre rendez-vous")
    await chat.tap(1)
    await book_the_first_slot(chat)


@pytest.mark.parametrize("view", ["telegram", "sms"])
async def test_the_whole_journey_runs_in_the_simulator(runtime: Runtime, view: str) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser)
        await whole_journey(SimulatorChat(browser, view))


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_books_as_its_own_test_resident(runtime: Runtime, role: str) -> None:
    with admin_browser(runtime) as browser:
        account_id = sign_in(runtime, browser, role)
        page = browser.get("/admin/simulator")
        assert page.status_code == 200 and "Pas encore de message" in page.text
        assert_accessible(page.text)
        chat = SimulatorChat(browser)
        await book(chat)
        # The page read again: the transcript comes from the test resident's message log
        again = browser.get("/admin/simulator")
        assert "C'est réservé !" in bot_texts(again.text)[-1] and "Bouton touché" in again.text
        assert_accessible(again.text)
    with runtime.db.transaction() as session:
        (address,) = session.exec(select(ChannelAddress).where(ChannelAddress.channel == "web_telegram")).all()
        assert address.address == simulator.address_of(account_id)
        resident = session.get(Resident, address.resident_id)
        assert resident is not None and resident.test
        (appointment,) = session.exec(select(Appointment).where(Appointment.resident_id == resident.id)).all()
        assert appointment.status == "booked" and appointment.channel == "web_telegram"
        # Every message of the test resident's log was "delivered" by the web channel
        rows = session.exec(select(MessageLog).where(MessageLog.resident_id == resident.id)).all()
        assert {row.status for row in rows if row.direction == "out"} == {"delivered"}


def test_not_signed_in_is_sent_to_the_login_page(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        for response in (browser.get("/admin/simulator"), browser.post("/admin/simulator/say", {"text": "bonjour"})):
            assert response.status_code == 303 and response.headers["location"].startswith("/admin/login?")
    with runtime.db.transaction() as session:
        assert session.exec(select(Conversation)).all() == []


def test_without_javascript_the_form_shows_the_whole_page_with_the_turn(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser)
        browser.get("/admin/simulator")
        page = browser.post("/admin/simulator/say", {"vue": "telegram", "text": "bonjour"})
        assert page.status_code == 200 and "<h1>Simulateur</h1>" in page.text
        # Before consent nothing is kept, yet the turn just played is on the page, with its buttons
        assert resident_texts(page.text) == ["bonjour"] and "Êtes-vous d'accord ?" in bot_texts(page.text)[-1]
        assert [b.label for b in page_buttons(page.text)][:2] == ["Oui, je suis d'accord", "Non merci"]
        assert_accessible(page.text)
        reloaded = browser.get("/admin/simulator")
        assert "Avant que l'habitant accepte, rien n'est gardé" in reloaded.text
        assert page_buttons(reloaded.text) == page_buttons(page.text)  # the question in progress goes on
        consent = page_buttons(reloaded.text)[0]
        after = browser.post("/admin/simulator/say", {"vue": "telegram", "choice": consent.id})
        assert "offres de votre quartier" in after.text
        empty = browser.post("/admin/simulator/say", {"vue": "telegram", "text": "  "})
        assert empty.status_code == 400 and "Écrivez un message avant d&#39;envoyer" in empty.text


def test_a_form_sent_twice_is_played_once(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser)
        browser.get("/admin/simulator")
        form = {"vue": "telegram", "text": "bonjour", "message_id": "m1"}
        browser.post("/admin/simulator/say", form)
        consent = page_buttons(browser.get("/admin/simulator").text)[0]
        pressed = {"vue": "telegram", "choice": consent.id, "message_id": "m2"}
        browser.post("/admin/simulator/say", pressed)
        browser.post("/admin/simulator/say", pressed)  # the browser's back button, then sent again
    with runtime.db.transaction() as session:
        (resident,) = session.exec(select(Resident)).all()
        inbound = session.exec(select(MessageLog).where(MessageLog.direction == "in")).all()
        assert resident.test and inbound == []  # "oui" came before consent: not logged; nothing after


async def test_no_other_conversation_can_be_reached_from_the_simulator(runtime: Runtime) -> None:
    """A real resident and a colleague's test resident: whatever the form says, the simulator plays the
    signed-in account's own test resident, on a simulated channel."""
    driver = Driver(runtime)
    real = await driver.onboarded("telegram", address="staff-1")  # even a real chat named like ours
    with admin_browser(runtime) as browser:
        colleague = make_account(runtime, "collegue@mairie.re", "staff", districts=["saint-laurent"])
        account_id = sign_in(runtime, browser)
        assert colleague.id != account_id
        forged = {
            "vue": "telegram",
            "text": "bonjour",
            "channel": "telegram",
            "address": real.address,
            "resident_id": "1",
        }
        browser.get("/admin/simulator")
        browser.post("/admin/simulator/say", forged)
        for vue in ("whatsapp", "../telegram", ""):
            assert browser.post("/admin/simulator/say", {**forged, "vue": vue}).status_code == 200
        # A button id of the real resident's conversation means nothing here
        real_button = real.options[0].id
        browser.post("/admin/simulator/say", {"vue": "telegram", "choice": real_button})
    with runtime.db.transaction() as session:
        conversations = session.exec(select(Conversation).order_by(col(Conversation.id))).all()
        ours = [c for c in conversations if c.channel.startswith("web_")]
        assert {(c.channel, c.address) for c in ours} == {("web_telegram", simulator.address_of(account_id))}
        real_row = next(c for c in conversations if c.channel == "telegram")
        assert real_row.flow == "menu" and real_row.turn == real.exchanges  # untouched
        residents = session.exec(select(Resident)).all()
        assert [r.test for r in residents] == [False]  # the simulator's resident never consented


async def test_starting_again_erases_the_test_resident_and_frees_the_place(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        account_id = sign_in(runtime, browser)
        await book(SimulatorChat(browser))
        with runtime.db.transaction() as session:
            (appointment,) = session.exec(select(Appointment)).all()
            slot = session.get(Slot, appointment.slot_id)
            assert slot is not None
            booked, slot_id, resident_id = slot.booked, slot.id, appointment.resident_id
        done = browser.follow(browser.post("/admin/simulator/reset", {"vue": "telegram"}))
        assert "La conversation de test est effacée" in done.text and "Pas encore de message" in done.text
        assert bot_texts(done.text) == []
        # The SMS view is another test resident: untouched by the Telegram view's reset
        fresh = SimulatorChat(browser, "sms")
        await fresh.send("bonjour")
        assert "Etes-vous d'accord" in fresh.text
    with runtime.db.transaction() as session:
        assert session.get(Resident, resident_id) is None
        assert session.exec(select(Appointment)).all() == []
        slot = session.get(Slot, slot_id)
        assert slot is not None and slot.booked == booked - 1
        assert [c.channel for c in session.exec(select(Conversation))] == ["web_sms"]
        (event,) = audit.list_events(session, audit.AuditFilter(action=audit.SIMULATOR_RESET))
        assert (event.actor_id, event.target, event.detail) == (
            account_id,
            f"resident:{resident_id}",
            {"channel": "web_telegram"},
        )


async def test_the_sms_view_shows_the_sms_texts_numbered_options_and_their_cost(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser)
        chat = SimulatorChat(browser, "sms")
        await chat.send("bonjour")
        assert chat.labels[:2] == ["Oui, je suis d'accord", "Non merci"] and "Répondez un numéro de 1 à 4." in chat.text
        first = bot_texts(chat.fragments[-1].text)[0]
        assert "Etes-vous" in first and "Êtes" not in first  # GSM-7: transliterated, as the phone shows it
        ((segments, encoding, characters),) = chat.sms_costs
        assert encoding == "GSM-7" and segments >= 1 and characters == len(first)
        assert 'name="choice"' not in chat.fragments[-1].text  # no buttons by SMS: one types the number
        await chat.send("oui")  # (at the consent question a sentence is read as a yes, a no or asked again)
        await chat.send("n'importe quoi")
        assert "Ecrivez aide pour de l'aide." in chat.text and "Touchez" not in chat.text  # the SMS version
        telegram = SimulatorChat(browser, "telegram")
        await telegram.send("bonjour")
        await telegram.send("oui")
        await telegram.send("n'importe quoi")
        assert "Touchez un des boutons ci-dessous." in telegram.text  # the Telegram version
