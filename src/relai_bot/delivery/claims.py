"""Claiming due outbox rows and turning each into a reply to send, in one transaction (sync code).

Each claimed row is checked again just before it goes: resident still there and not stopped, address
still reachable (else the next channel for reminders and offers), reminder still useful, weekly cap,
quiet hours (held rows go back to pending until the window opens). A row with a conversation target is
rendered by `Engine.push`, so its buttons are answers to the conversation's new step.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from relai_bot import instance, metrics
from relai_bot.delivery.adviser_messages import notify_unreached
from relai_bot.services import (
    appointment_status,
    broadcast_content,
    broadcasts,
    message_log,
    outbox,
    quiet_hours,
    reminders,
    reply_journal,
    waitlist,
)
from relai_bot.store.db import after_commit
from relai_bot.store.models import Appointment, ChannelAddress, OutboxMessage, Resident, id_of
from relai_bot.turns import Reply
from relai_bot.wiring import Runtime

log = logging.getLogger(__name__)

# Kinds that follow the resident to another channel when the first one fails for good
FALLBACK_KINDS = frozenset({"reminder", "waitlist_offer", "notice"})


@dataclass
class Job:
    """A claimed row, ready to go."""

    row_id: int
    kind: str
    priority: int
    channel: str
    address: str
    reply: Reply
    attempts: int
    resident_id: int | None
    expires_at: datetime | None
    # Set once the job went to the provider: from then on it is "in flight"
    handed: bool = False

    def __lt__(self, other: Job) -> bool:  # queue order: priority, then age
        return (self.priority, self.row_id) < (other.priority, other.row_id)


def claim_jobs(runtime: Runtime, channel: str, worker: str, limit: int) -> tuple[list[Job], int]:
    """Claim up to `limit` due rows of a channel and prepare them; rows not to send are settled here.

    Returns the jobs to send and how many rows were claimed (held or skipped ones included)."""
    now = runtime.clock.now()
    lease = timedelta(seconds=runtime.settings.outbox_lease_seconds)
    with runtime.db.transaction() as session:
        rows = outbox.claim(session, channel=channel, worker=worker, now=now, lease=lease, limit=limit)
        jobs = []
        for row in rows:
            job = _prepare(runtime, session, row, now)
            if job is not None:
                jobs.append(job)
    return jobs, len(rows)


def _prepare(runtime: Runtime, session: Session, row: OutboxMessage, now: datetime) -> Job | None:
    assert row.id is not None
    if row.expires_at is not None and now >= row.expires_at:
        _skip(session, row, now, "expired")
        return None
    if row.kind == reply_journal.KIND:
        # A turn's replies whose process died before sending them, or that a provider refused for a moment:
        # an answer to what the resident wrote (no quiet hours, no stop check: it may confirm the STOP)
        reply = reply_journal.as_reply(row)
        if reply is None:
            _skip(session, row, now, "nothing to say")
            return None
        return Job(
            row.id,
            row.kind,
            row.priority,
            row.channel,
            row.address,
            reply,
            row.attempts,
            row.resident_id,
            row.expires_at,
        )
    appointment_start: datetime | None = None
    if row.resident_id is not None:
        reason = _resident_reason(session, row)
        if reason == "unreachable":
            _unreachable(runtime, session, row, now, "address unreachable")
            return None
        if reason is not None:
            _skip(session, row, now, reason)
            return None
    if row.kind == "reminder":
        reason = reminders.skip_reason(session, row, now)
        if reason is not None:
            _skip(session, row, now, reason)
            return None
        appointment = session.get(Appointment, row.appointment_id)
        appointment_start = appointment.starts_at if appointment else None
    elif row.kind == "waitlist_offer":
        reason = waitlist.offer_skip_reason(session, row, now)
        if reason is not None:
            _skip(session, row, now, reason)
            return None
    elif row.kind == "notice":
        reason = appointment_status.notice_skip_reason(session, row, now)
        if reason is not None:
            _skip(session, row, now, reason)
            return None
    if row.kind == "broadcast" and broadcasts.is_interrupted(session, row.broadcast_id):
        _skip(session, row, now, "interrupted")  # a retry or a lease taken back after staff stopped it
        return None
    window = runtime.settings.sending_window
    hold = quiet_hours.held_until(
        row.kind,
        now,
        runtime.settings.tz,
        window,
        appointment_start=appointment_start,
        staff=row.resident_id is None,
    )
    if hold is not None:
        outbox.reschedule(session, row.id, hold, now, attempted=False)
        return None
    # The cap is checked when the broadcast would really go (a held one is judged when its window opens)
    if row.kind == "broadcast" and broadcasts.over_weekly_cap(session, row, now, runtime.settings.broadcasts_per_week):
        _skip(session, row, now, "weekly_cap")
        return None
    reply = _reply(runtime, session, row, now)
    if reply is None:
        return None
    return Job(
        row.id, row.kind, row.priority, row.channel, row.address, reply, row.attempts, row.resident_id, row.expires_at
    )


def _resident_reason(session: Session, row: OutboxMessage) -> str | None:
    resident = session.get(Resident, row.resident_id)
    if resident is None:
        return "resident_gone"
    if resident.stopped_at is not None:
        return "stopped"
    if row.kind == "broadcast" and not resident.opportunities:
        return "no_opportunities"
    address = session.exec(
        select(ChannelAddress).where(ChannelAddress.channel == row.channel, ChannelAddress.address == row.address)
    ).first()
    if address is None or address.resident_id != row.resident_id or address.unreachable_at is not None:
        return "unreachable"
    return None


def _skip(session: Session, row: OutboxMessage, now: datetime, reason: str) -> None:
    context = {"outbox_id": row.id, "kind": row.kind, "channel": row.channel, "reason": reason}
    if row.broadcast_id is not None:
        context["broadcast_id"] = row.broadcast_id
    log.info("outbox skip id=%s kind=%s reason=%s", row.id, row.kind, reason, extra=context)
    outbox.mark_final(session, id_of(row), "skipped", now, reason)
    after_commit(session, metrics.OUTBOX_SKIPPED.labels(row.kind, reason[:32]).inc)
    return None


def _unreachable(runtime: Runtime, session: Session, row: OutboxMessage, now: datetime, error: str) -> None:
    """This address cannot carry the message: the next channel, or give up (and tell the adviser)."""
    settle_unreachable(
        runtime, session, id_of(row), row.kind, row.channel, row.resident_id, row.appointment_id, now, error
    )
    return None


def settle_unreachable(
    runtime: Runtime,
    session: Session,
    row_id: int,
    kind: str,
    channel: str,
    resident_id: int | None,
    appointment_id: int | None,
    now: datetime,
    error: str,
    *,
    status: str = "skipped",
) -> None:
    if kind in FALLBACK_KINDS and resident_id is not None:
        other = outbox.next_address(session, resident_id, channel)
        if other is not None:
            log.info(
                "outbox fallback id=%s kind=%s %s->%s",
                row_id,
                kind,
                channel,
                other.channel,
                extra={"outbox_id": row_id, "kind": kind, "channel": channel, "to_channel": other.channel},
            )
            outbox.move_to(session, row_id, other.channel, other.address, now, f"{channel}: {error}")
            return
    log.info(
        "outbox gave up id=%s kind=%s channel=%s",
        row_id,
        kind,
        channel,
        extra={"outbox_id": row_id, "kind": kind, "channel": channel},
    )
    outbox.mark_final(session, row_id, status, now, f"{channel}: {error}"[:200])
    if kind == "reminder" and appointment_id is not None:
        notify_unreached(runtime, session, appointment_id, now)


def _reply(runtime: Runtime, session: Session, row: OutboxMessage, now: datetime) -> Reply | None:
    if row.target_flow is None:
        text = row.body
        language = None
        if row.kind == "broadcast" and row.resident_id is not None:
            resident = session.get(Resident, row.resident_id)
            language = resident.language if resident else None
            context = broadcast_content.message_context(session, row.broadcast_id, row.body, language)
            text = runtime.renderer.render(
                broadcast_content.MESSAGE_TEMPLATE, language=language, channel=row.channel, context=context
            )
        reply = Reply(text=text, kind=row.kind, language=language)
        if row.resident_id is not None:
            [reply.log_id] = message_log.log_outbound(
                session, resident_id=row.resident_id, channel=row.channel, bodies=[text], now=now
            )
        return reply
    try:
        with session.begin_nested():
            turn = runtime.engine.push(
                session, row.channel, row.address, row.target_flow, row.target_step or "", dict(row.target_data)
            )
    except Exception:  # a broken flow must not block the rest of the batch
        log.exception(
            "outbox push failed id=%s kind=%s flow=%s",
            row.id,
            row.kind,
            row.target_flow,
            extra={"outbox_id": row.id, "kind": row.kind, "channel": row.channel, "flow": row.target_flow},
        )
        outbox.mark_final(session, id_of(row), "failed", now, "push failed")
        return None
    if not turn.replies:
        _skip(session, row, now, "nothing to say")
        return None
    last = turn.replies[-1]
    text = "\n\n".join(r.text for r in turn.replies)
    return Reply(
        text=text,
        options=last.options,
        attachment=last.attachment,
        log_id=last.log_id,
        kind=row.kind,
        language=last.language,
    )


def settle_unserved(runtime: Runtime, served: Collection[str], worker: str, limit: int = 200) -> int:
    """Due rows for a channel no sender serves here (not configured, or the terminal's "console"):
    a reminder or an offer moves to a served channel of the resident; anything else is skipped, with the
    reason (so nothing waits forever). Returns how many rows were settled."""
    now = runtime.clock.now()
    settled = 0
    with runtime.db.transaction() as session:
        channels = session.exec(
            select(OutboxMessage.channel)
            .where(OutboxMessage.status == "pending", col(OutboxMessage.channel).not_in(list(served)))
            .distinct()
        ).all()
        for channel in channels:
            lease = timedelta(seconds=runtime.settings.outbox_lease_seconds)
            rows = outbox.claim(session, channel=channel, worker=worker, now=now, lease=lease, limit=limit)
            for row in rows:
                settled += 1
                other = _served_address(session, row.resident_id, served) if row.kind in FALLBACK_KINDS else None
                if other is not None:
                    outbox.move_to(session, id_of(row), other[0], other[1], now, f"{channel}: no sender here")
                    continue
                outbox.mark_final(session, id_of(row), "skipped", now, f"{channel}: no sender configured")
                after_commit(session, metrics.OUTBOX_SKIPPED.labels(row.kind, "no_sender").inc)
                if row.kind == "reminder" and row.appointment_id is not None:
                    notify_unreached(runtime, session, row.appointment_id, now)
    if settled:
        log.info("outbox: %d row(s) for channels without a sender settled", settled)
    return settled


def _served_address(session: Session, resident_id: int | None, served: Collection[str]) -> tuple[str, str] | None:
    if resident_id is None:
        return None
    for address in outbox.addresses_of(session, [resident_id])[resident_id]:
        if address.reachable and address.channel in served:
            return address.channel, address.address
    return None


def take_back_gone(runtime: Runtime) -> int:
    """Rows claimed by a process of this host that died (relai_bot.instance) come back at once, not at the
    end of their lease: a restarted service sends what its earlier life left in flight. Returns how many."""
    with runtime.db.transaction() as session:
        taken = outbox.take_back(session, runtime.clock.now(), instance.is_gone)
    if taken:
        log.info("outbox: %d row(s) of a process that died taken back", taken, extra={"rows": taken})
    return taken
