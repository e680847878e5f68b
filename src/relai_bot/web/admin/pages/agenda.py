"""The agenda (advisers: their own; staff: the venues of their districts; admins: all): a day or a week,
the past appointments still without a status, one appointment with its status and note forms, the CSV of
the period shown, and an adviser's private calendar feed (ICS)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from starlette.responses import Response

from relai_bot.services import appointment_status, audit, timefmt
from relai_bot.services.errors import NotFound
from relai_bot.staff import agenda_feed, agenda_views
from relai_bot.web.admin.guard import Page
from relai_bot.web.admin.pages.residents import answer_labels
from relai_bot.web.admin.spreadsheet import csv_text
from relai_bot.web.admin.templates import CHANNEL_NAMES, appointment_status_name

AGENDA_PATH = "/admin/agenda"
PENDING_PATH = "/admin/agenda/pending"
FEED_PATH = "/admin/agenda/feed"
NOT_FOUND = "Ce rendez-vous n'existe pas, ou il ne fait pas partie de votre agenda."
BAD_DAY = "Écrivez la date sous la forme AAAA-MM-JJ, par exemple 2026-12-03. Voici l'agenda d'aujourd'hui."
PICK_STATUS = "Choisissez un des statuts proposés pour ce rendez-vous."
NOTE_TOO_LONG = "La note dépasse 2 000 caractères : raccourcissez-la, puis enregistrez à nouveau."
# What each status does, beside its radio button (a future excuse frees the place; a past one only says so)
STATUS_HINTS = {
    "service_cancelled": "L'habitant est prévenu par message et la place est proposée à la liste d'attente.",
    "excused_future": "L'habitant a prévenu qu'il ne pourra pas venir. La place est libérée, sans message.",
    "excused": "L'habitant avait prévenu qu'il ne pourrait pas venir.",
    "attended": "L'habitant est venu au rendez-vous.",
    "no_show": "L'habitant n'est pas venu, sans prévenir.",
}
CSV_HEADER = (
    "date",
    "debut",
    "fin",
    "lieu",
    "conseiller",
    "habitant_n",
    "prenom",
    "dispositif",
    "canal",
    "confirme",
    "statut",
)


def agenda_page(page: Page) -> Response:
    assert page.account is not None
    shown = _shown_period(page)
    with page.runtime.db.transaction() as session:
        found = agenda_views.agenda(
            session, page.account, shown.period, now=page.now, hide_cancelled=not shown.with_cancelled
        )
    return page.render(
        "agenda/agenda.html",
        400 if shown.error else 200,
        agenda=found,
        shown=shown,
        error=shown.error,
        today=page.now.astimezone(page.runtime.settings.tz).date(),
        long_day=lambda day: _long_day(page, day),
    )


def pending(page: Page) -> Response:
    assert page.account is not None
    with page.runtime.db.transaction() as session:
        items, total = agenda_views.unstatused_past(session, page.account, page.now)
    return page.render("agenda/pending.html", items=items, total=total, limit=agenda_views.PENDING_LIMIT)


def export_csv(page: Page) -> Response:
    """The period shown, as CSV: no phone number, no note, no questionnaire answer (see the README)."""
    assert page.account is not None
    shown = _shown_period(page)
    period = shown.period
    with page.runtime.db.transaction() as session:
        found = agenda_views.agenda(
            session, page.account, period, now=page.now, hide_cancelled=not shown.with_cancelled
        )
        detail = {"from": period.first.isoformat(), "to": period.last.isoformat(), "rows": len(found.items)}
        audit.record(session, page.account.id, audit.AGENDA_EXPORTED, "agenda", detail, at=page.now)
    tz = page.runtime.settings.tz
    rows = []
    for item in found.items:
        start, end = item.starts_at.astimezone(tz), item.ends_at.astimezone(tz)
        rows.append(
            (
                start.date().isoformat(),
                start.strftime("%H:%M"),
                end.strftime("%H:%M"),
                item.venue,
                item.adviser,
                item.resident_id,
                item.first_name or "",
                item.scheme or "",
                CHANNEL_NAMES.get(item.channel, item.channel),
                "oui" if item.confirmed_at else "non",
                appointment_status_name(item.status, item.past),
            )
        )
    name = f"agenda-{period.first.isoformat()}" + (f"-au-{period.last.isoformat()}" if period.week else "")
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    return Response(csv_text(CSV_HEADER, rows), media_type="text/csv; charset=utf-8", headers=headers)


def appointment_page(page: Page) -> Response:
    return _detail(page, {})


def set_status(page: Page) -> Response:
    assert page.account is not None
    settings = page.runtime.settings
    wanted = page.field("status")
    try:
        with page.runtime.db.transaction() as session:
            item = agenda_views.appointment_detail(session, page.account, _appointment_id(page), now=page.now)
            if wanted not in item.allowed:
                raise appointment_status.StatusNotAllowed(wanted)
            appointment_status.set_status(
                session,
                appointment_id=item.id,
                status=wanted,
                actor_id=page.account.id,
                now=page.now,
                tz=settings.tz,
                follow_up_at=settings.no_show_follow_up_at,
            )
            notice = agenda_views.queued_notice(session, item.id)
    except NotFound:
        return _not_found(page)
    except appointment_status.StatusNotAllowed:
        return _detail(page, {"status": PICK_STATUS}, 400)
    page.flash(_status_done(page, wanted, future=item.starts_at > page.now, notice=notice))
    return page.redirect(f"/admin/appointments/{item.id}")


def set_note(page: Page) -> Response:
    assert page.account is not None
    note = page.field("note")
    try:
        with page.runtime.db.transaction() as session:
            item = agenda_views.appointment_detail(session, page.account, _appointment_id(page), now=page.now)
            appointment_status.set_note(
                session, appointment_id=item.id, note=note, actor_id=page.account.id, now=page.now
            )
    except NotFound:
        return _not_found(page)
    except appointment_status.NoteTooLong:
        return _detail(page, {"note": NOTE_TOO_LONG}, 400, note=note)
    page.flash("La note est enregistrée." if note else "La note est effacée.")
    return page.redirect(f"/admin/appointments/{item.id}")


def feed_page(page: Page) -> Response:
    """GET: the feed's state for one adviser (an admin picks which); POST: create, regenerate or revoke."""
    assert page.account is not None
    with page.runtime.db.transaction() as session:
        advisers = agenda_feed.reachable_advisers(session, page.account)
    chosen = _chosen_adviser(page, advisers)
    if chosen is None:
        return page.render("agenda/feed.html", advisers=advisers, adviser=None, url=None)
    url = None
    if page.request.method == "POST":
        action = page.field("action")
        with page.runtime.db.transaction() as session:
            if action == "revoke":
                revoked = agenda_feed.revoke_token(session, page.account, chosen, now=page.now)
                page.flash(
                    "Le lien est supprimé : l'agenda ne s'affiche plus dans les calendriers abonnés."
                    if revoked
                    else "Il n'y avait pas de lien à supprimer."
                )
            else:
                token = agenda_feed.issue_token(session, page.account, chosen, now=page.now)
                url = _feed_url(page, token)
    with page.runtime.db.transaction() as session:
        adviser = agenda_feed.feed_adviser(session, page.account, chosen)
    return page.render("agenda/feed.html", advisers=advisers, adviser=adviser, url=url)


