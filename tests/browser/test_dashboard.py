"""The dashboard in a real browser: its charts load as images, the filters work without JavaScript, axe-core
finds no serious or critical violation (at 1280 px and 320 px), and a screenshot is kept (docs/screenshots/)."""

from __future__ import annotations

from typing import Any

from relai_bot.services import accounts
from relai_bot.wiring import Runtime, seed_demo_activity
from tests.browser.harness import axe_violations, screenshot_path, sign_in
from tests.services.dashboard_support import make_activity

ADMIN = "admin@mairie-lapossession.re"
PASSWORD = "un mot de passe assez long"


async def test_the_dashboard_is_accessible_and_its_filters_work(runtime: Runtime, site: str, page: Any) -> None:
    with runtime.db.transaction() as session:
        accounts.create_account(
            session,
            email=ADMIN,
            name="Admin Test",
            role="admin",
            now=runtime.clock.now(),
            password=PASSWORD,
        )
    seed_demo_activity(runtime)  # the demo's residents and appointments, then the tests' own activity
    make_activity(runtime)
    await sign_in(page, site, ADMIN, PASSWORD)
    await page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Tableau de bord").click()
    await page.get_by_label("Du (date)").fill("2026-11-23")
    await page.get_by_label("Au (date, incluse)").fill("2026-12-20")
    await page.get_by_role("button", name="Afficher").click()
    await page.wait_for_url("**/admin/dashboard?du=2026-11-23&au=2026-12-20")
    assert (await page.title()).startswith("Tableau de bord")
    assert await page.locator("h1").count() == 1
    charts = page.locator("img.chart")
    assert await charts.count() == 6
    for n in range(6):  # every SVG loaded and drawn (a broken image has no natural width)
        assert await charts.nth(n).evaluate("img => img.complete && img.naturalWidth > 0"), n
    violations = await axe_violations(page)
    assert violations == [], "; ".join(str(v) for v in violations)
    await page.screenshot(path=str(screenshot_path("dashboard")), full_page=True)

    await page.get_by_label("Pichette").check()
    await page.get_by_role("button", name="Afficher").click()
    await page.wait_for_url("**quartier=pichette")
    residents = page.get_by_role("table", name="Habitants inscrits")
    assert await residents.get_by_role("rowheader").all_inner_texts() == ["Pichette"]

    await page.set_viewport_size({"width": 320, "height": 800})
    violations = await axe_violations(page)
    assert violations == [], "320 px: " + "; ".join(str(v) for v in violations)
