"""Residents in /admin: a staff member sees those of their districts only, finds one by district, name or the
end of their number, reads their history; export and erase on request; each look and action audited."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from relai_bot.services import audit, residents, staff_residents
from relai_bot.services.errors import NotFound
from relai_bot.store.models import APPOINTMENT_STATUSES, Appointment, Broadcast, OutboxMessage, Resident, id_of
from relai_bot.web.admin.templates import APPOINTMENT_STATUS_NAMES
from relai_bot.wiring import Runtime
from tests.web.admin_support import admin_browser, make_account
from tests.web.residents_support import add_resident, ask_callback, book, booked_places
from tests.web.test_admin_routes import assert_accessible

NUMBER = "+262692123456"


def test_staff_see_the_residents_of_their_districts_only(runtime: Runtime) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    mine = add_resident(runtime, NUMBER, name="Mme Grondin", age="18-25", situation="beneficiaire_rsa", goal="emploi")
    other = add_resident(runtime, "+262692999888", district="pichette", name="M. Hoarau")
    nowhere = add_resident(runtime, "4242", channel="telegram", district=None, name="Sans Quartier")
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        listing = browser.get("/admin/residents")
        assert listing.status_code == 200
        assert "Mme Grondin" in listing.text and "M. Hoarau" not in listing.text and "Sans Quartier" not in listing.text
        assert (
            "18 à 25 ans" in listing.text and "Je touche le RSA" in listing.text and "Trouver un emploi" in listing.text
        )
        assert NUMBER not in listing.text and "0692 12 34 56" not in listing.text  # the number: on the detail only
        assert "1 habitant" in listing.text
        detail = browser.get(f"/admin/residents/{mine}")
        assert detail.status_code == 200 and "0692 12 34 56" in detail.text
        for hidden in (other, nowhere, 999_999):  # guessing ids: the same page, exist or not
            for path in (f"/admin/residents/{hidden}", f"/admin/residents/{hidden}/erase"):
                refused = browser.get(path)
                assert refused.status_code == 404 and "Page introuvable" in refused.text, path
                assert "Hoarau" not in refused.text and "Sans Quartier" not in refused.text
            assert browser.post(f"/admin/residents/{hidden}/export", {"asked": "oui"}).status_code == 404
            assert browser.post(f"/admin/residents/{hidden}/erase", {"asked": "oui"}).status_code == 404
        out_of_reach = browser.get("/admin/residents", params={"district": "pichette"})
        assert out_of_reach.status_code == 400 and "Choisissez un quartier dans la liste" in out_of_reach.text
    with runtime.db.transaction() as session:
        assert session.get(Resident, other) is not None and session.get(Resident, nowhere) is not None


def test_admins_see_every_resident_and_filter_by_district(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    add_resident(runtime, NUMBER, name="Mme Grondin")
    add_resident(runtime, "+262692999888", district="pichette", name="M. Hoarau")
    nowhere = add_resident(runtime, "4242", channel="telegram", district=None)
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        everyone = browser.get("/admin/residents").text
        assert "Mme Grondin" in everyone and "M. Hoarau" in everyone and "3 habitants" in everyone
        assert "4242" not in everyone  # a chat id is never shown
        pichette = browser.get("/admin/residents", params={"district": "pichette"}).text
        assert "M. Hoarau" in pichette and "Mme Grondin" not in pichette
        assert browser.get(f"/admin/residents/{nowhere}").status_code == 200


def test_the_list_is_paged_newest_activity_first(runtime: Runtime) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    for i in range(staff_residents.PAGE_SIZE + 2):
        add_resident(runtime, f"+2626921{i:05d}", name=f"Personne {i:02d}", seen_minutes_ago=i)
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        first = browser.get("/admin/residents").text
        assert first.index("Personne 00") < first.index("Personne 01") and "Personne 51" not in first
        assert "page 1 sur 2" in first and 'href="/admin/residents?page=2"' in first
        second = browser.get("/admin/residents", params={"page": "2"}).text
        assert "Personne 50" in second and "Personne 51" in second and "Personne 00" not in second


def test_export_gives_the_residents_own_copy_and_is_audited_without_their_name(runtime: Runtime) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    resident_id = add_resident(runtime, NUMBER, name="Mme Grondin", goal="formation")
    ask_callback(runtime, resident_id)
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        unconfirmed = browser.post(f"/admin/residents/{resident_id}/export", {})
        assert unconfirmed.status_code == 400 and "Cochez la case" in unconfirmed.text
        response = browser.post(f"/admin/residents/{resident_id}/export", {"asked": "oui"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"] == f'attachment; filename="habitant-{resident_id}.json"'
    data = json.loads(response.content)
    with runtime.db.transaction() as session:
        assert data == residents.export_resident(session, resident_id, runtime.settings.timezone)
        (event,) = audit.list_events(session, audit.AuditFilter(action=audit.DATA_EXPORTED))
    assert data["resident"]["goal"] == "formation" and data["addresses"] == [{"channel": "sms", "address": NUMBER}]
    assert (event.actor_id, event.target) == (agent.id, f"resident {resident_id}")
    assert "Grondin" not in json.dumps(event.detail) + event.target and "692" not in json.dumps(event.detail)


def test_erase_after_confirmation_deletes_and_gives_the_place_back(runtime: Runtime) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    resident_id = add_resident(runtime, NUMBER, name="Mme Grondin")
    slot_id = book(runtime, resident_id)
    ask_callback(runtime, resident_id)
    assert booked_places(runtime, slot_id) == 1
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        detail = browser.get(f"/admin/residents/{resident_id}").text
        assert "(1 à venir)" in detail and "<td>Prévu</td>" in detail
        confirm = browser.get(f"/admin/residents/{resident_id}/erase")
        assert confirm.status_code == 200 and "1 à venir" in confirm.text
        assert_accessible(confirm.text)
        refused = browser.post(f"/admin/residents/{resident_id}/erase", {})
        assert refused.status_code == 400 and 'aria-invalid="true"' in refused.text
        with runtime.db.transaction() as session:
            assert session.get(Resident, resident_id) is not None
        done = browser.follow(browser.post(f"/admin/residents/{resident_id}/erase", {"asked": "oui"}))
        assert f"n° {resident_id} sont effacées" in done.text
        assert browser.get(f"/admin/residents/{resident_id}").status_code == 404
    assert booked_places(runtime, slot_id) == 0
    with runtime.db.transaction() as session:
        assert session.get(Resident, resident_id) is None
        (event,) = audit.list_events(session, audit.AuditFilter(action=audit.DATA_ERASED))
    assert event.target == f"resident {resident_id}" and event.detail == {}


def test_the_detail_page_is_accessible(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    resident_id = add_resident(runtime, NUMBER, name="Mme Grondin", age="26-29")
    book(runtime, resident_id)
    ask_callback(runtime, resident_id, topic="cej")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        detail = browser.get(f"/admin/residents/{resident_id}")
        unconfirmed = browser.post(f"/admin/residents/{resident_id}/export", {})
    assert detail.status_code == 200 and "26 à 29 ans" in detail.text and "le matin" in detail.text
    assert "sujet : Contrat d&#39;engagement jeune" in detail.text
    assert_accessible(detail.text)
    assert_accessible(unconfirmed.text)


def test_an_adviser_reaches_no_resident(runtime: Runtime) -> None:
    adviser = make_account(runtime, "conseil@mairie.re", "adviser")
    resident_id = add_resident(runtime, NUMBER)
    with runtime.db.transaction() as session:
        assert staff_residents.list_residents(session, adviser).total == 0
        try:
            staff_residents.get_resident(session, adviser, resident_id)
        except NotFound:
            pass
        else:
            raise AssertionError("an adviser reached a resident")


def test_staff_find_a_resident_by_name_or_the_end_of_their_number(runtime: Runtime) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    grondin = add_resident(runtime, NUMBER, name="Mme Grondin")
    add_resident(runtime, "+262692555000", name="M. Payet")
    by_callback = add_resident(runtime, "7001", channel="telegram", name="Mlle Técher")
    ask_callback(runtime, by_callback, phone="+262693447788")
    add_resident(runtime, "+262692773456", district="pichette", name="M. Grondin de Pichette")
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        by_name = browser.get("/admin/residents", params={"name": "gRONdin"}).text
        assert "Mme Grondin" in by_name and "M. Payet" not in by_name and "Pichette" not in by_name
        assert "1 habitant" in by_name and 'value="gRONdin"' in by_name
        by_digits = browser.get("/admin/residents", params={"phone": "34 56"}).text
        assert f'href="/admin/residents/{grondin}"' in by_digits
        assert "M. Grondin de Pichette" not in by_digits  # out of reach
        assert "Mlle Técher" in browser.get("/admin/residents", params={"phone": "7788"}).text  # call-back number
        assert "0 habitant" in browser.get("/admin/residents", params={"phone": "0000"}).text
        both = browser.get("/admin/residents", params={"name": "payet", "phone": "3456"}).text
        assert "0 habitant" in both
        for vague in ("56", "12345678901", "06a2"):
            refused = browser.get("/admin/residents", params={"phone": vague})
            assert (
                refused.status_code == 400
                and "Écrivez les derniers chiffres du numéro : de 4 à 10 chiffres" in refused.text
            )
            assert 'aria-invalid="true"' in refused.text
        no_search = browser.get("/admin/residents", params={"name": "%"}).text  # a wildcard is a character
        assert "0 habitant" in no_search
    with runtime.db.transaction() as session:
        events = audit.list_events(session, audit.AuditFilter(action=audit.RESIDENTS_SEARCHED))
    assert len(events) == 6  # the refused searches are not run
    assert all(e.actor_id == agent.id and e.target == "residents" for e in events)
    details = [e.detail for e in reversed(events)]
    assert details[0] == {"by": ["name"], "found": 1} and details[1] == {"by": ["phone"], "found": 1}
    assert details[4] == {"by": ["name", "phone"], "found": 0}
    assert "3456" not in json.dumps(details) and "rondin" not in json.dumps(details)


def test_the_search_keeps_its_criteria_from_page_to_page(runtime: Runtime) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    for i in range(staff_residents.PAGE_SIZE + 1):
        add_resident(runtime, f"+2626921{i:05d}", name=f"Personne {i:02d}", seen_minutes_ago=i)
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        first = browser.get("/admin/residents", params={"name": "personne", "district": "saint-laurent"}).text
        assert 'href="/admin/residents?page=2&amp;district=saint-laurent&amp;name=personne"' in first


def test_the_residents_page_shows_their_history_without_message_bodies(runtime: Runtime) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    resident_id = add_resident(runtime, NUMBER, name="Mme Grondin")
    book(runtime, resident_id)
    book(runtime, resident_id)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        first, second = session.exec(select(Appointment).order_by(Appointment.id)).all()  # type: ignore[arg-type]
        first.starts_at, first.ends_at, first.status = now - timedelta(days=7), now - timedelta(days=7), "attended"
        second.status = "service_cancelled"
        broadcast = Broadcast(
            text="Texte de la diffusion", title="Forum de l'emploi", created_by="agent", created_at=now
        )
        session.add_all([first, second, broadcast])
        session.flush()
        session.add(
            OutboxMessage(
                key=f"broadcast:{broadcast.id}:{resident_id}",
                kind="broadcast",
                resident_id=resident_id,
                broadcast_id=broadcast.id,
                channel="sms",
                address=NUMBER,
                body="Le corps du message envoyé",
                status="delivered",
                due_at=now,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
                sent_at=now,
            )
        )
        broadcast_id = id_of(broadcast)
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        page = browser.get(f"/admin/residents/{resident_id}")
    assert page.status_code == 200
    text = page.text
    assert "2 rendez-vous, les plus récents d'abord (0 à venir)" in text
    assert text.index("<td>Annulé par le service</td>") < text.index("<td>Venu</td>")  # the latest first
    assert f'href="/admin/broadcasts/{broadcast_id}">Forum de l&#39;emploi</a>' in text and "remis" in text
    assert "Le corps du message" not in text and "Texte de la diffusion" not in text
    assert_accessible(text)
    with runtime.db.transaction() as session:
        (event,) = audit.list_events(session, audit.AuditFilter(action=audit.RESIDENT_VIEWED))
    assert (event.actor_id, event.target, event.detail) == (agent.id, f"resident {resident_id}", {})


@pytest.mark.parametrize("status", APPOINTMENT_STATUSES)
def test_every_appointment_status_has_a_french_name(status: str) -> None:
    assert APPOINTMENT_STATUS_NAMES[status]
    assert set(APPOINTMENT_STATUS_NAMES) == set(APPOINTMENT_STATUSES)
