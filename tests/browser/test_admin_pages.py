"""The back-office in a real browser: sign in, walk the pages with the keyboard, check accessibility with
axe-core (no serious or critical violation), and keep a screenshot of each main page (docs/screenshots/)."""

from __future__ import annotations

from typing import Any

from relai_bot.services import accounts
from relai_bot.wiring import Runtime
from tests.browser.harness import axe_violations, screenshot_path, sign_in
from tests.web.residents_support import add_resident, ask_callback, book

ADMIN = "admin@mairie-lapossession.re"
PASSWORD = "un mot de passe assez long"
# (path, how its <title> starts, screenshot name)
ADMIN_PAGES = [
    ("/admin/", "Accueil", "home"),
    ("/admin/accounts", "Comptes", "accounts"),
    ("/admin/accounts/new", "Créer un compte", "account_new"),
    ("/admin/broadcasts", "Diffusions", "broadcasts"),
    ("/admin/broadcasts/new", "Écrire une diffusion", "broadcast_new"),
    ("/admin/audit", "Journal des actions", "audit"),
    ("/admin/residents", "Habitants", "residents"),
    ("/admin/residents/1", "Habitant n° 1", "resident"),
    ("/admin/residents/1/erase", "Effacer les données", "resident_erase"),
    ("/admin/callbacks", "Rappels", "callbacks"),
    ("/admin/password", "Mon mot de passe", "password"),
    ("/admin/accessibilite", "Déclaration d'accessibilité", "accessibility"),
]


def make_admin(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        accounts.create_account(
            session, email=ADMIN, name="Admin Test", role="admin", now=runtime.clock.now(), password=PASSWORD
        )
    # A few residents, so the residents' and call-backs' tables are not empty (fictitious people)
    first = add_resident(runtime, "+262692100001", name="Mme Grondin", age="18-25", situation="beneficiaire_rsa")
    add_resident(runtime, "1001", channel="telegram", district="pichette", goal="formation", seen_minutes_ago=30)
    book(runtime, first)
    ask_callback(runtime, first, topic="cej")


async def test_the_login_page_is_accessible_and_explains_errors(runtime: Runtime, site: str, page: Any) -> None:
    make_admin(runtime)
    await page.goto(f"{site}/admin/login")
    assert await page.evaluate("document.documentElement.lang") == "fr"
    assert "Connexion" in await page.title()
    assert await axe_violations(page) == []
    await page.screenshot(path=str(screenshot_path("login")), full_page=True)
    await page.get_by_label("Adresse e-mail").fill(ADMIN)
    await page.get_by_label("Mot de passe").fill("pas le bon")
    await page.get_by_role("button", name="Se connecter").click()
    alert = page.get_by_role("alert")
    assert await alert.count() == 1
    assert "Erreur" in await page.title()
    assert await axe_violations(page) == []


async def test_every_admin_page_is_accessible(runtime: Runtime, site: str, page: Any) -> None:
    make_admin(runtime)
    await sign_in(page, site, ADMIN, PASSWORD)
    for path, title, name in ADMIN_PAGES:
        await page.goto(f"{site}{path}")
        assert (await page.title()).startswith(title), path
        assert await page.locator("h1").count() == 1, path
        violations = await axe_violations(page)
        assert violations == [], f"{path}: " + "; ".join(str(v) for v in violations)
        await page.screenshot(path=str(screenshot_path(name)), full_page=True)


async def test_the_skip_link_comes_first_and_focus_is_visible(runtime: Runtime, site: str, page: Any) -> None:
    make_admin(runtime)
    await sign_in(page, site, ADMIN, PASSWORD)
    await page.keyboard.press("Tab")
    focused = page.locator(":focus")
    assert "contenu" in (await focused.inner_text()).lower()  # "Aller au contenu"
    outline = await focused.evaluate("e => getComputedStyle(e).outlineStyle + ' ' + getComputedStyle(e).outlineWidth")
    assert not outline.startswith("none"), outline
    await page.keyboard.press("Enter")
    assert await page.evaluate("location.hash") != ""


async def test_usable_on_a_phone_at_320_px(runtime: Runtime, site: str, page: Any) -> None:
    make_admin(runtime)
    await page.set_viewport_size({"width": 320, "height": 640})
    await sign_in(page, site, ADMIN, PASSWORD)
    for path in (
        "/admin/",
        "/admin/accounts",
        "/admin/audit",
        "/admin/broadcasts",
        "/admin/broadcasts/new",
        "/admin/residents",
        "/admin/callbacks",
        "/admin/residents/1",
    ):
        await page.goto(f"{site}{path}")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at 320 px"
    await page.goto(f"{site}/admin/accounts")
    await page.screenshot(path=str(screenshot_path("accounts_320px")), full_page=True)
