"""Broadcasts: staff write to the residents of some districts who said yes to opportunities.

A staff action is a service function: the CLI (`relai-bot broadcast`) and the back-office call the same
ones (through relai_bot.staff, which adds the message preview and the approval rule). `audience` is the
one answer to "who gets it, on which channel, and who is left out and why": the preview and the enqueueing
both call it, so they cannot disagree. Enqueueing writes one outbox row per resident (idempotent); a
running outbox worker delivers within quiet hours, the weekly cap and the providers' limits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from relai_bot.services import (
    audit,
    broadcast_content,
    broadcast_text,
    content_languages,
    outbox,
    quiet_hours,
    residents,
)
from relai_bot.services.errors import ApprovalRefused, BroadcastClosed, NotFound
from relai_bot.store.models import Broadcast, District, OutboxMessage, Resident, Scheme, StaffUser, Venue
from relai_bot.time_settings import SendingWindow

MAX_TEXT = 1000
# What a broadcast may name besides its text
Catalog = TypeVar("Catalog", Scheme, Venue)
WEEK = timedelta(days=7)


def resolve_districts(session: Session, names: list[str]) -> list[District]:
    """Districts by code or by name (accents, case and small typos forgiven); NotFound names the first unknown."""
    found: list[District] = []
    for name in names:
        district = session.exec(select(District).where(District.code == name.strip().lower())).first()
        district = district or residents.match_district(session, name)
        if district is None:
            raise NotFound(f"district {name!r}")
        if district not in found:
            found.append(district)
    return found


def broadcasts_in_week(
    session: Session, resident_ids: list[int], now: datetime, *, before_row: int | None = None
) -> Counter[int]:
    """The weekly cap's count, the one rule used when a broadcast is enqueued and again when it goes.

    A resident's broadcasts "this week" are those they received or are about to receive: rows sent (or
    delivered) in the 7 days before `now`, counted by when they went out, plus rows still waiting to go
    (pending or being sent), whatever their age, since they will reach the resident now. Skipped and
    failed rows reached nobody and do not count. When a row is checked just before it goes
    (`before_row`), only the rows enqueued before it count, so that of several broadcasts queued at once
    the first ones go and the later ones are skipped. Counting by sending time rather than by enqueueing
    time is what the resident experiences: a broadcast held for the weekend counts in the week it arrives.
    """
    waiting: ColumnElement[bool] = col(OutboxMessage.status).in_(("pending", "sending"))
    if before_row is not None:
        waiting = waiting & (col(OutboxMessage.id) < before_row)
    received = col(OutboxMessage.status).in_(("sent", "delivered")) & (col(OutboxMessage.sent_at) > now - WEEK)
    counts: Counter[int] = Counter()
    for start in range(0, len(resident_ids), 500):
        chunk = resident_ids[start : start + 500]
        rows = session.exec(
            select(OutboxMessage.resident_id, func.count())
            .where(
                OutboxMessage.kind == "broadcast",
                col(OutboxMessage.resident_id).in_(chunk),
                or_(waiting, received),
            )
            .group_by(col(OutboxMessage.resident_id))
        )
        counts.update({resident_id: n for resident_id, n in rows if resident_id is not None})
    return counts


def over_weekly_cap(session: Session, row: OutboxMessage, now: datetime, per_week: int) -> bool:
    """Would sending this broadcast row now give its resident more than `per_week` in 7 days?"""
    assert row.resident_id is not None and row.id is not None
    return broadcasts_in_week(session, [row.resident_id], now, before_row=row.id)[row.resident_id] >= per_week


# What `audience` reads of each resident
AUDIENCE_COLUMNS = (
    col(Resident.id),
    col(Resident.district_id),
    col(Resident.display_name),
    col(Resident.language),
    col(Resident.opportunities),
    col(Resident.stopped_at),
    col(Resident.unreachable_at),
)
# Why a resident of the chosen districts (matching the filters) gets nothing, in the order they are checked
EXCLUSION_REASONS = ("no_opportunities", "stopped", "unreachable", "no_channel", "weekly_cap")
MAX_TITLE, MAX_LINK = 120, 500
# How staff pages name the languages a broadcast may carry a version in besides French
LANGUAGE_NAMES = {"rcf": "kréol"}


@dataclass(frozen=True)
class BroadcastDraft:
    """What staff compose: who it is for (districts and filters on the residents' answers), its content
    (a title, the text with placeholders, an optional link, scheme, venue and event date, by code) and when
    it should go (None: now). The preview and the creation take the same draft.

    `text` is in French; `texts` may hold the same text in another language (content_languages.OTHER_LANGUAGES,
    {"rcf": "..."}), for the residents who chose it. A blank one is no version (an empty form field)."""

    districts: Sequence[str]
    text: str
    texts: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None
    link: str | None = None
    scheme: str | None = None
    venue: str | None = None
    event_at: datetime | None = None
    age_brackets: Sequence[str] = ()
    situations: Sequence[str] = ()
    goals: Sequence[str] = ()
    scheduled_at: datetime | None = None

    def filters(self) -> dict[str, list[str]]:
        found = {
            "age_brackets": sorted(set(self.age_brackets)),
            "situations": sorted(set(self.situations)),
            "goals": sorted(set(self.goals)),
        }
        return {name: values for name, values in found.items() if values}

    def translations(self) -> dict[str, str]:
        """The versions besides French that the draft really has (stripped, blank ones left out)."""
        return {language: text.strip() for language, text in sorted(self.texts.items()) if text.strip()}


@dataclass(frozen=True)
class Recipient:
    """One resident the broadcast goes to, on the channel `audience` picked, with their placeholders."""

    resident_id: int
    channel: str
    address: str
    language: str
    personal: broadcast_text.Personal


@dataclass(frozen=True)
class Versions:
    """Which version of a broadcast's text its recipients read."""

    # Recipients by the version they read (French first): {"fr": 3, "rcf": 2}
    read: dict[str, int]
    # Of those who read French, how many chose a language the broadcast has no version in, by language
    in_french: dict[str, int]


@dataclass
class Audience:
    districts: list[District]
    recipients: list[Recipient]
    # Residents left out, by reason (EXCLUSION_REASONS)
    excluded: dict[str, int]
    # Residents of the districts whose answers match the filters (recipients + excluded)
    matched: int = 0

    @property
    def by_channel(self) -> dict[str, int]:
        counts = Counter(r.channel for r in self.recipients)
        return {channel: counts[channel] for channel in outbox.CHANNEL_PREFERENCE if counts[channel]}

    @property
    def by_district(self) -> dict[str, int]:
        counts = Counter(r.personal.district for r in self.recipients)
        return {d.name: counts[d.name] for d in self.districts}

    def versions(self, texts: Mapping[str, str]) -> Versions:
        """Who reads which version of a broadcast whose texts besides French are `texts` (the rule is
        broadcast_content.version_for, the one the enqueueing applies)."""
        read = Counter(broadcast_content.version_for(texts, r.language) for r in self.recipients)
        ordered = {language: read[language] for language in (content_languages.FRENCH, *sorted(read)) if read[language]}
        untranslated = Counter(
            r.language
            for r in self.recipients
            if r.language != content_languages.FRENCH
            and broadcast_content.version_for(texts, r.language) == content_languages.FRENCH
        )
        return Versions(ordered, dict(sorted(untranslated.items())))


def audience(
    session: Session,
    *,
    districts: Sequence[str],
    age_brackets: Sequence[str] = (),
    situations: Sequence[str] = (),
    goals: Sequence[str] = (),
    now: datetime,
    per_week: int,
) -> Audience:
    """Who a broadcast reaches now, on which channel, and who is left out and why (the one rule).

    The real residents (not the simulator's test residents) of `districts` whose answers match the filters
    on age bracket, situation and goal (a filter keeps those who gave one of its values; a resident who did
    not answer is not kept), then:
    said no to opportunities, stopped, unreachable, no reachable Telegram or SMS address, or the weekly
    cap reached (broadcasts_in_week).
    The channel is the first reachable address in outbox.CHANNEL_PREFERENCE (Telegram, then SMS).
    """
    chosen = resolve_districts(session, list(districts))
    names = {d.id: d.name for d in chosen}
    # Only the columns the rule reads (a district may hold thousands of residents: no ORM objects)
    query = sa_select(*AUDIENCE_COLUMNS).where(col(Resident.district_id).in_(list(names)), residents.real_residents())
    if age_brackets:
        query = query.where(col(Resident.age_bracket).in_(list(age_brackets)))
    if situations:
        query = query.where(col(Resident.situation).in_(list(situations)))
    if goals:
        query = query.where(col(Resident.goal).in_(list(goals)))
    people = session.execute(query.order_by(col(Resident.id))).all()
    excluded: Counter[str] = Counter()
    eligible = []
    for resident in people:
        if not resident.opportunities:
            excluded["no_opportunities"] += 1
        elif resident.stopped_at is not None:
            excluded["stopped"] += 1
        elif resident.unreachable_at is not None:
            excluded["unreachable"] += 1
        else:
            eligible.append(resident)
    ids = [r.id for r in eligible if r.id is not None]
    addresses = outbox.addresses_of(session, ids)
    recent = broadcasts_in_week(session, ids, now)
    recipients: list[Recipient] = []
    for resident in eligible:
        assert resident.id is not None and resident.district_id is not None
        reachable = [a for a in addresses[resident.id] if a.reachable]
        if not reachable:
            excluded["no_channel"] += 1
        elif recent[resident.id] >= per_week:
            excluded["weekly_cap"] += 1
        else:
            personal = broadcast_text.Personal(resident.display_name, names[resident.district_id])
            recipients.append(
                Recipient(resident.id, reachable[0].channel, reachable[0].address, resident.language, personal)
            )
    ordered = {reason: excluded[reason] for reason in EXCLUSION_REASONS if excluded[reason]}
    return Audience(chosen, recipients, ordered, matched=len(people))


def check_draft(session: Session, draft: BroadcastDraft) -> None:
    """Refuse a draft that cannot go (ValueError, NotFound): the texts (BroadcastTextError), lengths, codes.
    A version in another language is checked as the French text is; its errors are on the field
    `text_<language>` and say which version they are about."""
    broadcast_text.check_text(draft.text)
    if len(draft.text.strip()) > MAX_TEXT:
        raise broadcast_text.BroadcastTextError(
            f"Le texte fait {len(draft.text.strip())} caractères ; {MAX_TEXT} au plus."
        )
    for language, text in draft.translations().items():
        where = f"text_{language}"
        if language not in content_languages.OTHER_LANGUAGES:
            raise broadcast_text.BroadcastTextError(f"Langue inconnue : {language!r}.", field=where)
        name = LANGUAGE_NAMES[language]
        try:
            broadcast_text.check_text(text, field=where)
        except broadcast_text.BroadcastTextError as error:
            raise broadcast_text.BroadcastTextError(f"Texte en {name} : {error}", field=where) from None
        if len(text) > MAX_TEXT:
            raise broadcast_text.BroadcastTextError(
                f"Le texte en {name} fait {len(text)} caractères ; {MAX_TEXT} au plus.", field=where
            )
    if draft.title is not None and len(draft.title.strip()) > MAX_TITLE:
        raise broadcast_text.BroadcastTextError(
            f"Le titre fait {len(draft.title.strip())} caractères ; {MAX_TITLE} au plus.", field="title"
        )
    if draft.link is not None and (len(draft.link) > MAX_LINK or not draft.link.startswith(("https://", "http://"))):
        raise broadcast_text.BroadcastTextError(
            "Le lien doit commencer par https:// (500 caractères au plus).", field="link"
        )
    _code(session, Scheme, draft.scheme)
    _code(session, Venue, draft.venue)
    if not draft.districts:
        raise broadcast_text.BroadcastTextError("Choisissez au moins un quartier.", field="districts")
    resolve_districts(session, list(draft.districts))


def _code(session: Session, model: type[Catalog], code: str | None) -> int | None:
    """The id of the scheme or venue a broadcast names. Residents are never told something the commune has
    not verified: an unverified scheme or venue is refused (BroadcastTextError on its field)."""
    if code is None:
        return None
    found = session.exec(select(model).where(model.code == code.strip().lower())).first()
    if found is None:
        raise NotFound(f"{model.__tablename__} {code!r}")
    if not found.verified:
        what = "Cette aide" if model is Scheme else "Ce lieu"
        raise broadcast_text.BroadcastTextError(
            f"{what} n'est pas encore vérifié par la commune : on ne peut pas l'annoncer aux habitants.",
            field=model.__tablename__,
        )
    return found.id


def announceable(session: Session, model: type[Catalog]) -> list[Catalog]:
    """The schemes or venues a broadcast may name (verified ones), by name."""
    return list(session.exec(select(model).where(col(model.verified).is_(True)).order_by(col(model.name))))


def draft_broadcast(session: Session, draft: BroadcastDraft, *, created_by: str, now: datetime) -> Broadcast:
    """The Broadcast row a draft would make, not added to the session (the preview renders it)."""
    check_draft(session, draft)
    chosen = resolve_districts(session, list(draft.districts))
    return Broadcast(
        text=draft.text.strip(),
        texts=draft.translations(),
        title=draft.title.strip() if draft.title else None,
        link=draft.link.strip() if draft.link else None,
        scheme_id=_code(session, Scheme, draft.scheme),
        venue_id=_code(session, Venue, draft.venue),
        event_at=draft.event_at,
        districts=[d.code for d in chosen],
        filters=draft.filters(),
        scheduled_at=draft.scheduled_at,
        created_by=created_by[:64],
        created_at=now,
    )


def starts_at(scheduled_at: datetime | None, now: datetime, tz: ZoneInfo, window: SendingWindow) -> datetime:
    """When a broadcast really starts: its chosen time (or now), held by quiet hours, Sundays and holidays."""
    wanted = max(scheduled_at, now) if scheduled_at is not None else now
    return quiet_hours.next_opening(wanted, tz, window, bulk=True) or wanted


def create_broadcast(
    session: Session,
    draft: BroadcastDraft,
    *,
    created_by: str,
    now: datetime,
    per_week: int,
    author_id: int | None = None,
    hold_for_approval: bool = False,
) -> Broadcast:
    """Record a broadcast; enqueue it for its audience unless it waits for approval (see `approve`).

    Raises ValueError (BroadcastTextError: the text or a field) or NotFound (a district, scheme or venue).
    Whether it needs approval is the caller's rule (relai_bot.staff.compose: audience size, SMS cost).
    """
    broadcast = draft_broadcast(session, draft, created_by=created_by, now=now)
    broadcast.author_id = author_id
    broadcast.status = "pending_approval" if hold_for_approval else "queued"
    session.add(broadcast)
    session.flush()
    if not hold_for_approval:
        enqueue_broadcast(session, broadcast, now=now, per_week=per_week)
    _audit(session, author_id, audit.BROADCAST_CREATED, broadcast, now, actor=None if author_id else created_by)
    return broadcast


def _audit(
    session: Session, actor_id: int | None, action: str, broadcast: Broadcast, now: datetime, actor: str | None
) -> None:
    """Who did what to which broadcast: districts, status, counts and the languages of its versions when it
    has some besides French (never a text)."""
    detail: dict[str, object] = {
        "districts": list(broadcast.districts),
        "status": broadcast.status,
        "recipients": broadcast.recipients,
    }
    if broadcast.texts:
        detail["versions"] = [content_languages.FRENCH, *sorted(broadcast.texts)]
    audit.record(session, actor_id, action, f"broadcast {broadcast.id}", detail, at=now, actor=actor)


def enqueue_broadcast(session: Session, broadcast: Broadcast, *, now: datetime, per_week: int) -> int:
    """One outbox row per recipient of `audience`, each with its own text: the version in their language
    (broadcast_content.text_for), placeholders filled in."""
    assert broadcast.id is not None
    found = audience(
        session,
        districts=broadcast.districts,
        age_brackets=broadcast.filters.get("age_brackets", ()),
        situations=broadcast.filters.get("situations", ()),
        goals=broadcast.filters.get("goals", ()),
        now=now,
        per_week=per_week,
    )
    due = max(broadcast.scheduled_at, now) if broadcast.scheduled_at is not None else now
    rows = [
        outbox.message_row(
            key=f"broadcast:{broadcast.id}:{r.resident_id}",
            kind="broadcast",
            channel=r.channel,
            address=r.address,
            now=now,
            body=broadcast_text.personalise(broadcast_content.text_for(broadcast, r.language), r.personal),
            resident_id=r.resident_id,
            broadcast_id=broadcast.id,
            due_at=due,
        )
        for r in found.recipients
    ]
    broadcast.recipients = outbox.enqueue_many(session, rows)
    broadcast.excluded = found.excluded
    session.add(broadcast)
    session.flush()
    return broadcast.recipients


def approve(session: Session, broadcast_id: int, approver_id: int, now: datetime, *, per_week: int) -> Broadcast:
    """An admin other than its author lets a held broadcast go: it is enqueued now (audience as of now).

    Raises NotFound, or ApprovalRefused when the approver is not an admin, is the author, or the broadcast
    is not waiting for approval."""
    broadcast = session.get(Broadcast, broadcast_id, with_for_update=True)
    if broadcast is None:
        raise NotFound(f"broadcast {broadcast_id}")
    approver = session.get(StaffUser, approver_id)
    if approver is None:
        raise NotFound(f"staff user {approver_id}")
    if broadcast.status != "pending_approval":
        raise ApprovalRefused(f"broadcast {broadcast_id} is not waiting for approval ({broadcast.status})")
    if approver.role != "admin":
        raise ApprovalRefused(f"{approver.login} is not an admin")
    if broadcast.author_id == approver_id:
        raise ApprovalRefused(f"{approver.login} wrote broadcast {broadcast_id}: another admin must approve it")
    broadcast.status = "queued"
    broadcast.approved_by_id = approver_id
    broadcast.approved_at = now
    session.add(broadcast)
    session.flush()
    enqueue_broadcast(session, broadcast, now=now, per_week=per_week)
    _audit(session, approver_id, audit.BROADCAST_APPROVED, broadcast, now, actor=None)
    return broadcast


def is_interrupted(session: Session, broadcast_id: int | None) -> bool:
    """Checked again as each row goes: nothing of an interrupted broadcast leaves once it is claimed anew."""
    broadcast = session.get(Broadcast, broadcast_id) if broadcast_id is not None else None
    return broadcast is not None and broadcast.status == "interrupted"


def interrupt(
    session: Session, broadcast_id: int, now: datetime, *, actor_id: int | None = None, actor: str | None = None
) -> int:
    """Stop what is not sent yet: pending rows become skipped ("interrupted"); rows in flight finish (a
    row that comes back to pending, to be tried again, is skipped when claimed: `is_interrupted`).

    A broadcast waiting for approval is interrupted before anything was enqueued. Returns how many rows
    were skipped; raises NotFound, or BroadcastClosed when it was interrupted already."""
    broadcast = session.get(Broadcast, broadcast_id, with_for_update=True)
    if broadcast is None:
        raise NotFound(f"broadcast {broadcast_id}")
    if broadcast.status == "interrupted":
        raise BroadcastClosed(f"broadcast {broadcast_id} was interrupted already")
    broadcast.status = "interrupted"
    broadcast.interrupted_at = now
    session.add(broadcast)
    skipped = outbox.skip_pending(session, now, "interrupted", broadcast_id=broadcast_id)
    _audit(session, actor_id, audit.BROADCAST_INTERRUPTED, broadcast, now, actor=actor)
    return skipped
