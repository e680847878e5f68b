"""District posters: what a printed A4 page in a neighbourhood tells residents to reach the bot.

A poster names its district, holds a QR code of the Telegram deep link that presets it, and gives the SMS
number and the word to send (`district_links` owns both formats). Nothing on it is private: every district's
poster may be printed by any staff member. What is not configured (the bot's username, a two-way SMS
number) is None, and the page says so instead of printing a broken code or number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from relai_bot.services import district_links
from relai_bot.services.errors import NotFound
from relai_bot.store.models import District

if TYPE_CHECKING:  # segno is imported by the first poster drawn
    import segno


@dataclass(frozen=True)
class Poster:
    district_code: str
    district_name: str
    # None when the bot's username is not set (RELAI_TELEGRAM_BOT_USERNAME)
    telegram_link: str | None
    # The number to text, written the French way (`phones.number_to_text`); None when there is none
    sms_number: str | None
    sms_word: str


def district_posters(session: Session, *, bot_username: str | None, sms_number: str | None) -> list[Poster]:
    """One poster per district, by name."""
    found = session.exec(select(District).order_by(col(District.name))).all()
    return [_poster(district, bot_username, sms_number) for district in found]


def district_poster(
    session: Session, district_code: str, *, bot_username: str | None, sms_number: str | None
) -> Poster:
    """The poster of one district; NotFound when there is no such district."""
    district = session.exec(select(District).where(District.code == district_code)).first()
    if district is None:
        raise NotFound(f"district {district_code}")
    return _poster(district, bot_username, sms_number)


def qr_code(link: str) -> segno.QRCode:
    """The QR code of `link`. Error correction Q: a poster gets torn, stained or scanned at an angle."""
    import segno

    return segno.make_qr(link, error="q", boost_error=False)


def qr_svg(link: str, *, title: str) -> str:
    """The QR code of `link` as inline SVG (no XML declaration) with `title` as its text alternative."""
    svg = str(qr_code(link).svg_inline(border=4, title=title, svgclass="qr", lineclass=None, omitsize=True))
    return svg.replace("<svg ", '<svg role="img" ', 1)  # its <title> is then its accessible name


def _poster(district: District, bot_username: str | None, sms_number: str | None) -> Poster:
    return Poster(
        district_code=district.code,
        district_name=district.name,
        telegram_link=district_links.telegram_link(bot_username, district.code) if bot_username else None,
        sms_number=sms_number,
        sms_word=district_links.sms_word(district.code),
    )
