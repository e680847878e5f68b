"""Advisers' morning digest, nightly retention, and the engine's wiring into `serve`."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from sqlmodel import func, select

from relai_bot.clock import FrozenClock
from relai_bot.delivery.ticks import digest_tick, retention_tick
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.scheduler import build_scheduler
from relai_bot.services import booking, outbox, reminders
from relai_bot.services.retention import months_before
from relai_bot.store.models import AdviserAddress, Appointment, MessageLog, OutboxMessage, Resident, Slot
from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime
from tests.delivery_support import CountingSender, add_residents
from tests.services.test_reminders import FAST, local


def count(runtime: Runtime, model: type) -> int:
    with runtime.db.transaction() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def book_today(runtime: Runtime, resident_ids: list[int]) -> list[Appointment]:
    """Book Tuesday's first free slots of the first adviser who has some, one per resident."""
    with runtime.db.transaction() as session:
        slots = session.exec(
            select(Slot).where(Slot.starts_at > runtime.clock.now() + timedelta(hours=1)).order_by(Slot.starts_at)
        ).all()
        adviser_id = slots[0].adviser_id
        mine = [s for s in slots if s.adviser_id == adviser_id and s.starts_at < local(2026, 12, 2, 0, 0)]
        return [
            booking.book_slot(
                session,
                resident_id=rid,
                slot_id=slot.id,
                scheme_id=None,
                channel="telegram",
                now=runtime.clock.now(),  # type: ignore[arg-type]
            )
            for rid, slot in zip(resident_ids, mine, strict=False)
        ]


async def test_the_morning_digest_lists_the_day_and_the_confirmations(runtime: Runtime) -> None:
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    clock.set(local(2026, 12, 1, 7, 0))
    with runtime.db.transaction() as session:
        ids = add_residents(session, 2, clock.now())
    appointments = book_today(runtime, ids)
    assert len(appointments) == 2
    with runtime.db.transaction() as session:
        reminders.confirm_appointment(
            session,
            appointment_id=appointments[0].id,
            resident_id=ids[0],
            now=clock.now(),  # type: ignore[arg-type]
        )
        adviser_id = session.get(Slot, appointments[0].slot_id).adviser_id  # type: ignore[union-attr]
    assert digest_tick(runtime) == 0  # the adviser has no linked account: nothing sent, a line in the log
    with runtime.db.transaction() as session:
        session.add(AdviserAddress(adviser_id=adviser_id, channel="telegram", address="777", created_at=clock.now()))
    clock.set(local(2026, 12, 1, 7, 30))
    assert digest_tick(runtime) == 1
    assert digest_tick(runtime) == 0  # once a day, however many instances run the job
    sender = CountingSender()
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()  # 7:30 is before the residents' quiet hours end; advisers get it anyway
    assert sender.sent == {"777": 1}
    with runtime.db.transaction() as session:
        body = session.exec(select(OutboxMessage.body).where(OutboxMessage.kind == "digest")).one()
    assert "Vos rendez-vous de ce mardi 1er décembre : 2." in body
    assert "A confirmé." in body and "Pas encore confirmé." in body and "Confirmés : 1 sur 2." in body
    await worker.stop()


def test_retention_deletes_what_is_older_than_twelve_months(runtime: Runtime) -> None:
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    start = clock.now()
    with runtime.db.transaction() as session:
        old, active = add_residents(session, 2, start)
        session.add(MessageLog(resident_id=active, channel="telegram", direction="in", body="x", created_at=start))
        outbox.enqueue(
            session, key="old", kind="broadcast", channel="telegram", address="10001", now=start, resident_id=active
        )
    (past,) = book_today(runtime, [active])
    clock.set(start + timedelta(days=366))
    with runtime.db.transaction() as session:
        session.get(Resident, active).last_seen_at = clock.now()  # type: ignore[union-attr]
        session.add(
            MessageLog(resident_id=active, channel="telegram", direction="in", body="y", created_at=clock.now())
        )
        row = session.exec(select(OutboxMessage)).one()
        row.status = "sent"
    counts = retention_tick(runtime)
    assert counts["inactive_residents"] == 1 and counts["messages"] == 1 and counts["appointments"] == 1
    assert counts["outbox_messages"] == 1
    with runtime.db.transaction() as session:
        assert session.get(Resident, old) is None and session.get(Resident, active) is not None
        assert session.get(Appointment, past.id) is None
        assert [m.body for m in session.exec(select(MessageLog))] == ["y"]
    assert retention_tick(runtime)["messages"] == 0


