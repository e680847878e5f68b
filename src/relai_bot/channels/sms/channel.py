"""The SMS channel through Twilio: signed webhooks in, REST sends out, delivery reports.

POST /webhooks/twilio/sms     an SMS from a resident: signature checked against RELAI_PUBLIC_URL + path,
                              From normalised to E.164 (region RE), MessageSid de-duplicates, the turn runs,
                              and Twilio gets an empty <Response/> at once; replies go through the REST API
                              afterwards, in order per number, paced with the outbox's sends (one Pacer,
                              in segments) and retried on 429/5xx (never after a timeout).
POST /webhooks/twilio/status  a delivery report: updates the message-log row (see services.delivery_reports).

By SMS, STOP means silence: a stopped resident gets the one confirmation, then nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from relai_bot.channels.base import ChannelHealth, media_type
from relai_bot.channels.recording import Recorder
from relai_bot.channels.sms.encoding import measure
from relai_bot.channels.sms.records import CHANNEL, SmsRecords, Taken, error_code
from relai_bot.channels.sms.render import SmsBatch, SmsComposer
from relai_bot.channels.sms.twilio_api import (
    Accepted,
    SmsSender,
    TwilioMessages,
)
from relai_bot.config import Settings, SettingsError
from relai_bot.conversation.dispatcher import Dispatcher
from relai_bot.conversation.render import Renderer
from relai_bot.sending.contract import SendFailure, SendResult
from relai_bot.sending.limits import channel_limits
from relai_bot.sending.pacing import Pacer
from relai_bot.sending.retry import INLINE, ONE_TRY, RetryPolicy
from relai_bot.services import residents
from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.services.message_log import NotSent
from relai_bot.services.phones import normalise_phone
from relai_bot.services.reply_journal import Settled
from relai_bot.turns import Inbound, InboundKind, Reply, Turn

log = logging.getLogger(__name__)

INBOUND_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"
_EMPTY_TWIML = str(MessagingResponse())


def _form_encoded(request: Request) -> bool:
    """Twilio posts its webhooks as a URL-encoded form, never multipart or JSON."""
    return media_type(request) == "application/x-www-form-urlencoded"


class SmsChannel:
    name = CHANNEL

    def __init__(
        self,
        settings: Settings,
        dispatcher: Dispatcher,
        renderer: Renderer,
        records: DeliveryRecords,
        *,
        pacer: Pacer | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`pacer`: the pace of every SMS of the account, in segments (built from the settings if not
        given); the delivery worker finds it here and its SMS lane shares it. `sleep`: retry waits."""
        if settings.public_url is None:
            raise SettingsError(
                "setting RELAI_PUBLIC_URL is required for the SMS channel: the https address Twilio calls "
                "(webhook signatures are checked against it)"
            )
        if settings.twilio_auth_token is None:
            raise SettingsError("setting RELAI_TWILIO_AUTH_TOKEN is required for the SMS channel")
        if settings.twilio_from is None and settings.twilio_one_way_from is None:
            raise SettingsError("setting RELAI_TWILIO_FROM is required for the SMS channel: the sender of replies")
        self.settings = settings
        self.dispatcher = dispatcher
        dispatcher.journal_replies(CHANNEL)  # _deliver_turn settles each turn's outbox row
        self.validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
        self.inbound_url = settings.public_url + INBOUND_PATH
        self.status_url = settings.public_url + STATUS_PATH
        self.api = TwilioMessages(settings, status_callback=self.status_url)
        self.composer = SmsComposer(renderer, settings)
        two_way = SmsSender.of(settings.twilio_from, one_way=False) if settings.twilio_from else None
        one_way = SmsSender.of(settings.twilio_one_way_from, one_way=True) if settings.twilio_one_way_from else None
        conversation_sender, proactive_sender = two_way or one_way, one_way or two_way
        assert conversation_sender is not None and proactive_sender is not None  # one of them is set (above)
        self.conversation_sender: SmsSender = conversation_sender
        self.proactive_sender: SmsSender = proactive_sender
        self.pacer = pacer or Pacer(channel_limits(settings)[CHANNEL].pace())
        self._sleep = sleep
        self.records = SmsRecords(records)
        # Twilio's sids on the log rows and the turns' reply rows settled, a few at a time in one transaction
        self.recorder: Recorder[Taken | Settled] = Recorder(self.records.record_taken, what="twilio sids")
        self._tails: dict[str, asyncio.Task[None]] = {}

    # -- adapter ----------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route(INBOUND_PATH, self.inbound_webhook, methods=["POST"]),
            Route(STATUS_PATH, self.status_webhook, methods=["POST"]),
        ]

    async def start(self) -> None:
        await self.api.open()
        kind = "a Messaging Service" if self.conversation_sender.messaging_service_sid else "a sender id"
        log.info("sms channel ready: replies from %s, status callbacks to %s", kind, STATUS_PATH)

    async def stop(self) -> None:
        await self.idle()
        await self.api.close()

    async def health(self) -> ChannelHealth:
        """Twilio has no cheap question to ask: its last answers tell (a refusal of the credentials)."""
        problem = None if self.api.opened else "not started"
        return self.api.watch.health("sending", problem)

    async def idle(self) -> None:
        """Wait until every reply being sent has been sent (or given up)."""
        while self._tails:
            await asyncio.wait(list(self._tails.values()))
        await self.recorder.idle()

    # -- webhooks ---------------------------------------------------------------------------------
    def _signed(self, request: Request, form: FormData, url: str) -> bool:
        signature = request.headers.get("X-Twilio-Signature", "")
        if request.url.query:
            url = f"{url}?{request.url.query}"
        return bool(signature) and self.validator.validate(url, form, signature)

    async def inbound_webhook(self, request: Request) -> Response:
        if not _form_encoded(request):
            return Response(status_code=415)
        form = await request.form()
        if not self._signed(request, form, self.inbound_url):
            log.warning("sms webhook refused: bad signature")
            return Response("Forbidden", status_code=403, media_type="text/plain")
        address = normalise_phone(str(form.get("From") or ""))
        sid = str(form.get("MessageSid") or form.get("SmsMessageSid") or "")
        if address is None or not sid:
            log.warning("sms webhook ignored: no usable From or MessageSid")
            return self._twiml()
        turn = await self.dispatcher.handle(self._inbound(form, address, sid))
        if turn.duplicate or not turn.replies:
            return self._twiml()
        task = self._schedule(address, turn)
        if turn.unavailable:
            # The database was out of reach: nothing was done. The resident gets the apology (Twilio sends
            # an SMS again only when the webhook's URL asks for retries: docs/deploy-debian.md), and the
            # 503 lets Twilio try once more where it was asked to
            log.warning("sms refused for now: the database is unavailable")
            return Response("try again later", status_code=503, background=BackgroundTask(self._finish, task))
        return self._twiml(BackgroundTask(self._finish, task))

    def _inbound(self, form: FormData, address: str, sid: str) -> Inbound:
        text = str(form.get("Body") or "")
        # Twilio's own opt-out keywords (STOPALL, UNSUBSCRIBE…) block the number at Twilio: follow it
        opt_out = str(form.get("OptOutType") or "").upper()
        if opt_out in ("STOP", "START"):
            text = opt_out
        media = (error_code(str(form.get("NumMedia") or "")) or 0) > 0
        kind: InboundKind = "media" if media and not text.strip() else "text"
        return Inbound(channel=CHANNEL, address=address, kind=kind, text=text, message_id=sid)

    @staticmethod
    def _twiml(background: BackgroundTask | None = None) -> Response:
        return Response(_EMPTY_TWIML, media_type="text/xml", background=background)

    async def status_webhook(self, request: Request) -> Response:
        if not _form_encoded(request):
            return Response(status_code=415)
        form = await request.form()
        if not self._signed(request, form, self.status_url):
            log.warning("sms status callback refused: bad signature")
            return Response("Forbidden", status_code=403, media_type="text/plain")
        sid = str(form.get("MessageSid") or form.get("SmsSid") or "")
        status = str(form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
        if sid and status:
            code = str(form.get("ErrorCode") or "") or None
            to = normalise_phone(str(form.get("To") or ""))
            await asyncio.to_thread(self.records.report_or_park, sid, status, code, to)
        return Response(status_code=204)

    # -- sending ----------------------------------------------------------------------------------
    def _schedule(self, address: str, turn: Turn) -> asyncio.Task[None]:
        """Send a turn's replies after the ones already on their way to the same number."""
        previous = self._tails.get(address)
        task = asyncio.create_task(self._deliver_after(previous, address, turn))
        self._tails[address] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._tails.get(address) is done:
                del self._tails[address]
            if not done.cancelled():
                done.exception()  # retrieved here: logged by _deliver_after already

        task.add_done_callback(forget)
        return task

    async def _finish(self, task: asyncio.Task[None]) -> None:
        await asyncio.wait([task])
        error = None if task.cancelled() else task.exception()
        if error is not None and self.dispatcher.strict:
            raise error  # tests see what went wrong

    async def _deliver_after(self, previous: asyncio.Task[None] | None, address: str, turn: Turn) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await self._deliver_turn(address, turn)
        except Exception:
            who = residents.address_tag(CHANNEL, address)
            log.exception("sms replies failed who=%s", who, extra={"channel": CHANNEL, "who": who})
            raise

    async def _deliver_turn(self, address: str, turn: Turn) -> None:
        """Send a turn's replies; then settle its outbox row (services.reply_journal). A cancelled sending
        (the service stopping) leaves the row to the outbox, as a crash would."""
        log_ids = [r.log_id for r in turn.replies if r.log_id is not None]
        if any(effect.name == "stopped_reminder" for effect in turn.effects):
            # STOP means silence by SMS: the resident had their one confirmation
            await asyncio.to_thread(self.records.record_not_sent, log_ids, "suppressed")
            self._settle(turn)
            return
        sender = self.conversation_sender
        batches = self.composer.batches(turn.replies, one_way=sender.one_way, flow=turn.flow)
        for index, batch in enumerate(batches):
            try:
                await self._send_batch(address, batch, sender, policy=INLINE, urgent=True)
            except SendFailure as failure:
                self._settle(turn, [reply for b in batches[index:] for reply in b.replies], failure)
                who = residents.address_tag(CHANNEL, address)
                log.warning(
                    "sms reply not sent who=%s kind=%s code=%s",
                    who,
                    failure.kind,
                    failure.code,
                    extra={"channel": CHANNEL, "who": who, "failure": failure.kind, "code": failure.code},
                )
                rest = [i for b in batches[index + 1 :] for i in b.log_ids]
                await asyncio.to_thread(self.records.record_not_sent, rest, "failed", "not_tried")
                return
        self._settle(turn)

    def _settle(self, turn: Turn, unsent: list[Reply] | None = None, failure: SendFailure | None = None) -> None:
        if turn.outbox_id is not None:
            self.recorder.add(Settled(turn.outbox_id, unsent or (), failure))

    async def _send_batch(
        self, address: str, batch: SmsBatch, sender: SmsSender, *, policy: RetryPolicy, urgent: bool
    ) -> SendResult:
        """Send every part of a batch; record the first sid, the encoding and the segments on its log rows."""
        first: tuple[str, str | None] | None = None
        for part in batch.parts:
            try:
                accepted = await self._attempt(address, part, sender, policy=policy, urgent=urgent)
            except SendFailure as failure:
                status: NotSent = "unknown" if failure.ambiguous else "failed"
                if first is None:
                    await asyncio.to_thread(self.records.record_not_sent, batch.log_ids, status, failure.code)
                raise
            if first is None:
                first = (accepted.sid, accepted.status)
                self.recorder.add((batch, accepted.sid, accepted.status))
        assert first is not None
        return SendResult(provider_message_id=first[0], encoding=batch.encoding, segments=batch.segments)

    async def _attempt(
        self, address: str, body: str, sender: SmsSender, *, policy: RetryPolicy, urgent: bool
    ) -> Accepted:
        """One SMS, paced in segments and tried again as `policy` says; raises SendFailure."""
        segments = max(1, measure(body).segments)
        tries, waited = 0, 0.0
        while True:
            async with self.pacer.slot(address, units=segments, urgent=urgent) as slot:
                try:
                    return await self.api.create(address, body, sender)
                except SendFailure as refused:
                    failure = refused
                    if failure.retry_after is not None:  # Twilio is throttling: the request did not count
                        slot.refused()
            decision = policy.decide(failure, tries, waited=waited)
            if not decision.retry:
                raise await asyncio.to_thread(self.records.on_refusal, address, failure)
            log.info("sms send retried code=%s in %.1f s (try %d)", failure.code, decision.delay, tries + 1)
            tries, waited = decision.tries, waited + decision.delay
            await self._sleep(decision.delay)

    # -- the Sender contract (reminders, broadcasts: the delivery engine) -------------------------
    async def send(self, address: str, reply: Reply, *, proactive: bool = False) -> SendResult:
        """One try to send one reply (its parts, if long; the engine retries); raises SendFailure.
        Attachments are left out."""
        address = normalise_phone(address) or address
        if proactive and await asyncio.to_thread(self.records.is_stopped, address):
            raise SendFailure("stopped", "the resident said stop", code="stopped")
        sender = self.proactive_sender if proactive else self.conversation_sender
        batches = self.composer.batches([reply], one_way=sender.one_way, proactive=proactive)
        results = [await self._send_batch(address, batch, sender, policy=ONE_TRY, urgent=False) for batch in batches]
        if not results:
            raise SendFailure("invalid", "nothing to send")
        return SendResult(
            provider_message_id=results[0].provider_message_id,
            encoding="UCS-2" if any(r.encoding == "UCS-2" for r in results) else "GSM-7",
            segments=sum(r.segments or 0 for r in results),
        )
