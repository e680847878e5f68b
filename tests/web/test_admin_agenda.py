"""The agenda in /admin: the day and week views per role, the past ones without a status (and the banner on
every page), one appointment's page and its status and note forms, the CSV, and the adviser's feed page."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from relai_bot.clock import FrozenClock
from relai_bot.services import audit, booking
from relai_bot.store.models import Adviser, Appointment, Slot
from relai_bot.wiring import Runtime, seed_demo_activity
from tests.agenda_support import appointment_at, local
from tests.web.admin_support import Staff, admin_browser, make_account
from tests.web.residents_support import add_resident, ask_callback
from tests.web.test_admin_routes import assert_accessible

EMAILS = {"admin": "admin@mairie.re", "staff": "agent@mairie.re", "adviser": "conseil@mairie.re"}


@pytest.fixture
def people(runtime: Runtime) -> dict[str, int]:
    """Accounts for each role (the adviser is Mme Payet, the staff member works for the centre-ville) and
    today's appointments (Tuesday 1 December): Payet's at the town hall and at Ravine à Malheur, Hoarau's at
    the Médiathèque (centre-ville); a past one of Payet's without a status."""
    make_account(runtime, EMAILS["admin"], "admin")
    make_account(runtime, EMAILS["staff"], "staff", districts=["centre-ville"])
    make_account(runtime, EMAILS["adviser"], "adviser")
    marie = add_resident(runtime, "+262692000001", name="Marie", age="18-25", situation="demandeur_emploi")
    paul = add_resident(runtime, "+262692000002", name="Paul")
    jade = add_resident(runtime, "+262692000003", name="Jade")
    return {
        "marie": marie,
        "town_hall": appointment_at(runtime, marie, local(2026, 12, 1, 14, 0), scheme="cej"),
        "ravine": appointment_at(runtime, paul, local(2026, 12, 1, 15, 0), venue="annexe-ravine-a-malheur"),
        "heva": appointment_at(runtime, jade, local(2026, 12, 1, 16, 0), adviser="hoarau", venue="mediatheque-heva"),
        "past": appointment_at(runtime, marie, local(2026, 11, 30, 8, 30)),
    }


def signed_in(runtime: Runtime, browser: Staff, role: str) -> None:
    assert browser.log_in(EMAILS[role]).status_code == 303


@pytest.mark.parametrize(
    ("role", "names", "hidden"),
    [
        ("admin", ["Marie", "Paul", "Jade"], []),
        ("adviser", ["Marie", "Paul"], ["Jade", "M. Hoarau"]),
        ("staff", ["Marie", "Jade"], ["Paul", "Ravine à Malheur"]),
    ],
)
def test_today_s_agenda_per_role(
    runtime: Runtime, people: dict[str, int], role: str, names: list[str], hidden: list[str]
) -> None:
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, role)
        page = browser.get("/admin/agenda")
    assert page.status_code == 200
    text = page.text
    assert "mardi 1er décembre" in text and 'aria-current="date"' in text
    positions = [text.index(f">{name}<") for name in names]
    assert positions == sorted(positions)  # in time order
    assert all(f">{name}<" not in text for name in hidden[:1]) and all(h not in text for h in hidden[1:])
    assert "14 h – 14 h 45" in text and "Prévu" in text
    assert_accessible(text)


def test_the_week_view_and_the_links_around_a_day(runtime: Runtime, people: dict[str, int]) -> None:
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "adviser")
        week = browser.get("/admin/agenda", params={"day": "2026-12-02", "view": "week"})
        day = browser.get("/admin/agenda", params={"day": "2026-11-30"})
        wrong = browser.get("/admin/agenda", params={"day": "demain"})
    assert week.status_code == 200
    assert "semaine du lundi 30 novembre au dimanche 6 décembre" in week.text
    assert 'href="/admin/agenda?day=2026-11-25&amp;view=week"' in week.text  # the week before
    assert 'href="/admin/agenda?day=2026-12-09&amp;view=week"' in week.text
    assert week.text.count("<h2>") == 7 and "Aucun rendez-vous." in week.text
    assert all(f">{name}<" in week.text for name in ("Marie", "Paul"))
    assert_accessible(week.text)
    assert 'href="/admin/agenda?day=2026-11-29"' in day.text and 'href="/admin/agenda?day=2026-12-01"' in day.text
    assert "À renseigner" in day.text and "8 h 30 – 9 h 15" in day.text
    assert wrong.status_code == 400 and "AAAA-MM-JJ" in wrong.text and "mardi 1er décembre" in wrong.text


