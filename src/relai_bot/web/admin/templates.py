"""The back-office's Jinja2 environment: HTML with autoescape on, apart from the residents' sandboxed texts."""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from relai_bot.conversation.content import content_root

ROLE_NAMES = {"admin": "administrateur", "staff": "agent de quartier", "adviser": "conseiller"}


def admin_templates_dir() -> Path:
    """templates/admin of the shipped copy (staff pages belong to the program, not to RELAI_CONTENT_DIR)."""
    return content_root() / "templates" / "admin"


def admin_environment(tz: tzinfo) -> Environment:
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
    env.filters["local_date"] = local_date
    env.filters["role_name"] = lambda role: ROLE_NAMES.get(str(role), str(role))
    return env
