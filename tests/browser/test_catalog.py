"""The catalog in a real browser: every page accessible (axe-core: no serious or critical violation), a
staff member edits a venue's opening hours, an administrator a scheme's sources (no JavaScript needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import select

from relai_bot.services import accounts
from relai_bot.store.models import District, Scheme, Venue
from relai_bot.wiring import Runtime
from tests.browser.harness import axe_violations, screenshot_path, sign_in

ADMIN = "admin@mairie-lapossession.re"
AGENT = "agent@mairie-lapossession.re"
PASSWORD = "un mot de passe assez long"
SHOTS = Path("/tmp/relai_catalog_screenshots")
# The ones the README shows (docs/screenshots/catalog_<name>.png); the others go to SHOTS to look at
README_SHOTS = {"schemes", "scheme_edit", "venue_edit"}


def make_accounts(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        now = runtime.clock.now()
        accounts.create_account(session, email=ADMIN, name="Admin Test", role="admin", now=now, password=PASSWORD)
        accounts.create_account(
            session,
            email=AGENT,
            name="Mme Nativel",
            role="staff",
            districts=["moulin-joli"],
            now=now,
            password=PASSWORD,
        )


def ids(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.db.transaction() as session:
        cej = session.exec(select(Scheme).where(Scheme.code == "cej")).one().id
        district = session.exec(select(District).where(District.code == "moulin-joli")).one().id
        venue = session.exec(select(Venue).where(Venue.code == "centre-social-moulin-joli")).one().id
    assert cej and district and venue
    return cej, district, venue


async def check(page: Any, name: str) -> None:
    assert await page.locator("h1").count() == 1, page.url
    violations = await axe_violations(page)
    assert violations == [], f"{page.url}: " + "; ".join(str(v) for v in violations)
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = screenshot_path(f"catalog_{name}") if name in README_SHOTS else SHOTS / f"{name}.png"
    await page.screenshot(path=str(target), full_page=True)


async def test_every_catalog_page_is_accessible(runtime: Runtime, site: str, page: Any) -> None:
    make_accounts(runtime)
    scheme, district, venue = ids(runtime)
    await sign_in(page, site, ADMIN, PASSWORD)
    for path, name in [
        ("/admin/", "home"),
        ("/admin/schemes", "schemes"),
        ("/admin/schemes/new", "scheme_new"),
        (f"/admin/schemes/{scheme}", "scheme_edit"),
        ("/admin/districts", "districts"),
        ("/admin/districts/new", "district_new"),
        (f"/admin/districts/{district}", "district_edit"),
        ("/admin/venues", "venues"),
        ("/admin/venues/new", "venue_new"),
        (f"/admin/venues/{venue}", "venue_edit"),
    ]:
        await page.goto(f"{site}{path}")
        await check(page, name)


async def test_staff_edit_a_venues_opening_hours(runtime: Runtime, site: str, page: Any) -> None:
    make_accounts(runtime)
    scheme, _, venue = ids(runtime)
    await sign_in(page, site, AGENT, PASSWORD)
    await page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Lieux").click()
    await page.get_by_role("link", name="Centre social de Moulin Joli (modifier)").click()
    await page.get_by_label("Horaires d'ouverture").fill("Du lundi au vendredi, 8 h - 12 h et 13 h 30 - 16 h")
    await page.get_by_label("Accessibilité").fill("Entrée de plain-pied")
    await page.get_by_label("Vérifié le").fill("2026-11-30")
    await page.get_by_role("button", name="Enregistrer").click()
    await page.wait_for_url(f"{site}/admin/venues/{venue}")
    assert "est enregistré" in await page.get_by_role("status").inner_text()
    await check(page, "venue_saved")
    with runtime.db.transaction() as session:
        saved = session.get(Venue, venue)
        assert saved is not None and saved.opening_hours == "Du lundi au vendredi, 8 h - 12 h et 13 h 30 - 16 h"
        assert str(saved.checked_on) == "2026-11-30"
    # A scheme is read-only for staff
    await page.goto(f"{site}/admin/schemes/{scheme}")
    assert await page.locator("form.catalog-form").count() == 0
    await check(page, "scheme_read_only")


async def test_an_admin_edits_a_schemes_sources(runtime: Runtime, site: str, page: Any) -> None:
    make_accounts(runtime)
    scheme, _, _ = ids(runtime)
    await sign_in(page, site, ADMIN, PASSWORD)
    await page.goto(f"{site}/admin/schemes/{scheme}")
    # CEJ has two sources in the demo data: rows 3 and 4 are empty
    await page.get_by_label("Source 3 : nom").fill("Page de test du CEJ")
    await page.get_by_label("Source 3 : lien").fill("http://www.exemple.re/cej")
    await page.get_by_role("button", name="Enregistrer").click()
    alert = page.get_by_role("alert")
    assert "https://" in await alert.inner_text()
    assert "Erreur" in await page.title()
    await check(page, "scheme_error")
    await alert.get_by_role("link").first.click()  # the summary's link leads to the row at fault
    await page.get_by_label("Source 3 : lien").fill("https://www.exemple.re/cej")
    await page.get_by_label("Source 1 : nom").fill("")
    await page.get_by_label("Source 1 : lien").fill("")  # a row emptied is a source removed
    await page.get_by_role("button", name="Enregistrer").click()
    await page.wait_for_url(f"{site}/admin/schemes/{scheme}")
    assert "est enregistré" in await page.get_by_role("status").inner_text()
    with runtime.db.transaction() as session:
        saved = session.get(Scheme, scheme)
        assert saved is not None
        assert [s["url"] for s in saved.sources] == [
            "https://emploilr.com/actualites/contrat-d-engagement-jeune-decret-publie-au-journal-officiel-et-entree-en-vigueur-au-1er-mars_7137.php",
            "https://www.exemple.re/cej",
        ]
