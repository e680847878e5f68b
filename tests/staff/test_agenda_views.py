"""The agenda's read side: whose appointments an account reaches, local days and weeks (Indian/Reunion, not
UTC), cancelled ones hidden on request, earlier appointments and call-back number, and the past ones still
without a status, newest first."""

from __future__ import annotations

from datetime import date, timedelta

from relai_bot.clock import FrozenClock
from relai_bot.services import booking
from relai_bot.services.errors import NotFound
from relai_bot.staff import agenda_views
from relai_bot.store.models import Appointment
from relai_bot.wiring import Runtime
from tests.agenda_support import TZ, appointment_at, local
from tests.web.admin_support import make_account
from tests.web.residents_support import add_resident, ask_callback


def ids(found: agenda_views.Agenda) -> list[int]:
    return [item.id for item in found.items]


def test_each_role_reaches_its_own_agenda(any_runtime: Runtime) -> None:
    runtime = any_runtime
    admin = make_account(runtime, "admin@mairie.re", "admin")
    payet = make_account(runtime, "conseil@mairie.re", "adviser")  # linked to adviser "payet"
    centre = make_account(runtime, "agent@mairie.re", "staff", districts=["centre-ville"])
    pichette = make_account(runtime, "autre@mairie.re", "staff", districts=["pichette"])
    resident = add_resident(runtime, "+262692000001")
    day = local(2026, 12, 3, 8, 30)
    own_centre = appointment_at(runtime, resident, day, venue="hotel-de-ville")
    own_elsewhere = appointment_at(runtime, resident, day + timedelta(hours=1), venue="annexe-ravine-a-malheur")
    other_centre = appointment_at(
        runtime, resident, day + timedelta(hours=2), adviser="hoarau", venue="mediatheque-heva"
    )
    by_phone = appointment_at(runtime, resident, day + timedelta(hours=3), adviser="hoarau", venue="rdv-telephone")
    period = agenda_views.period_of(date(2026, 12, 3), TZ, week=False)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        seen = {
            a.login: ids(agenda_views.agenda(session, a, period, now=now)) for a in (admin, payet, centre, pichette)
        }
    assert seen == {
        "admin@mairie.re": [own_centre, own_elsewhere, other_centre, by_phone],
        "conseil@mairie.re": [own_centre, own_elsewhere],
        "agent@mairie.re": [own_centre, other_centre],  # the venues of their district, whoever the adviser
        "autre@mairie.re": [],
    }


