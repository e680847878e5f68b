"""Call-back requests in /admin: a staff member sees their districts' open requests, oldest first, and marks
one done, with a note if they wish (who and when are kept; the audit log names the request only, and says
whether there is a note, not what it says)."""

from __future__ import annotations

import json

from relai_bot.clock import FrozenClock
from relai_bot.services import audit, callbacks
from relai_bot.store.models import CallbackRequest
from relai_bot.wiring import Runtime
from tests.web.admin_support import admin_browser, make_account
from tests.web.residents_support import add_resident, ask_callback
from tests.web.test_admin_routes import assert_accessible


def test_staff_see_their_districts_open_requests_oldest_first(runtime: Runtime, clock: FrozenClock) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    first = add_resident(runtime, "+262692000001", name="Mme Grondin")
    second = add_resident(runtime, "+262692000002", name="M. Payet")
    other = add_resident(runtime, "+262692000003", district="pichette", name="M. Hoarau")
    nowhere = add_resident(runtime, "77", channel="telegram", district=None, name="Sans Quartier")
    ask_callback(runtime, first, phone="+262692111111", topic="cej")
    clock.advance(minutes=5)
    ask_callback(runtime, second, phone=None)  # asked by SMS: the number is the resident's SMS address
    hidden = [ask_callback(runtime, other), ask_callback(runtime, nowhere, phone="+262693222222")]
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        page = browser.get("/admin/callbacks")
        assert page.status_code == 200
        text = page.text
        assert text.index("Mme Grondin") < text.index("M. Payet")
        assert "M. Hoarau" not in text and "Sans Quartier" not in text and "0693 22 22 22" not in text
        assert "0692 11 11 11" in text and "0692 00 00 02" in text and "le matin" in text
        assert "Contrat d&#39;engagement jeune" in text and "2 demandes à rappeler" in text
        for callback_id in (*hidden, 999_999):
            refused = browser.post(f"/admin/callbacks/{callback_id}/done")
            assert refused.status_code == 404 and "Hoarau" not in refused.text
    with runtime.db.transaction() as session:
        assert all(session.get(CallbackRequest, i).status == "open" for i in hidden)  # type: ignore[union-attr]


def test_marking_a_request_done_moves_it_and_records_who(runtime: Runtime) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    resident_id = add_resident(runtime, "+262692000001", name="Mme Grondin")
    callback_id = ask_callback(runtime, resident_id)
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        refused = browser.post(f"/admin/callbacks/{callback_id}/done", csrf=False)
        assert refused.status_code == 403
        done = browser.follow(browser.post(f"/admin/callbacks/{callback_id}/done"))
        assert f"La demande de rappel n° {callback_id} est marquée comme rappelée" in done.text
        assert "0 demande à rappeler" in done.text and f"/admin/callbacks/{callback_id}/done" not in done.text
        handled = browser.get("/admin/callbacks", params={"status": "done"}).text
        assert "Mme Grondin" in handled and "par Agent" in handled
        again = browser.follow(browser.post(f"/admin/callbacks/{callback_id}/done"))
        assert "déjà marquée comme rappelée" in again.text
    with runtime.db.transaction() as session:
        request = session.get(CallbackRequest, callback_id)
        assert request is not None and request.status == "done"
        assert request.handled_by_id == agent.id and request.handled_at == runtime.clock.now()
        (event,) = audit.list_events(session, audit.AuditFilter(action=audit.CALLBACK_HANDLED))
        assert (event.actor_id, event.target, event.detail) == (agent.id, f"callback {callback_id}", {})
        assert callbacks.list_callbacks(session, agent) == []


def test_admins_see_every_request_including_residents_without_district(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re")
    ask_callback(runtime, add_resident(runtime, "+262692000003", district="pichette", name="M. Hoarau"))
    ask_callback(runtime, add_resident(runtime, "77", channel="telegram", district=None, name="Sans Quartier"))
    with runtime.db.transaction() as session:
        names = [view.name for view in callbacks.list_callbacks(session, admin)]
    assert names == ["M. Hoarau", "Sans Quartier"]


def test_a_note_kept_when_marking_done_shows_in_the_handled_list_the_page_and_the_export(runtime: Runtime) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    resident_id = add_resident(runtime, "+262692000001", name="Mme Grondin")
    callback_id = ask_callback(runtime, resident_id, topic="cej")
    note = "Rappelée : rendez-vous pris mardi"
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        open_list = browser.get("/admin/callbacks").text
        assert f'<label for="note-{callback_id}">Note (facultative)' in open_list
        done = browser.follow(browser.post(f"/admin/callbacks/{callback_id}/done", {"note": f"  {note}  "}))
        assert f"n° {callback_id} est marquée comme rappelée" in done.text and note not in done.text
        handled = browser.get("/admin/callbacks", params={"status": "done"}).text
        assert f"Note : {note}" in handled
        assert_accessible(handled)
        assert f"Note : {note}" in browser.get(f"/admin/residents/{resident_id}").text
        exported = browser.post(f"/admin/residents/{resident_id}/export", {"asked": "oui"})
    (request,) = json.loads(exported.content)["callback_requests"]
    assert request["handled_note"] == note and request["status"] == "done" and request["topic"] == "cej"
    assert request["handled_at"] == runtime.clock.now().isoformat()
    with runtime.db.transaction() as session:
        stored = session.get(CallbackRequest, callback_id)
        assert stored is not None and stored.handled_note == note
        (event,) = audit.list_events(session, audit.AuditFilter(action=audit.CALLBACK_HANDLED))
    assert (event.actor_id, event.detail) == (agent.id, {"note": True})  # that there is one, not what it says


def test_a_note_too_long_is_refused_beside_its_field_and_kept(runtime: Runtime) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    resident_id = add_resident(runtime, "+262692000001", name="Mme Grondin")
    callback_id = ask_callback(runtime, resident_id)
    note = "x" * (callbacks.NOTE_MAX + 1)
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        refused = browser.post(f"/admin/callbacks/{callback_id}/done", {"note": note})
    assert refused.status_code == 400
    assert f"La note fait {callbacks.NOTE_MAX + 1} caractères : raccourcissez-la à {callbacks.NOTE_MAX}" in refused.text
    assert f'id="note-{callback_id}-error"' in refused.text and 'aria-invalid="true"' in refused.text
    assert f">{note}</textarea>" in refused.text and refused.text.startswith("<!doctype html>")
    assert_accessible(refused.text)
    with runtime.db.transaction() as session:
        stored = session.get(CallbackRequest, callback_id)
        assert stored is not None and (stored.status, stored.handled_note) == ("open", None)
        assert audit.list_events(session, audit.AuditFilter(action=audit.CALLBACK_HANDLED)) == []