# --- helpers -------------------------------------------------------------------------------------------


class ShownPeriod:
    """The period a request asks for (?day=, ?view=week, ?annules=1) and the links around it."""

    def __init__(self, period: agenda_views.Period, day: date, *, with_cancelled: bool, error: str | None) -> None:
        self.period, self.day, self.with_cancelled, self.error = period, day, with_cancelled, error
        self.week = period.week
        step = timedelta(days=7 if self.week else 1)
        self.previous, self.next = day - step, day + step

    def query(self, *, day: date | None = None, week: bool | None = None, cancelled: bool | None = None) -> str:
        """The query string of this view with some of it changed."""
        values: list[str] = [f"day={(day or self.day).isoformat()}"]
        if self.week if week is None else week:
            values.append("view=week")
        if self.with_cancelled if cancelled is None else cancelled:
            values.append("annules=1")
        return "?" + "&".join(values)


def _shown_period(page: Page) -> ShownPeriod:
    query = page.request.query_params
    tz = page.runtime.settings.tz
    today = page.now.astimezone(tz).date()
    error = None
    raw = query.get("day", "").strip()
    try:
        day = date.fromisoformat(raw) if raw else today
    except ValueError:
        day, error = today, BAD_DAY
    week = query.get("view") == "week"
    period = agenda_views.period_of(day, tz, week=week)
    return ShownPeriod(period, day, with_cancelled=query.get("annules") == "1", error=error)


