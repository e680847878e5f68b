"""Advisers' absences (everyone, within staff/agenda_access's reach): the list, a new one with the report of
the appointments moved or cancelled, and deleting one (its slots come back)."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session
from starlette.responses import Response

from relai_bot.services import absences, openings, timefmt
from relai_bot.services.accounts import Account
from relai_bot.services.errors import NotFound
from relai_bot.store.models import Absence, Adviser, id_of
from relai_bot.web.admin.guard import Page
from relai_bot.web.admin.pages.openings import reaches

LIST_PATH = "/admin/absences"
FIELDS = ("adviser", "start_date", "start_time", "end_date", "end_time", "reason")


def reachable_advisers(session: Session, account: Account) -> list[Adviser]:
    """The advisers whose absences this account records: an administrator all, an adviser their own,
    neighbourhood staff those who receive at a venue of their districts (agenda_access's rule)."""
    everyone = openings.advisers(session)
    if account.is_admin:
        return everyone
    if account.role == "adviser":
        return [a for a in everyone if a.id == account.adviser_id]
    reached = {id_of(r.adviser) for r in openings.list_openings(session) if reaches(account, id_of(r.adviser), r.venue)}
    return [a for a in everyone if a.id in reached]


def period(absence: Absence, tz: ZoneInfo) -> str:
    """« le lundi 7 décembre, toute la journée », « du lundi 7 décembre à 13 h 30 au mardi 8 décembre à 12 h »"""
    start, end = absence.starts_at.astimezone(tz), absence.ends_at.astimezone(tz)
    if start.time() == time(0) and end.time() == time(0):
        last = end - timedelta(days=1)
        if last.date() == start.date():
            return f"le {timefmt.format_day(start, tz)}, toute la journée"
        return f"du {timefmt.format_day(start, tz)} au {timefmt.format_day(last, tz)}, journées entières"
    return f"du {timefmt.format_when(start, tz)} au {timefmt.format_when(end, tz)}"


def _options(advisers: list[Adviser]) -> list[tuple[int, str]]:
    return [(id_of(a), f"{a.name} ({a.organisation})") for a in advisers]


def absence_list(page: Page) -> Response:
    assert page.account is not None
    with page.runtime.db.transaction() as session:
        allowed = {id_of(a) for a in reachable_advisers(session, page.account)}
        rows = [r for r in absences.list_absences(session, now=page.now) if r.absence.adviser_id in allowed]
    tz = page.runtime.settings.tz
    return page.render("openings/absences.html", rows=rows, may_add=bool(allowed), period=lambda a: period(a, tz))


def new_absence(page: Page) -> Response:
    assert page.account is not None
    account = page.account
    tz = page.runtime.settings.tz
    with page.runtime.db.transaction() as session:
        advisers = reachable_advisers(session, account)
    if page.request.method == "GET":
        values = {name: "" for name in FIELDS}
        if len(advisers) == 1:
            values["adviser"] = str(advisers[0].id)
        return page.render("openings/absence_new.html", values=values, errors={}, adviser_options=_options(advisers))
    values = {name: page.field(name) for name in FIELDS}
    try:
        draft = absences.parse_absence(values, tz=tz)
        if draft.adviser_id not in {id_of(a) for a in advisers}:
            raise absences.AbsenceInvalid(
                {"adviser": "Choisissez un conseiller de la liste : vous ne gérez pas celui-ci."}
            )
        with page.runtime.db.transaction() as session:
            report = absences.record_absence(
                session,
                draft,
                actor_id=account.id,
                now=page.now,
                tz=tz,
                follow_up_at=page.runtime.settings.no_show_follow_up_at,
            )
            adviser_names = {id_of(a): a.name for a in openings.advisers(session)}
    except absences.AbsenceInvalid as error:
        return page.render(
            "openings/absence_new.html", 400, values=values, errors=error.errors, adviser_options=_options(advisers)
        )
    moved, cancelled = len(report.moved), len(report.cancelled)
    summary = (
        f"{moved} rendez-vous déplacé{'s' if moved > 1 else ''}, {cancelled} annulé{'s' if cancelled > 1 else ''}"
        + (" ; chaque habitant est prévenu." if moved or cancelled else " : aucun rendez-vous n'était pris.")
    )
    page.flash(f"L'absence est enregistrée. {summary}")
    return page.render(
        "openings/absence_report.html",
        report=report,
        adviser_name=adviser_names.get(draft.adviser_id, ""),
        when=period(report.absence, tz),
        adviser_names=adviser_names,
    )


def delete_absence(page: Page) -> Response:
    assert page.account is not None
    absence_id = int(page.request.path_params["absence_id"])
    try:
        with page.runtime.db.transaction() as session:
            absence = absences.get_absence(session, absence_id)
            if absence.adviser_id not in {id_of(a) for a in reachable_advisers(session, page.account)}:
                raise NotFound(f"absence {absence_id}")
            changes = absences.delete_absence(
                session, absence_id, actor_id=page.account.id, now=page.now, tz=page.runtime.settings.tz
            )
    except NotFound:
        return page.render(
            "not_found.html", 404, what="Cette absence n'existe pas ou plus, ou vous ne la gérez pas.", back=LIST_PATH
        )
    page.flash(
        f"L'absence est supprimée : {changes.created} créneau{'x' if changes.created > 1 else ''} de nouveau ouvert"
        f"{'s' if changes.created > 1 else ''}. Les rendez-vous annulés restent annulés."
    )
    return page.redirect(LIST_PATH)
