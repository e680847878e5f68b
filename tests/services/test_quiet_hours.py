"""Quiet hours, Sundays and La Réunion's public holidays; broadcasts' audience and the weekly cap."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import select
from typer.testing import CliRunner

from relai_bot.cli import app
from relai_bot.clock import FrozenClock
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.sending.limits import ChannelLimits
from relai_bot.services import broadcasts, outbox
from relai_bot.services.errors import NotFound
from relai_bot.services.quiet_hours import held_until, is_rest_day, next_opening
from relai_bot.store.models import Broadcast, ChannelAddress, OutboxMessage, Resident
from relai_bot.time_settings import parse_window
from relai_bot.wiring import Runtime
from tests.delivery_support import CountingSender, add_residents, statuses

TZ = ZoneInfo("Indian/Reunion")
WINDOW = parse_window("08:00-20:00")
FAST = {"telegram": ChannelLimits(rate=1000, chat_interval=0)}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "bulk", "expected"),
    [
        (local(2026, 12, 1, 10, 0), True, None),  # Tuesday morning
        (local(2026, 12, 1, 7, 59), True, local(2026, 12, 1, 8, 0)),
        (local(2026, 12, 1, 20, 0), True, local(2026, 12, 2, 8, 0)),  # 20:00 is already quiet
        (local(2026, 12, 5, 21, 0), True, local(2026, 12, 7, 8, 0)),  # Saturday night -> Monday
        (local(2026, 12, 5, 21, 0), False, local(2026, 12, 6, 8, 0)),  # a reminder may go on Sunday
        (local(2026, 12, 6, 12, 0), True, local(2026, 12, 7, 8, 0)),  # Sunday noon
        (local(2026, 12, 24, 20, 30), True, local(2026, 12, 26, 8, 0)),  # Christmas
        (local(2027, 12, 18, 12, 0), True, None),  # Saturday 18 December 2027
        (local(2027, 12, 18, 20, 0), True, local(2027, 12, 21, 8, 0)),  # Sunday 19, then 20 December (Réunion)
        (local(2027, 12, 20, 10, 0), False, None),  # 20 December: reminders still go
    ],
)
def test_next_opening(now: datetime, bulk: bool, expected: datetime | None) -> None:
    assert next_opening(now, TZ, WINDOW, bulk=bulk) == expected


def test_the_rules_by_kind() -> None:
    night = local(2026, 12, 2, 6, 30)
    assert held_until("broadcast", night, TZ, WINDOW) == local(2026, 12, 2, 8, 0)
    assert held_until("waitlist_offer", night, TZ, WINDOW) == local(2026, 12, 2, 8, 0)
    # a reminder of the same day's appointment passes; one of tomorrow's waits
    assert held_until("reminder", night, TZ, WINDOW, appointment_start=local(2026, 12, 2, 8, 30)) is None
    assert held_until("reminder", night, TZ, WINDOW, appointment_start=local(2026, 12, 3, 8, 30)) == local(
        2026, 12, 2, 8, 0
    )
    assert held_until("digest", night, TZ, WINDOW, staff=True) is None  # advisers are staff
    assert held_until("broadcast", local(2026, 12, 6, 12, 0), TZ, parse_window("off")) is None


def test_rest_days_include_the_20th_of_december() -> None:
    assert is_rest_day(local(2027, 12, 20, 12, 0).astimezone(TZ).date())
    assert is_rest_day(local(2026, 12, 6, 12, 0).astimezone(TZ).date())  # a Sunday
    assert not is_rest_day(local(2026, 12, 7, 12, 0).astimezone(TZ).date())


def test_bad_windows_are_refused() -> None:
    for bad in ("8-20", "20:00-08:00", "08:00-24:00", "sometimes"):
        with pytest.raises(ValueError):
            parse_window(bad)


# -- broadcasts -------------------------------------------------------------------------------------
def people(runtime: Runtime) -> dict[str, int]:
    """One resident in each situation, all in Saint-Laurent; returns their ids by situation."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        ok, no, stopped, unreachable, console = (
            add_residents(session, 1, now, first_address=100 + i)[0] for i in range(5)
        )
        session.get(Resident, no).opportunities = False  # type: ignore[union-attr]
        session.get(Resident, stopped).stopped_at = now  # type: ignore[union-attr]
        session.get(Resident, unreachable).unreachable_at = now  # type: ignore[union-attr]
        address = session.exec(select(ChannelAddress).where(ChannelAddress.resident_id == console)).one()
        address.channel = "console"
        (elsewhere,) = add_residents(session, 1, now, district="moulin-joli", first_address=200)
    return {
        "ok": ok,
        "no": no,
        "stopped": stopped,
        "unreachable": unreachable,
        "console": console,
        "elsewhere": elsewhere,
    }


