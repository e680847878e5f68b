"""The dashboard's figures (services/dashboard.py) against counts made directly in the database with plain SQL
written here, for the demo data plus activity made through the services; test residents left out; staff
limited to their districts; the scheme events' recording and retention."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, text
from sqlmodel import Session, select

from relai_bot.services import accounts, dashboard, retention, scheme_events
from relai_bot.store.models import District, Resident, SchemeEvent, id_of
from relai_bot.store.types import UTCDateTime
from relai_bot.wiring import Runtime, seed_demo_activity
from tests.services.dashboard_support import make_activity
from tests.web.admin_support import make_account

REUNION = ZoneInfo("Indian/Reunion")
# Monday 2 November to Sunday 20 December 2026: ISO weeks 45 to 51, written out by hand (the demo activity
# goes three weeks back from Tuesday 1 December and one week on)
FIRST, LAST = date(2026, 11, 2), date(2026, 12, 20)
WEEKS = [datetime(2026, 11, 2, tzinfo=REUNION) + timedelta(weeks=n) for n in range(8)]


def sql(session: Session, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """Plain SQL; moments bound as the tables store them."""
    query = text(statement).bindparams(
        *[bindparam(name, type_=UTCDateTime()) for name, value in params.items() if isinstance(value, datetime)]
    )
    return [tuple(row) for row in session.execute(query, params).all()]


def one(session: Session, statement: str, **params: Any) -> int:
    ((value,),) = sql(session, statement, **params)
    return int(value or 0)


def figures(runtime: Runtime, account_email: str = "admin@mairie.re", wanted: tuple[int, ...] = ()) -> Any:
    with runtime.db.transaction() as session:
        account = accounts.find_account(session, account_email)
        assert account is not None
        scope = dashboard.scope_for(session, account, wanted)
        period = dashboard.Period(FIRST, LAST, runtime.settings.tz)
        return dashboard.compute(session, scope, period, runtime.clock.now())


def test_the_figures_match_counts_made_in_the_database(any_runtime: Runtime) -> None:
    """THE check: the demo data and its activity, plus what the services make here, counted twice."""
    runtime = any_runtime
    make_account(runtime, "admin@mairie.re")
    demo = seed_demo_activity(runtime)
    activity = make_activity(runtime)
    board = figures(runtime)
    now = runtime.clock.now()
    start, end = WEEKS[0], WEEKS[-1]
    with runtime.db.transaction() as session:
        # Residents by district and channel, and each district's distinct total
        per_channel = sql(
            session,
            "SELECT coalesce(d.name, ''), a.channel, count(DISTINCT r.id) FROM resident r"
            " JOIN channel_address a ON a.resident_id = r.id LEFT JOIN district d ON d.id = r.district_id"
            " WHERE r.test = false AND r.created_at < :end GROUP BY d.name, a.channel",
            end=end,
        )
        totals = sql(
            session,
            "SELECT coalesce(d.name, ''), count(*) FROM resident r LEFT JOIN district d ON d.id = r.district_id"
            " WHERE r.test = false AND r.created_at < :end GROUP BY d.name",
            end=end,
        )
        assert {(row.district, channel): n for row in board.residents for channel, n in row.by_channel.items()} == {
            (name, channel): n for name, channel, n in per_channel
        }
        assert {row.district: row.total for row in board.residents} == dict(totals)
        assert sum(row.total for row in board.residents) == demo.residents + 8  # the test resident left out

        # New contacts and bookings per ISO week
        for name, table, column, found in (
            ("new", "resident r", "r.created_at", board.new_contacts),
            ("booked", "appointment x JOIN resident r ON r.id = x.resident_id", "x.booked_at", board.bookings),
        ):
            expected = [
                one(
                    session,
                    f"SELECT count(*) FROM {table} WHERE r.test = false AND {column} >= :a AND {column} < :b",
                    a=WEEKS[n],
                    b=WEEKS[n + 1],
                )
                for n in range(len(WEEKS) - 1)
            ]
            assert [w.count for w in found] == expected, name
            assert [w.week.number for w in found] == [45, 46, 47, 48, 49, 50, 51]
        assert sum(w.count for w in board.bookings) > 6  # the demo's and the activity's

        # No-show rate per week, split by a delivered reminder (a reminder row sent or delivered)
        reminded = (
            "EXISTS (SELECT 1 FROM outbox_message o WHERE o.appointment_id = x.id"
            " AND o.kind = 'reminder' AND o.status IN ('sent', 'delivered'))"
        )
        counted = 0
        for n, week in enumerate(board.no_shows):
            rows = sql(
                session,
                f"SELECT {reminded} AS reminded, x.status, count(*) FROM appointment x"
                " JOIN resident r ON r.id = x.resident_id"
                " WHERE r.test = false AND x.status IN ('attended', 'no_show') AND x.starts_at < :now"
                f" AND x.starts_at >= :a AND x.starts_at < :b GROUP BY {reminded}, x.status",
                now=now,
                a=WEEKS[n],
                b=WEEKS[n + 1],
            )
            expected = {(bool(r), status): count for r, status, count in rows}
            counted += sum(expected.values())
            assert (week.seen_reminded, week.no_show_reminded, week.seen_not_reminded, week.no_show_not_reminded) == (
                expected.get((True, "attended"), 0),
                expected.get((True, "no_show"), 0),
                expected.get((False, "attended"), 0),
                expected.get((False, "no_show"), 0),
            )
        assert sum(w.counted for w in board.no_shows) == counted > 4
        assert any(w.seen_reminded + w.no_show_reminded for w in board.no_shows)
        assert any(w.seen_not_reminded + w.no_show_not_reminded for w in board.no_shows)

        # Broadcast delivery by the recipient's district
        rows = sql(
            session,
            "SELECT coalesce(d.name, ''), CASE WHEN o.status IN ('pending', 'sending') THEN 'waiting'"
            " ELSE o.status END AS outcome, count(*)"
            " FROM outbox_message o JOIN resident r ON r.id = o.resident_id"
            " LEFT JOIN district d ON d.id = r.district_id"
            " WHERE o.kind = 'broadcast' AND r.test = false AND o.created_at >= :a AND o.created_at < :b"
            " GROUP BY d.name, outcome",
            a=start,
            b=end,
        )
        assert {(row.district, k): n for row in board.broadcasts for k, n in row.outcomes.items() if n} == {
            (name, outcome): n for name, outcome, n in rows
        }
        assert {row.district for row in board.broadcasts} == {"Saint-Laurent", "Pichette"}

        # The funnel: distinct residents shown, opened, booked, seen, per scheme
        events = dict(
            ((code, kind), n)
            for code, kind, n in sql(
                session,
                "SELECT s.code, e.kind, count(DISTINCT e.resident_id) FROM scheme_event e"
                " JOIN scheme s ON s.id = e.scheme_id JOIN resident r ON r.id = e.resident_id"
                " WHERE r.test = false AND e.created_at >= :a AND e.created_at < :b GROUP BY s.code, e.kind",
                a=start,
                b=end,
            )
        )
        booked = {
            code: (b, s)
            for code, b, s in sql(
                session,
                "SELECT s.code, count(DISTINCT x.resident_id),"
                " count(DISTINCT CASE WHEN x.status = 'attended' THEN x.resident_id END)"
                " FROM appointment x JOIN scheme s ON s.id = x.scheme_id JOIN resident r ON r.id = x.resident_id"
                " WHERE r.test = false AND x.booked_at >= :a AND x.booked_at < :b GROUP BY s.code",
                a=start,
                b=end,
            )
        }
        schemes_count = one(session, "SELECT count(*) FROM scheme")
        assert len(board.funnel) == schemes_count
        for row in board.funnel:
            assert (row.shown, row.opened) == (events.get((row.code, "shown"), 0), events.get((row.code, "opened"), 0))
            assert (row.booked, row.seen) == booked.get(row.code, (0, 0)), row.code
        assert sum(row.shown for row in board.funnel) > 14 and sum(row.seen for row in board.funnel) > 2
    assert activity.test_resident in activity.residents


def test_the_activity_gives_the_expected_figures(runtime: Runtime) -> None:
    """The same activity without the demo's: the figures worked out by hand."""
    make_account(runtime, "admin@mairie.re")
    make_activity(runtime)
    board = figures(runtime)
    saint_laurent = next(row for row in board.residents if row.district == "Saint-Laurent")
    assert saint_laurent.total == 3 and saint_laurent.by_channel == {"sms": 2, "telegram": 2}
    assert [w.count for w in board.new_contacts] == [0, 0, 0, 0, 7, 1, 0]
    assert [w.count for w in board.bookings] == [0, 0, 0, 0, 6, 0, 0]
    week_49 = board.no_shows[4]  # a reminder failed for the two no-shows, reached the two seen
    assert (week_49.seen_reminded, week_49.no_show_reminded, week_49.seen_not_reminded) == (2, 0, 0)
    assert (week_49.no_show_not_reminded, week_49.rate_reminded, week_49.rate_not_reminded) == (2, 0.0, 1.0)
    assert week_49.rate == 0.5 and sum(w.counted for w in board.no_shows) == 4  # excused and unset: neither
    cej = next(row for row in board.funnel if row.code == "cej")
    assert (cej.shown, cej.opened, cej.booked, cej.seen) == (7, 5, 3, 1)
    outcomes = {row.district: row.outcomes for row in board.broadcasts}
    assert outcomes["Saint-Laurent"] == {"delivered": 1, "sent": 1, "failed": 1, "skipped": 0, "waiting": 0}


