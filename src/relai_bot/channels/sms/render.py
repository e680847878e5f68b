"""Replies as SMS: numbered options from templates, GSM-7 transliteration, segment budget, merging, splitting.

Pure text work (no Twilio, no database). The words come from templates:
channel/sms_options.j2 (a two-way sender: "1. Oui / 2. Non / Répondez 1 ou 2.") and
channel/sms_options_oneway.j2 (a one-way sender: how to answer another way, never "reply 1").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from relai_bot.channels.sms.encoding import measure, split_for_sms, to_gsm7
from relai_bot.config import Settings
from relai_bot.conversation.render import Renderer
from relai_bot.services.phones import number_to_text
from relai_bot.turns import Reply

OPTIONS_TEMPLATE = "channel/sms_options"
ONE_WAY_OPTIONS_TEMPLATE = "channel/sms_options_oneway"
GSM7, UCS2 = "GSM-7", "UCS-2"


@dataclass
class SmsBatch:
    """One or more replies going as one SMS, or one long reply going as several SMS (`parts`).

    `log_ids` are the message-log rows of the replies: the first records the provider's id, the
    encoding and the segments of all parts; the others are marked as merged into it.
    """

    parts: list[str]
    log_ids: list[int] = field(default_factory=list)

    @property
    def encoding(self) -> str:
        return UCS2 if any(measure(part).encoding == UCS2 for part in self.parts) else GSM7

    @property
    def segments(self) -> int:
        return sum(max(1, measure(part).segments) for part in self.parts)


class SmsComposer:
    def __init__(self, renderer: Renderer, settings: Settings) -> None:
        self.renderer = renderer
        self.settings = settings
        self.max_segments = settings.sms_max_segments
        self.reply_number = number_to_text(settings.sms_reply_number, settings.twilio_from)

    # -- one reply ----------------------------------------------------------------------------------
    def options_block(self, reply: Reply, *, language: str | None, one_way: bool, flow: str | None) -> str:
        if not reply.options:
            return ""
        options = [{"number": o.number, "label": o.label} for o in reply.options]
        if one_way:
            context = {
                "options": options,
                "reply_number": self.reply_number,
                "telegram": self.settings.sms_telegram_link,
                "phone": self.settings.sms_contact_phone,
            }
            return self.renderer.render(ONE_WAY_OPTIONS_TEMPLATE, language=language, channel="sms", context=context)
        context = {"options": options, "flow": flow}
        return self.renderer.render(OPTIONS_TEMPLATE, language=language, channel="sms", context=context)

    def reply_text(self, reply: Reply, *, language: str | None, one_way: bool, flow: str | None) -> str:
        """The reply's text and its options, as one SMS text (attachments cannot go by SMS: left out)."""
        block = self.options_block(reply, language=language, one_way=one_way, flow=flow)
        return "\n".join(piece for piece in (reply.text.strip(), block) if piece)

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
        (fewer SMS, and they cannot arrive out of order); a reply over the budget is split.
        """
        texts = [
            (self.prepare(self.reply_text(r, language=language, one_way=one_way, flow=flow)), r.log_id) for r in replies
        ]
        texts = [(text, log_id) for text, log_id in texts if text]
        broadcast = any(r.kind == "broadcast" for r in replies)
        if proactive and broadcast and self.settings.sms_opt_out_mention and texts:
            last, log_id = texts[-1]
            texts[-1] = (last + "\n" + self.prepare(self.settings.sms_opt_out_mention.strip()), log_id)
        batches: list[SmsBatch] = []
        for text, log_id in texts:
            ids = [log_id] if log_id is not None else []
            previous = batches[-1] if batches else None
            if previous is not None and len(previous.parts) == 1:
                merged = previous.parts[0] + "\n\n" + text
                cost_apart = max(1, measure(previous.parts[0]).segments) + max(1, measure(text).segments)
                if self.fits(merged) and measure(merged).segments <= cost_apart:
                    previous.parts[0] = merged
                    previous.log_ids += ids
                    continue
            batches.append(SmsBatch(parts=self.split(text), log_ids=ids))
        return batches
