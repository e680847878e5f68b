"""Opening hours, absences and slots in /admin, per role: an adviser their own, staff the venues of their
districts, administrators all (staff/agenda_access). The demo seed: Mme Payet receives at the town hall
(centre-ville) on Mondays and Thursdays, at Moulin Joli on Fridays; M. Hoarau by phone on Mondays."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import pytest
from sqlmodel import Session, col, select

from relai_bot.services import booking, waitlist
from relai_bot.services.residents import create_resident
from relai_bot.store.models import Adviser, AuditEvent, Opening, Slot, Venue, id_of
from relai_bot.wiring import Runtime
from tests.web.admin_support import Staff, admin_browser, make_account
from tests.web.test_admin_routes import assert_accessible

TOWN_HALL_DISTRICT = "centre-ville"


def ids(session: Session) -> tuple[int, int, int, int]:
    payet = id_of(session.exec(select(Adviser).where(Adviser.code == "payet")).one())
    hoarau = id_of(session.exec(select(Adviser).where(Adviser.code == "hoarau")).one())
    town_hall = id_of(session.exec(select(Venue).where(Venue.code == "hotel-de-ville")).one())
    moulin_joli = id_of(session.exec(select(Venue).where(Venue.code == "centre-social-moulin-joli")).one())
    return payet, hoarau, town_hall, moulin_joli


def opening_of(session: Session, adviser: int, weekday: int) -> Opening:
    return session.exec(select(Opening).where(Opening.adviser_id == adviser, Opening.weekday == weekday)).one()


def form(adviser: int, venue: int, **changes: str) -> dict[str, object]:
    values: dict[str, object] = {
        "adviser": str(adviser),
        "venue": str(venue),
        "kind": "weekly",
        "weekday": "5",
        "on_date": "",
        "start": "09:00",
        "end": "12:00",
        "slot_minutes": "60",
        "capacity": "1",
    }
    return values | changes


def slot_at(runtime: Runtime, session: Session, adviser: int, day: date, at: time) -> Slot:
    starts = datetime.combine(day, at, tzinfo=runtime.settings.tz).astimezone(UTC)
    return session.exec(select(Slot).where(Slot.adviser_id == adviser, Slot.starts_at == starts)).one()


def booked_resident(runtime: Runtime, session: Session, slot_id: int, name: str, address: str) -> int:
    resident = create_resident(session, "telegram", address, runtime.clock.now())
    resident.display_name = name
    session.add(resident)
    booking.book_slot(
        session,
        resident_id=id_of(resident),
        slot_id=slot_id,
        scheme_id=None,
        channel="telegram",
        now=runtime.clock.now(),
    )
    return id_of(resident)


def staff_browser(browser: Staff, runtime: Runtime) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=[TOWN_HALL_DISTRICT])
    assert browser.log_in("agent@mairie.re").status_code == 303


def test_each_role_sees_the_openings_it_reaches(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re", "admin")
    make_account(runtime, "agent@mairie.re", "staff", districts=[TOWN_HALL_DISTRICT])
    make_account(runtime, "payet@mairie.re", "adviser")  # linked to Mme Payet
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        everything = browser.get("/admin/openings").text
        browser.post("/admin/logout")
        browser.log_in("agent@mairie.re")
        staff = browser.get("/admin/openings")
        browser.post("/admin/logout")
        browser.log_in("payet@mairie.re")
        own = browser.get("/admin/openings").text
    assert staff.status_code == 200
    assert_accessible(staff.text)
    assert "M. Hoarau" in everything and "Mme Lebon" in everything and "Rendez-vous par téléphone" in everything
    # Staff of centre-ville: the town hall and the médiathèque, not Moulin Joli nor the phone line
    assert "Hôtel de ville" in staff.text and "Médiathèque" in staff.text
    assert "Moulin Joli" not in staff.text and "Mme Lebon" not in staff.text
    assert "Mme Payet" in own and "M. Hoarau" not in own and "Moulin Joli" in own
    # The week table: a row per day, the hours in French
    assert re.search(r"<th scope=\"row\"[^>]*>Lundi</th>\s*<td>8 h 30 – 11 h 30</td>", own)


def test_staff_add_an_opening_at_their_venue_and_its_slots_are_there_at_once(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        payet, _hoarau, town_hall, moulin_joli = ids(session)
    with admin_browser(runtime) as browser:
        staff_browser(browser, runtime)
        new = browser.get("/admin/openings/new")
        assert new.status_code == 200
        assert_accessible(new.text)
        assert "Moulin Joli" not in new.text  # not a venue of theirs
        refused = browser.post("/admin/openings/new", form(payet, moulin_joli))
        assert refused.status_code == 400 and "Vous ne gérez pas ce lieu" in refused.text
        invalid = browser.post("/admin/openings/new", form(payet, town_hall, end="08:00", capacity="0"))
        assert invalid.status_code == 400
        assert_accessible(invalid.text)
        assert "Le formulaire contient 2 erreurs" in invalid.text
        assert 'id="end" name="end" type="time" value="08:00"' in invalid.text and 'aria-invalid="true"' in invalid.text
        saved = browser.follow(browser.post("/admin/openings/new", form(payet, town_hall)))
        assert "L&#39;horaire est créé" in saved.text and "Samedi" in saved.text
    with runtime.db.transaction() as session:
        assert slot_at(runtime, session, payet, date(2026, 12, 5), time(11)).capacity == 1
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "opening.created")).one()
        assert event.detail["venue_id"] == town_hall


def test_a_one_off_group_session(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re", "admin")
    with runtime.db.transaction() as session:
        payet, _hoarau, town_hall, _moulin_joli = ids(session)
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        values = form(payet, town_hall, kind="once", on_date="2026-12-19", start="14:00", end="16:00")
        page = browser.follow(browser.post("/admin/openings/new", values | {"slot_minutes": "120", "capacity": "15"}))
        assert "Une seule fois" in page.text and "Samedi 19/12/2026" in page.text and "15 (réunion)" in page.text
        past = browser.post("/admin/openings/new", values | {"on_date": "2026-11-28"})
        assert past.status_code == 400 and "Cette date est passée" in past.text
    with runtime.db.transaction() as session:
        assert slot_at(runtime, session, payet, date(2026, 12, 19), time(14)).capacity == 15


def test_an_adviser_edits_their_own_hours_only(runtime: Runtime) -> None:
    make_account(runtime, "payet@mairie.re", "adviser")
    with runtime.db.transaction() as session:
        payet, hoarau, _town_hall, _moulin_joli = ids(session)
        monday = opening_of(session, payet, 0)
        others = opening_of(session, hoarau, 0)
    with admin_browser(runtime) as browser:
        browser.log_in("payet@mairie.re")
        edit = browser.get(f"/admin/openings/{monday.id}/edit")
        assert edit.status_code == 200
        assert_accessible(edit.text)
        assert "M. Hoarau" not in edit.text
        assert browser.get(f"/admin/openings/{others.id}/edit").status_code == 404
        assert browser.post(f"/admin/openings/{others.id}/delete").status_code == 404
        not_hers = form(hoarau, monday.venue_id, weekday="0", start="08:30", end="10:00")
        assert browser.post(f"/admin/openings/{monday.id}/edit", not_hers).status_code == 400
        mine = form(payet, monday.venue_id, weekday="0", start="08:30", end="10:00", slot_minutes="45")
        saved = browser.follow(browser.post(f"/admin/openings/{monday.id}/edit", mine))
        assert "L&#39;horaire est modifié" in saved.text and "8 h 30 – 10 h" in saved.text
    with runtime.db.transaction() as session:
        tz = runtime.settings.tz
        mondays = session.exec(select(Slot.starts_at).where(Slot.adviser_id == payet)).all()
        assert {s.astimezone(tz).time() for s in mondays if s.astimezone(tz).weekday() == 0} == {
            time(8, 30),
            time(9, 15),
        }
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "opening.updated")).one()


def test_deleting_hours_keeps_a_booked_slot_listed_outside_the_hours(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        payet, _hoarau, _town_hall, _moulin_joli = ids(session)
        monday = opening_of(session, payet, 0)
        slot = slot_at(runtime, session, payet, date(2026, 12, 7), time(9, 15))
        booked_resident(runtime, session, id_of(slot), "Josiane", "2001")
    with admin_browser(runtime) as browser:
        staff_browser(browser, runtime)
        confirm = browser.get(f"/admin/openings/{monday.id}/delete")
        assert confirm.status_code == 200
        assert_accessible(confirm.text)
        listed = browser.follow(browser.post(f"/admin/openings/{monday.id}/delete"))
        assert "L&#39;horaire est supprimé" in listed.text
        assert "Rendez-vous hors des horaires" in listed.text and f'href="/admin/slots/{slot.id}"' in listed.text
        detail = browser.get(f"/admin/slots/{slot.id}")
        assert detail.status_code == 200
        assert_accessible(detail.text)
        assert "Josiane" in detail.text and "réservé" in detail.text and "hors des horaires" in detail.text
    with runtime.db.transaction() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "opening.deleted")).one()


def test_a_slot_shows_its_waitlist_and_offers(runtime: Runtime) -> None:
    make_account(runtime, "payet@mairie.re", "adviser")
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        payet, hoarau, _town_hall, _moulin_joli = ids(session)
        slot = slot_at(runtime, session, payet, date(2026, 12, 7), time(8, 30))
        booked_resident(runtime, session, id_of(slot), "Josiane", "2001")
        waiting = create_resident(session, "telegram", "2002", now)
        waiting.display_name = "Teddy"
        session.add(waiting)
        waitlist.join(session, resident_id=id_of(waiting), channel="telegram", now=now, slot_id=id_of(slot))
        other = session.exec(select(Slot).where(Slot.adviser_id == hoarau).order_by(col(Slot.starts_at))).first()
        assert other is not None
    with admin_browser(runtime) as browser:
        browser.log_in("payet@mairie.re")
        page = browser.get(f"/admin/slots/{slot.id}")
        assert page.status_code == 200
        assert "Teddy" in page.text and "attend" in page.text and "ce créneau" in page.text
        assert "1 réservée sur 1" in page.text
        assert browser.get(f"/admin/slots/{other.id}").status_code == 404  # M. Hoarau's
        assert browser.get("/admin/slots/999999").status_code == 404


@pytest.mark.parametrize("role", ["admin", "staff", "adviser"])
def test_the_absence_pages_are_accessible(runtime: Runtime, role: str) -> None:
    make_account(runtime, "someone@mairie.re", role, districts=[TOWN_HALL_DISTRICT] if role == "staff" else None)
    with admin_browser(runtime) as browser:
        browser.log_in("someone@mairie.re")
        for path in ("/admin/absences", "/admin/absences/new"):
            page = browser.get(path)
            assert page.status_code == 200
            assert_accessible(page.text)
        new = browser.get("/admin/absences/new").text
    # Staff: the advisers who receive at their venues (not Mme Lebon, by phone only); an adviser: themself
    assert ("Mme Lebon" in new) == (role == "admin")
    assert ("M. Hoarau" in new) == (role != "adviser")
    assert "Mme Payet" in new


def test_an_absence_moves_the_appointments_and_reports_it(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        payet, _hoarau, _town_hall, _moulin_joli = ids(session)
        lebon = id_of(session.exec(select(Adviser).where(Adviser.code == "lebon")).one())  # by phone only
        slot = slot_at(runtime, session, payet, date(2026, 12, 7), time(9, 15))
        booked_resident(runtime, session, id_of(slot), "Josiane", "2001")
    with admin_browser(runtime) as browser:
        staff_browser(browser, runtime)
        refused = browser.post("/admin/absences/new", {"adviser": str(lebon), "start_date": "2026-12-07"})
        assert refused.status_code == 400 and "vous ne gérez pas celui-ci" in refused.text
        invalid = browser.post(
            "/admin/absences/new", {"adviser": str(payet), "start_date": "2026-12-08", "end_date": "2026-12-07"}
        )
        assert invalid.status_code == 400 and "Le retour doit venir après le départ" in invalid.text
        assert_accessible(invalid.text)
        report = browser.post(
            "/admin/absences/new", {"adviser": str(payet), "start_date": "2026-12-07", "reason": "formation"}
        )
        assert report.status_code == 200
        assert_accessible(report.text)
        assert "1 rendez-vous déplacé, 0 annulé ; chaque habitant est prévenu." in report.text
        listed = browser.get("/admin/absences")
        assert "formation" in listed.text and "le lundi 7 décembre, toute la journée" in listed.text
        with runtime.db.transaction() as session:
            assert session.get(Slot, slot.id).booked == 0  # type: ignore[union-attr]
            absence_id = session.exec(select(AuditEvent).where(AuditEvent.action == "absence.created")).one().target
        gone = browser.follow(browser.post(f"/admin/{absence_id.replace(':', 's/')}/delete"))
        assert "L&#39;absence est supprimée" in gone.text and "Aucune absence" in gone.text
    with runtime.db.transaction() as session:
        assert slot_at(runtime, session, payet, date(2026, 12, 7), time(8, 30)).closed_at is None
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "absence.deleted")).one()
