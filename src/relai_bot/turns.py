"""What goes into the engine and what comes out (shared by every layer): no Telegram or Twilio type here."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Literal, cast

InboundKind = Literal["text", "choice", "start", "media", "location", "contact"]
# A one-tap way to share the phone number: "offer" it with a reply, or "withdraw" it (the number came).
# Telegram shows it as a keyboard with a request_contact button; other channels show nothing more.
SharePhone = Literal["offer", "withdraw"]

# The back-office's simulator (channels/web.py): staff talk to the bot as a test resident, on a channel of
# its own that imitates a real one (that channel's versions of the texts). Its addresses are the
# simulator's only, and whoever consents there is a test resident (services.residents.create_resident).
SIMULATED_CHANNELS: dict[str, str] = {"web_telegram": "telegram", "web_sms": "sms"}


def texts_channel(channel: str) -> str:
    """The channel whose versions of the texts `channel` shows (itself, unless it is a simulated one)."""
    return SIMULATED_CHANNELS.get(channel, channel)


@dataclass(frozen=True)
class Inbound:
    """One thing a resident did: typed text, pressed a button, sent a photo, opened a deep link…"""

    channel: str
    address: str
    kind: InboundKind = "text"
    text: str | None = None
    # The id of an Option the engine issued (a button press)
    choice: str | None = None
    # The provider's message id, to handle a message delivered twice only once
    message_id: str | None = None
    # kind-specific data: start -> {"payload": "..."}; location -> {"lat", "lon"};
    # contact -> {"phone": E.164 or "" (not a number), "own": True when it is the sender's own contact}
    payload: dict[str, Any] = field(default_factory=dict)
    # The language the person's app is set to (Telegram's language_code): a hint, never a choice
    language_hint: str | None = None


@dataclass(frozen=True)
class Option:
    """A choice offered to the resident: a button on Telegram, a number by SMS and in the terminal."""

    id: str
    label: str
    number: int


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    content: bytes


@dataclass
class Reply:
    text: str
    options: list[Option] = field(default_factory=list)
    attachment: Attachment | None = None
    # The message-log row written for this reply (consenting residents only): channels record the
    # provider's id, the SMS encoding and segments, and the delivery status on it
    log_id: int | None = None
    # For what the service sends on its own initiative, its kind (reminder, broadcast, waitlist_offer…):
    # an SMS adds the opt-out mention to broadcasts only
    kind: str | None = None
    share_phone: SharePhone | None = None
    # The language it is written in (the resident's): the channel writes its own words (options, notices)
    # in the same language
    language: str | None = None


@dataclass(frozen=True)
class Effect:
    """Something that happened that a channel may act on (`stopped_reminder`: by SMS, silence after STOP)."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Turn:
    replies: list[Reply] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    resident_id: int | None = None
    # True when the provider delivered a message already handled: nothing to send
    duplicate: bool = False
    flow: str | None = None
    step: str | None = None
    # The database was busy or out of reach every time: nothing was done, the replies are an apology. A
    # channel whose provider delivers a message again when refused answers "try later" (503) instead
    unavailable: bool = False
    # The outbox row that holds the replies until the channel has sent them (services.reply_journal):
    # None when nothing was written (no reply, a duplicate, a channel that does not journal)
    outbox_id: int | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(reply.text for reply in self.replies)

    @property
    def options(self) -> list[Option]:
        return [option for reply in self.replies for option in reply.options]


def reply_data(reply: Reply) -> dict[str, Any]:
    """A reply as JSON-ready data, to be sent later by another process (the outbox's replies)."""
    data: dict[str, Any] = {"text": reply.text}
    if reply.options:
        data["options"] = [[o.id, o.label, o.number] for o in reply.options]
    if reply.attachment is not None:
        attachment = reply.attachment
        content = base64.b64encode(attachment.content).decode("ascii")
        data["attachment"] = [attachment.filename, attachment.media_type, content]
    for name in ("log_id", "kind", "share_phone", "language"):
        if getattr(reply, name) is not None:
            data[name] = getattr(reply, name)
    return data


def reply_from_data(data: dict[str, Any]) -> Reply:
    """The reply `reply_data` wrote."""
    attachment = None
    if data.get("attachment"):
        filename, media_type, content = data["attachment"]
        attachment = Attachment(str(filename), str(media_type), base64.b64decode(content))
    return Reply(
        text=str(data.get("text") or ""),
        options=[Option(str(i), str(label), int(number)) for i, label, number in data.get("options") or []],
        attachment=attachment,
        log_id=data.get("log_id"),
        kind=data.get("kind"),
        share_phone=cast(SharePhone | None, data.get("share_phone")),
        language=data.get("language"),
    )