def test_a_broadcast_goes_to_residents_who_said_yes_and_can_be_reached(runtime: Runtime) -> None:
    ids = people(runtime)
    with runtime.db.transaction() as session:
        sent = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["Saint Laurent"], text="Forum de l'emploi samedi"),
            created_by="test",
            now=runtime.clock.now(),
            per_week=3,
        )
        recipients = [r.resident_id for r in session.exec(select(OutboxMessage))]
    assert sent.recipients == 1 and recipients == [ids["ok"]]
    assert sent.excluded == {"no_channel": 1, "no_opportunities": 1, "stopped": 1, "unreachable": 1}
    with runtime.db.transaction() as session, pytest.raises(NotFound):
        broadcasts.resolve_districts(session, ["Atlantis"])


def test_the_weekly_cap_at_enqueue_time(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        add_residents(session, 2, now)
    counts = []
    for n in range(4):
        with runtime.db.transaction() as session:
            counts.append(
                broadcasts.create_broadcast(
                    session,
                    broadcasts.BroadcastDraft(districts=["saint-laurent"], text=f"n° {n}"),
                    created_by="t",
                    now=now,
                    per_week=3,
                ).recipients
            )
    assert counts == [2, 2, 2, 0]
    runtime.clock.advance(days=7, seconds=1)  # type: ignore[attr-defined]
    with runtime.db.transaction() as session:
        # Still waiting a week later (never sent): they are about to reach the residents, so they count
        waiting = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent"], text="still"),
            created_by="t",
            now=runtime.clock.now(),
            per_week=3,
        )
        assert waiting.recipients == 0
        # Sent a week and a second ago: they no longer count
        session.execute(
            update(OutboxMessage).where(OutboxMessage.status == "pending").values(status="sent", sent_at=now)
        )
    with runtime.db.transaction() as session:
        later = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent"], text="next week"),
            created_by="t",
            now=runtime.clock.now(),
            per_week=3,
        )
    assert later.recipients == 2


async def test_broadcasts_wait_for_the_sending_window_and_respect_the_cap(runtime: Runtime) -> None:
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    clock.set(local(2026, 12, 5, 21, 0))  # Saturday evening
    now = clock.now()
    with runtime.db.transaction() as session:
        (rid,) = add_residents(session, 1, now)
        # four broadcasts already enqueued (e.g. by two staff at once): the cap is checked again as they go
        for n in range(4):
            outbox.enqueue(
                session,
                key=f"b{n}",
                kind="broadcast",
                channel="telegram",
                address="10000",
                now=now,
                body=f"n° {n}",
                resident_id=rid,
            )
    sender = CountingSender()
    worker = DeliveryWorker(runtime, {"telegram": sender}, limits=FAST, poll_seconds=0.01)
    await worker.drain()
    assert statuses(runtime) == {"pending": 4} and sender.calls == 0
    with runtime.db.transaction() as session:
        assert {r.next_attempt_at for r in session.exec(select(OutboxMessage))} == {local(2026, 12, 7, 8, 0)}
    clock.set(local(2026, 12, 6, 15, 0))  # Sunday afternoon: still held
    await worker.drain()
    assert sender.calls == 0
    clock.set(local(2026, 12, 7, 8, 0))
    await worker.drain()
    assert sender.calls == 3
    with runtime.db.transaction() as session:
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()  # type: ignore[arg-type]
    assert [(r.status, r.error) for r in rows][-1] == ("skipped", "weekly_cap")
    await worker.stop()


def test_the_broadcast_command(sqlite_url: str) -> None:
    env = {"RELAI_DATABASE_URL": sqlite_url}
    runner = CliRunner()
    assert runner.invoke(app, ["seed", "--demo"], env=env).exit_code == 0
    from relai_bot.config import load_settings
    from relai_bot.store.db import Database

    db = Database(sqlite_url)
    with db.transaction() as session:
        add_residents(session, 3, datetime.now(UTC))
    result = runner.invoke(app, ["broadcast", "--district", "Saint-Laurent", "--text", "Atelier CV mardi"], env=env)
    assert result.exit_code == 0, result.output
    # outside the sending window (this test runs on the wall clock) the command says when it will start
    starts = r"(; starts \d{4}-\d\d-\d\d \d\d:\d\d)?"
    assert re.fullmatch(f"broadcast 1: 3 recipients enqueued; left out: nobody{starts}\n", result.stdout)
    again = runner.invoke(app, ["broadcast", "--district", "Nulle Part", "--text", "x"], env=env)
    assert again.exit_code == 2 and "district 'Nulle Part'" in again.stderr
    with db.transaction() as session:
        assert session.get(Broadcast, 1).districts == ["saint-laurent"]  # type: ignore[union-attr]
        assert len(session.exec(select(OutboxMessage)).all()) == 3
    db.dispose()
    assert load_settings(database_url=sqlite_url).broadcasts_per_week == 3
