"""Which broadcasts a staff account sees and what it may do with them (the back-office's list and pages).

Rules chosen here, all built on services.accounts.Account.may_reach_district (the one district rule):
- see: an admin sees every broadcast; a staff member those sent to at least one of their districts (the
  report then shows counts for the other districts too: counts only, never a person);
- interrupt: an admin, the author, or a staff member whose districts cover all of the broadcast's;
- approve: an admin other than the author, while it waits (services.broadcasts.approve checks it again).
Advisers see none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from relai_bot.services.accounts import Account
from relai_bot.services.broadcast_reports import broadcast_state_counts
from relai_bot.services.errors import NotFound
from relai_bot.store.models import Broadcast, District, StaffUser, id_of

LIST_LIMIT = 100


@dataclass(frozen=True)
class BroadcastSummary:
    """One line of the list of broadcasts."""

    id: int
    created_at: datetime
    author: str
    districts: list[str]
    title: str
    state: str
    recipients: int
    approvable: bool


def _district_ids(session: Session, codes: list[str]) -> dict[str, int]:
    rows = session.exec(select(District.code, District.id).where(col(District.code).in_(codes))).all()
    return {code: district_id for code, district_id in rows if district_id is not None}


def may_see(account: Account, district_ids: list[int]) -> bool:
    return account.is_admin or any(account.may_reach_district(d) for d in district_ids)


def may_interrupt(account: Account, broadcast: Broadcast, district_ids: list[int]) -> bool:
    if account.is_admin or (broadcast.author_id is not None and broadcast.author_id == account.id):
        return True
    return account.role == "staff" and bool(district_ids) and all(account.may_reach_district(d) for d in district_ids)


def may_approve(account: Account, broadcast: Broadcast) -> bool:
    return account.is_admin and broadcast.status == "pending_approval" and broadcast.author_id != account.id


def visible_broadcast(session: Session, account: Account, broadcast_id: int) -> tuple[Broadcast, list[int]]:
    """The broadcast and its districts' ids if this account may see it; NotFound otherwise (also when it
    exists but is not theirs: a page never tells that it exists)."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise NotFound(f"broadcast {broadcast_id}")
    ids = list(_district_ids(session, list(broadcast.districts)).values())
    if not may_see(account, ids):
        raise NotFound(f"broadcast {broadcast_id}")
    return broadcast, ids


def list_broadcasts(
    session: Session, account: Account, now: datetime, limit: int = LIST_LIMIT
) -> list[BroadcastSummary]:
    """The broadcasts this account sees, newest first (the `limit` most recent)."""
    districts = list(session.exec(select(District)))
    names = {d.code: d.name for d in districts}
    ids = {d.code: id_of(d) for d in districts}
    authors = {id_of(u): u.name for u in session.exec(select(StaffUser))}
    found: list[BroadcastSummary] = []
    query = select(Broadcast).order_by(col(Broadcast.id).desc())
    for broadcast in session.exec(query):
        district_ids = [ids[code] for code in broadcast.districts if code in ids]
        if not may_see(account, district_ids):
            continue
        author = authors.get(broadcast.author_id, broadcast.created_by) if broadcast.author_id else broadcast.created_by
        found.append(
            BroadcastSummary(
                id=id_of(broadcast),
                created_at=broadcast.created_at,
                author=author,
                districts=[names.get(code, code) for code in broadcast.districts],
                title=broadcast.title or _first_words(broadcast.text),
                state=broadcast_state_counts(session, broadcast, now),
                recipients=broadcast.recipients,
                approvable=may_approve(account, broadcast),
            )
        )
        if len(found) >= limit:
            break
    return found


def _first_words(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
