"""The simulator: a staff member talks to the bot as their own test resident (channels/web.py), as on
Telegram (buttons) or by SMS (numbered text, with the SMS budget). The address is made from the signed-in
account (services.simulator), never read from the form: no other conversation can be reached from here.
"""

from __future__ import annotations

import uuid

from starlette.responses import Response

from relai_bot.channels.web import NOTES, Bubble, WebChannel
from relai_bot.conversation.language_choice import LANGUAGE_KEY
from relai_bot.conversation.options import offered
from relai_bot.services import simulator
from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.turns import SIMULATED_CHANNELS, Option
from relai_bot.web.admin.guard import Page

PATH = "/admin/simulator"
# ?vue= value -> the simulated channel, and how the page names it
VIEWS = {imitated: channel for channel, imitated in SIMULATED_CHANNELS.items()}
VIEW_NAMES = {"telegram": "Comme sur Telegram (boutons)", "sms": "Comme par SMS (texte numéroté)"}
DEFAULT_VIEW = "telegram"


def _view(value: str) -> str:
    return value if value in VIEWS else DEFAULT_VIEW


def _channel(page: Page, view: str) -> WebChannel:
    runtime = page.runtime
    records = DeliveryRecords(runtime.db, runtime.clock)
    return WebChannel(VIEWS[view], runtime.dispatcher, runtime.renderer, runtime.settings, records)


def _load(page: Page, view: str) -> tuple[simulator.Simulation, list[Option]]:
    assert page.account is not None
    with page.runtime.db.transaction() as session:
        found = simulator.load(session, VIEWS[view], page.account.id)
    options = offered(found.conversation) if found.conversation is not None else []
    return found, options


def _render(page: Page, view: str, live: list[Bubble] | None = None, status_code: int = 200) -> Response:
    channel = _channel(page, view)
    found, options = _load(page, view)
    flow = found.conversation.flow if found.conversation is not None else None
    language = found.language
    if language is None and found.conversation is not None:  # before consent: the one chosen or detected
        language = found.conversation.data.get(LANGUAGE_KEY)
    bubbles = channel.transcript(found.lines, options, flow=flow, language=language)
    # Before consent nothing is kept (as for a real person): the turn just played is shown all the same
    if live and found.resident_id is None:
        bubbles += live
    return page.render(
        "simulator/page.html",
        status_code,
        view=view,
        views=VIEW_NAMES,
        bubbles=bubbles,
        options=[] if channel.sms else options,
        notes=NOTES,
        started=found.conversation is not None,
        consented=found.resident_id is not None,
        message_id=uuid.uuid4().hex,
        focus=False,
    )


def simulator_page(page: Page) -> Response:
    return _render(page, _view(page.request.query_params.get("vue", "")))


def say(page: Page) -> Response:
    """One turn: a typed text or a pressed button. With htmx: the new messages and fresh controls;
    without: the whole page."""
    assert page.account is not None
    view = _view(page.field("vue"))
    channel = _channel(page, view)
    text, choice = page.field("text"), page.field("choice")
    if not text and not choice:
        page.flash("Écrivez un message avant d'envoyer, ou touchez un bouton.")
        return _render(page, view, status_code=400) if not _htmx(page) else Response(status_code=204)
    pressed = None
    if choice:
        _, options = _load(page, view)
        pressed = next((o for o in options if o.id == choice), None)
    played = channel.play(
        simulator.address_of(page.account.id),
        text=None if choice else text,
        choice=choice or None,
        message_id=page.field("message_id") or None,
    )
    said = Bubble("resident", pressed.label if pressed else (text or choice), notes=("pressed",) if choice else ())
    live = [said, *played.bubbles] if not played.turn.duplicate else []
    if not _htmx(page):
        return _render(page, view, live)
    _, options = _load(page, view)
    return page.render(
        "simulator/_turn.html",
        view=view,
        bubbles=live,
        options=[] if channel.sms else options,
        notes=NOTES,
        message_id=uuid.uuid4().hex,
        focus=True,
    )


def reset(page: Page) -> Response:
    """ "Recommencer": the test resident is erased (the normal erasure), the conversation forgotten."""
    assert page.account is not None
    view = _view(page.field("vue"))
    with page.runtime.db.transaction() as session:
        simulator.reset(session, VIEWS[view], page.account.id, now=page.now)
    page.flash("La conversation de test est effacée. Écrivez « bonjour » pour recommencer.")
    return page.redirect(f"{PATH}?vue={view}")


def _htmx(page: Page) -> bool:
    return page.request.headers.get("HX-Request") == "true"
