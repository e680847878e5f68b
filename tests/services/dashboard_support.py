"""Activity for the dashboard's tests, made through the services: residents on their channels (one of them a
test resident), bookings with schemes, reminders delivered or not, statuses, broadcasts and scheme events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session, select

from relai_bot.clock import FrozenClock
from relai_bot.services import appointment_status, booking, broadcasts, outbox, reminders, residents, scheme_events
from relai_bot.store.models import ChannelAddress, Resident, Scheme, id_of
from relai_bot.wiring import Runtime

# (channel, address, district code or None, test resident?)
PEOPLE = (
    ("sms", "+262692100001", "saint-laurent", False),
    ("sms", "+262692100002", "saint-laurent", False),
    ("telegram", "9100003", "saint-laurent", False),
    ("telegram", "9100004", "pichette", False),
    ("sms", "+262692100005", "pichette", False),
    ("telegram", "9100006", None, False),
    ("sms", "+262692100007", "saint-laurent", True),  # the simulator's: left out of everything
    ("sms", "+262692100008", "moulin-joli", False),
)


@dataclass
class Activity:
    residents: list[int] = field(default_factory=list)
    test_resident: int = 0
    appointments: list[int] = field(default_factory=list)


def make_activity(runtime: Runtime) -> Activity:
    """Eight residents over two weeks, bookings, reminders, then (a week later) statuses and a broadcast."""
    clock: FrozenClock = runtime.clock  # type: ignore[assignment]
    tz = runtime.settings.tz
    found = Activity()
    with runtime.db.transaction() as session:
        cej, pec = (_scheme(session, code) for code in ("cej", "pec"))
        for n, (channel, address, district, test) in enumerate(PEOPLE):
            now = clock.now() + timedelta(hours=n)
            resident = residents.create_resident(session, channel, address, now)
            if district is not None:
                residents.set_district(session, resident, district)
            residents.set_opportunities(session, resident, True, now)
            resident.test = test
            session.add(resident)
            session.flush()
            found.residents.append(id_of(resident))
            if test:
                found.test_resident = id_of(resident)
        # The first resident is on both channels (counts once in the district's total)
        session.add(
            ChannelAddress(
                resident_id=found.residents[0], channel="telegram", address="9100001", created_at=clock.now()
            )
        )
        for resident_id in found.residents:
            resident = session.get(Resident, resident_id)
            shown = scheme_events.record(session, resident, "shown", [cej, pec, cej], "sms", clock.now())
            assert shown == (0 if resident_id == found.test_resident else 2)  # once each scheme
        for resident_id in [*found.residents[:5], found.test_resident]:
            scheme_events.record(session, session.get(Resident, resident_id), "opened", [cej], "sms", clock.now())
        scheme_events.record(session, None, "shown", [cej], "sms", clock.now())  # before consent: nothing
    slots = _free_slots(runtime, 7)
    with runtime.db.transaction() as session:
        for n, resident_id in enumerate(found.residents[:7]):
            scheme = cej if n % 2 == 0 else pec
            appointment = booking.book_slot(
                session, resident_id=resident_id, slot_id=slots[n], scheme_id=scheme, channel="sms", now=clock.now()
            )
            found.appointments.append(id_of(appointment))
        reminders.schedule_reminders(session, clock.now(), tz, runtime.settings.reminder_schedule)
    clock.advance(days=1, hours=10)  # Wednesday evening: the day-before reminders are due
    _send_due(runtime, shift=0)
    clock.advance(days=8)
    with runtime.db.transaction() as session:
        # The reminders not sent in time (the "2 hours before") are of no use any more: skipped
        outbox.skip_pending(session, clock.now(), "expired", kind="reminder")
        # Seen, no-show, excused, seen, no-show, (none), the test resident's no-show
        for appointment_id, status in zip(
            found.appointments, ("attended", "no_show", "excused", "attended", "no_show", None, "no_show"), strict=True
        ):
            if status is not None:
                appointment_status.set_status(
                    session,
                    appointment_id=appointment_id,
                    status=status,
                    actor_id=None,
                    now=clock.now(),
                    tz=tz,
                    follow_up_at=runtime.settings.no_show_follow_up_at,
                )
        broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent", "pichette"], text="Forum de l'emploi samedi"),
            created_by="test",
            now=clock.now(),
            per_week=runtime.settings.broadcasts_per_week,
        )
        late = residents.create_resident(session, "sms", "+262692100009", clock.now())
        residents.set_district(session, late, "pichette")
        found.residents.append(id_of(late))
    _send_due(runtime, shift=1)
    return found


def _scheme(session: Session, code: str) -> int:
    return id_of(session.exec(select(Scheme).where(Scheme.code == code)).one())


def _free_slots(runtime: Runtime, count: int) -> list[int]:
    """Free slots of distinct times a few days on (a resident cannot book two at once)."""
    with runtime.db.transaction() as session:
        views = booking.free_slots(session, runtime.clock.now() + timedelta(days=2), limit=200)
        starts: dict[object, int] = {}
        for view in views:
            starts.setdefault(view.slot.starts_at, id_of(view.slot))
        assert len(starts) >= count
        return list(starts.values())[:count]


def _send_due(runtime: Runtime, *, shift: int) -> None:
    """What the outbox worker would do with the due rows, in turn (from `shift` on): confirmed delivered by
    the operator, failed, sent (no report)."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        rows = [
            row
            for channel in ("sms", "telegram")
            for row in outbox.claim(
                session, channel=channel, worker="test", now=now, lease=timedelta(minutes=5), limit=1000
            )
        ]
        assert len(rows) >= 3
        for n, row in enumerate(sorted(rows, key=lambda r: id_of(r)), start=shift):
            if n % 3 == 1:
                outbox.mark_final(session, id_of(row), "failed", now, "test")
                continue
            outbox.mark_sent(session, id_of(row), f"p{row.id}", now)
            if n % 3 == 0:
                outbox.record_report(session, row.channel, f"p{row.id}", "delivered", now)
