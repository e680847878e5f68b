"""Opening hours (everyone, within staff/agenda_access's reach): the list per adviser and venue, new, edit
and delete forms; one slot's bookings and waitlist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session
from starlette.responses import Response

from relai_bot.services import agenda, openings, slots
from relai_bot.services.accounts import Account
from relai_bot.services.errors import NotFound
from relai_bot.staff.agenda_access import may_reach
from relai_bot.store.models import Adviser, Opening, Slot, Venue, id_of
from relai_bot.web.admin.guard import Page

LIST_PATH = "/admin/openings"
FIELDS = ("adviser", "venue", "kind", "weekday", "on_date", "start", "end", "slot_minutes", "capacity")
OUT_OF_REACH = "Vous ne gérez pas ce lieu : choisissez un lieu de vos quartiers."
APPOINTMENT_STATUS_NAMES = {
    "booked": "réservé",
    "cancelled": "annulé par l'habitant",
    "service_cancelled": "annulé par le service",
    "excused": "excusé",
    "attended": "venu",
    "no_show": "absent sans prévenir",
}
WAITLIST_STATUS_NAMES = {
    "waiting": "attend",
    "offered": "place proposée",
    "accepted": "a pris la place",
    "expired": "offre expirée",
    "cancelled": "a quitté la liste",
}


@dataclass
class AdviserOpenings:
    """One adviser's openings on the list page: weekly ones by weekday, one-off ones by date."""

    adviser: Adviser
    weekly: list[openings.OpeningRow] = field(default_factory=list)
    once: list[openings.OpeningRow] = field(default_factory=list)

    def on(self, weekday: int) -> list[openings.OpeningRow]:
        return sorted((r for r in self.weekly if r.opening.weekday == weekday), key=lambda r: r.opening.start)


def reaches(account: Account, adviser_id: int, venue: Venue) -> bool:
    return may_reach(account, adviser_id=adviser_id, venue_district_id=venue.district_id)


def _choices(session: Session, account: Account) -> tuple[list[Adviser], list[Venue]]:
    """The advisers and venues this account may pick in the form."""
    if account.role == "adviser":
        advisers = [a for a in openings.advisers(session) if a.id == account.adviser_id]
    else:
        advisers = [a for a in openings.advisers(session) if a.active]
    venues = [v for v in openings.venues(session) if any(reaches(account, id_of(a), v) for a in advisers)]
    return advisers, venues


def opening_list(page: Page) -> Response:
    assert page.account is not None
    account = page.account
    query = page.request.query_params
    wanted_adviser, wanted_venue = query.get("adviser", ""), query.get("venue", "")
    tz = page.runtime.settings.tz
    with page.runtime.db.transaction() as session:
        rows = [
            r
            for r in openings.list_openings(session, today=page.now.astimezone(tz).date())
            if reaches(account, id_of(r.adviser), r.venue)
        ]
        advisers, venues = _choices(session, account)
        outside = [_outside_row(session, s) for s in agenda.outside_hours(session, now=page.now)]
    outside = [o for o in outside if reaches(account, o.slot.adviser_id, o.venue)]
    filter_advisers = sorted({r.adviser.name: r.adviser for r in rows}.values(), key=lambda a: a.name)
    filter_venues = sorted({r.venue.name: r.venue for r in rows}.values(), key=lambda v: v.name)
    if wanted_adviser.isdigit():
        rows = [r for r in rows if r.adviser.id == int(wanted_adviser)]
    if wanted_venue.isdigit():
        rows = [r for r in rows if r.venue.id == int(wanted_venue)]
    groups: dict[int, AdviserOpenings] = {}
    for row in rows:
        group = groups.setdefault(id_of(row.adviser), AdviserOpenings(row.adviser))
        (group.once if row.opening.on_date is not None else group.weekly).append(row)
    for group in groups.values():
        group.once.sort(key=lambda r: (r.opening.on_date, r.opening.start))
    return page.render(
        "openings/list.html",
        groups=list(groups.values()),
        outside=outside,
        may_add=bool(advisers and venues),
        filter_advisers=filter_advisers,
        filter_venues=filter_venues,
        wanted_adviser=wanted_adviser,
        wanted_venue=wanted_venue,
        weekdays=openings.WEEKDAY_NAMES,
        clock=openings.clock,
    )


@dataclass(frozen=True)
class OutsideRow:
    slot: Slot
    venue: Venue
    adviser: Adviser


def _outside_row(session: Session, slot: Slot) -> OutsideRow:
    _slot, venue, adviser = slots.get_slot(session, id_of(slot))
    return OutsideRow(slot, venue, adviser)


def _form_values(page: Page) -> dict[str, str]:
    return {name: page.field(name) for name in FIELDS}


def _save_flash(page: Page, verb: str, changes: agenda.SlotChanges) -> None:
    message = f"L'horaire est {verb}. Créneaux : {changes.created} ouverts, {changes.deleted} retirés."
    if changes.closed:
        message += (
            f" Créneaux déjà réservés qui restent hors des horaires : {changes.closed}."
            " Voyez la liste « Rendez-vous hors des horaires »."
        )
    page.flash(message)


def _render_form(
    page: Page,
    template: str,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    advisers: Sequence[Adviser],
    venues: Sequence[Venue],
    opening: Opening | None = None,
    status_code: int = 200,
) -> Response:
    return page.render(
        template,
        status_code,
        values=values,
        errors=errors,
        opening=opening,
        adviser_options=[(id_of(a), f"{a.name} ({a.organisation})") for a in advisers],
        venue_options=[(id_of(v), v.name) for v in venues],
        day_options=list(enumerate(openings.WEEKDAY_NAMES)),
    )


