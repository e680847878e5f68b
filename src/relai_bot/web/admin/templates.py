"""The back-office's Jinja2 environment: HTML with autoescape on, apart from the residents' sandboxed texts."""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from relai_bot.conversation.content import content_root
from relai_bot.services import timefmt

ROLE_NAMES = {"admin": "administrateur", "staff": "agent de quartier", "adviser": "conseiller"}
# A broadcast's state (services.broadcast_reports.STATES), its messages' statuses (OUTBOX_STATUSES), why a
# resident is left out (services.broadcasts.EXCLUSION_REASONS), and the channels, as staff read them
STATE_NAMES = {
    "pending_approval": "en attente d'approbation",
    "scheduled": "programmée",
    "sending": "en cours d'envoi",
    "done": "terminée",
    "interrupted": "interrompue",
}
STATUS_NAMES = {
    "pending": "en attente",
    "sending": "en cours",
    "sent": "envoyés",
    "delivered": "remis",
    "failed": "échec",
    "skipped": "non envoyés",
}
EXCLUSION_NAMES = {
    "no_opportunities": "Pas inscrits aux offres",
    "stopped": "Ont demandé l'arrêt des messages (STOP)",
    "unreachable": "Ne sont plus joignables",
    "no_channel": "Sans Telegram ni SMS joignable",
    "weekly_cap": "Ont déjà reçu le maximum de diffusions de la semaine",
}
CHANNEL_NAMES = {"telegram": "Telegram", "sms": "SMS"}
# A resident's language (Resident.language) as staff read it
LANGUAGE_NAMES = {"fr": "français", "rcf": "créole réunionnais (kréol)"}
# An appointment's status (store.models.agenda.APPOINTMENT_STATUSES) as staff read it: the agenda's pages,
# its CSV and calendar feed all take it from here
APPOINTMENT_STATUS_NAMES = {
    "booked": "Prévu",
    "cancelled": "Annulé par l'habitant",
    "service_cancelled": "Annulé par le service",
    "excused": "Excusé",
    "attended": "Venu",
    "no_show": "Absent",
}
UNSTATUSED_PAST = "À renseigner"


def appointment_status_name(status: str, past: bool = False) -> str:
    """ "Prévu" while to come; a past appointment still "booked" has its status to fill in."""
    if status == "booked" and past:
        return UNSTATUSED_PAST
    return APPOINTMENT_STATUS_NAMES.get(status, status)


def admin_templates_dir() -> Path:
    """templates/admin of the shipped copy (staff pages belong to the program, not to RELAI_CONTENT_DIR)."""
    return content_root() / "templates" / "admin"


def admin_environment(tz: ZoneInfo) -> Environment:
    env = Environment(
        loader=FileSystemLoader(admin_templates_dir()),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def local_time(moment: datetime | None) -> str:
        return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M") if moment is not None else ""

    def local_date(moment: datetime | None) -> str:
        return moment.astimezone(tz).strftime("%d/%m/%Y") if moment is not None else ""

    env.filters["local_time"] = local_time
    env.filters["when"] = lambda moment: timefmt.format_when(moment, tz) if moment is not None else ""
    env.filters["local_input"] = lambda moment: moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if moment else ""
    env.filters["telegram_text"] = html.unescape  # a sent Telegram text is escaped HTML; the page escapes it again
    for name, names in (
        ("state_name", STATE_NAMES),
        ("status_name", STATUS_NAMES),
        ("excluded_name", EXCLUSION_NAMES),
        ("channel_name", CHANNEL_NAMES),
        ("language_name", LANGUAGE_NAMES),
    ):
        env.filters[name] = lambda value, names=names: names.get(str(value), str(value))
    env.filters["local_date"] = local_date
    env.filters["appointment_status"] = appointment_status_name
    env.filters["clock"] = lambda moment: timefmt.format_clock(moment, tz)
    env.filters["day"] = lambda moment: timefmt.format_day(moment, tz)
    env.filters["role_name"] = lambda role: ROLE_NAMES.get(str(role), str(role))
    return env
