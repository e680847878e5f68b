"""What the bot says to staff (the Telegram /diffuser exchange): plain-text Jinja2 templates of their own.

templates/staff/telegram/<name>.j2 are the program's own (like templates/admin/, not RELAI_CONTENT_DIR) and
apart from the residents' templates/messages/; autoescape is off because they are plain text: the Telegram
channel escapes every reply for its HTML. Button labels are in templates/staff/telegram/labels.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from relai_bot.conversation.content import content_root
from relai_bot.conversation.render import tidy


def staff_templates_dir() -> Path:
    return content_root() / "templates" / "staff"


class StaffTexts:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or staff_templates_dir()
        self.env = Environment(
            loader=FileSystemLoader(str(self.root)),
            autoescape=False,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.labels: dict[str, str] = yaml.load(
            (self.root / "telegram" / "labels.yaml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader
        )

    def render(self, template: str, /, **context: Any) -> str:
        return tidy(self.env.get_template(f"telegram/{template}.j2").render(**context))

    def label(self, key: str, /, **context: Any) -> str:
        raw = self.labels[key]
        return self.env.from_string(raw).render(**context) if "{" in raw else raw
