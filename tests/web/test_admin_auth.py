"""/admin sign-in: sessions in a signed cookie, expiry after inactivity, CSRF, back-off, forced password change."""

from __future__ import annotations

import pytest

from relai_bot.clock import FrozenClock
from relai_bot.services import accounts, audit, login_throttle
from relai_bot.wiring import Runtime
from tests.conftest import make_runtime
from tests.web.admin_support import PASSWORD, admin_browser, make_account


def test_log_in_and_out(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        assert browser.get("/admin/").headers["location"] == "/admin/login?next=/admin/"
        response = browser.log_in("Admin@Mairie.re")
        assert response.status_code == 303 and response.headers["location"] == "/admin/"
        cookie = response.headers["set-cookie"]
        assert "relai_admin=" in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        assert "path=/admin" in cookie.lower() and "secure" not in cookie.lower()
        home = browser.follow(response)
        assert home.status_code == 200 and "Connexion réussie." in home.text
        assert home.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in home.headers["content-security-policy"]
        logged_out = browser.follow(browser.post("/admin/logout"))
        assert "Vous êtes déconnecté." in logged_out.text
        assert browser.get("/admin/").status_code == 303
    with runtime.db.transaction() as session:
        actions = [e.action for e in audit.list_events(session)]
    assert actions[:2] == [audit.LOGOUT, audit.LOGIN]


def test_login_goes_back_to_the_page_asked_for_but_never_elsewhere(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        browser.get("/admin/login?next=/admin/audit")
        response = browser.post(
            "/admin/login", {"email": "admin@mairie.re", "password": PASSWORD, "next": "/admin/audit"}
        )
        assert response.headers["location"] == "/admin/audit"
    with admin_browser(runtime) as browser:
        browser.get("/admin/login")
        response = browser.post(
            "/admin/login", {"email": "admin@mairie.re", "password": PASSWORD, "next": "//evil.example"}
        )
        assert response.headers["location"] == "/admin/"


def test_the_cookie_is_secure_behind_https(sqlite_url: str, clock: FrozenClock) -> None:
    runtime = make_runtime(sqlite_url, clock, public_url="https://relai.example.re")
    try:
        make_account(runtime, "admin@mairie.re")
        with admin_browser(runtime) as browser:
            assert "secure" in browser.log_in("admin@mairie.re").headers["set-cookie"].lower()
    finally:
        runtime.close()


def test_a_wrong_password_says_how_to_fix_it(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        response = browser.log_in("admin@mairie.re", "not the one")
        assert response.status_code == 400
        assert "Adresse e-mail ou mot de passe incorrect" in response.text
        assert "<title>Erreur – Connexion" in response.text
        assert 'value="admin@mairie.re"' in response.text  # the address is kept, the password is not
        assert browser.log_in("nobody@mairie.re").status_code == 400  # same answer: no account enumeration


def test_lockout_and_back_off(runtime: Runtime, clock: FrozenClock) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        for _ in range(login_throttle.FREE_FAILURES):
            assert browser.log_in("admin@mairie.re", "wrong").status_code == 400
        locked = browser.log_in("admin@mairie.re", "wrong")
        assert locked.status_code == 429 and "Réessayez après 10:01" in locked.text
        assert browser.log_in("admin@mairie.re").status_code == 429  # even the right password waits
        clock.advance(minutes=1, seconds=1)
        assert browser.log_in("admin@mairie.re", "wrong").status_code == 429  # the wait doubles: 2 minutes
        clock.advance(minutes=2, seconds=1)
        assert browser.log_in("admin@mairie.re").status_code == 303
    with runtime.db.transaction() as session:
        locks = audit.list_events(session, audit.AuditFilter(action=audit.LOCKED_OUT))
    assert len(locks) == 2


def test_a_session_ends_after_inactivity(runtime: Runtime, clock: FrozenClock) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        clock.advance(minutes=29)
        assert browser.get("/admin/accounts").status_code == 200  # activity keeps it alive
        clock.advance(minutes=29)
        assert browser.get("/admin/accounts").status_code == 200
        clock.advance(minutes=31)
        response = browser.get("/admin/accounts")
        assert response.headers["location"] == "/admin/login?next=/admin/accounts"
        assert "Votre session a expiré" in browser.follow(response).text


def test_the_inactivity_limit_is_a_setting(sqlite_url: str, clock: FrozenClock) -> None:
    runtime = make_runtime(sqlite_url, clock, admin_session_minutes=5)
    try:
        make_account(runtime, "admin@mairie.re")
        with admin_browser(runtime) as browser:
            browser.log_in("admin@mairie.re")
            clock.advance(minutes=6)
            assert browser.get("/admin/").status_code == 303
    finally:
        runtime.close()


@pytest.mark.parametrize("token", [None, "forged"])
def test_a_post_without_the_csrf_token_is_refused(runtime: Runtime, token: str | None) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        browser.get("/admin/login")
        form = {"email": "admin@mairie.re", "password": PASSWORD} | ({"csrf": token} if token else {})
        refused = browser.post("/admin/login", form, csrf=False)
        assert refused.status_code == 403 and "Formulaire expiré" in refused.text
        assert browser.log_in("admin@mairie.re").status_code == 303
        form = {"email": "x@mairie.re", "role": "admin"} | ({"csrf": token} if token else {})
        assert browser.post("/admin/accounts/new", form, csrf=False).status_code == 403
        assert browser.post("/admin/logout", {} if token is None else {"csrf": token}, csrf=False).status_code == 403
    with runtime.db.transaction() as session:
        assert accounts.find_account(session, "x@mairie.re") is None


def test_a_reset_forces_a_new_password(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re")
    with runtime.db.transaction() as session:
        one_time = accounts.reset_password(session, admin.id, now=runtime.clock.now())
    with admin_browser(runtime) as browser:
        response = browser.log_in("admin@mairie.re", one_time)
        assert response.headers["location"] == "/admin/password"
        assert browser.get("/admin/accounts").headers["location"] == "/admin/password"  # nothing else until then
        page = browser.get("/admin/password")
        assert "choisissez le vôtre pour continuer" in page.text
        mismatch = browser.post(
            "/admin/password",
            {"current_password": one_time, "new_password": "a long new password", "new_password_again": "other"},
        )
        assert mismatch.status_code == 400 and 'aria-invalid="true"' in mismatch.text
        weak = browser.post(
            "/admin/password", {"current_password": one_time, "new_password": "short", "new_password_again": "short"}
        )
        assert weak.status_code == 400 and "au moins 12 caractères" in weak.text
        new = "a long new password"
        done = browser.post(
            "/admin/password", {"current_password": one_time, "new_password": new, "new_password_again": new}
        )
        assert "Votre mot de passe est changé." in browser.follow(done).text
        assert browser.get("/admin/accounts").status_code == 200


def test_a_disabled_account_loses_its_session(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re")
    staff = make_account(runtime, "agent@mairie.re", "staff", districts=["pichette"])
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        assert browser.get("/admin/").status_code == 200
        with runtime.db.transaction() as session:
            accounts.disable_account(session, staff.id, actor_id=admin.id, now=runtime.clock.now())
        assert browser.get("/admin/").status_code == 303


def test_a_new_password_ends_the_sessions_opened_before(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re")
    make_account(runtime, "agent@mairie.re", "staff", districts=["pichette"])
    with admin_browser(runtime) as phone, admin_browser(runtime) as desk:
        phone.log_in("agent@mairie.re")
        desk.log_in("agent@mairie.re")
        new = "a long new password"
        changed = desk.post(
            "/admin/password", {"current_password": PASSWORD, "new_password": new, "new_password_again": new}
        )
        assert "Votre mot de passe est changé." in desk.follow(changed).text  # this session goes on
        assert phone.get("/admin/").status_code == 303  # the one opened before ends
        with runtime.db.transaction() as session:
            agent = accounts.find_account(session, "agent@mairie.re")
            assert agent is not None
            accounts.reset_password(session, agent.id, now=runtime.clock.now(), actor_id=admin.id)
        assert desk.get("/admin/").status_code == 303  # a reset ends every session
