"""Broadcasts (staff and admins): the list, the composer (audience, message, timing, then a preview to
confirm), a live preview fragment (htmx), a broadcast's page with its progress, approval, interruption and
report, and the report as CSV.

Every rule is a service's: who is reached and who is left out (services.broadcasts.audience), what each
channel sends and what it costs (staff.compose.preview), the district scope (staff.compose.check_scope),
approval (staff.compose.approval_reasons, services.broadcasts.approve), what an account may see or stop
(staff.broadcast_access). The page only reads the form, asks them, and shows the answers.

Sending needs a confirmation of the very preview shown: the form carries a fingerprint of the draft and of
what the preview said (recipients, SMS segments, cost). When anything differs at the moment of sending (the
text was edited, a resident stopped meanwhile), the new preview is shown again to be confirmed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session
from starlette.responses import Response

from relai_bot.services import accounts, broadcast_content, broadcasts, timefmt
from relai_bot.services.accounts import Account
from relai_bot.services.broadcast_reports import CSV_HEADER, BroadcastReport, broadcast_report
from relai_bot.services.broadcast_text import PLACEHOLDERS, BroadcastTextError
from relai_bot.services.errors import ApprovalRefused, BroadcastClosed, NotFound, OutOfScope
from relai_bot.staff import broadcast_access, compose
from relai_bot.store.models import Broadcast, Scheme, Venue, id_of
from relai_bot.store.models.delivery import OUTBOX_STATUSES
from relai_bot.web.admin.guard import Page
from relai_bot.web.admin.spreadsheet import csv_text
from relai_bot.web.admin.templates import STATUS_NAMES

LIST_PATH = "/admin/broadcasts"
# How long a finished broadcast's page keeps waiting for SMS delivery reports
RECEIPT_WAIT = timedelta(hours=1)
NOT_FOUND = "Cette diffusion n'existe pas, ou elle n'est pas adressée à vos quartiers."
# The filters on residents' answers: the form's field names, which are also the labels' prefixes
FILTERS = ("age", "situation", "goal")


@dataclass
class Form:
    """What staff typed, as typed (shown again with errors), and the draft it makes when valid."""

    values: dict[str, str]
    districts: list[str]
    filters: dict[str, list[str]]
    errors: dict[str, str] = field(default_factory=dict)
    draft: broadcasts.BroadcastDraft | None = None


def _read_form(page: Page) -> Form:
    names = ("title", "text", "text_rcf", "link", "scheme", "venue", "event_at", "when", "scheduled_at", "confirm")
    values = {name: page.field(name) for name in names}
    values["when"] = values["when"] or "now"
    form = Form(values, page.fields("districts"), {name: page.fields(name) for name in FILTERS})
    tz = page.runtime.settings.tz
    if not form.districts:
        form.errors["districts"] = "Cochez au moins un quartier."
    if not values["text"]:
        form.errors["text"] = "Écrivez le message."
    event_at = scheduled_at = None
    try:
        if values["event_at"]:
            event_at = compose.local_time(values["event_at"], tz, field="event_at")
    except BroadcastTextError:
        form.errors["event_at"] = "Écrivez la date et l'heure de l'événement, par exemple 05/12/2026 09:30."
    if values["when"] == "later":
        if not values["scheduled_at"]:
            form.errors["scheduled_at"] = "Choisissez le jour et l'heure de l'envoi, ou « Dès que possible »."
        else:
            try:
                scheduled_at = compose.local_time(values["scheduled_at"], tz)
            except BroadcastTextError:
                form.errors["scheduled_at"] = "Écrivez le jour et l'heure de l'envoi, par exemple 05/12/2026 09:30."
    if not form.errors:
        form.draft = broadcasts.BroadcastDraft(
            districts=form.districts,
            text=values["text"],
            texts={"rcf": values["text_rcf"]},
            title=values["title"] or None,
            link=values["link"] or None,
            scheme=values["scheme"] or None,
            venue=values["venue"] or None,
            event_at=event_at,
            age_brackets=form.filters["age"],
            situations=form.filters["situation"],
            goals=form.filters["goal"],
            scheduled_at=scheduled_at,
        )
    return form


def _preview(page: Page, session: Session, form: Form) -> compose.BroadcastPreview | None:
    """The preview of a valid form, or None with the errors put beside their fields."""
    if form.draft is None or page.account is None:
        return None
    try:
        return compose.preview(
            session,
            form.draft,
            renderer=page.runtime.renderer,
            settings=page.runtime.settings,
            now=page.now,
            account=page.account,
        )
    except BroadcastTextError as error:
        form.errors[error.field] = str(error)
    except OutOfScope as error:
        form.errors["districts"] = str(error)
    except NotFound as error:
        what = str(error).split(" ", 1)[0]
        form.errors[{"district": "districts", "scheme": "scheme", "venue": "venue"}.get(what, "text")] = (
            "Ce choix n'existe plus. Rechargez la page et choisissez à nouveau."
        )
    return None


def fingerprint(draft: broadcasts.BroadcastDraft, shown: compose.BroadcastPreview) -> str:
    """What a confirmation confirms: the draft and the preview's figures."""
    facts: dict[str, Any] = {
        "draft": {
            "districts": sorted(draft.districts),
            "text": draft.text.strip(),
            "texts": draft.translations(),
            "title": draft.title,
            "link": draft.link,
            "scheme": draft.scheme,
            "venue": draft.venue,
            "event_at": draft.event_at.isoformat() if draft.event_at else None,
            "filters": draft.filters(),
            "scheduled_at": draft.scheduled_at.isoformat() if draft.scheduled_at else None,
        },
        "recipients": shown.recipients,
        "by_channel": shown.by_channel,
        "versions": shown.versions.read,
        "segments": shown.sms_estimate.segments_total,
        "cost": str(shown.sms_estimate.cost),
        "approval": bool(shown.approval),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]