def _draft_in_reach(session: Session, account: Account, draft: openings.OpeningDraft) -> dict[str, str]:
    venue = session.get(Venue, draft.venue_id)
    if venue is not None and not reaches(account, draft.adviser_id, venue):
        if account.role == "adviser":
            return {"adviser": "Vous ne pouvez créer que vos propres horaires : choisissez votre nom."}
        return {"venue": OUT_OF_REACH}
    return {}


def new_opening(page: Page) -> Response:
    assert page.account is not None
    account = page.account
    with page.runtime.db.transaction() as session:
        advisers, venues = _choices(session, account)
    if page.request.method == "GET":
        values = openings.form_values(None)
        if account.role == "adviser" and account.adviser_id is not None:
            values["adviser"] = str(account.adviser_id)
        return _render_form(page, "openings/new.html", values=values, errors={}, advisers=advisers, venues=venues)
    values = _form_values(page)
    tz = page.runtime.settings.tz
    try:
        draft = openings.parse_draft(values)
        with page.runtime.db.transaction() as session:
            errors = _draft_in_reach(session, account, draft)
            if errors:
                raise openings.OpeningInvalid(errors)
            saved = openings.create_opening(session, draft, actor_id=account.id, now=page.now, tz=tz)
    except openings.OpeningInvalid as error:
        return _render_form(
            page,
            "openings/new.html",
            values=values,
            errors=error.errors,
            advisers=advisers,
            venues=venues,
            status_code=400,
        )
    _save_flash(page, "créé", saved.slots)
    return page.redirect(LIST_PATH)


def _reachable_opening(session: Session, account: Account, opening_id: int) -> Opening | None:
    try:
        opening = openings.get_opening(session, opening_id)
    except NotFound:
        return None
    venue = session.get(Venue, opening.venue_id)
    return opening if venue is not None and reaches(account, opening.adviser_id, venue) else None


def _gone(page: Page) -> Response:
    return page.render(
        "not_found.html", 404, what="Cet horaire n'existe pas ou plus, ou vous ne le gérez pas.", back=LIST_PATH
    )


def edit_opening(page: Page) -> Response:
    assert page.account is not None
    account = page.account
    opening_id = int(page.request.path_params["opening_id"])
    with page.runtime.db.transaction() as session:
        opening = _reachable_opening(session, account, opening_id)
        advisers, venues = _choices(session, account)
    if opening is None:
        return _gone(page)
    if page.request.method == "GET":
        values = openings.form_values(opening)
        return _render_form(
            page, "openings/edit.html", values=values, errors={}, advisers=advisers, venues=venues, opening=opening
        )
    values = _form_values(page)
    tz = page.runtime.settings.tz
    try:
        draft = openings.parse_draft(values)
        with page.runtime.db.transaction() as session:
            errors = _draft_in_reach(session, account, draft)
            if errors:
                raise openings.OpeningInvalid(errors)
            saved = openings.update_opening(session, opening_id, draft, actor_id=account.id, now=page.now, tz=tz)
    except openings.OpeningInvalid as error:
        return _render_form(
            page,
            "openings/edit.html",
            values=values,
            errors=error.errors,
            advisers=advisers,
            venues=venues,
            opening=opening,
            status_code=400,
        )
    except NotFound:
        return _gone(page)
    _save_flash(page, "modifié", saved.slots)
    return page.redirect(LIST_PATH)


def delete_opening(page: Page) -> Response:
    assert page.account is not None
    account = page.account
    opening_id = int(page.request.path_params["opening_id"])
    with page.runtime.db.transaction() as session:
        opening = _reachable_opening(session, account, opening_id)
        venue = session.get(Venue, opening.venue_id) if opening else None
        adviser = session.get(Adviser, opening.adviser_id) if opening else None
    if opening is None or venue is None or adviser is None:
        return _gone(page)
    if page.request.method == "GET":
        return page.render(
            "openings/delete.html",
            opening=opening,
            venue=venue,
            adviser=adviser,
            describe_day=openings.describe_day,
            clock=openings.clock,
        )
    try:
        with page.runtime.db.transaction() as session:
            changes = openings.delete_opening(
                session, opening_id, actor_id=account.id, now=page.now, tz=page.runtime.settings.tz
            )
    except NotFound:
        return _gone(page)
    _save_flash(page, "supprimé", changes)
    return page.redirect(LIST_PATH)


def slot_page(page: Page) -> Response:
    assert page.account is not None
    slot_id = int(page.request.path_params["slot_id"])
    try:
        with page.runtime.db.transaction() as session:
            detail = slots.slot_detail(session, slot_id)
    except NotFound:
        detail = None
    if detail is None or not reaches(page.account, detail.slot.adviser_id, detail.venue):
        return page.render(
            "not_found.html", 404, what="Ce créneau n'existe pas ou plus, ou vous ne le gérez pas.", back=LIST_PATH
        )
    return page.render(
        "openings/slot.html",
        detail=detail,
        appointment_status_names=APPOINTMENT_STATUS_NAMES,
        waitlist_status_names=WAITLIST_STATUS_NAMES,
        past=detail.slot.starts_at <= page.now,
    )
