"""The web simulator: a channel whose "provider" is a back-office page, to try a flow before residents do.

A staff member types a text or presses a button on /admin/simulator: `play` turns it into the
dispatcher's `Inbound` (the same dispatcher and engine as Telegram and SMS) and the replies are shown
as the imitated channel shows them (turns.SIMULATED_CHANNELS): "web_telegram" with the Telegram
versions of the texts and the options as buttons; "web_sms" with the SMS versions, the options as a
numbered text (the SMS channel's own composer) and the SMS budget of each message. It is a `Sender` for
the outbox too: what the service sends on its own (waitlist offers, notices, follow-ups) is recorded as
delivered on the message log, where the simulator's transcript reads it.

Its addresses are the simulator's ("staff-<account id>", services.simulator): whoever consents there is a
test resident, left out of broadcasts, reminders and statistics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from starlette.routing import BaseRoute

from relai_bot.channels.base import ChannelHealth
from relai_bot.channels.sms.encoding import measure
from relai_bot.channels.sms.render import SmsComposer
from relai_bot.config import Settings
from relai_bot.conversation.dispatcher import Dispatcher
from relai_bot.conversation.render import Renderer
from relai_bot.sending.contract import SendFailure, SendResult
from relai_bot.sending.limits import ChannelLimits
from relai_bot.sending.pacing import Pacer
from relai_bot.services.delivery_records import DeliveryRecords, Sent
from relai_bot.services.simulator import ADDRESS_PREFIX, Line
from relai_bot.turns import SIMULATED_CHANNELS, Inbound, Option, Reply, Turn

# Nothing leaves the machine: a generous pace, only so that the outbox's lane is paced like the others
LIMITS = ChannelLimits(50.0, concurrency=2)
MAX_TEXT = 1000
# How the message log writes a button press (the engine logs the kind of what came, not the label)
PRESSED_IN_LOG = "[choice]"


@dataclass(frozen=True)
class SmsCost:
    """What one message would cost by SMS."""

    segments: int
    encoding: str
    characters: int


@dataclass(frozen=True)
class Bubble:
    """One message of the simulated conversation, as the page shows it."""

    who: Literal["resident", "bot"]
    text: str
    sms: SmsCost | None = None
    # Something the real channel would do that the page only tells (a Telegram "share my number"
    # keyboard, an attachment, an SMS not sent after STOP); keys of NOTES
    notes: tuple[str, ...] = ()
    attachment: str | None = None


# What the page says for each note (staff-facing French)
NOTES = {
    "pressed": "Bouton touché",
    "share_phone": "Telegram proposerait ici un bouton « Partager mon numéro ».",
    "suppressed": "Non envoyé : après STOP, un SMS ne reçoit plus de réponse.",
    "attachment": "Fichier joint :",
}


@dataclass
class Played:
    """One turn played in the simulator: what the staff member did and the bot's answer."""

    turn: Turn
    bubbles: list[Bubble] = field(default_factory=list)


class NotASimulatorAddress(ValueError):
    """The simulator only speaks for its own addresses (never a real resident's)."""


