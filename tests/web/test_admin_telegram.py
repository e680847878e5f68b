"""The back-office page "Telegram": a staff member gets a one-time code, links the chat, unlinks it."""

from __future__ import annotations

import re

from relai_bot.services import audit, staff_telegram
from relai_bot.wiring import Runtime
from tests.web.admin_support import admin_browser, make_account
from tests.web.test_admin_routes import Outline

CODE = re.compile(r"<code>/lier ([A-Z0-9]{8})</code>")


def test_a_staff_member_gets_a_code_shown_once_and_the_page_says_when_it_is_linked(runtime: Runtime) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        page = browser.get("/admin/telegram")
        assert page.status_code == 200 and "Aucun compte Telegram n'est lié." in page.text
        assert "Obtenir un code" in page.text and "Délier" not in page.text
        assert 'href="/admin/telegram"' in browser.get("/admin/").text  # on the home page and in the menu
        answer = browser.post("/admin/telegram", {"action": "code"})
        assert answer.status_code == 200
        found = CODE.search(answer.text)
        assert found is not None
        code = found.group(1)
        again = browser.get("/admin/telegram").text
        assert code not in again and "Un code a été demandé" in again
        with runtime.db.transaction() as session:
            linked = staff_telegram.redeem_link_code(session, "777", code, runtime.clock.now())
        assert linked is not None and linked.id == agent.id
        page = browser.get("/admin/telegram")
        assert "Votre compte Telegram est lié depuis le 01/12/2026 10:00." in page.text
        unlinked = browser.follow(browser.post("/admin/telegram", {"action": "unlink"}))
        assert "Votre compte Telegram est délié." in unlinked.text
        assert "Aucun compte Telegram n'est lié." in unlinked.text
    with runtime.db.transaction() as session:
        assert staff_telegram.account_for_chat(session, "777") is None
        done = [e.action for e in audit.list_events(session) if e.action.startswith("telegram.")]
    assert done == [audit.TELEGRAM_UNLINKED, audit.TELEGRAM_LINKED, audit.TELEGRAM_CODE_ISSUED]


def test_the_page_is_accessible_and_refuses_an_unknown_action(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        response = browser.post("/admin/telegram", {"action": "code"})
        refused = browser.follow(browser.post("/admin/telegram", {"action": "other"}))
        assert "Choisissez une action" in refused.text
        assert browser.post("/admin/telegram", {"action": "code"}, csrf=False).status_code == 403
    page = Outline()
    page.feed(response.text)
    assert page.lang == "fr" and page.title.strip().startswith("Telegram")
    assert page.headings.count(1) == 1 and page.headings[0] == 1
    assert all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False)), page.headings
    assert set(page.inputs) <= page.labels and page.status


def test_advisers_may_not_open_it(runtime: Runtime) -> None:
    make_account(runtime, "conseil@mairie.re", "adviser")
    with admin_browser(runtime) as browser:
        browser.log_in("conseil@mairie.re")
        assert browser.get("/admin/telegram").status_code == 403
        assert 'href="/admin/telegram"' not in browser.get("/admin/").text
