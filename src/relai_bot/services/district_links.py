"""How a poster names a district to the bot, declared once: the posters print it, onboarding reads it.

- Telegram: the deep link https://t.me/<bot username>?start=<payload>, whose payload is the district's code
  (Telegram allows 1 to 64 characters among A-Z a-z 0-9 _ -, which district codes are).
- SMS: the word to send as a first message, the district's code with spaces ("saint laurent").

`district_of_start` reads both back: the exact code first, then what a person typed (`match_district`: names,
aliases, typos), so an old link or a misspelt word still finds its district.
"""

from __future__ import annotations

import re

from sqlmodel import Session, select

from relai_bot.services.residents import match_district
from relai_bot.store.models import District

TELEGRAM_LINK = "https://t.me/{username}?start={payload}"
# What Telegram accepts as a start parameter
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def start_payload(district_code: str) -> str:
    """The deep link's start parameter that presets this district."""
    if not _PAYLOAD.fullmatch(district_code):
        raise ValueError(f"district code {district_code!r} cannot be a Telegram start parameter")
    return district_code


def telegram_link(username: str, district_code: str) -> str:
    """The deep link a poster's QR code holds (`username`: settings.telegram_bot_username, checked there)."""
    return TELEGRAM_LINK.format(username=username, payload=start_payload(district_code))


def sms_word(district_code: str) -> str:
    """The word a resident sends by SMS to preset this district ("saint laurent")."""
    return district_code.replace("-", " ")


def district_of_start(session: Session, payload: str) -> District | None:
    """The district a deep link's payload or a first message names; None when it names none."""
    text = payload.strip()[:64]
    if not text:
        return None
    exact = session.exec(select(District).where(District.code == text)).first()
    return exact if exact is not None else match_district(session, text.replace("-", " "))