def _long_day(page: Page, day: date) -> str:
    return timefmt.format_day(
        datetime.combine(day, time(12), tzinfo=page.runtime.settings.tz), page.runtime.settings.tz
    )


def _appointment_id(page: Page) -> int:
    return int(page.request.path_params["appointment_id"])


def _detail(page: Page, errors: dict[str, str], status_code: int = 200, **values: Any) -> Response:
    assert page.account is not None
    try:
        with page.runtime.db.transaction() as session:
            item = agenda_views.appointment_detail(session, page.account, _appointment_id(page), now=page.now)
    except NotFound:
        return _not_found(page)
    hints = {
        s: STATUS_HINTS["excused_future" if s == "excused" and item.starts_at > page.now else s] for s in item.allowed
    }
    follow_up = page.runtime.settings.no_show_follow_up_at
    if "no_show" in hints:
        hints["no_show"] += (
            f" Il recevra le matin suivant à {_clock(follow_up)} (sauf dimanche et jour férié) un message pour"
            " reprendre rendez-vous."
            if follow_up
            else " Aucun message ne lui est envoyé (la relance est désactivée)."
        )
    return page.render(
        "agenda/appointment.html",
        status_code,
        item=item,
        errors=errors,
        hints=hints,
        note=values.get("note", item.note or ""),
        answer=answer_labels(page),
        channel_names=CHANNEL_NAMES,
        back=f"{AGENDA_PATH}?day={item.starts_at.astimezone(page.runtime.settings.tz).date().isoformat()}",
    )


def _clock(moment: time) -> str:
    return f"{moment.hour} h {moment.minute:02d}" if moment.minute else f"{moment.hour} h"


def _status_done(page: Page, status: str, *, future: bool, notice: datetime | None) -> str:
    """What the flash says once a status is set: what it is now, and what happens next (from the message
    actually queued for the resident, if any)."""
    if status == "service_cancelled":
        if notice is None:
            return (
                "Le rendez-vous est annulé et la place est proposée à la liste d'attente. L'habitant n'a pas pu "
                "être prévenu : aucun moyen de le joindre par message. Appelez-le si vous le pouvez."
            )
        return "Le rendez-vous est annulé. L'habitant est prévenu et la place est proposée à la liste d'attente."
    if status == "excused" and future:
        return "Le rendez-vous est marqué « Excusé ». La place est libérée pour un autre habitant, sans message."
    name = appointment_status_name(status)
    if status == "no_show":
        if notice is not None:
            when = timefmt.format_when(notice, page.runtime.settings.tz)
            return (
                f"Le rendez-vous est marqué « {name} ». "
                f"L'habitant recevra {when} un message pour reprendre rendez-vous."
            )
        if page.runtime.settings.no_show_follow_up_at is None:
            return f"Le rendez-vous est marqué « {name} ». Aucun message n'est envoyé : la relance est désactivée."
        return (
            f"Le rendez-vous est marqué « {name} ». Aucun message n'est envoyé : le rendez-vous date de plus "
            "d'une semaine, ou l'habitant ne peut pas être joint par message."
        )
    return f"Le rendez-vous est marqué « {name} »."


def _chosen_adviser(page: Page, advisers: list[Any]) -> int | None:
    """The adviser whose feed the page shows: an adviser's own; an admin's choice (?adviser= or the form)."""
    assert page.account is not None
    if page.account.role == "adviser":
        return page.account.adviser_id
    raw = page.field("adviser") if page.request.method == "POST" else page.request.query_params.get("adviser", "")
    wanted = int(raw) if raw.isdigit() else None
    return wanted if wanted in {a.id for a in advisers} else None


def _feed_url(page: Page, token: str) -> str:
    url = page.request.url
    base = (page.runtime.settings.public_url or f"{url.scheme}://{url.netloc}").rstrip("/")
    return f"{base}/calendar/{token}.ics"


def _not_found(page: Page) -> Response:
    return page.render("not_found.html", 404, what=NOT_FOUND, back=AGENDA_PATH)
