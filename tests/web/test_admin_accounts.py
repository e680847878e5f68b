"""Accounts and the audit log in /admin: what an administrator does, and what a staff member sees."""

from __future__ import annotations

import re

from relai_bot.clock import FrozenClock
from relai_bot.services import accounts, audit
from relai_bot.wiring import Runtime
from tests.web.admin_support import admin_browser, make_account

ONE_TIME = re.compile(r"<code>(\S+)</code>")


def test_create_a_staff_account_who_then_signs_in(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        assert "Créer un compte" in browser.get("/admin/accounts/new").text
        created = browser.post(
            "/admin/accounts/new",
            {"email": "Agent@Mairie.re", "name": "M. Maillot", "role": "staff", "districts": ["saint-laurent"]},
        )
        assert created.status_code == 200 and "Compte créé" in created.text
        one_time = ONE_TIME.search(created.text)
        assert one_time is not None
        listing = browser.get("/admin/accounts").text
        assert "agent@mairie.re" in listing and "Saint-Laurent" in listing and "mot de passe à changer" in listing
    with admin_browser(runtime) as browser:
        assert browser.log_in("agent@mairie.re", one_time.group(1)).headers["location"] == "/admin/password"


def test_form_errors_say_how_to_fix_them(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        response = browser.post("/admin/accounts/new", {"email": "agent", "name": "", "role": "staff"})
        assert response.status_code == 400
        assert "<title>Erreur – Créer un compte" in response.text
        assert "par exemple nom@mairie.re" in response.text and 'aria-invalid="true"' in response.text
        assert 'role="alert"' in response.text and 'value="agent"' in response.text
        response = browser.post("/admin/accounts/new", {"email": "agent@mairie.re", "role": "staff"})
        assert "Cochez au moins un quartier" in response.text
        response = browser.post("/admin/accounts/new", {"email": "admin@mairie.re", "role": "admin"})
        assert "Un compte existe déjà avec cette adresse" in response.text


def test_an_admin_cannot_disable_themselves_nor_the_last_admin(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re")
    other = make_account(runtime, "autre@mairie.re")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        refused = browser.follow(browser.post(f"/admin/accounts/{admin.id}/disable"))
        assert "Vous ne pouvez pas désactiver votre propre compte" in refused.text
        done = browser.follow(browser.post(f"/admin/accounts/{other.id}/disable"))
        assert "Le compte autre@mairie.re est désactivé." in done.text
    with runtime.db.transaction() as session:
        assert accounts.has_usable_admin(session)
        found = accounts.get_account(session, other.id)
    assert found is not None and not found.active


def test_reset_a_password_from_the_list(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["pichette"])
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        page = browser.post(f"/admin/accounts/{agent.id}/reset")
        assert page.status_code == 200 and "Mot de passe réinitialisé" in page.text
        assert page.headers["cache-control"] == "no-store"
        one_time = ONE_TIME.search(page.text)
        assert one_time is not None
    with admin_browser(runtime) as browser:
        assert browser.log_in("agent@mairie.re", one_time.group(1)).headers["location"] == "/admin/password"


def test_staff_see_their_districts_only(runtime: Runtime) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        home = browser.get("/admin/").text
    assert "Vos quartiers" in home and "Saint-Laurent" in home and "Pichette" not in home


def test_the_audit_log_lists_and_filters(runtime: Runtime, clock: FrozenClock) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re", "wrong password")
        clock.advance(days=2)
        browser.log_in("admin@mairie.re")
        everything = browser.get("/admin/audit").text
        assert "connexion refusée" in everything and "compte créé" in everything
        only_failed = browser.get("/admin/audit", params={"action": audit.LOGIN_FAILED}).text
        assert only_failed.count("<td>connexion refusée</td>") == 1 and "<td>compte créé</td>" not in only_failed
        recent = browser.get("/admin/audit", params={"since": "2026-12-03"}).text
        assert "<td>connexion</td>" in recent and "<td>connexion refusée</td>" not in recent
        nobody = browser.get("/admin/audit", params={"actor": "zzz"}).text
        assert "0 action," in nobody
        bad = browser.get("/admin/audit", params={"until": "hier"})
        assert bad.status_code == 400 and "AAAA-MM-JJ" in bad.text
        assert 'hx-get="/admin/audit"' in everything  # htmx updates the table in place; the form works without


def test_edit_an_account_name_role_and_districts(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        assert f'href="/admin/accounts/{agent.id}/edit"' in browser.get("/admin/accounts").text
        form = browser.get(f"/admin/accounts/{agent.id}/edit").text
        assert (
            'id="district-saint-laurent" value="saint-laurent" checked' in form
            and 'id="active" value="oui" checked' in form
        )
        none = browser.post(
            f"/admin/accounts/{agent.id}/edit", {"name": "M. Maillot", "role": "staff", "active": "oui"}
        )
        assert none.status_code == 400 and "Cochez au moins un quartier" in none.text
        done = browser.post(
            f"/admin/accounts/{agent.id}/edit",
            {"name": "M. Maillot", "role": "staff", "districts": ["pichette", "mafate"], "active": "oui"},
        )
        assert "Le compte agent@mairie.re est modifié." in browser.follow(done).text
    with runtime.db.transaction() as session:
        found = accounts.get_account(session, agent.id)
        (event,) = audit.list_events(session, audit.AuditFilter(action=audit.ACCOUNT_UPDATED))
    assert found is not None and found.name == "M. Maillot" and found.district_codes == ("mafate", "pichette")
    assert event.target == "agent@mairie.re"
    assert event.detail == {"name": "M. Maillot", "districts": ["mafate", "pichette"]}


def test_re_enable_a_disabled_account(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re")
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["pichette"])
    with runtime.db.transaction() as session:
        accounts.disable_account(session, agent.id, actor_id=admin.id, now=runtime.clock.now())
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        browser.post(
            f"/admin/accounts/{agent.id}/edit",
            {"name": "Agent", "role": "staff", "districts": ["pichette"], "active": "oui"},
        )
    with runtime.db.transaction() as session:
        found = accounts.get_account(session, agent.id)
        (event,) = audit.list_events(session, audit.AuditFilter(action=audit.ACCOUNT_UPDATED))
    assert found is not None and found.active and event.detail == {"active": True}
    with admin_browser(runtime) as browser:
        assert browser.log_in("agent@mairie.re").headers["location"] == "/admin/"


def test_the_last_admin_cannot_be_demoted_nor_an_admin_demote_themselves(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        own = browser.post(
            f"/admin/accounts/{admin.id}/edit", {"name": "Admin", "role": "staff", "districts": ["pichette"]}
        )
        assert own.status_code == 400 and "votre propre rôle d&#39;administrateur" in own.text
    with runtime.db.transaction() as session:
        try:
            accounts.update_account(
                session,
                admin.id,
                name="Admin",
                role="adviser",
                districts=[],
                active=True,
                now=runtime.clock.now(),
                actor_id=None,
                actor="cli",
            )
        except accounts.LastAdmin:
            pass
        else:
            raise AssertionError("the last admin was demoted")
    other = make_account(runtime, "autre@mairie.re")
    with admin_browser(runtime) as browser:
        browser.log_in("autre@mairie.re")
        demoted = browser.post(f"/admin/accounts/{admin.id}/edit", {"name": "Admin", "role": "adviser"})
        assert demoted.status_code == 303
        browser.log_in("autre@mairie.re")
        last = browser.post(f"/admin/accounts/{other.id}/edit", {"name": "Autre", "role": "admin"})
        assert last.status_code == 400 and "ni désactiver votre compte" in last.text  # unticking "active" on oneself
    with runtime.db.transaction() as session:
        found = accounts.get_account(session, admin.id)
        assert found is not None and found.role == "adviser" and accounts.has_usable_admin(session)
