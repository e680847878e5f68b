"""What a broadcast says: which version of its text a resident reads (`text_for`), and besides the text,
title, link, scheme, venue, event date, laid out per channel by the template broadcast/message. The
enqueueing (services/broadcasts.py), the delivery path (delivery/claims.py) and the composer's preview
(staff/compose.py) all take them from here, so the preview is the message as sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from relai_bot.services import schemes
from relai_bot.services.content_languages import FRENCH
from relai_bot.store.models import Broadcast, Scheme, Venue

# The template that lays out a broadcast for each channel (the delivery path and the preview render it)
MESSAGE_TEMPLATE = "broadcast/message"


def version_for(texts: Mapping[str, str], language: str | None) -> str:
    """The language of the version a resident who chose `language` reads: theirs when the broadcast has
    it, French otherwise (`texts`: the broadcast's texts besides French)."""
    return language if language is not None and language != FRENCH and texts.get(language) else FRENCH


def text_for(broadcast: Broadcast, language: str | None) -> str:
    """The staff text (placeholders not filled in) a resident who chose `language` reads (the one rule)."""
    version = version_for(broadcast.texts, language)
    return broadcast.text if version == FRENCH else broadcast.texts[version]


@dataclass(frozen=True)
class Content:
    """A broadcast's content, resolved (names rather than codes), for the template broadcast/message.
    `scheme` names the scheme in French (the staff pages show it), `scheme_names` in the other languages it
    has a name in (a resident reads it in theirs)."""

    title: str | None
    link: str | None
    scheme: str | None
    venue: str | None
    venue_address: str | None
    event_at: datetime | None
    scheme_names: Mapping[str, str] = field(default_factory=dict)

    def context(self, body: str, language: str | None = None) -> dict[str, object]:
        """The template's context for one recipient's text (`body`: the staff text, placeholders filled),
        the scheme named in the recipient's `language`."""
        fields = {
            "title": self.title,
            "link": self.link,
            "scheme": self.scheme_names.get(language or "", self.scheme),
            "venue": self.venue,
            "venue_address": self.venue_address,
            "event_at": self.event_at,
        }
        return {"text": body, "broadcast": fields}


def content_of(session: Session, broadcast: Broadcast) -> Content:
    """What the template shows besides the text (the one place that reads a broadcast's content)."""
    scheme = session.get(Scheme, broadcast.scheme_id) if broadcast.scheme_id is not None else None
    venue = session.get(Venue, broadcast.venue_id) if broadcast.venue_id is not None else None
    scheme_name = schemes.scheme_label(scheme, FRENCH) if scheme is not None else None
    names = {} if scheme is None else {lang: schemes.scheme_label(scheme, lang) for lang in scheme.texts or {}}
    return Content(
        title=broadcast.title,
        link=broadcast.link,
        scheme=scheme_name,
        venue=venue.name if venue else None,
        venue_address=venue.address if venue else None,
        event_at=broadcast.event_at,
        scheme_names=names,
    )


NO_CONTENT = Content(None, None, None, None, None, None)


def message_context(
    session: Session, broadcast_id: int | None, body: str, language: str | None = None
) -> dict[str, object]:
    """The context of the template broadcast/message for one outbox row (its body: that resident's text, in
    their `language`)."""
    broadcast = session.get(Broadcast, broadcast_id) if broadcast_id is not None else None
    return (content_of(session, broadcast) if broadcast is not None else NO_CONTENT).context(body, language)