def test_months_are_calendar_months() -> None:
    assert months_before(local(2027, 3, 31, 12, 0), 1) == local(2027, 2, 28, 12, 0)
    assert months_before(local(2027, 1, 15, 12, 0), 12) == local(2026, 1, 15, 12, 0)


def test_the_scheduler_registers_every_job_in_one_place(runtime: Runtime) -> None:
    scheduler = build_scheduler(runtime)
    assert {job.id for job in scheduler.get_jobs()} == {
        "reminders",
        "waitlist",
        "purge_transient",
        "digest",
        "roll_slots",
        "retention",
    }
    digest = scheduler.get_job("digest")
    assert digest is not None and str(digest.trigger) == "cron[hour='7', minute='30']"


async def test_serve_starts_and_stops_the_outbox_worker(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        (rid,) = add_residents(session, 1, runtime.clock.now())
        outbox.enqueue(
            session,
            key="n",
            kind="notification",
            channel="telegram",
            address="10000",
            now=runtime.clock.now(),
            resident_id=rid,
        )
    sender = CountingSender()
    sender.routes = list  # type: ignore[attr-defined]  (a channel adapter: routes, start, stop, send)

    async def nothing() -> None:
        return None

    sender.start = nothing  # type: ignore[attr-defined]
    sender.stop = nothing  # type: ignore[attr-defined]
    app = create_app(runtime, with_scheduler=True, channels=[sender])  # type: ignore[list-item]
    async with app.router.lifespan_context(app):
        for _ in range(500):
            if sender.calls:
                break
            await asyncio.sleep(0.01)
    assert sender.sent == {"10000": 1}
    assert count(runtime, OutboxMessage) == 1


def test_link_adviser_command_then_the_digest_has_an_address(sqlite_url: str) -> None:
    from typer.testing import CliRunner

    from relai_bot.cli import app
    from relai_bot.config import load_settings
    from relai_bot.store.db import Database
    from relai_bot.store.models import AdviserAddress

    env = {"RELAI_DATABASE_URL": sqlite_url}
    runner = CliRunner()
    assert runner.invoke(app, ["seed", "--demo"], env=env).exit_code == 0
    result = runner.invoke(app, ["link-adviser", "payet", "--telegram", "424242"], env=env)
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, ["link-adviser", "payet", "--telegram", "434343"], env=env)
    assert again.exit_code == 0
    unknown = runner.invoke(app, ["link-adviser", "nobody", "--telegram", "1"], env=env)
    assert unknown.exit_code == 2 and "does not exist" in unknown.stderr
    db = Database(load_settings(database_url=sqlite_url).database_url)
    with db.transaction() as session:
        rows = session.exec(select(AdviserAddress)).all()
        assert [(r.channel, r.address) for r in rows] == [("telegram", "434343")]
    db.dispose()


def test_the_digest_leaves_out_the_simulators_test_residents(runtime: Runtime) -> None:
    from relai_bot.services.digest import adviser_day

    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    clock.set(local(2026, 12, 1, 7, 0))
    with runtime.db.transaction() as session:
        ids = add_residents(session, 2, clock.now())
        tester = session.get(Resident, ids[1])
        assert tester is not None
        tester.test = True  # booked through /admin/simulator
        session.add(tester)
    appointments = book_today(runtime, ids)
    with runtime.db.transaction() as session:
        adviser_id = session.get(Slot, appointments[0].slot_id).adviser_id  # type: ignore[union-attr]
        lines = adviser_day(session, adviser_id, date(2026, 12, 1), runtime.settings.tz)
    assert [line.resident_id for line in lines] == [ids[0]]