def _choices(page: Page, session: Session) -> dict[str, Any]:
    """What the form offers: the account's districts, the answers residents could give, verified schemes
    and venues, the placeholders."""
    assert page.account is not None
    renderer = page.runtime.renderer
    labels = renderer.labels[renderer.default_language]

    def answers(prefix: str) -> list[tuple[str, str]]:
        return [(key.split(".", 1)[1], str(label)) for key, label in labels.items() if key.startswith(prefix + ".")]

    return {
        "districts": accounts.visible_districts(session, page.account),
        "answers": {name: answers(name) for name in FILTERS},
        "schemes": broadcasts.announceable(session, Scheme),
        "venues": broadcasts.announceable(session, Venue),
        "placeholders": PLACEHOLDERS,
        "price": page.runtime.settings.sms_price_per_segment,
        "currency": page.runtime.settings.sms_currency,
        "approval_above": page.runtime.settings.broadcast_approval_above,
        "approval_cost": page.runtime.settings.broadcast_approval_cost,
        "now": page.now,
        "opt_out": page.runtime.settings.sms_opt_out_mention,
    }


def broadcast_list(page: Page) -> Response:
    assert page.account is not None
    with page.runtime.db.transaction() as session:
        rows = broadcast_access.list_broadcasts(session, page.account, page.now)
    waiting = [row for row in rows if row.approvable]
    return page.render("broadcasts/list.html", broadcasts=rows, waiting=waiting)