class WebChannel:
    def __init__(
        self, name: str, dispatcher: Dispatcher, renderer: Renderer, settings: Settings, records: DeliveryRecords
    ) -> None:
        if name not in SIMULATED_CHANNELS:
            raise ValueError(f"{name!r} is not a simulated channel ({', '.join(SIMULATED_CHANNELS)})")
        self.name = name
        self.imitates = SIMULATED_CHANNELS[name]
        self.dispatcher = dispatcher
        self.renderer = renderer
        self.records = records
        self.composer = SmsComposer(renderer, settings)
        self.pacer = Pacer(LIMITS.pace())

    @property
    def sms(self) -> bool:
        return self.imitates == "sms"

    # -- adapter ----------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return []  # its page is the back-office's (web/admin/pages/simulator.py)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def health(self) -> ChannelHealth:
        return ChannelHealth(ok=True, state="simulator")

    # -- a staff member's turn (sync: the back-office's pages run in a worker thread) ---------------
    @staticmethod
    def check_address(address: str) -> None:
        if not address.startswith(ADDRESS_PREFIX):
            raise NotASimulatorAddress(address)

    def play(
        self, address: str, *, text: str | None = None, choice: str | None = None, message_id: str | None = None
    ) -> Played:
        """Run one turn for the test resident at `address`: a typed text, or a pressed button (an option id)."""
        self.check_address(address)
        if choice:
            inbound = Inbound(channel=self.name, address=address, kind="choice", choice=choice, message_id=message_id)
        else:
            inbound = Inbound(channel=self.name, address=address, text=(text or "")[:MAX_TEXT], message_id=message_id)
        turn = self.dispatcher.handle_sync(inbound)
        if turn.duplicate:
            return Played(turn)
        suppressed = self.sms and any(effect.name == "stopped_reminder" for effect in turn.effects)
        bubbles = self._deliver(turn.replies, flow=turn.flow, suppressed=suppressed)
        return Played(turn, bubbles)

    def _deliver(self, replies: Sequence[Reply], *, flow: str | None, suppressed: bool = False) -> list[Bubble]:
        """Record the replies as delivered (as a provider would report), and show them."""
        if suppressed:
            self.records.record_not_sent([r.log_id for r in replies if r.log_id is not None], "suppressed")
            return [Bubble("bot", self._text(r, flow), notes=("suppressed",)) for r in replies]
        sent: list[Sent] = []
        bubbles: list[Bubble] = []
        if self.sms:
            for batch in self.composer.batches(replies, flow=flow):
                text = "\n\n".join(batch.parts)
                cost = SmsCost(batch.segments, batch.encoding, sum(len(p) for p in batch.parts))
                bubbles.append(Bubble("bot", text, sms=cost))
                if batch.log_ids:
                    sent.append(self._sent(batch.log_ids, batch.encoding, batch.segments))
        else:
            for reply in replies:
                notes = ("share_phone",) if reply.share_phone == "offer" else ()
                attachment = reply.attachment.filename if reply.attachment is not None else None
                bubbles.append(Bubble("bot", reply.text, notes=notes, attachment=attachment))
                if reply.log_id is not None:
                    sent.append(self._sent([reply.log_id], None, None))
        self.records.record_sent(*sent)
        return bubbles

    def _sent(self, log_ids: Sequence[int], encoding: str | None, segments: int | None) -> Sent:
        return Sent(tuple(log_ids), f"{self.name}:{log_ids[0]}", "delivered", encoding, segments)

    def _text(self, reply: Reply, flow: str | None) -> str:
        if not self.sms:
            return reply.text
        return self.composer.prepare(self.composer.reply_text(reply, language=reply.language, one_way=False, flow=flow))

    # -- the transcript -----------------------------------------------------------------------------
    def transcript(
        self, lines: Sequence[Line], options: Sequence[Option], *, flow: str | None, language: str | None = None
    ) -> list[Bubble]:
        """The message log of a test resident as bubbles; by SMS the options on offer end the last message
        (as the resident would read them)."""
        bubbles = []
        for line in lines:
            if line.direction == "in":
                pressed = line.body == PRESSED_IN_LOG
                bubbles.append(Bubble("resident", "" if pressed else line.body, notes=("pressed",) if pressed else ()))
                continue
            text = self.composer.prepare(line.body) if self.sms else line.body
            cost = None
            if self.sms and line.segments:  # 0: merged into the message before it
                cost = SmsCost(line.segments, line.encoding or measure(text).encoding, len(text))
            bubbles.append(Bubble("bot", text, sms=cost))
        if self.sms and options and bubbles and bubbles[-1].who == "bot":
            last = bubbles[-1]
            offer = Reply(text="", options=list(options), language=language)
            block = self.composer.options_block(offer, language=language, one_way=False, flow=flow)
            bubbles[-1] = Bubble("bot", last.text + "\n" + self.composer.prepare(block), sms=last.sms)
        return bubbles

    # -- the Sender contract (what the outbox sends on its own) -------------------------------------
    async def send(self, address: str, reply: Reply, *, proactive: bool = False) -> SendResult:
        """ "Deliver" one reply: the message log row (written when the message was decided) is marked
        delivered, with its SMS cost when imitating SMS; the transcript shows it."""
        if not address.startswith(ADDRESS_PREFIX):
            raise SendFailure("unreachable", "not an address of the simulator")
        if reply.log_id is None:
            return SendResult(provider_message_id=None)
        encoding: str | None = None
        segments: int | None = None
        if self.sms:
            batches = self.composer.batches([reply], proactive=proactive)
            segments = sum(b.segments for b in batches)
            encoding = "UCS-2" if any(b.encoding == "UCS-2" for b in batches) else "GSM-7"
        sent = self._sent([reply.log_id], encoding, segments)
        await asyncio.to_thread(self.records.record_sent, sent)
        return SendResult(provider_message_id=sent.provider_message_id, encoding=encoding, segments=segments)


def build_web_channels(
    dispatcher: Dispatcher, renderer: Renderer, settings: Settings, records: DeliveryRecords
) -> list[WebChannel]:
    """One channel per imitated one (they need no credentials: they always run)."""
    return [WebChannel(name, dispatcher, renderer, settings, records) for name in SIMULATED_CHANNELS]