def test_cancelled_ones_are_hidden_until_asked_for(runtime: Runtime, people: dict[str, int]) -> None:
    with runtime.db.transaction() as session:
        booking.cancel_appointment(
            session, appointment_id=people["town_hall"], resident_id=people["marie"], now=runtime.clock.now()
        )
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "adviser")
        hidden = browser.get("/admin/agenda").text
        shown = browser.get("/admin/agenda", params={"annules": "1"}).text
    assert ">Marie<" not in hidden and "Afficher les rendez-vous annulés (1)" in hidden
    assert ">Marie<" in shown and "Annulé par l&#39;habitant" in shown and "Masquer les rendez-vous annulés" in shown


def test_the_banner_counts_past_ones_without_a_status_on_every_page(runtime: Runtime, people: dict[str, int]) -> None:
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "adviser")
        for path in ("/admin/", "/admin/password", "/admin/agenda"):
            text = browser.get(path).text
            assert '<a href="/admin/agenda/pending">1 rendez-vous passé sans statut</a>' in text, path
        pending = browser.get("/admin/agenda/pending")
        assert pending.status_code == 200 and "1 rendez-vous à renseigner, les plus récents d&#39;abord" in pending.text
        assert f'href="/admin/appointments/{people["past"]}"' in pending.text
        assert_accessible(pending.text)
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "staff")  # Payet's past one was at the town hall: centre-ville
        assert "1 rendez-vous passé sans statut" in browser.get("/admin/").text
    make_account(runtime, "loin@mairie.re", "staff", districts=["pichette"])
    with admin_browser(runtime) as browser:
        assert browser.log_in("loin@mairie.re").status_code == 303
        home = browser.get("/admin/").text
        assert "sans statut" not in home
        assert "Tous les rendez-vous passés ont un statut" in browser.get("/admin/agenda/pending").text


def test_an_appointment_page_shows_everything_and_only_the_statuses_allowed(
    runtime: Runtime, people: dict[str, int]
) -> None:
    ask_callback(runtime, people["marie"], phone="+262692111111")
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "adviser")
        coming = browser.get(f"/admin/appointments/{people['town_hall']}")
        past = browser.get(f"/admin/appointments/{people['past']}")
    assert coming.status_code == 200
    text = coming.text
    for fact in ("Marie", "Contrat d&#39;engagement jeune", "18 à 25 ans", "Je cherche un emploi", "SMS"):
        assert fact in text, fact
    assert "<dt>Langue</dt><dd>français</dd>" in text
    assert 'href="tel:0692111111"' in text and "Hôtel de ville de La Possession" in text
    assert re.findall(r'name="status" value="([a-z_]+)"', text) == ["service_cancelled", "excused"]
    assert "Aucun : c'est son premier rendez-vous." not in text  # the past one came before
    assert "Parcours emploi compétences : À renseigner" in text
    assert_accessible(text)
    assert re.findall(r'name="status" value="([a-z_]+)"', past.text) == ["attended", "no_show", "excused"]
    assert "le matin suivant à 9 h (sauf dimanche et jour férié)" in past.text


@pytest.mark.parametrize("role", ["adviser", "staff"])
def test_an_appointment_out_of_reach_is_not_found(runtime: Runtime, people: dict[str, int], role: str) -> None:
    out_of_reach = people["heva"] if role == "adviser" else people["ravine"]
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, role)
        browser.get("/admin/")  # (the sign-in's flash shown)
        missing = browser.get("/admin/appointments/999999")
        for path in (f"/admin/appointments/{out_of_reach}", f"/admin/appointments/{out_of_reach}/status"):
            hidden = browser.get(path) if not path.endswith("status") else browser.post(path, {"status": "attended"})
            assert hidden.status_code == 404, path
            assert hidden.text == missing.text  # the same page as for one that does not exist
        assert browser.post(f"/admin/appointments/{out_of_reach}/note", {"note": "x"}).status_code == 404
    with runtime.db.transaction() as session:
        appointment = session.get(Appointment, out_of_reach)
        assert appointment is not None and (appointment.status, appointment.adviser_note) == ("booked", None)