def test_test_residents_are_left_out_of_every_figure(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    activity = make_activity(runtime)
    before = figures(runtime)
    with runtime.db.transaction() as session:  # every resident becomes a test resident
        for resident in session.exec(select(Resident)):
            resident.test = True
            session.add(resident)
    after = figures(runtime)
    assert before.residents and sum(w.count for w in before.bookings) and before.broadcasts
    assert after.residents == [] and after.broadcasts == []
    assert all(w.count == 0 for w in after.new_contacts + after.bookings)
    assert all(w.counted == 0 for w in after.no_shows)
    assert all((r.shown, r.opened, r.booked, r.seen) == (0, 0, 0, 0) for r in after.funnel)
    with runtime.db.transaction() as session:
        test_resident = session.get(Resident, activity.test_resident)
        assert scheme_events.record(session, test_resident, "opened", [1], "sms", runtime.clock.now()) == 0


def test_staff_see_only_their_districts(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    make_activity(runtime)
    with runtime.db.transaction() as session:
        ids = {d.code: id_of(d) for d in session.exec(select(District))}
    mine = figures(runtime, "agent@mairie.re")
    assert [row.district for row in mine.residents] == ["Saint-Laurent"]
    assert [row.district for row in mine.broadcasts] == ["Saint-Laurent"]
    assert mine.districts == ["Saint-Laurent"] and not mine.every_district
    # Asking for another district gives nothing of it; asking for theirs and another gives theirs
    assert figures(runtime, "agent@mairie.re", (ids["pichette"],)).residents == []
    assert figures(runtime, "agent@mairie.re", (ids["pichette"], ids["saint-laurent"])) == mine
    everything = figures(runtime)
    assert {row.district for row in everything.residents} == {"Saint-Laurent", "Pichette", "Moulin Joli", ""}
    pichette = figures(runtime, wanted=(ids["pichette"],))
    assert [row.district for row in pichette.residents] == ["Pichette"]
    assert sum(w.count for w in mine.bookings) + sum(w.count for w in pichette.bookings) < sum(
        w.count for w in everything.bookings
    )  # the resident without a district and the one of Moulin-Joli are the admin's only


def test_weeks_are_local_iso_weeks_cut_by_the_period() -> None:
    weeks = dashboard.Period(date(2026, 12, 3), date(2026, 12, 15), REUNION).weeks()
    assert [(w.code, w.first_day, w.last_day, w.partial) for w in weeks] == [
        ("2026-S49", date(2026, 12, 3), date(2026, 12, 6), True),
        ("2026-S50", date(2026, 12, 7), date(2026, 12, 13), False),
        ("2026-S51", date(2026, 12, 14), date(2026, 12, 15), True),
    ]
    assert weeks[1].starts_at == datetime(2026, 12, 7, tzinfo=REUNION)
    assert weeks[1].ends_at.isoformat() == "2026-12-13T20:00:00+00:00"  # Monday 14, 00:00 in La Réunion


def test_scheme_events_go_with_the_retention_period(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re")
    make_activity(runtime)
    with runtime.db.transaction() as session:
        recorded = len(session.exec(select(SchemeEvent)).all())
        assert recorded == 7 * 2 + 5
        counts = retention.purge_expired(session, runtime.clock.now() + timedelta(days=400), 12)
        assert counts["scheme_events"] == recorded
        assert session.exec(select(SchemeEvent)).first() is None
