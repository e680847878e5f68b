"""Replies as SMS: numbered options from templates, GSM-7 transliteration, segment budget, merging, splitting.

Pure text work (no Twilio, no database). The words come from templates:
channel/sms_options.j2 (a two-way sender: "1. Oui / 2. Non / Répondez 1 ou 2.") and
channel/sms_options_oneway.j2 (a one-way sender: how to answer another way, never "reply 1").

How a reply becomes SMS (`SmsComposer.reply_parts`), each SMS within RELAI_SMS_MAX_SEGMENTS:
* its text and its options go as one SMS when they fit;
* otherwise the options go whole in the last SMS, with the question that asks for them (the text's last
  paragraph, or its last line when it asks or leads to the list) if it fits beside them; the text before is split at
  paragraphs, lines or sentences (encoding.split_for_sms). An option list is never cut;
* options that end the same way ("…, Médiathèque Heva") are listed under that ending, written once;
* a list that leaves no room for a short question beside it (QUESTION_ROOM) has its longest labels
  shortened at a word ("..."), down to MIN_LABEL characters, the same way each time the same options come
  back; only a list too long even so is cut, and then between two options, never inside one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from relai_bot.channels.sms.encoding import measure, split_for_sms, to_gsm7
from relai_bot.config import Settings
from relai_bot.conversation.render import Renderer
from relai_bot.services.phones import number_to_text
from relai_bot.turns import Option, Reply

OPTIONS_TEMPLATE = "channel/sms_options"
ONE_WAY_OPTIONS_TEMPLATE = "channel/sms_options_oneway"
MENU_LABEL = "common.menu"  # an option to go back to the menu makes "0 = menu" needless
GSM7, UCS2 = "GSM-7", "UCS-2"
# A label is never shortened below this many characters to make a list fit
MIN_LABEL = 24
# The room an option list leaves in its SMS for the question that asks for it ("C'est pour quelle aide ?")
QUESTION_ROOM = 30
_QUESTION = "x" * QUESTION_ROOM
_ELLIPSIS = "..."
_ENDING = ", "  # what separates a label from an ending it may share with its neighbours


@dataclass
class SmsBatch:
    """One or more replies going as one SMS, or one long reply going as several SMS (`parts`).

    `log_ids` are the message-log rows of the replies: the first records the provider's id, the
    encoding and the segments of all parts; the others are marked as merged into it.
    """

    parts: list[str]
    log_ids: list[int] = field(default_factory=list)
    # The replies it carries, in order (what goes back to the outbox if it could not be sent)
    replies: list[Reply] = field(default_factory=list)

    @property
    def encoding(self) -> str:
        return UCS2 if any(measure(part).encoding == UCS2 for part in self.parts) else GSM7

    @property
    def segments(self) -> int:
        return sum(max(1, measure(part).segments) for part in self.parts)


def group_options(options: Sequence[Option]) -> list[dict[str, Any]]:
    """Options in groups: neighbours whose labels end the same way ("…, Médiathèque Heva") share one
    heading (that ending, capitalised) and show the rest of their label; any other option stands alone."""
    groups: list[dict[str, Any]] = []
    endings = [o.label.rpartition(_ENDING)[2] if _ENDING in o.label else None for o in options]
    index = 0
    while index < len(options):
        ending = endings[index]
        run = 1
        while ending and index + run < len(options) and endings[index + run] == ending:
            run += 1
        members = options[index : index + run]
        if run > 1 and ending:
            heading = ending[:1].upper() + ending[1:]
            shown = [{"number": o.number, "label": o.label.rpartition(_ENDING)[0]} for o in members]
            groups.append({"heading": heading, "options": shown})
        else:
            groups.append({"heading": None, "options": [{"number": o.number, "label": o.label} for o in members]})
        index += run
    return groups


def shorten(label: str, limit: int) -> str:
    """`label` cut at a word so that it has at most `limit` characters, "..." included."""
    if len(label) <= limit:
        return label
    room = max(1, limit - len(_ELLIPSIS))
    cut = label[: room + 1].rsplit(" ", 1)[0] if " " in label[: room + 1] else label[:room]
    return cut[:room].rstrip(" ,;:-") + _ELLIPSIS


class SmsComposer:
    def __init__(self, renderer: Renderer, settings: Settings) -> None:
        self.renderer = renderer
        self.settings = settings
        self.max_segments = settings.sms_max_segments
        self.reply_number = number_to_text(settings.sms_reply_number, settings.twilio_from)

    # -- one reply ----------------------------------------------------------------------------------
    def options_block(self, reply: Reply, *, language: str | None, one_way: bool, flow: str | None) -> str:
        """The options of a reply as the SMS lists them. A list that leaves no room for a short question
        beside it in one SMS has its longest labels shortened, as little as gives that room: the same
        options always read the same (an answer typed from an earlier SMS still matches)."""
        if not reply.options:
            return ""
        block = self._render_options(reply.options, language=language, one_way=one_way, flow=flow)
        if self._leaves_room(block):
            return block
        longest = max(len(o.label) for o in reply.options)
        for limit in range(longest - 1, MIN_LABEL - 1, -1):
            shortened = self._render_options(reply.options, language=language, one_way=one_way, flow=flow, limit=limit)
            if self._leaves_room(shortened):
                return shortened
        return block

    def _leaves_room(self, block: str) -> bool:
        return self.fits(_join(_QUESTION, self.prepare(block)))

    def _render_options(
        self,
        options: Sequence[Option],
        *,
        language: str | None,
        one_way: bool,
        flow: str | None,
        limit: int | None = None,
    ) -> str:
        groups = group_options(options)
        if limit is not None:
            for group in groups:
                for shown in group["options"]:
                    shown["label"] = shorten(shown["label"], limit)
        flat = [{"number": o.number, "label": o.label} for o in options]
        context: dict[str, Any] = {"options": flat, "groups": groups}
        if one_way:
            context |= {
                "reply_number": self.reply_number,
                "telegram": self.settings.sms_telegram_link,
                "phone": self.settings.sms_contact_phone,
            }
            return self.renderer.render(ONE_WAY_OPTIONS_TEMPLATE, language=language, channel="sms", context=context)
        menu = self.renderer.label(MENU_LABEL, language)
        context |= {"flow": flow, "menu_listed": any(o.label == menu for o in options)}
        return self.renderer.render(OPTIONS_TEMPLATE, language=language, channel="sms", context=context)

    def reply_text(self, reply: Reply, *, language: str | None, one_way: bool, flow: str | None) -> str:
        """The reply's text and its options, as one SMS text (attachments cannot go by SMS: left out)."""
        block = self.options_block(reply, language=language, one_way=one_way, flow=flow)
        return "\n".join(piece for piece in (reply.text.strip(), block) if piece)

    def reply_parts(self, reply: Reply, *, language: str | None, one_way: bool, flow: str | None) -> list[str]:
        """The SMS that carry one reply, ready to send: its options whole in the last (see the module)."""
        text = self.prepare(reply.text.strip())
        block = self.prepare(self.options_block(reply, language=language, one_way=one_way, flow=flow))
        whole = _join(text, block)
        if not block or self.fits(whole):
            return self.split(whole) if whole else []
        if not self.fits(block):  # too long even shortened: cut between two options, never inside one
            return self._before(text, *self.split(block))
        for head, question in _questions(text):
            last = _join(question, block)
            if head and self.fits(last):
                return self._before(head, last)
        return self._before(text, block)

    def _before(self, head: str, *last: str) -> list[str]:
        """`head` split as it must be, then the SMS `last`; the last part of head joins the first of them
        when they fit in one SMS."""
        parts = self.split(head) if head else []
        if parts and last and self.fits(parts[-1] + "\n" + last[0]):
            return [*parts[:-1], parts[-1] + "\n" + last[0], *last[1:]]
        return [*parts, *last]

    def prepare(self, text: str) -> str:
        return to_gsm7(text) if self.settings.sms_transliterate else text

    def fits(self, text: str) -> bool:
        return measure(text).segments <= self.max_segments

    def split(self, text: str) -> list[str]:
        return split_for_sms(text, self.max_segments)

    # -- a whole turn -----------------------------------------------------------------------------
    def batches(
        self,
        replies: Sequence[Reply],
        *,
        language: str | None = None,
        one_way: bool = False,
        flow: str | None = None,
        proactive: bool = False,
    ) -> list[SmsBatch]:
        """The SMS to send for these replies, in order, each within the segment budget.

        Consecutive replies share one SMS when that costs no more segments than sending them apart
        (fewer SMS, and they cannot arrive out of order); a reply over the budget goes in several.
        """
        broadcast = any(r.kind == "broadcast" for r in replies)
        mention = self.settings.sms_opt_out_mention if proactive and broadcast else None
        sent = [r for r in replies if r.text.strip() or r.options]
        batches: list[SmsBatch] = []
        for position, reply in enumerate(sent):
            parts = self.reply_parts(reply, language=reply.language or language, one_way=one_way, flow=flow)
            if mention and position == len(sent) - 1:
                parts = [*parts[:-1], *self.split(parts[-1] + "\n" + self.prepare(mention.strip()))]
            ids = [reply.log_id] if reply.log_id is not None else []
            previous = batches[-1] if batches else None
            if previous is not None and len(previous.parts) == 1 and parts:
                merged = previous.parts[0] + "\n\n" + parts[0]
                cost_apart = max(1, measure(previous.parts[0]).segments) + max(1, measure(parts[0]).segments)
                if self.fits(merged) and measure(merged).segments <= cost_apart:
                    previous.parts[:] = [merged, *parts[1:]]
                    previous.log_ids += ids
                    previous.replies.append(reply)
                    continue
            batches.append(SmsBatch(parts=parts, log_ids=ids, replies=[reply]))
        return batches


def _join(text: str, block: str) -> str:
    return "\n".join(piece for piece in (text, block) if piece)


def _questions(text: str) -> list[tuple[str, str]]:
    """Ways to cut off the question that asks for the options, best first, as (what comes before, the
    question): the text's last paragraph, its last line if it asks something or leads to the list
    ("Voici les rendez-vous libres :"), or nothing."""
    cuts = []
    before, blank, paragraph = text.rpartition("\n\n")
    if blank:
        cuts.append((before.rstrip(), paragraph.strip()))
    before, newline, line = text.rpartition("\n")
    if newline and line.rstrip().endswith(("?", ":")):
        cuts.append((before.rstrip(), line.strip()))
    return [*cuts, (text, "")]
