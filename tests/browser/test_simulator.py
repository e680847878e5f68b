"""The simulator in a real browser: a staff member books an appointment as a test resident, from "bonjour"
to the confirmation, with htmx appending each turn; axe-core finds no serious or critical violation."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import select

from relai_bot.services import accounts
from relai_bot.store.models import Appointment, Resident
from relai_bot.wiring import Runtime
from tests.browser.harness import axe_violations, screenshot_path, sign_in

AGENT = "agent@mairie-lapossession.re"
PASSWORD = "un mot de passe assez long"


def make_agent(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        accounts.create_account(
            session,
            email=AGENT,
            name="Agent Test",
            role="staff",
            districts=["saint-laurent"],
            now=runtime.clock.now(),
            password=PASSWORD,
        )


async def _played(page: Any, act: Any) -> None:
    """Do `act` (a click, a key press), then wait until htmx appended the turn and renewed the controls.

    The new controls are in the page before htmx has bound them (htmx binds them when the swap settles,
    some 20 ms later): a form used in between would be posted by the browser itself, a full page load.
    So the wait is for htmx's own `htmx:load` of the new controls, not for their presence."""
    before = await page.locator("#sim-log > li").count()
    await page.evaluate(
        """() => {
          window.simControlsBound = false;
          if (!window.simWatching) {
            window.simWatching = true;
            document.body.addEventListener('htmx:load', (event) => {
              if (event.target.id === 'sim-controls') window.simControlsBound = true;
            });
          }
        }"""
    )
    await act()
    await page.wait_for_function(
        "(before) => window.simControlsBound && document.querySelectorAll('#sim-log > li').length > before",
        arg=before,
    )


async def say(page: Any, text: str) -> None:
    async def act() -> None:
        await page.get_by_label("Votre message, comme l'écrirait un habitant").fill(text)
        await page.keyboard.press("Enter")

    await _played(page, act)


async def press(page: Any, label: str) -> None:
    button = page.locator("#sim-controls").get_by_role("button", name=re.compile(rf"^\d+\. {re.escape(label)}"))
    await _played(page, lambda: button.first.click())


async def last_reply(page: Any) -> str:
    return str(await page.locator("#sim-log > li.sim-bot").last.inner_text())


async def test_a_staff_member_books_an_appointment_in_the_simulator(runtime: Runtime, site: str, page: Any) -> None:
    make_agent(runtime)
    await sign_in(page, site, AGENT, PASSWORD)
    await page.get_by_role("link", name="Simulateur").first.click()
    await page.wait_for_url(f"{site}/admin/simulator")
    assert (await page.title()).startswith("Simulateur")
    assert await axe_violations(page) == []
    url = page.url
    await say(page, "bonjour")
    assert "Êtes-vous d'accord ?" in await last_reply(page)
    await press(page, "Oui, je suis d'accord")
    await press(page, "Oui")  # the offers of the district
    await press(page, "Saint-Laurent")
    await press(page, "Plus tard")
    assert "Que voulez-vous faire ?" in await last_reply(page)
    await press(page, "Trouver une aide")
    await press(page, "Répondre à 3 questions")
    await press(page, "18 à 25 ans")
    await press(page, "Jeune, ni emploi ni études")
    await say(page, "Trouver un emploi")  # typed: an answer by its label works too
    assert "Voici les aides qui vous vont le mieux" in await last_reply(page)
    await press(page, "CEJ")
    await press(page, "Prendre rendez-vous")
    assert "prochains rendez-vous libres" in await last_reply(page)
    await say(page, "1")  # the first free slot, by its number
    assert "Je réserve ?" in await last_reply(page)
    await press(page, "Oui, je réserve")
    assert "C'est réservé !" in await last_reply(page)
    assert page.url == url  # no page load: htmx appended every turn
    # Focus goes to the text box, ready for the next message (the pressed button is gone)
    await page.wait_for_function("document.activeElement && document.activeElement.id === 'sim-text'", timeout=5000)
    violations = await axe_violations(page)
    assert violations == [], "; ".join(str(v) for v in violations)
    await page.screenshot(path=str(screenshot_path("simulator")), full_page=True)
    with runtime.db.transaction() as session:
        (appointment,) = session.exec(select(Appointment)).all()
        resident = session.get(Resident, appointment.resident_id)
        assert resident is not None and resident.test and appointment.status == "booked"
    # The page read again shows the same conversation, from the test resident's message log
    await page.reload()
    assert "C'est réservé !" in await last_reply(page)
    assert await axe_violations(page) == []


async def test_the_sms_view_is_accessible_at_320_px(runtime: Runtime, site: str, page: Any) -> None:
    make_agent(runtime)
    await page.set_viewport_size({"width": 320, "height": 800})
    await sign_in(page, site, AGENT, PASSWORD)
    await page.goto(f"{site}/admin/simulator?vue=sms")
    await say(page, "bonjour")
    await say(page, "1")
    reply = await last_reply(page)
    assert "1. Oui" in reply and "Par SMS : 1 SMS, GSM-7" in reply  # a whole turn within one SMS
    violations = await axe_violations(page)
    assert violations == [], "; ".join(str(v) for v in violations)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, width
    await page.screenshot(path=str(screenshot_path("simulator_sms")), full_page=True)