def test_a_day_and_a_week_are_local_days(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re", "admin")
    resident = add_resident(runtime, "+262692000001")
    # 23:30 on Thursday and 00:15 on Friday in La Réunion are the same UTC day (19:30 and 20:15)
    late = appointment_at(runtime, resident, local(2026, 12, 3, 23, 30))
    early = appointment_at(runtime, resident, local(2026, 12, 4, 0, 15))
    monday = appointment_at(runtime, resident, local(2026, 11, 30, 0, 15))
    sunday = appointment_at(runtime, resident, local(2026, 12, 6, 23, 30))
    next_monday = appointment_at(runtime, resident, local(2026, 12, 7, 0, 15))
    now = runtime.clock.now()
    with runtime.db.transaction() as session:

        def shown(day: date, week: bool) -> list[int]:
            return ids(agenda_views.agenda(session, admin, agenda_views.period_of(day, TZ, week=week), now=now))

        assert shown(date(2026, 12, 3), False) == [late]
        assert shown(date(2026, 12, 4), False) == [early]
        assert shown(date(2026, 12, 3), True) == [monday, late, early, sunday]
        assert shown(date(2026, 12, 6), True) == [monday, late, early, sunday]  # Sunday ends the week
        assert shown(date(2026, 12, 7), True) == [next_monday]
        week = agenda_views.agenda(session, admin, agenda_views.period_of(date(2026, 12, 3), TZ, week=True), now=now)
    days = week.by_day()
    assert [d for d, _ in days] == [date(2026, 11, 30) + timedelta(days=n) for n in range(7)]
    assert [[i.id for i in items] for _, items in days] == [[monday], [], [], [late], [early], [], [sunday]]


def test_cancelled_ones_are_hidden_on_request_and_counted(runtime: Runtime) -> None:
    admin = make_account(runtime, "admin@mairie.re", "admin")
    resident = add_resident(runtime, "+262692000001")
    kept = appointment_at(runtime, resident, local(2026, 12, 3, 8, 30))
    cancelled = appointment_at(runtime, resident, local(2026, 12, 3, 9, 15))
    period = agenda_views.period_of(date(2026, 12, 3), TZ, week=False)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        booking.cancel_appointment(session, appointment_id=cancelled, resident_id=resident, now=now)
    with runtime.db.transaction() as session:
        hidden = agenda_views.agenda(session, admin, period, now=now)
        shown = agenda_views.agenda(session, admin, period, now=now, hide_cancelled=False)
    assert (ids(hidden), hidden.hidden_cancelled) == ([kept], 1)
    assert (ids(shown), shown.hidden_cancelled) == ([kept, cancelled], 0)
    assert [i.status for i in shown.items] == ["booked", "cancelled"] and shown.items[1].allowed == ()


def test_an_appointment_shows_the_resident_their_history_and_call_back_number(
    runtime: Runtime, clock: FrozenClock
) -> None:
    payet = make_account(runtime, "conseil@mairie.re", "adviser")
    resident = add_resident(
        runtime,
        "+262692000001",
        name="Marie",
        age="18-25",
        situation="demandeur_emploi",
        goal="emploi",
        district="pichette",
    )
    before = appointment_at(runtime, resident, local(2026, 11, 20, 9), adviser="hoarau", venue="mediatheque-heva")
    coming = appointment_at(runtime, resident, local(2026, 12, 3, 8, 30), scheme="cej", channel="telegram")
    later = appointment_at(runtime, resident, local(2026, 12, 10, 8, 30))
    ask_callback(runtime, resident, phone="+262692111111")
    clock.advance(minutes=1)
    ask_callback(runtime, resident, phone=None)  # asked by SMS: the number is their SMS address
    with runtime.db.transaction() as session:
        item = agenda_views.appointment_detail(session, payet, coming, now=runtime.clock.now())
        # another adviser's appointment is out of reach, like one that does not exist
        for hidden in (before, 999_999):
            try:
                agenda_views.appointment_detail(session, payet, hidden, now=runtime.clock.now())
            except NotFound:
                pass
            else:
                raise AssertionError(f"appointment {hidden} should be out of reach")
    assert (item.first_name, item.age_bracket, item.situation, item.goal) == (
        "Marie",
        "18-25",
        "demandeur_emploi",
        "emploi",
    )
    assert (item.scheme, item.channel, item.venue, item.adviser) == (
        "Contrat d'engagement jeune",
        "telegram",
        "Hôtel de ville de La Possession",
        "Mme Payet",
    )
    assert item.district == "Pichette" and item.confirmed_at is None and item.status == "booked" and not item.past
    assert item.allowed == ("service_cancelled", "excused")
    assert [(e.starts_at, e.scheme, e.status) for e in item.earlier] == [
        (local(2026, 11, 20, 9), "Parcours emploi compétences", "booked")
    ]
    assert item.callback_phone == "0692 00 00 01" and later not in (e.starts_at for e in item.earlier)


def test_past_ones_without_a_status_newest_first(any_runtime: Runtime) -> None:
    runtime = any_runtime
    payet = make_account(runtime, "conseil@mairie.re", "adviser")
    admin = make_account(runtime, "admin@mairie.re", "admin")
    resident = add_resident(runtime, "+262692000001")
    now = runtime.clock.now()  # Tuesday 1 December, 10:00 local
    oldest = appointment_at(runtime, resident, local(2026, 11, 26, 8, 30))
    newest = appointment_at(runtime, resident, local(2026, 11, 30, 8, 30))
    middle = appointment_at(runtime, resident, local(2026, 11, 27, 8, 30))
    seen = appointment_at(runtime, resident, local(2026, 11, 27, 10, 0))
    appointment_at(runtime, resident, local(2026, 12, 1, 9, 30))  # started, not ended: not yet to fill in
    appointment_at(runtime, resident, local(2026, 12, 3, 8, 30))  # to come
    appointment_at(runtime, resident, local(2026, 11, 30, 9, 30), adviser="hoarau", venue="mediatheque-heva")
    with runtime.db.transaction() as session:
        appointment = session.get(Appointment, seen)
        assert appointment is not None
        appointment.status = "attended"
        session.add(appointment)
    with runtime.db.transaction() as session:
        items, total = agenda_views.unstatused_past(session, payet, now)
        assert agenda_views.unstatused_count(session, admin, now) == 4
        assert agenda_views.unstatused_count(session, payet, now) == total == 3
    assert [i.id for i in items] == [newest, middle, oldest]
    assert all(i.past and i.allowed == ("attended", "no_show", "excused") for i in items)