def new_broadcast(page: Page) -> Response:
    """GET: the empty composer. POST: `step=preview` shows the preview to confirm; `step=send` sends what
    was confirmed (or shows the new preview when it changed)."""
    with page.runtime.db.transaction() as session:
        choices = _choices(page, session)
        if page.request.method == "GET":
            form = Form({"when": "now"}, [], {name: [] for name in FILTERS})
            return page.render("broadcasts/new.html", form=form, shown=None, confirm="", **choices)
        form = _read_form(page)
        shown = _preview(page, session, form)
    if shown is None or form.draft is None:
        return page.render("broadcasts/new.html", 400, form=form, shown=None, confirm="", **choices)
    confirm = fingerprint(form.draft, shown)
    if page.field("step") != "send":
        return page.render("broadcasts/new.html", form=form, shown=shown, confirm=confirm, **choices)
    if form.values["confirm"] != confirm:
        page.flash("Le message ou son audience a changé depuis l'aperçu. Vérifiez le nouvel aperçu, puis confirmez.")
        return page.render("broadcasts/new.html", 409, form=form, shown=shown, confirm=confirm, **choices)
    assert page.account is not None
    try:
        with page.runtime.db.transaction() as session:
            done = compose.submit(
                session,
                form.draft,
                renderer=page.runtime.renderer,
                settings=page.runtime.settings,
                now=page.now,
                created_by=page.account.login,
                author=page.account,
            )
            broadcast_id = done.broadcast.id
    except (BroadcastTextError, OutOfScope, NotFound) as error:
        form.errors["text"] = str(error)
        return page.render("broadcasts/new.html", 400, form=form, shown=None, confirm="", **choices)
    if done.broadcast.status == "pending_approval":
        page.flash("La diffusion est enregistrée. Elle attend l'accord d'un autre administrateur avant de partir.")
    else:
        page.flash(f"La diffusion est partie vers {done.broadcast.recipients} habitants. Suivez son envoi ici.")
    return page.redirect(f"{LIST_PATH}/{broadcast_id}")


def preview_fragment(page: Page) -> Response:
    """The live preview beside the form (htmx): the same preview, or what to fix."""
    with page.runtime.db.transaction() as session:
        choices = _choices(page, session)
        form = _read_form(page)
        shown = _preview(page, session, form)
    confirm = fingerprint(form.draft, shown) if shown is not None and form.draft is not None else ""
    return page.render("broadcasts/_preview.html", form=form, shown=shown, confirm=confirm, live=True, **choices)


def _broadcast_id(page: Page) -> int:
    return int(page.request.path_params["broadcast_id"])


def broadcast_page(page: Page) -> Response:
    assert page.account is not None
    try:
        with page.runtime.db.transaction() as session:
            context = _detail(session, page, _broadcast_id(page))
    except NotFound:
        page.flash(NOT_FOUND)
        return page.redirect(LIST_PATH)
    return page.render("broadcasts/detail.html", **context)


def progress_fragment(page: Page) -> Response:
    """The progress part of a broadcast's page, polled by htmx while it is not over."""
    try:
        with page.runtime.db.transaction() as session:
            context = _detail(session, page, _broadcast_id(page))
    except NotFound:
        return page.render("broadcasts/_gone.html")
    return page.render("broadcasts/_progress.html", live=True, **context)


def _detail(session: Session, page: Page, broadcast_id: int) -> dict[str, Any]:
    assert page.account is not None
    broadcast, district_ids = broadcast_access.visible_broadcast(session, page.account, broadcast_id)
    report = broadcast_report(session, broadcast_id, page.now)
    content = broadcast_content.content_of(session, broadcast)
    names = {d.code: d.name for d in accounts.all_districts(session)}
    author = accounts.get_account(session, broadcast.author_id) if broadcast.author_id else None
    approver = accounts.get_account(session, broadcast.approved_by_id) if broadcast.approved_by_id else None
    starts = broadcasts.starts_at(
        broadcast.scheduled_at, broadcast.created_at, page.runtime.settings.tz, page.runtime.settings.sending_window
    )
    return {
        "broadcast": broadcast,
        "state_sentence": _state_sentence(report, starts, page.runtime.settings.tz),
        "statuses": OUTBOX_STATUSES,
        "filters": _filters_shown(page, broadcast.filters),
        "content": content,
        "report": report,
        "district_names": [names.get(code, code) for code in broadcast.districts],
        "author_name": author.name if author else broadcast.created_by,
        "approver_name": approver.name if approver else None,
        "starts_at": starts,
        "may_interrupt": broadcast_access.may_interrupt(page.account, broadcast, district_ids)
        and report.state not in ("done", "interrupted"),
        "may_approve": broadcast_access.may_approve(page.account, broadcast),
        "polling": _still_moving(report, broadcast.created_at, page.now),
    }


def _still_moving(report: BroadcastReport, created_at: datetime, now: datetime) -> bool:
    """Whether the page keeps asking for news: while messages wait or go, and while SMS sent wait for their
    delivery report (Twilio's can come minutes later), for RECEIPT_WAIT after the broadcast was written."""
    if report.state in ("scheduled", "sending"):
        return True
    awaiting = report.by_channel.get("sms", {}).get("sent", 0)
    return report.state == "done" and awaiting > 0 and now - created_at < RECEIPT_WAIT


