"""Engine replies as Telegram messages: escaped HTML text, split under 4096, options as inline buttons.

Templates produce plain text; every character of it is escaped (`html.escape`) and sent with parse mode
HTML, so whatever a resident or a staff member wrote (a search word, a venue name) is shown as typed and
can never break the markup. A text longer than Telegram's limit is cut at a blank line, else a line
break, else a space; the buttons go with the last part. An attachment becomes a document after the text.
A reply offering a one-tap way to share the phone number is followed by the channel's offer (a message
with a request_contact keyboard); one withdrawing it takes that keyboard away.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove
from telegram.constants import InlineKeyboardButtonLimit, InlineKeyboardMarkupLimit, MessageLimit

from relai_bot.turns import Attachment, Option, Reply

log = logging.getLogger(__name__)

TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096, counted in UTF-16 code units after entity parsing
# Telegram shows about this much of a button; longer labels are shortened with an ellipsis
LABEL_LIMIT = 60
CALLBACK_DATA_MAX_BYTES = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
MAX_BUTTONS = InlineKeyboardMarkupLimit.TOTAL_BUTTON_NUMBER

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass(frozen=True)
class Outgoing:
    """One Telegram message to send: an HTML text (already escaped) or a document."""

    text: str | None = None
    markup: Markup | None = None
    document: Attachment | None = None
    # The message-log row this message stands for (set on the first message of a reply)
    log_id: int | None = None


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fits(text: str, limit: int) -> int:
    """The longest prefix length (in characters) of `text` that fits `limit` UTF-16 code units."""
    end = min(len(text), limit)
    while end > 0 and utf16_len(text[:end]) > limit:
        # Each character is one or two code units: step back by the excess, at least one character
        end -= max(1, (utf16_len(text[:end]) - limit) // 2)
    return end


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a plain text into parts of at most `limit` UTF-16 units, at paragraph, line or word breaks."""
    parts: list[str] = []
    rest = text.strip()
    while rest and utf16_len(rest) > limit:
        end = _fits(rest, limit)
        window = rest[:end]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > end // 3:  # not a tiny first part: a hard cut is better than that
                break
            cut = -1
        if cut <= 0:
            cut = end
        part, rest = rest[:cut].strip(), rest[cut:].strip()
        if part:
            parts.append(part)
    if rest:
        parts.append(rest)
    return parts


def escape(text: str) -> str:
    """Plain text as Telegram HTML: only &, < and > need escaping outside attributes."""
    return html.escape(text, quote=False)


def button_label(label: str) -> str:
    label = " ".join(label.split())
    return label if len(label) <= LABEL_LIMIT else label[: LABEL_LIMIT - 1].rstrip() + "…"


def inline_keyboard(options: list[Option]) -> InlineKeyboardMarkup | None:
    """One button per row (long French labels read better), the option id as callback data."""
    rows = []
    for option in options[:MAX_BUTTONS]:
        size = len(option.id.encode("utf-8"))
        if not 1 <= size <= CALLBACK_DATA_MAX_BYTES:
            log.error("option id of %d bytes cannot be callback data; button left out", size)
            continue
        rows.append([InlineKeyboardButton(button_label(option.label), callback_data=option.id)])
    return InlineKeyboardMarkup(rows) if rows else None


def render_reply(reply: Reply, *, fallback_text: str, phone_offer: Outgoing | None = None) -> list[Outgoing]:
    """The messages for one reply; the first carries the reply's log row.

    `phone_offer`: the message that offers to share the phone number, sent after a reply that asks for it.
    """
    parts = split_text(reply.text)
    markup = inline_keyboard(reply.options)
    if not parts and (markup is not None or reply.attachment is None):
        parts = [fallback_text] if markup is not None else []
    messages = [Outgoing(text=escape(part)) for part in parts]
    if messages and markup is not None:
        messages[-1] = Outgoing(text=messages[-1].text, markup=markup)
    if reply.attachment is not None and reply.attachment.content:
        messages.append(Outgoing(document=reply.attachment))
    if messages and reply.log_id is not None:
        first = messages[0]
        messages[0] = Outgoing(text=first.text, markup=first.markup, document=first.document, log_id=reply.log_id)
    if reply.share_phone == "withdraw":
        # The offer's keyboard goes away with the first text that has no buttons of its own
        index = next((i for i, m in enumerate(messages) if m.text is not None and m.markup is None), None)
        if index is not None:
            messages[index] = replace(messages[index], markup=ReplyKeyboardRemove())
    elif reply.share_phone == "offer" and phone_offer is not None:
        messages.append(phone_offer)
    return messages


def plain_message(text: str, markup: Markup | None = None) -> Outgoing:
    """A channel's own message (a template it rendered itself), escaped like the engine's."""
    return Outgoing(text=escape(text), markup=markup)
