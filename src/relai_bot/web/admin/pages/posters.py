"""District posters to print: the list of districts, and one district's A4 page (QR code, SMS number and
word). Posters are public information: staff may print every district's, not only their own."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from relai_bot.services import posters
from relai_bot.services.errors import NotFound
from relai_bot.services.phones import number_to_text
from relai_bot.web.admin.guard import Page

LIST_PATH = "/admin/posters"


def poster_list(page: Page) -> Response:
    username, number = _contact(page)
    with page.runtime.db.transaction() as session:
        found = posters.district_posters(session, bot_username=username, sms_number=number)
    return page.render("posters/list.html", posters=found, username=username, sms_number=number)


def poster_page(page: Page) -> Response:
    code = page.request.path_params["district_code"]
    try:
        with page.runtime.db.transaction() as session:
            username, number = _contact(page)
            poster = posters.district_poster(session, code, bot_username=username, sms_number=number)
    except NotFound:
        return page.render("not_found.html", 404, what="Ce quartier n'existe pas.", back=LIST_PATH)
    title = f"Code QR du quartier {poster.district_name} : il ouvre le lien {poster.telegram_link}"
    return page.render(
        "posters/poster.html",
        poster=poster,
        qr=posters.qr_svg(poster.telegram_link, title=title) if poster.telegram_link else None,
        words=_labels(page),
    )


def _contact(page: Page) -> tuple[str | None, str | None]:
    """The bot's username and the number to text, from the settings (None: not set)."""
    settings = page.runtime.settings
    return settings.telegram_bot_username, number_to_text(settings.sms_reply_number, settings.twilio_from)


def _labels(page: Page) -> Callable[[str], str]:
    """The poster's words (templates/messages/fr/labels.yaml, "poster." keys): residents read them."""
    renderer = page.runtime.renderer
    return lambda key: renderer.label(f"poster.{key}", None)
