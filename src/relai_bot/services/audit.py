"""The audit log: every staff action with who, when and what (the one writer of `audit_event`).

Never put a resident's message body or phone number in `target` or `detail`: name things by id or code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from relai_bot.store.models import AuditEvent, StaffUser

# The actions written today
LOGIN = "login"
LOGIN_FAILED = "login.failed"
LOCKED_OUT = "login.locked"
LOGOUT = "logout"
ACCOUNT_CREATED = "account.created"
ACCOUNT_DISABLED = "account.disabled"
ACCOUNT_UPDATED = "account.updated"
PASSWORD_RESET = "account.password_reset"
PASSWORD_CHANGED = "account.password_changed"
BROADCAST_CREATED = "broadcast.created"
BROADCAST_APPROVED = "broadcast.approved"
BROADCAST_INTERRUPTED = "broadcast.interrupted"
TELEGRAM_CODE_ISSUED = "telegram.code_issued"
TELEGRAM_LINKED = "telegram.linked"
TELEGRAM_LINK_FAILED = "telegram.link_failed"
TELEGRAM_UNLINKED = "telegram.unlinked"
# A resident's data, on their request to staff (the target names the resident by id only)
DATA_EXPORTED = "resident.exported"
DATA_ERASED = "resident.erased"
CALLBACK_HANDLED = "callback.handled"
# Advisers' opening hours and absences (services/openings.py, services/absences.py)
OPENING_CREATED = "opening.created"
OPENING_UPDATED = "opening.updated"
OPENING_DELETED = "opening.deleted"
ABSENCE_CREATED = "absence.created"
ABSENCE_DELETED = "absence.deleted"
# The commune's catalog (detail: the names of the fields set or changed)
SCHEME_CREATED = "scheme.created"
SCHEME_UPDATED = "scheme.updated"
DISTRICT_CREATED = "district.created"
DISTRICT_UPDATED = "district.updated"
VENUE_CREATED = "venue.created"
VENUE_UPDATED = "venue.updated"
# The agenda: a CSV export (the period in `detail`), an adviser's private calendar feed (target: the adviser)
AGENDA_EXPORTED = "agenda.exported"
FEED_CREATED = "agenda_feed.created"
FEED_REGENERATED = "agenda_feed.regenerated"
FEED_REVOKED = "agenda_feed.revoked"
# What the service did to an appointment (services/appointment_status.py; target: the appointment)
APPOINTMENT_STATUS_CHANGED = "appointment.status_changed"
APPOINTMENT_NOTE_CHANGED = "appointment.note_changed"
APPOINTMENT_MOVED = "appointment.moved"
# The simulator: a staff member erased their test resident to start again
SIMULATOR_RESET = "simulator.reset"


def record(
    session: Session,
    actor_id: int | None,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    *,
    at: datetime,
    actor: str | None = None,
) -> AuditEvent:
    """Write one event. `actor` (how the actor is named) defaults to the account's login; with no account
    (a failed sign-in, the command line) say who it was, e.g. "cli"."""
    if actor is None:
        account = session.get(StaffUser, actor_id) if actor_id is not None else None
        actor = account.login if account is not None else "-"
    event = AuditEvent(
        at=at, actor_id=actor_id, actor=actor[:254], action=action, target=target[:254], detail=detail or {}
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None  # part of the actor's login
    action: str | None = None  # an action, or its prefix ("account" finds "account.created"…)
    since: datetime | None = None
    until: datetime | None = None  # exclusive


def list_events(session: Session, where: AuditFilter | None = None, *, limit: int = 200) -> list[AuditEvent]:
    """The newest events first, filtered."""
    where = where or AuditFilter()
    query = select(AuditEvent)
    if where.actor:
        query = query.where(col(AuditEvent.actor).contains(where.actor.strip().lower()))
    if where.action:
        action = where.action.strip()
        query = query.where((col(AuditEvent.action) == action) | col(AuditEvent.action).startswith(action + "."))
    if where.since is not None:
        query = query.where(col(AuditEvent.at) >= where.since)
    if where.until is not None:
        query = query.where(col(AuditEvent.at) < where.until)
    query = query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)
    return list(session.exec(query))


def known_actions(session: Session) -> list[str]:
    return sorted(set(session.exec(select(AuditEvent.action).distinct())))