def test_marking_seen_with_a_note_and_a_no_show(runtime: Runtime, people: dict[str, int], clock: FrozenClock) -> None:
    clock.advance(hours=6)  # 16:00: the 14:00 and 15:00 ones are over
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "adviser")
        seen = browser.follow(browser.post(f"/admin/appointments/{people['town_hall']}/status", {"status": "attended"}))
        assert "Le rendez-vous est marqué « Venu »." in seen.text
        noted = browser.follow(
            browser.post(f"/admin/appointments/{people['town_hall']}/note", {"note": "CV à revoir, rappeler lundi"})
        )
        assert "La note est enregistrée." in noted.text and "CV à revoir, rappeler lundi</textarea>" in noted.text
        absent = browser.follow(browser.post(f"/admin/appointments/{people['ravine']}/status", {"status": "no_show"}))
        assert "marqué « Absent ». L&#39;habitant recevra mercredi 2 décembre à 9 h un message" in absent.text
        refused = browser.post(f"/admin/appointments/{people['ravine']}/status", {"status": "service_cancelled"})
        assert refused.status_code == 400 and "Choisissez un des statuts proposés" in refused.text
        too_long = browser.post(f"/admin/appointments/{people['ravine']}/note", {"note": "a" * 2001})
        assert too_long.status_code == 400 and "raccourcissez-la" in too_long.text
        assert_accessible(too_long.text)
        agenda = browser.get("/admin/agenda").text
        assert "Venu" in agenda and "Absent" in agenda
    with runtime.db.transaction() as session:
        town_hall = session.get(Appointment, people["town_hall"])
        ravine = session.get(Appointment, people["ravine"])
        assert town_hall is not None and ravine is not None
        assert (town_hall.status, town_hall.adviser_note) == ("attended", "CV à revoir, rappeler lundi")
        assert (ravine.status, ravine.adviser_note) == ("no_show", None)


def test_a_future_one_cancelled_by_the_service_says_what_happens_next(runtime: Runtime, people: dict[str, int]) -> None:
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "staff")
        done = browser.follow(
            browser.post(f"/admin/appointments/{people['town_hall']}/status", {"status": "service_cancelled"})
        )
    assert (
        "Le rendez-vous est annulé. L&#39;habitant est prévenu et la place est proposée à la liste d&#39;attente."
        in (done.text)
    )
    assert "Ce rendez-vous est annulé : son statut ne change plus." in done.text


def test_the_csv_holds_the_period_shown_and_no_phone_number(runtime: Runtime, people: dict[str, int]) -> None:
    ask_callback(runtime, people["marie"], phone="+262692111111")
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "adviser")
        day = browser.get("/admin/agenda.csv", params={"day": "2026-12-01"})
        week = browser.get("/admin/agenda.csv", params={"day": "2026-12-01", "view": "week"})
    assert day.status_code == 200 and day.headers["content-type"].startswith("text/csv")
    assert day.headers["content-disposition"] == 'attachment; filename="agenda-2026-12-01.csv"'
    rows = list(csv.DictReader(io.StringIO(day.text)))
    assert [(r["debut"], r["prenom"], r["statut"]) for r in rows] == [
        ("14:00", "Marie", "Prévu"),
        ("15:00", "Paul", "Prévu"),
    ]
    assert (
        rows[0]["dispositif"] == "Contrat d'engagement jeune" and rows[0]["lieu"] == "Hôtel de ville de La Possession"
    )
    assert "0692" not in day.text and "+262" not in day.text and "18-25" not in day.text
    assert len(list(csv.DictReader(io.StringIO(week.text)))) == 3  # with Monday's past one
    with runtime.db.transaction() as session:
        events = audit.list_events(session, audit.AuditFilter(action=audit.AGENDA_EXPORTED))
    assert [e.detail for e in events] == [
        {"from": "2026-11-30", "to": "2026-12-06", "rows": 3},
        {"from": "2026-12-01", "to": "2026-12-01", "rows": 2},
    ]


