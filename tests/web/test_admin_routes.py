"""Every /admin route with every role, and with no session: the guard's table is the only gate."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from relai_bot.web.admin.guard import AdminRoute
from relai_bot.web.admin.routes import ROUTES
from relai_bot.wiring import Runtime
from tests.web.admin_support import Staff, admin_browser, make_account

ROLES = ("admin", "staff", "adviser")
CASES = [(route, method) for route in ROUTES for method in route.methods]


def concrete(route: AdminRoute, target_id: int) -> str:
    """The route's path with every {name:int} parameter set to the target's id (it may not exist: 303/404)."""
    return "/admin" + re.sub(r"\{[a-z_]+(:int)?\}", str(target_id), route.path)


def signed_in(browser: Staff, runtime: Runtime, role: str | None) -> int:
    """Accounts for every role (and a target to act on); the browser signs in as `role`; the target's id."""
    make_account(runtime, "admin@mairie.re", "admin")
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    make_account(runtime, "conseil@mairie.re", "adviser")
    target = make_account(runtime, "cible@mairie.re", "staff", districts=["pichette"])
    if role is not None:
        email = {"admin": "admin@mairie.re", "staff": "agent@mairie.re", "adviser": "conseil@mairie.re"}[role]
        assert browser.log_in(email).status_code == 303
    return target.id


@pytest.mark.parametrize("role", [None, *ROLES])
@pytest.mark.parametrize(("route", "method"), CASES, ids=[f"{m} {r.path}" for r, m in CASES])
def test_every_route_with_every_role(runtime: Runtime, route: AdminRoute, method: str, role: str | None) -> None:
    with admin_browser(runtime) as browser:
        target = signed_in(browser, runtime, role)
        path = concrete(route, target)
        response = browser.get(path) if method == "GET" else browser.post(path, {})
        if route.roles is None:
            assert response.status_code in (200, 303, 400), response.text[:300]
            assert not response.headers.get("location", "").startswith("/admin/login?")
        elif role is None:
            assert response.status_code == 303
            assert response.headers["location"].startswith("/admin/login?next=")
        elif role not in route.roles:
            assert response.status_code == 403 and "Accès refusé" in response.text
        else:  # 404: the target id names no such thing (or one out of the account's districts)
            assert response.status_code in (200, 303, 400, 404), response.text[:300]
            assert not response.headers.get("location", "").startswith("/admin/login?")


def test_the_menu_shows_what_the_role_may_open(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        signed_in(browser, runtime, "staff")
        home = browser.get("/admin/").text
    assert 'href="/admin/accounts"' not in home and 'href="/admin/audit"' not in home
    assert 'href="/admin/password"' in home


class Outline(HTMLParser):
    """What the accessibility checks need from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = ""
        self.title = ""
        self.headings: list[int] = []
        self.first_link = ""
        self.inputs: list[str] = []
        self.labels: set[str] = set()
        self.status = False
        self.tables = self.table_headers = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang") or ""
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        elif tag == "a" and not self.first_link:
            self.first_link = a.get("href") or ""
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.inputs.append(a.get("id") or "")
        elif tag == "label" and a.get("for"):
            self.labels.add(a["for"] or "")
        elif a.get("role") == "status":
            self.status = True
        elif tag == "table":
            self.tables += 1
        elif tag == "th" and a.get("scope") == "col":
            self.table_headers += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_title = self._in_title and tag != "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (None, "/admin/login"),
        (None, "/admin/accessibilite"),
        ("admin", "/admin/"),
        ("staff", "/admin/"),
        ("adviser", "/admin/logout"),
        ("admin", "/admin/accounts"),
        ("admin", "/admin/accounts/new"),
        ("admin", "/admin/audit"),
        ("staff", "/admin/password"),
        ("staff", "/admin/broadcasts"),
        ("staff", "/admin/broadcasts/new"),
        ("admin", "/admin/broadcasts/new"),
        ("staff", "/admin/residents"),
        ("admin", "/admin/residents"),
        ("staff", "/admin/callbacks"),
        ("admin", "/admin/callbacks?status=done"),
    ],
)
def test_pages_are_accessible_by_construction(runtime: Runtime, role: str | None, path: str) -> None:
    with admin_browser(runtime) as browser:
        signed_in(browser, runtime, role)
        response = browser.get(path)
    assert response.status_code == 200
    assert_accessible(response.text)


def test_an_account_edit_page_is_accessible(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        target = signed_in(browser, runtime, "admin")
        response = browser.get(f"/admin/accounts/{target}/edit")
    assert response.status_code == 200
    assert_accessible(response.text)


def assert_accessible(html: str) -> None:
    """What every page must have (RGAA by construction): see the README's Back-office section."""
    page = Outline()
    page.feed(html)
    assert page.lang == "fr"
    assert page.title.strip().endswith("Relai emploi La Possession, gestion") and len(page.title) > 40
    assert page.first_link == "#contenu" and 'id="contenu"' in html
    assert page.headings.count(1) == 1 and page.headings[0] == 1
    assert all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False)), page.headings
    assert set(page.inputs) <= page.labels, (page.inputs, page.labels)
    assert page.status, "a live region for status messages"
    assert page.table_headers >= page.tables
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
