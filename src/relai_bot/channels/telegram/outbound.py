"""The Telegram channel's sending side: one lane per chat, the replies of turns, the delivery engine's send.

Everything sent to a chat (a turn's replies, a message of the channel's own, a reminder) goes through the
chat's lane, so it arrives in the order it was decided. Telegram's message ids are recorded on the
message-log rows ("<chat id>:<message id>"), a few at a time in one transaction (SQLite has one writer:
a write per reply would double the writes of a turn); a refusal marks the rows "failed" (or "unknown"
when Telegram may have taken the message), and 403 / "chat not found" mark the address unreachable.
The recording is services.delivery_records'.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from relai_bot.channels.recording import Recorder
from relai_bot.channels.telegram.render import Outgoing
from relai_bot.channels.telegram.send import ChatLanes, TelegramSender
from relai_bot.sending.contract import SendFailure, SendResult
from relai_bot.sending.retry import INLINE, ONE_TRY
from relai_bot.services.delivery_records import DeliveryRecords, Sent
from relai_bot.services.message_log import NotSent
from relai_bot.services.reply_journal import Settled
from relai_bot.services.residents import address_tag
from relai_bot.turns import Reply

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_REMEMBERED = 1000
Key = tuple[int, int | str]


@dataclass(frozen=True)
class HeldReplies:
    """The outbox row that holds a turn's replies, and which reply each message to send stands for."""

    row_id: int
    replies: list[Reply]
    owners: list[int]


def reply_key(chat_id: int, log_id: int | None, text: str) -> Key:
    """What identifies one reply across the delivery engine's tries: its log row, else its text."""
    return (chat_id, log_id if log_id is not None else hashlib.sha256(text.encode()).hexdigest())


class TelegramOutbound:
    def __init__(self, sender: TelegramSender, records: DeliveryRecords) -> None:
        self.sender = sender
        self.records = records
        self.lanes = ChatLanes()
        # send(): parts Telegram took before a failure, and results nobody was left to receive
        self._progress: OrderedDict[Key, tuple[int, int | None]] = OrderedDict()
        self._finished: OrderedDict[Key, SendResult] = OrderedDict()
        # Telegram's ids on the log rows and the turns' reply rows settled, a few at a time in one transaction
        self.recorder: Recorder[Sent | Settled] = Recorder(self._write, what="telegram ids")

    # -- conversation replies (fire and forget, in order per chat) -------------------------------
    def queue(self, chat_id: int, messages: list[Outgoing], held: HeldReplies | None = None) -> None:
        """Send these messages after what is already on its way to the chat. `held`: the outbox row that
        holds the turn's replies (services.reply_journal), settled once they went or could not."""
        if messages:
            self.lanes.submit(chat_id, lambda: self._deliver(chat_id, messages, held))
        elif held is not None:
            self.recorder.add(Settled(held.row_id))

    async def _deliver(self, chat_id: int, messages: list[Outgoing], held: HeldReplies | None = None) -> None:
        """Send a turn's messages in order; the first failure stops the rest (they would make no sense)."""
        sent: list[tuple[int, str]] = []
        try:
            for index, message in enumerate(messages):
                try:
                    result = await self.sender.send(chat_id, message, policy=INLINE, urgent=True)
                except SendFailure as failure:
                    if held is not None:  # the reply that failed and those after it: to the outbox, or failed
                        self.recorder.add(Settled(held.row_id, held.replies[held.owners[index] :], failure))
                    await self._failed(chat_id, failure, messages[index:])
                    return
                if message.log_id is not None:
                    sent.append((message.log_id, f"{chat_id}:{result.message_id}"))
            # Not reached when the sending is cancelled (the service stopping): the row's lease then runs
            # out and the outbox sends what is left, as after a crash
            if held is not None:
                self.recorder.add(Settled(held.row_id))
        finally:
            self._record(sent)

    def _write(self, batch: Sequence[Sent | Settled]) -> None:
        sent = [item for item in batch if isinstance(item, Sent)]
        self.records.record_sent(*sent, settled=[item for item in batch if isinstance(item, Settled)])

    def _record(self, sent: list[tuple[int, str]]) -> None:
        """Put Telegram's ids on the log rows soon, with the others sent meanwhile."""
        self.recorder.add(*(Sent((log_id,), provider_id) for log_id, provider_id in sent))

    async def _failed(self, chat_id: int, failure: SendFailure, unsent: list[Outgoing]) -> None:
        who = address_tag(CHANNEL, str(chat_id))
        context = {"channel": CHANNEL, "who": who, "failure": failure.kind, "code": failure.code}
        log.warning("telegram reply not sent who=%s kind=%s code=%s", who, failure.kind, failure.code, extra=context)
        if failure.kind == "unreachable":
            await asyncio.to_thread(self.records.note_address, CHANNEL, str(chat_id), "unreachable")
        log_ids = [m.log_id for m in unsent if m.log_id is not None]
        if unsent and unsent[0].log_id is not None:
            status: NotSent = "unknown" if failure.ambiguous else "failed"
            await asyncio.to_thread(self.records.record_not_sent, log_ids[:1], status, failure.code)
            log_ids = log_ids[1:]
        await asyncio.to_thread(self.records.record_not_sent, log_ids, "failed", "not_tried")

    # -- the delivery engine's send ----------------------------------------------------------------
    async def send(self, chat_id: int, messages: list[Outgoing], key: Key) -> SendResult:
        """Send one reply's messages after what is already queued for the chat, one try each (the engine
        retries); raises SendFailure.

        If the caller gives up waiting (its own timeout), the sending goes on; its result is kept for
        the caller's next try of the same reply, which then sends nothing again.
        """
        if key in self._finished:
            return self._finished.pop(key)
        task = self.lanes.submit(chat_id, lambda: self._send_parts(chat_id, messages, key))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda done: self._keep_result(key, done))
            raise

    def _keep_result(self, key: Key, task: asyncio.Task[SendResult]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._finished[key] = task.result()
            while len(self._finished) > MAX_REMEMBERED:
                self._finished.popitem(last=False)

    async def _send_parts(self, chat_id: int, messages: list[Outgoing], key: Key) -> SendResult:
        done, first = self._progress.pop(key, (0, None))
        for index in range(done, len(messages)):
            try:
                result = await self.sender.send(chat_id, messages[index], policy=ONE_TRY, urgent=False)
            except SendFailure as failure:
                if failure.kind == "unreachable":
                    await asyncio.to_thread(self.records.note_address, CHANNEL, str(chat_id), "unreachable")
                elif index > 0:  # some parts went: the next try sends only the others
                    self._progress[key] = (index, first)
                    while len(self._progress) > MAX_REMEMBERED:
                        self._progress.popitem(last=False)
                raise
            first = first if first is not None else result.message_id
        provider_id = f"{chat_id}:{first}"
        log_id = messages[0].log_id
        if log_id is not None:
            self._record([(log_id, provider_id)])
        return SendResult(provider_message_id=provider_id)

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def busy(self) -> int:
        return self.lanes.busy + self.recorder.busy

    async def idle(self, timeout: float | None = None) -> bool:
        """Wait until everything queued is sent and recorded; False if `timeout` passed first."""
        if not await self.lanes.idle(timeout):
            return False
        return await self.recorder.idle(timeout)

    def cancel(self) -> None:
        self.lanes.cancel()