def test_an_adviser_creates_regenerates_and_revokes_their_feed(runtime: Runtime, people: dict[str, int]) -> None:
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "adviser")
        empty = browser.get("/admin/agenda/feed")
        assert empty.status_code == 200 and "Aucun lien pour l'instant." in empty.text
        assert_accessible(empty.text)
        created = browser.post("/admin/agenda/feed", {"action": "issue"})
        (first,) = re.findall(r"<code>(http://testserver/calendar/[A-Za-z0-9_-]{40,}\.ics)</code>", created.text)
        assert "Il ne sera plus affiché" in created.text
        again = browser.get("/admin/agenda/feed").text
        assert first not in again and "Un lien existe depuis le" in again
        assert browser.client.get(first.removeprefix("http://testserver")).status_code == 200
        second = re.findall(r"<code>(\S+)</code>", browser.post("/admin/agenda/feed", {"action": "issue"}).text)[0]
        assert browser.client.get(first.removeprefix("http://testserver")).status_code == 404
        assert browser.client.get(second.removeprefix("http://testserver")).status_code == 200
        gone = browser.post("/admin/agenda/feed", {"action": "revoke"})
        assert gone.status_code == 200 and "Aucun lien pour l'instant." in gone.text
        assert browser.client.get(second.removeprefix("http://testserver")).status_code == 404
    with runtime.db.transaction() as session:
        actions = [e.action for e in audit.list_events(session, audit.AuditFilter(action="agenda_feed"))]
        payet = session.exec(select(Adviser).where(Adviser.code == "payet")).one()
    assert actions == [audit.FEED_REVOKED, audit.FEED_REGENERATED, audit.FEED_CREATED]
    assert payet.ics_token_hash is None


def test_an_admin_manages_any_adviser_s_feed_and_staff_none(runtime: Runtime, people: dict[str, int]) -> None:
    with runtime.db.transaction() as session:
        hoarau = session.exec(select(Adviser).where(Adviser.code == "hoarau")).one()
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "admin")
        choose = browser.get("/admin/agenda/feed")
        assert choose.status_code == 200 and "M. Hoarau (France Travail)" in choose.text
        page = browser.get("/admin/agenda/feed", params={"adviser": hoarau.id})
        assert "Le lien de M. Hoarau" in page.text
        created = browser.post("/admin/agenda/feed", {"action": "issue", "adviser": str(hoarau.id)})
        assert "/calendar/" in created.text
        assert_accessible(created.text)
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "staff")
        assert browser.get("/admin/agenda/feed").status_code == 403
        assert 'href="/admin/agenda/feed"' not in browser.get("/admin/agenda").text


def test_an_adviser_sees_the_demo_appointments_and_their_banner(runtime: Runtime) -> None:
    """The README's promise: after the demo activity, Mme Payet's account shows her week and the past ones to
    fill in, as many as the database holds."""
    seed_demo_activity(runtime)
    make_account(runtime, EMAILS["adviser"], "adviser")
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        payet = session.exec(select(Adviser.id).where(Adviser.code == "payet")).one()
        unset = session.exec(
            select(func.count())
            .select_from(Appointment)
            .join(Slot, col(Slot.id) == Appointment.slot_id)
            .where(Slot.adviser_id == payet, Appointment.status == "booked", Appointment.ends_at <= now)
        ).one()
        this_week = session.exec(
            select(func.count())
            .select_from(Appointment)
            .join(Slot, col(Slot.id) == Appointment.slot_id)
            .where(
                Slot.adviser_id == payet,
                col(Appointment.status).not_in(("cancelled", "service_cancelled")),
                Appointment.starts_at >= local(2026, 11, 30, 0),
                Appointment.starts_at < local(2026, 12, 7, 0),
            )
        ).one()
    assert unset > 0 and this_week > 0
    with admin_browser(runtime) as browser:
        signed_in(runtime, browser, "adviser")
        week = browser.get("/admin/agenda", params={"view": "week"}).text
        pending = browser.get("/admin/agenda/pending").text
    assert week.count('href="/admin/appointments/') == this_week
    assert f"{unset} rendez-vous passé{'s' if unset > 1 else ''} sans statut" in week
    assert pending.count('href="/admin/appointments/') == unset