def _state_sentence(report: BroadcastReport, starts: datetime, tz: ZoneInfo) -> str:
    """Where the broadcast stands, in one sentence (announced to screen readers when it changes; so the
    sentence changes with the state, not with every message sent)."""
    counts = report.by_status
    if report.state == "pending_approval":
        return "En attente : un administrateur autre que son auteur doit l'approuver."
    if report.state == "scheduled":
        return f"Programmée : l'envoi commencera {timefmt.format_when(starts, tz)}."
    if report.state == "sending":
        return "Envoi en cours."
    done = ", ".join(f"{n} {STATUS_NAMES.get(status, status)}" for status, n in counts.items()) or "aucun message"
    if report.state == "interrupted":
        return f"Interrompue. Messages : {done}."
    return f"Terminée. Messages : {done}."


def _filters_shown(page: Page, filters: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """A broadcast's filters as staff chose them: (what, [answers]) in French."""
    renderer = page.runtime.renderer
    shown = []
    for key, prefix, name in (
        ("age_brackets", "age", "Âge"),
        ("situations", "situation", "Situation"),
        ("goals", "goal", "Ce qu'ils cherchent"),
    ):
        if filters.get(key):
            shown.append((name, [renderer.label(f"{prefix}.{value}", None) for value in filters[key]]))
    return shown


def _act(page: Page, act: Callable[[Session, Account, Broadcast, list[int]], str]) -> Response:
    """Run a staff action on a broadcast this account sees (NotFound otherwise), flash what it says, and
    come back to the broadcast's page. `act` returns the status message; a DomainError's is its own."""
    assert page.account is not None
    broadcast_id = _broadcast_id(page)
    try:
        with page.runtime.db.transaction() as session:
            broadcast, district_ids = broadcast_access.visible_broadcast(session, page.account, broadcast_id)
            page.flash(act(session, page.account, broadcast, district_ids))
    except NotFound:
        page.flash(NOT_FOUND)
        return page.redirect(LIST_PATH)
    except BroadcastClosed:
        page.flash("Cette diffusion était déjà interrompue.")
    except ApprovalRefused:
        page.flash("Vous ne pouvez pas approuver cette diffusion : il faut un autre administrateur que son auteur.")
    return page.redirect(f"{LIST_PATH}/{broadcast_id}")


def interrupt(page: Page) -> Response:
    def stop(session: Session, account: Account, broadcast: Broadcast, district_ids: list[int]) -> str:
        if not broadcast_access.may_interrupt(account, broadcast, district_ids):
            return "Seuls son auteur, un administrateur ou l'agent de tous ses quartiers peuvent l'interrompre."
        skipped = broadcasts.interrupt(session, id_of(broadcast), page.now, actor_id=account.id)
        return f"Diffusion interrompue : {skipped} messages ne partiront pas. Ceux déjà en route arrivent."

    return _act(page, stop)


def approve(page: Page) -> Response:
    def let_go(session: Session, account: Account, broadcast: Broadcast, district_ids: list[int]) -> str:
        per_week = page.runtime.settings.broadcasts_per_week
        done = broadcasts.approve(session, id_of(broadcast), account.id, page.now, per_week=per_week)
        return f"Diffusion approuvée : elle part vers {done.recipients} habitants."

    return _act(page, let_go)


def report_csv(page: Page) -> Response:
    """The report as CSV (counts only: no number, no name)."""
    assert page.account is not None
    broadcast_id = _broadcast_id(page)
    try:
        with page.runtime.db.transaction() as session:
            broadcast_access.visible_broadcast(session, page.account, broadcast_id)
            report = broadcast_report(session, broadcast_id, page.now)
    except NotFound:
        page.flash(NOT_FOUND)
        return page.redirect(LIST_PATH)
    headers = {"Content-Disposition": f'attachment; filename="diffusion-{broadcast_id}.csv"'}
    return Response(csv_text(CSV_HEADER, report.csv_rows()), media_type="text/csv; charset=utf-8", headers=headers)
