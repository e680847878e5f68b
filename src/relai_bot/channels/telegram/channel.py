"""The Telegram channel (python-telegram-bot 22): updates in, the engine's replies out as buttons.

Modes: with RELAI_PUBLIC_URL set, Telegram POSTs updates to /webhooks/telegram (registered with
setWebhook and a secret_token; the X-Telegram-Bot-Api-Secret-Token header is checked on every request,
403 otherwise). Without it, a background task long-polls getUpdates. Either way an update goes through
the same path: a bounded memory of recent update_ids drops one delivered twice, the updates of one chat
are handled one at a time in arrival order (different chats in parallel), PTB's handlers
(handlers.py) build an `Inbound`, the dispatcher runs the turn in one transaction, and the replies
are queued on the chat's lane and sent in order, paced and retried (send.py). In webhook mode the
turn is committed before Telegram gets its 200; the replies follow.

The conversation state is in the database only; nothing here survives a restart or needs to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    CallbackQuery,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import Conflict, EndPointNotFound, InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.request import HTTPXRequest
from telegram.warnings import PTBUserWarning

from relai_bot.channels.base import ChannelHealth, media_type
from relai_bot.channels.telegram.handlers import CHANNEL, TelegramHandlers
from relai_bot.channels.telegram.outbound import HeldReplies, TelegramOutbound, reply_key
from relai_bot.channels.telegram.render import Outgoing, plain_message, render_reply
from relai_bot.channels.telegram.send import TelegramSender, retry_seconds
from relai_bot.config import Settings, SettingsError
from relai_bot.conversation.dispatcher import Dispatcher
from relai_bot.conversation.render import Renderer
from relai_bot.sending.contract import SendFailure, SendResult
from relai_bot.sending.limits import channel_limits
from relai_bot.sending.pacing import Pacer
from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.turns import Inbound, Reply, Turn

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The command menu shows in private chats only: the bot does not work in groups
PRIVATE_CHATS = BotCommandScopeAllPrivateChats()
ALLOWED_UPDATES = ["message", "edited_message", "channel_post", "callback_query", "my_chat_member"]
MAX_BODY_BYTES = 1_000_000
MAX_REMEMBERED = 10_000
# Polling: updates handled at once (different chats), pause after an error (doubling up to the cap)
MAX_IN_FLIGHT = 64
POLL_BACKOFF = (1.0, 30.0)
# health(): a long poll lasts telegram_poll_seconds; this much longer without an answer and polling is stuck
POLL_SILENCE = 60.0
# health(): getWebhookInfo at most this often; a delivery error Telegram reports counts this long (s)
WEBHOOK_CHECK_SECONDS = 30.0
WEBHOOK_ERROR_RECENT = 600.0
WEBHOOK_CHECK_TIMEOUT = 5.0
STOP_WAIT = 10.0
# Set by the webhook around one update: the turns the database could not take (then a 503, and Telegram
# delivers the update again after a while)
_UNAVAILABLE: ContextVar[list[Inbound] | None] = ContextVar("telegram_unavailable", default=None)
RETRY_LATER = "5"


def webhook_secret(token: str) -> str:
    """A secret derived from the token: the same on every instance, useless without the token."""
    return hmac.new(token.encode(), b"relai_bot telegram webhook", hashlib.sha256).hexdigest()


def file_url(api_url: str) -> str:
    return api_url.removesuffix("/bot") + "/file/bot" if api_url.endswith("/bot") else api_url


class TelegramChannel:
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
        """`pacer`: the pace of everything sent through this bot token (built from the settings if not
        given); the delivery worker finds it here and its Telegram lane shares it. `sleep`: retry waits."""
        if settings.telegram_token is None:
            raise SettingsError("setting RELAI_TELEGRAM_TOKEN is required for the Telegram channel")
        token = settings.telegram_token.get_secret_value()
        self.settings = settings
        self.dispatcher = dispatcher
        dispatcher.journal_replies(CHANNEL)  # deliver_turn settles each turn's outbox row
        self.renderer = renderer
        self.records = records
        self.mode = "webhook" if settings.public_url else "polling"
        self.webhook_url = f"{settings.public_url}{WEBHOOK_PATH}" if settings.public_url else None
        secret = settings.telegram_webhook_secret
        self.secret = secret.get_secret_value() if secret is not None else webhook_secret(token)
        timeout = settings.telegram_timeout_seconds
        self.app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(token)
            .base_url(settings.telegram_api_url)
            .base_file_url(settings.telegram_file_url or file_url(settings.telegram_api_url))
            .request(HTTPXRequest(connection_pool_size=16, read_timeout=timeout, pool_timeout=5.0))
            .get_updates_request(HTTPXRequest(connection_pool_size=2, read_timeout=10.0))
            .updater(None)
            .build()
        )
        self.pacer = pacer or Pacer(channel_limits(settings)[CHANNEL].pace())
        self.sender = TelegramSender(self.app.bot, self.pacer, sleep=sleep)
        self.outbound = TelegramOutbound(self.sender, records)
        self.handlers = TelegramHandlers(self, records)
        self.handlers.register(self.app)
        self.bot_link: str | None = None
        # The last errors raised by handlers (logged too; tests look at them)
        self.errors: deque[BaseException] = deque(maxlen=100)
        self._sleep = sleep
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._chat_locks: OrderedDict[int, asyncio.Lock] = OrderedDict()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._answers: set[asyncio.Task[None]] = set()
        self._poll_task: asyncio.Task[None] | None = None
        self._offset: int | None = None
        # For health(): when getUpdates last answered (monotonic), whether the token was refused, and the
        # last look at the webhook's registration (when, what was wrong)
        self._polled_at: float | None = None
        self._token_refused = False
        self._webhook_seen: tuple[float, str | None] | None = None
        # getUpdates goes through do_api_request, to read each update on its own (one we cannot read
        # is skipped instead of blocking the queue); PTB would rather we called get_updates
        warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning)
        # httpx logs every request URL at INFO, and a Bot API URL holds the token: never in our logs
        httpx_log = logging.getLogger("httpx")
        httpx_log.setLevel(max(httpx_log.getEffectiveLevel(), logging.WARNING))

    # -- adapter ----------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [Route(WEBHOOK_PATH, self.webhook, methods=["POST"])]

    async def start(self) -> None:
        await self.app.initialize()  # getMe
        self.bot_link = f"https://t.me/{self.app.bot.username}"
        configured = self.settings.telegram_bot_username
        if configured and configured.lower() != str(self.app.bot.username).lower():
            # The posters' QR codes would lead to another bot
            log.warning(
                "RELAI_TELEGRAM_BOT_USERNAME is %s but the token's bot is %s: the district posters link elsewhere",
                configured,
                self.app.bot.username,
            )
        await self._set_commands()
        bot = self.app.bot
        if self.webhook_url is not None:
            await bot.set_webhook(self.webhook_url, secret_token=self.secret, allowed_updates=ALLOWED_UPDATES)
            log.info("telegram channel ready: webhook at %s", WEBHOOK_PATH)
        else:
            await bot.delete_webhook()
            self._poll_task = asyncio.create_task(self._poll(), name="telegram-polling")
            log.info("telegram channel ready: polling")

    async def stop(self) -> None:
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task
            self._poll_task = None
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=STOP_WAIT)
        if not await self.outbound.idle(timeout=STOP_WAIT):
            log.warning("telegram replies still queued at stop: %d chats", self.outbound.busy)
            self.outbound.cancel()
        if self._answers:
            await asyncio.wait(list(self._answers), timeout=STOP_WAIT)
        if self.mode == "polling" and self._offset is not None:
            with contextlib.suppress(TelegramError):  # confirm what was handled, so it is not fetched again
                await self.app.bot.get_updates(offset=self._offset, limit=1, timeout=0)
        await self.app.shutdown()

    async def health(self) -> ChannelHealth:
        """Polling: getUpdates answered lately. Webhook: Telegram has our URL and is not failing to deliver
        (getWebhookInfo, looked at most every WEBHOOK_CHECK_SECONDS). Either: the token works."""
        watch = self.sender.watch
        if self.bot_link is None:
            return watch.health(self.mode, "not started: Telegram did not answer getMe")
        if self.mode == "webhook":
            return watch.health("webhook", await self._webhook_problem())
        problem = None
        if self._token_refused:
            problem = "Telegram refused the token (RELAI_TELEGRAM_TOKEN): polling stopped"
        elif self._poll_task is None or self._poll_task.done():
            problem = "polling stopped"
        else:
            quiet = time.monotonic() - (self._polled_at or 0.0)
            if quiet > self.settings.telegram_poll_seconds + POLL_SILENCE:
                problem = f"getUpdates has not answered for {quiet:.0f} s"
        return watch.health("polling", problem)

    async def _webhook_problem(self) -> str | None:
        now = time.monotonic()
        if self._webhook_seen is not None and now - self._webhook_seen[0] < WEBHOOK_CHECK_SECONDS:
            return self._webhook_seen[1]
        problem: str | None = None
        try:
            info = await self.app.bot.get_webhook_info(read_timeout=WEBHOOK_CHECK_TIMEOUT)
        except InvalidToken:
            problem = "Telegram refused the token (RELAI_TELEGRAM_TOKEN)"
        except TelegramError as error:
            # Telegram slow or out of reach for a moment says nothing of the webhook: the last answer stands
            log.info("telegram getWebhookInfo failed for /readyz: %s", type(error).__name__)
            return self._webhook_seen[1] if self._webhook_seen is not None else None
        else:
            if info.url != self.webhook_url:
                problem = f"Telegram's webhook is {info.url or 'not set'!r}, not {self.webhook_url!r}: restart serve"
            elif info.pending_update_count and info.last_error_date is not None:
                age = datetime.now(UTC) - info.last_error_date
                if age.total_seconds() < WEBHOOK_ERROR_RECENT:
                    problem = (
                        f"Telegram cannot deliver {info.pending_update_count} update(s) to the webhook: "
                        f"{info.last_error_message or 'no reason given'}"
                    )
        self._webhook_seen = (now, problem)
        return problem

    async def idle(self) -> None:
        """Wait until every update received so far is handled and its replies sent (tests, benchmarks)."""
        while self._in_flight or self.outbound.busy or self._answers:
            await asyncio.gather(*self._in_flight, *self._answers, self.outbound.idle(), return_exceptions=True)

    async def _set_commands(self) -> None:
        renderer = self.renderer
        for language in renderer.languages:
            path = renderer.root / language / "channel" / "telegram_commands.yaml"
            if not path.is_file():
                continue
            entries = yaml.safe_load(path.read_text(encoding="utf-8"))["commands"]
            commands = [BotCommand(str(e["command"]), str(e["description"])) for e in entries]
            language_code = None if language == renderer.default_language else language
            try:
                await self.app.bot.set_my_commands(commands, scope=PRIVATE_CHATS, language_code=language_code)
            except TelegramError as error:
                log.warning("telegram setMyCommands failed (%s): %s", language, error.message)

    # -- updates in -------------------------------------------------------------------------------
    async def webhook(self, request: Request) -> Response:
        if self.webhook_url is None:
            return Response(status_code=404)
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("telegram webhook refused: wrong or missing secret token")
            return Response("Forbidden", status_code=403, media_type="text/plain")
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return Response(status_code=413)
        if media_type(request) != "application/json":  # Telegram posts JSON, nothing else
            return Response(status_code=415)
        try:
            data = json.loads(await request.body())
        except ValueError:
            return Response(status_code=400)
        if not isinstance(data, dict):
            return Response(status_code=400)
        update = self._accept(data)
        if update is not None:
            refused: list[Inbound] = []
            token = _UNAVAILABLE.set(refused)
            try:
                await self._process(update)  # the turn is committed before Telegram hears 200
            finally:
                _UNAVAILABLE.reset(token)
            if refused:  # the database was out of reach: nothing was done, Telegram delivers it again later
                self._seen.pop(update.update_id, None)
                log.warning("telegram update refused for now: the database is unavailable")
                return Response("try again later", status_code=503, headers={"Retry-After": RETRY_LATER})
        return Response(status_code=200)

    def _accept(self, data: dict[str, Any]) -> Update | None:
        """The update, unless it came before (same update_id) or cannot be read."""
        update_id = data.get("update_id")
        if not isinstance(update_id, int) or update_id in self._seen:
            return None
        self._seen[update_id] = None
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
        try:
            return Update.de_json(data, self.app.bot)
        except Exception:  # a malformed update must not block the others
            log.warning("telegram update %d unreadable: skipped", update_id)
            return None

    async def _process(self, update: Update) -> None:
        """Handle one update, after the previous ones of the same chat."""
        chat = update.effective_chat or update.effective_user
        if chat is None:
            await self.app.process_update(update)
            return
        async with self._chat_lock(chat.id):
            await self.app.process_update(update)

    def _chat_lock(self, chat_id: int) -> asyncio.Lock:
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = self._chat_locks[chat_id] = asyncio.Lock()
            while len(self._chat_locks) > MAX_REMEMBERED:
                oldest, old_lock = next(iter(self._chat_locks.items()))
                if old_lock.locked():
                    break
                del self._chat_locks[oldest]
        else:
            self._chat_locks.move_to_end(chat_id)
        return lock

    async def _poll(self) -> None:
        pause = POLL_BACKOFF[0]
        seconds = self.settings.telegram_poll_seconds
        while True:
            arguments: dict[str, Any] = {"timeout": seconds, "allowed_updates": ALLOWED_UPDATES}
            if self._offset is not None:
                arguments["offset"] = self._offset
            try:
                batch = await self.app.bot.do_api_request("getUpdates", arguments, read_timeout=seconds + 10.0)
            except RetryAfter as error:
                await self._sleep(retry_seconds(error))
                continue
            except (InvalidToken, EndPointNotFound):  # do_api_request says EndPointNotFound for a 401 or 404
                log.critical("telegram polling stopped: the token was refused")
                self._token_refused = True
                return
            except (Conflict, TelegramError) as error:
                log.warning("telegram getUpdates failed (%s); again in %.0f s", type(error).__name__, pause)
                await self._sleep(pause)
                pause = min(pause * 2, POLL_BACKOFF[1])
                continue
            pause = POLL_BACKOFF[0]
            self._polled_at = time.monotonic()
            for data in batch if isinstance(batch, list) else []:
                if isinstance(data, dict) and isinstance(data.get("update_id"), int):
                    self._offset = max(self._offset or 0, data["update_id"] + 1)
                    update = self._accept(data)
                    if update is not None:
                        await self._spawn(update)

    async def _spawn(self, update: Update) -> None:
        while len(self._in_flight) >= MAX_IN_FLIGHT:
            await asyncio.wait(list(self._in_flight), return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(self._process(update))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    # -- what handlers use ------------------------------------------------------------------------
    def text(self, template: str, language: str | None = None, **context: Any) -> str:
        return self.renderer.render(template, language=language, channel=CHANNEL, context=context)

    def acknowledge(self, query: CallbackQuery) -> None:
        """answerCallbackQuery at once, whatever happens next (the button stops spinning)."""

        async def answer() -> None:
            try:
                await query.answer()
            except TelegramError as error:
                log.info("telegram answerCallbackQuery failed: %s", error.message)

        task = asyncio.create_task(answer())
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    def failed(self, error: BaseException) -> None:
        self.errors.append(error)

    async def converse(self, inbound: Inbound) -> None:
        """Run the turn, then queue its replies for the chat. A turn the database could not take, in webhook
        mode, is not answered: the webhook asks Telegram to deliver the update again (polling apologises)."""
        turn = await self.dispatcher.handle(inbound)
        refused = _UNAVAILABLE.get()
        if turn.unavailable and refused is not None:
            refused.append(inbound)
            return
        self.deliver_turn(int(inbound.address), turn)

    def deliver_turn(self, chat_id: int, turn: Turn) -> None:
        if turn.duplicate or not turn.replies:
            return
        language = turn.replies[-1].language
        offer = self.phone_offer(language) if any(reply.share_phone == "offer" for reply in turn.replies) else None
        fallback = self.text("common/choose", language)
        messages: list[Outgoing] = []
        owners: list[int] = []
        for index, reply in enumerate(turn.replies):
            rendered = render_reply(reply, fallback_text=fallback, phone_offer=offer)
            messages += rendered
            owners += [index] * len(rendered)
        held = HeldReplies(turn.outbox_id, turn.replies, owners) if turn.outbox_id is not None else None
        self.outbound.queue(chat_id, messages, held)

    def phone_offer(self, language: str | None = None) -> Outgoing:
        """The message offering to share the phone number: a keyboard with a request_contact button."""
        button = KeyboardButton(self.text("channel/telegram_share_phone_button", language), request_contact=True)
        keyboard = ReplyKeyboardMarkup([[button]], resize_keyboard=True, one_time_keyboard=True)
        return plain_message(self.text("channel/telegram_share_phone", language), keyboard)

    async def say(self, chat_id: int, template: str, **context: Any) -> None:
        """A message of the channel's own (not a turn of the engine)."""
        self.outbound.queue(chat_id, [plain_message(self.text(template, **context))])

    # -- updates out ------------------------------------------------------------------------------
    async def send(self, address: str, reply: Reply, *, proactive: bool = False) -> SendResult:
        """The delivery engine's send: one reply (its parts in order), one try of each (the engine retries).

        A 429 pauses the chat and comes back as SendFailure("retry", retry_after=...). Parts Telegram
        already took are remembered (in memory), so the engine's next try sends only the rest. An
        ambiguous timeout comes back with `ambiguous` set: Telegram may have shown the message.
        """
        try:
            chat_id = int(address)
        except ValueError:
            raise SendFailure("invalid", "not a Telegram chat id", code="address") from None
        if proactive and await asyncio.to_thread(self.records.is_stopped, CHANNEL, address):
            raise SendFailure("stopped", "the resident said stop", code="stopped")
        messages = render_reply(reply, fallback_text=self.text("common/choose", reply.language))
        if not messages:
            raise SendFailure("invalid", "nothing to send", code="empty")
        return await self.outbound.send(chat_id, messages, reply_key(chat_id, reply.log_id, reply.text))
