"""Opening hours in a real browser: a staff member changes a venue's hours, and the bot offers the new slots
to a resident at once (the real dispatcher and engine). axe-core finds nothing serious or critical on any
of the pages; a screenshot of each goes to docs/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sqlmodel import select

from relai_bot.services import accounts, booking
from relai_bot.services.residents import create_resident
from relai_bot.store.models import Adviser, Slot, id_of
from relai_bot.testing.driver import Driver
from relai_bot.wiring import Runtime
from tests.browser.harness import axe_violations, screenshot_path, sign_in

STAFF = "relais-centre@mairie-lapossession.re"
PASSWORD = "un mot de passe assez long"


def make_staff(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        accounts.create_account(
            session,
            email=STAFF,
            name="Mme Hoarau (relais centre-ville)",
            role="staff",
            districts=["centre-ville"],
            now=runtime.clock.now(),
            password=PASSWORD,
        )


async def check(page: Any, title: str, name: str) -> None:
    assert (await page.title()).startswith(title), await page.title()
    assert await page.locator("h1").count() == 1
    violations = await axe_violations(page)
    assert violations == [], f"{name}: " + "; ".join(str(v) for v in violations)
    await page.screenshot(path=str(screenshot_path(name)), full_page=True)


async def test_staff_change_a_venues_hours_and_the_bot_offers_the_new_slots(
    runtime: Runtime, site: str, page: Any, driver: Driver
) -> None:
    """M. Hoarau (France Travail, the "je ne sais pas" scheme) receives at the médiathèque on Tuesday
    mornings; it is Tuesday 1 December, 10:00. The relais of centre-ville moves those hours to the
    afternoon: the resident asking for an appointment is offered today at 14 h, no longer 11 h."""
    make_staff(runtime)
    before = await driver.onboarded()
    await before.tap("Prendre rendez-vous")
    await before.tap(1)
    assert before.labels[0].startswith("mardi 1er décembre à 11 h")

    await sign_in(page, site, STAFF, PASSWORD)
    await page.goto(f"{site}/admin/openings")
    await check(page, "Horaires des conseillers", "openings")
    await page.get_by_role("link", name="Modifier : mardi 8 h 30, Médiathèque").click()
    await check(page, "Modifier un horaire", "opening_edit")
    await page.get_by_label("Fin").fill("11:00")
    await page.get_by_label("Début").fill("10:00")
    await page.get_by_label("Durée d'un créneau, en minutes").fill("90")
    await page.get_by_role("button", name="Enregistrer les changements").click()
    await check(page, "Erreur – Modifier un horaire", "opening_edit_error")  # 90 minutes do not fit in one hour
    assert await page.get_by_role("alert").count() == 1
    assert "Aucun créneau de 90 minutes" in await page.locator("#slot_minutes-error").inner_text()
    await page.get_by_label("Début").fill("14:00")
    await page.get_by_label("Fin").fill("17:00")
    await page.get_by_label("Durée d'un créneau, en minutes").fill("30")
    await page.get_by_role("button", name="Enregistrer les changements").click()
    await page.wait_for_url(f"{site}/admin/openings")
    assert "L'horaire est modifié" in await page.get_by_role("status").inner_text()
    await check(page, "Horaires des conseillers", "openings_saved")
    assert "14 h – 17 h" in await page.locator("main").inner_text()

    after = await driver.onboarded()
    await after.tap("Prendre rendez-vous")
    await after.tap(1)
    assert after.labels[0].startswith("mardi 1er décembre à 14 h")
    assert not any(label.startswith("mardi 1er décembre à 11 h") for label in after.labels)
    await after.tap(1)
    await after.tap("Oui, je réserve")
    assert "14 h" in after.text


async def test_the_absence_and_slot_pages_are_accessible(runtime: Runtime, site: str, page: Any) -> None:
    make_staff(runtime)
    with runtime.db.transaction() as session:
        payet = session.exec(select(Adviser).where(Adviser.code == "payet")).one()
        starts = datetime.combine(datetime(2026, 12, 7).date(), time(9, 15), tzinfo=runtime.settings.tz)
        slot = session.exec(
            select(Slot).where(Slot.adviser_id == payet.id, Slot.starts_at == starts.astimezone(UTC))
        ).one()
        resident = create_resident(session, "telegram", "3001", runtime.clock.now())
        resident.display_name = "Josiane"
        session.add(resident)
        booking.book_slot(
            session,
            resident_id=id_of(resident),
            slot_id=id_of(slot),
            scheme_id=None,
            channel="telegram",
            now=runtime.clock.now(),
        )
    await sign_in(page, site, STAFF, PASSWORD)
    await page.goto(f"{site}/admin/slots/{slot.id}")
    await check(page, "Créneau du 07/12/2026", "slot")
    await page.goto(f"{site}/admin/openings/new")
    await check(page, "Ajouter un horaire", "opening_new")
    await page.goto(f"{site}/admin/absences/new")
    await check(page, "Noter une absence", "absence_new")
    await page.get_by_label("Conseiller").select_option(label="Mme Payet (Mairie de La Possession - Pôle insertion)")
    await page.get_by_label("Premier jour").fill("2026-12-07")
    await page.get_by_label("Motif (facultatif)").fill("formation")
    await page.get_by_role("button", name="Enregistrer l'absence").click()
    await check(page, "Absence enregistrée", "absence_report")
    assert (
        "1 rendez-vous déplacé, 0 annulé ; chaque habitant est prévenu."
        in await page.get_by_role("status").inner_text()
    )
    await page.goto(f"{site}/admin/absences")
    await check(page, "Absences des conseillers", "absences")
