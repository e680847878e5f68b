"""An adviser's private calendar feed: GET /calendar/<token>.ics without a session, a valid iCalendar (read
back with icalendar) of their appointments from 30 days back to the booking horizon, cancelled ones left
out, nothing but the scheme, the venue and the first name; an unknown or revoked token is a 404."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar
from sqlmodel import select

from relai_bot.services import accounts, booking
from relai_bot.services.errors import NotFound
from relai_bot.staff import agenda_feed
from relai_bot.store.models import Adviser, Appointment
from relai_bot.wiring import Runtime
from tests.agenda_support import TZ, appointment_at, local
from tests.web.admin_support import admin_browser, make_account
from tests.web.residents_support import add_resident, ask_callback


def issue(runtime: Runtime, adviser: str = "payet") -> str:
    with runtime.db.transaction() as session:
        admin = accounts.find_account(session, "feeds@mairie.re")
    admin = admin or make_account(runtime, "feeds@mairie.re", "admin")
    with runtime.db.transaction() as session:
        adviser_id = session.exec(select(Adviser.id).where(Adviser.code == adviser)).one()
        return agenda_feed.issue_token(session, admin, adviser_id, now=runtime.clock.now())


def test_the_feed_is_a_calendar_of_the_adviser_s_appointments(runtime: Runtime) -> None:
    marie = add_resident(runtime, "+262692000001", name="Marie")
    anonymous = add_resident(runtime, "+262692000002")
    ask_callback(runtime, marie, phone="+262692111111")
    now = runtime.clock.now()  # Tuesday 1 December 2026, 10:00 local
    seen = appointment_at(runtime, marie, local(2026, 11, 5, 8, 30), scheme="cej")
    coming = appointment_at(runtime, anonymous, local(2026, 12, 3, 8, 30), scheme=None)
    appointment_at(runtime, marie, local(2026, 10, 30, 8, 30))  # more than 30 days ago
    appointment_at(runtime, marie, (now + timedelta(days=43)).astimezone(TZ))  # too far
    cancelled = appointment_at(runtime, anonymous, local(2026, 12, 4, 8, 30))
    appointment_at(runtime, marie, local(2026, 12, 3, 9, 30), adviser="hoarau", venue="mediatheque-heva")
    with runtime.db.transaction() as session:
        booking.cancel_appointment(session, appointment_id=cancelled, resident_id=anonymous, now=now)
    token = issue(runtime)
    with admin_browser(runtime) as browser:
        response = browser.client.get(f"/calendar/{token}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.headers["cache-control"] == "no-store"
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["x-wr-calname"]) == "Relai La Possession – Mme Payet"
    events = calendar.walk("VEVENT")
    assert [str(e["uid"]) for e in events] == [f"appointment-{seen}@relai-bot", f"appointment-{coming}@relai-bot"]
    assert [e.decoded("dtstart") for e in events] == [local(2026, 11, 5, 8, 30), local(2026, 12, 3, 8, 30)]
    assert [str(e["summary"]) for e in events] == [
        "Contrat d'engagement jeune – Hôtel de ville de La Possession – Marie",
        "Rendez-vous – Hôtel de ville de La Possession",
    ]
    assert str(events[0]["location"]) == "Hôtel de ville de La Possession"  # its address is not known: none shown
    assert b"0692" not in response.content and b"+262" not in response.content


def test_a_set_status_shows_in_the_summary(runtime: Runtime) -> None:
    marie = add_resident(runtime, "+262692000001", name="Marie")
    appointment_id = appointment_at(runtime, marie, local(2026, 11, 30, 8, 30))
    with runtime.db.transaction() as session:
        appointment = session.get(Appointment, appointment_id)
        assert appointment is not None
        appointment.status = "no_show"
        session.add(appointment)
    token = issue(runtime)
    with admin_browser(runtime) as browser:
        body = browser.client.get(f"/calendar/{token}.ics").content
    (event,) = Calendar.from_ical(body).walk("VEVENT")
    assert str(event["summary"]) == "[Absent] Parcours emploi compétences – Hôtel de ville de La Possession – Marie"


def test_an_unknown_regenerated_or_revoked_token_is_not_found(runtime: Runtime) -> None:
    first = issue(runtime)
    second = issue(runtime)  # the first one stops working
    admin = make_account(runtime, "admin@mairie.re", "admin")
    with admin_browser(runtime) as browser:
        assert browser.client.get(f"/calendar/{first}.ics").status_code == 404
        assert browser.client.get(f"/calendar/{second}.ics").status_code == 200
        assert browser.client.get("/calendar/pas-un-jeton.ics").status_code == 404
        with runtime.db.transaction() as session:
            adviser_id = session.exec(select(Adviser.id).where(Adviser.code == "payet")).one()
            assert agenda_feed.revoke_token(session, admin, adviser_id, now=runtime.clock.now())
        gone = browser.client.get(f"/calendar/{second}.ics")
        assert gone.status_code == 404 and gone.headers["cache-control"] == "no-store"
    with runtime.db.transaction() as session:
        adviser = session.exec(select(Adviser).where(Adviser.code == "payet")).one()
        assert adviser.ics_token_hash is None and second not in str(adviser.model_dump())


def test_only_the_adviser_or_an_admin_manages_a_feed(runtime: Runtime) -> None:
    payet = make_account(runtime, "conseil@mairie.re", "adviser")
    staff = make_account(runtime, "agent@mairie.re", "staff", districts=["centre-ville"])
    with runtime.db.transaction() as session:
        ids = dict(session.exec(select(Adviser.code, Adviser.id)).all())
        assert [a.code for a in agenda_feed.reachable_advisers(session, payet)] == ["payet"]
        assert agenda_feed.reachable_advisers(session, staff) == []
        token = agenda_feed.issue_token(session, payet, ids["payet"], now=runtime.clock.now())
        adviser = session.get(Adviser, ids["payet"])
        assert adviser is not None and adviser.ics_token_hash == agenda_feed.token_hash(token) != token
        for account, code in ((payet, "hoarau"), (staff, "payet")):
            try:
                agenda_feed.issue_token(session, account, ids[code], now=runtime.clock.now())
            except NotFound:
                continue
            raise AssertionError(f"{account.login} should not manage {code}'s feed")
