"""Where a broadcast stands: its state, and its outbox rows counted by status, district and channel.

Counts only: a report (and its CSV) never holds a phone number, a chat id or a name.

States shown to staff (`broadcast_state`), from the stored status and the outbox rows:
pending_approval  held until an admin other than the author approves it; nothing enqueued
scheduled         enqueued, nothing handed to a provider yet, and its start is still ahead
sending           rows still waiting or being sent
done              every row settled (sent, delivered, failed or skipped)
interrupted       staff stopped it; rows that were in flight finished, the others were skipped
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, func, select

from relai_bot.services.errors import NotFound
from relai_bot.store.models import Broadcast, District, OutboxMessage, Resident
from relai_bot.store.models.delivery import OUTBOX_STATUSES

STATES = ("pending_approval", "scheduled", "sending", "done", "interrupted")
WAITING = ("pending", "sending")
CSV_HEADER = ("dimension", "value", "status", "count")


@dataclass
class BroadcastReport:
    broadcast_id: int
    state: str
    recipients: int
    excluded: dict[str, int]
    by_status: dict[str, int]
    # {district name: {status: n}}, {channel: {status: n}}
    by_district: dict[str, dict[str, int]] = field(default_factory=dict)
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def settled(self) -> int:
        """Rows that will not move any more."""
        return sum(n for status, n in self.by_status.items() if status not in WAITING)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def csv_rows(self) -> list[tuple[str, str, str, int]]:
        """The report as CSV rows (after CSV_HEADER): totals, then by district, by channel, and the left out."""
        rows = [("status", "all", status, n) for status, n in _ordered(self.by_status).items()]
        for dimension, groups in (("district", self.by_district), ("channel", self.by_channel)):
            for value, statuses in groups.items():
                rows += [(dimension, value, status, n) for status, n in _ordered(statuses).items()]
        rows += [("excluded", reason, "", n) for reason, n in self.excluded.items()]
        return rows


def _ordered(counts: dict[str, int]) -> dict[str, int]:
    return {status: counts[status] for status in OUTBOX_STATUSES if counts.get(status)}


def broadcast_state(broadcast: Broadcast, by_status: dict[str, int], now: datetime) -> str:
    """One of STATES (see the module's docstring)."""
    if broadcast.status in ("pending_approval", "interrupted"):
        return broadcast.status
    waiting = sum(by_status.get(status, 0) for status in WAITING)
    if not waiting:
        return "done"
    started = sum(n for status, n in by_status.items() if status != "pending")
    if not started and broadcast.scheduled_at is not None and broadcast.scheduled_at > now:
        return "scheduled"
    return "sending"


def broadcast_state_counts(session: Session, broadcast: Broadcast, now: datetime) -> str:
    """A broadcast's state (STATES) from its rows' counts, without the whole report (lists of broadcasts)."""
    rows = session.exec(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.broadcast_id == broadcast.id)
        .group_by(col(OutboxMessage.status))
    ).all()
    return broadcast_state(broadcast, dict(rows), now)


def broadcast_report(session: Session, broadcast_id: int, now: datetime) -> BroadcastReport:
    """The report of one broadcast (NotFound if there is none)."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise NotFound(f"broadcast {broadcast_id}")
    rows = session.exec(
        select(District.name, OutboxMessage.channel, OutboxMessage.status, func.count())
        .select_from(OutboxMessage)
        .join(Resident, col(Resident.id) == col(OutboxMessage.resident_id), isouter=True)
        .join(District, col(District.id) == col(Resident.district_id), isouter=True)
        .where(OutboxMessage.broadcast_id == broadcast_id)
        .group_by(col(District.name), col(OutboxMessage.channel), col(OutboxMessage.status))
    ).all()
    by_status: Counter[str] = Counter()
    by_district: dict[str, Counter[str]] = {}
    by_channel: dict[str, Counter[str]] = {}
    for district, channel, status, n in rows:
        by_status[status] += n
        by_district.setdefault(district or "?", Counter())[status] += n
        by_channel.setdefault(channel, Counter())[status] += n
    return BroadcastReport(
        broadcast_id=broadcast_id,
        state=broadcast_state(broadcast, dict(by_status), now),
        recipients=broadcast.recipients,
        excluded=dict(broadcast.excluded),
        by_status=_ordered(dict(by_status)),
        by_district={name: _ordered(dict(c)) for name, c in sorted(by_district.items())},
        by_channel={name: _ordered(dict(c)) for name, c in sorted(by_channel.items())},
    )
