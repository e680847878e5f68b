"""The dashboard's figures for 10,000 residents and 50,000 appointments (with their reminders, broadcast
messages and scheme events) over half a year.

    .venv/bin/python -m bench.bench_dashboard [--residents 10000] [--appointments 50000] [--runs 7]
                                              [--database sqlite|postgres]

Rows are inserted in bulk (fictional, random with a fixed seed); then services.dashboard.compute runs for an
administrator (every district, 26 weeks) and for one district, and the six charts are drawn (pygal). Prints
p50/p95 over the runs.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, select

from bench._common import percentiles, seeded_runtime
from relai_bot.services import dashboard
from relai_bot.store.models import (
    Adviser,
    Appointment,
    ChannelAddress,
    District,
    OutboxMessage,
    Resident,
    Scheme,
    SchemeEvent,
    Slot,
    Venue,
    id_of,
)
from relai_bot.web.admin import dashboard_tables
from relai_bot.wiring import Runtime

WEEKS = 26
CHUNK = 2_000
STATUSES = ("attended", "attended", "attended", "no_show", "excused", "cancelled", "booked")


def chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def fill(runtime: Runtime, residents: int, appointments: int, now: datetime) -> None:
    """Residents on one or two channels, slots, appointments, reminders, broadcast messages, scheme events."""
    rng = random.Random(42)
    start = now - timedelta(weeks=WEEKS)
    span = (now - start).total_seconds()

    def moment() -> datetime:
        return start + timedelta(seconds=rng.random() * span)

    with runtime.db.transaction() as session:
        districts = [id_of(d) for d in session.exec(select(District))]
        schemes = [id_of(s) for s in session.exec(select(Scheme))]
        adviser = id_of(session.exec(select(Adviser)).first())
        venue = id_of(session.exec(select(Venue)).first())
        first_id = _next_id(session, Resident)
        people = [
            {
                "id": first_id + n,
                "district_id": rng.choice(districts) if rng.random() > 0.05 else None,
                "language": "fr",
                "consent_at": (created := moment()),
                "created_at": created,
                "last_seen_at": created,
                "opportunities": True,
                "test": rng.random() < 0.01,
            }
            for n in range(residents)
        ]
        ids = [p["id"] for p in people]
        addresses = [
            {"resident_id": p["id"], "channel": channel, "address": f"{channel}-{p['id']}", "created_at": now}
            for p in people
            for channel in (("telegram", "sms") if p["id"] % 5 == 0 else (rng.choice(("telegram", "sms")),))
        ]
        slot_count = appointments // 5 + 1
        first_slot = _next_id(session, Slot)
        slots = []
        for n in range(slot_count):
            at = start + timedelta(minutes=30 * n)
            slots.append(
                {
                    "id": first_slot + n,
                    "adviser_id": adviser,
                    "venue_id": venue,
                    "starts_at": at,
                    "ends_at": at + timedelta(minutes=30),
                    "capacity": 5,
                    "booked": 0,
                }
            )
        first_appointment = _next_id(session, Appointment)
        booked = []
        for n in range(appointments):
            slot = slots[n % slot_count]
            booked.append(
                {
                    "id": first_appointment + n,
                    "resident_id": rng.choice(ids),
                    "slot_id": slot["id"],
                    "scheme_id": rng.choice(schemes),
                    "status": rng.choice(STATUSES),
                    "starts_at": slot["starts_at"],
                    "ends_at": slot["ends_at"],
                    "booked_at": slot["starts_at"] - timedelta(days=rng.randint(1, 10)),
                    "channel": "telegram",
                }
            )
        messages = [
            {
                "key": f"reminder:{a['id']}",
                "kind": "reminder",
                "priority": 0,
                "resident_id": a["resident_id"],
                "appointment_id": a["id"],
                "channel": "telegram",
                "address": "x",
                "body": "",
                "target_data": {},
                "status": rng.choice(("sent", "delivered", "failed", "skipped")),
                "due_at": a["starts_at"] - timedelta(days=1),
                "next_attempt_at": a["starts_at"] - timedelta(days=1),
                "created_at": a["booked_at"],
                "updated_at": a["booked_at"],
            }
            for a in booked
        ] + [
            {
                "key": f"broadcast:{n}",
                "kind": "broadcast",
                "priority": 5,
                "resident_id": resident_id,
                "channel": "sms",
                "address": "x",
                "body": "",
                "target_data": {},
                "status": rng.choice(("sent", "delivered", "failed", "skipped", "pending")),
                "due_at": (at := moment()),
                "next_attempt_at": at,
                "created_at": at,
                "updated_at": at,
            }
            for n, resident_id in enumerate(rng.sample(ids, min(len(ids), residents)))
        ]
        events = [
            {
                "scheme_id": rng.choice(schemes),
                "kind": kind,
                "resident_id": (who := rng.choice(ids)),
                "district_id": people[who - first_id]["district_id"],
                "channel": "telegram",
                "created_at": moment(),
            }
            for kind, count in (("shown", residents * 5), ("opened", residents))
            for _ in range(count)
        ]
        for model, rows in (
            (Resident, people),
            (ChannelAddress, addresses),
            (Slot, slots),
            (Appointment, booked),
            (OutboxMessage, messages),
            (SchemeEvent, events),
        ):
            for part in chunks(rows):
                session.execute(insert(model), part)
    if runtime.db.engine.dialect.name == "postgresql":  # the statistics a live database keeps up to date
        with runtime.db.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    print(
        f"filled: {len(people)} residents, {len(addresses)} addresses, {len(booked)} appointments, "
        f"{len(messages)} outbox rows, {len(events)} scheme events"
    )


def _next_id(session: Session, model: type[Any]) -> int:
    last = session.exec(select(model.id).order_by(model.id.desc()).limit(1)).first()
    return int(last or 0) + 1


def timed(runs: int, work: Any) -> list[float]:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--appointments", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    with seeded_runtime(args.database) as runtime:
        now = datetime.now(UTC)
        fill(runtime, args.residents, args.appointments, now)
        tz = runtime.settings.tz
        today = now.astimezone(tz).date()
        period = dashboard.Period(today - timedelta(weeks=WEEKS) + timedelta(days=1), today, tz)
        with runtime.db.transaction() as session:
            one_district = dashboard.Scope(frozenset({id_of(session.exec(select(District)).first())}))

        def compute(scope: dashboard.Scope) -> Any:
            def run() -> None:
                with runtime.db.transaction() as session:
                    dashboard.compute(session, scope, period, now)

            return run

        def charts() -> None:
            with runtime.db.transaction() as session:
                for name in dashboard_tables.BUILDERS:
                    dashboard_tables.build(name, session, dashboard.Scope(None), period, now).svg()

        print(f"database: {args.database}, period: {period.first_day} to {period.last_day} ({WEEKS} weeks)")
        print(f"every district : {percentiles(timed(args.runs, compute(dashboard.Scope(None))))}")
        print(f"one district   : {percentiles(timed(args.runs, compute(one_district)))}")
        print(f"page's 6 charts: {percentiles(timed(args.runs, charts))} (figures and SVG)")


if __name__ == "__main__":
    main()
