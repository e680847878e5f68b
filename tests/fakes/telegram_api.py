"""A fake Telegram Bot API server (aiohttp) for tests and benchmarks.

Run the real python-telegram-bot client against it::

    async with FakeTelegramServer(token="123:ABC") as srv:
        bot = telegram.Bot("123:ABC", base_url=srv.base_url, base_file_url=srv.base_file_url)
        async with bot:
            await bot.send_message(42, "hi")
        assert srv.violations == []

Every request is validated against the committed Bot API schema (``specs/telegram_bot_api.json``) and the
limits in :mod:`tests.fakes.telegram_rules`; refusals are answered like Telegram and listed in
``srv.violations``.  Flood control: the methods in ``RATE_LIMITED_METHODS`` (messages sent, copied,
forwarded or edited) count; ``sendChatAction``, ``answerCallbackQuery``, ``getUpdates``, ``getMe``... don't.

Faults (the plan shared with the Twilio fake, tests/fakes/server.py): ``srv.fail_next("sendMessage",
status=429, retry_after=7)``, ``srv.delay_next("*", 0.5)``, ``srv.drop_next("sendMessage")``; each returns
its ``Fault``, whose ``hits`` count the calls it took. ``await srv.wait_until(...)`` waits on the server's
signals (a call answered, an update confirmed).

Standalone: ``python -m tests.fakes.telegram_api --port 8081`` (see ``--help``); a small control API under
``/_fake/`` lets another process push updates and read the recorded calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from .server import ConnectionDropped, Exchange, FakeServer, Fault
from .telegram_formatting import FormattedText, utf16_len
from .telegram_rules import ApiError, Schema, UploadedFile, bad_request, check_method_rules

__all__ = [
    "RATE_LIMITED_METHODS",
    "SENDING_METHODS",
    "FakeTelegramServer",
    "RecordedCall",
    "UploadedFile",
    "Violation",
    "WebhookDelivery",
]

SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendSticker",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendMediaGroup",
        "sendInvoice",
        "sendGame",
        "sendChecklist",
        "sendPaidMedia",
        "sendLivePhoto",
        "sendRichMessage",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    }
)
"""Methods that put a new message in a chat (what ``sent_messages`` returns)."""

EDIT_METHODS = frozenset(
    {
        "editMessageText",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageReplyMarkup",
        "editMessageLiveLocation",
        "editMessageChecklist",
    }
)
RATE_LIMITED_METHODS = SENDING_METHODS | EDIT_METHODS
"""Methods counted by flood control (``sendChatAction`` is deliberately not counted)."""

_CHAT_BOUND = RATE_LIMITED_METHODS | {"sendChatAction"}
_MEDIA = {  # method -> (parameter, Message field, spec type)
    "sendDocument": ("document", "document", "Document"),
    "sendPhoto": ("photo", "photo", "PhotoSize"),
    "sendAudio": ("audio", "audio", "Audio"),
    "sendVideo": ("video", "video", "Video"),
    "sendAnimation": ("animation", "animation", "Animation"),
    "sendVoice": ("voice", "voice", "Voice"),
    "sendVideoNote": ("video_note", "video_note", "VideoNote"),
    "sendSticker": ("sticker", "sticker", "Sticker"),
}
_DEFAULT_UPDATES_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass(kw_only=True)
class RecordedCall(Exchange):
    """One Bot API call received by the server (``at``: time.monotonic() at arrival; ``status``: None when a
    planned fault dropped the connection)."""

    method: str
    params: dict[str, Any]
    chat_id: int | str | None
    result: Any = None
    description: str | None = None
    http_method: str = "POST"

    @property
    def time(self) -> float:
        """time.monotonic() at arrival (``at``)."""
        return self.at

    @property
    def ok(self) -> bool:
        """True when answered with 200."""
        return self.status == 200

    @property
    def text(self) -> str | None:
        """The ``text`` (or ``caption``) parameter as sent, if any."""
        return self.params.get("text", self.params.get("caption"))


@dataclass
class Violation:
    """A request refused by the server's rules (not an injected fault)."""

    method: str
    reason: str
    params: dict[str, Any]
    kind: str = "validation"
    detail: str = ""
    status: int = 400


@dataclass
class WebhookDelivery:
    """One POST of an update to the webhook URL."""

    update_id: int
    url: str
    status: int | None
    error: str | None
    secret_token: str | None
    time: float


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_name: str | None
    mime_type: str | None
    data: bytes | None
    file_path: str

    def as_object(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.file_name:
            obj["file_name"] = self.file_name
        if self.mime_type:
            obj["mime_type"] = self.mime_type
        if self.data is not None:
            obj["file_size"] = len(self.data)
        return obj


@dataclass
class _Webhook:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    ip_address: str | None = None
    has_custom_certificate: bool = False
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    minute: deque[float] = field(default_factory=deque)


class FakeTelegramServer(FakeServer[RecordedCall]):
    """Fake Bot API on 127.0.0.1; use ``async with`` or ``start()``/``stop()`` in the running loop.

    Lifecycle, request log (``calls``), fault plan (``faults``) and waiting come from ``FakeServer``.
    """

    client_max_size = 64 * 1024 * 1024

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        per_chat_rate: float = 1.0,
        per_chat_burst: int = 3,
        global_rate: float = 30.0,
        group_per_minute: int = 20,
        enforce_rate_limits: bool = True,
        bot_username: str = "relai_possession_bot",
        bot_first_name: str = "Relai La Possession",
        deliver_webhooks: bool = False,
        require_https_webhook: bool = False,
        webhook_retry_delay: float = 0.5,
        strict_chats: bool = False,
        schema_path: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        self.per_chat_rate = per_chat_rate
        self.per_chat_burst = per_chat_burst
        self.global_rate = global_rate
        self.group_per_minute = group_per_minute
        self.enforce_rate_limits = enforce_rate_limits
        self._deliver_webhooks = deliver_webhooks
        self.require_https_webhook = require_https_webhook
        self.webhook_retry_delay = webhook_retry_delay
        self.strict_chats = strict_chats
        self.schema = Schema.load(schema_path)
        self.clock = clock
        head = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(head) if head.isdigit() else 123,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.violations: list[Violation] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.blocked_chats: set[int | str] = set()
        self.unknown_chats: set[int | str] = set()
        self.known_chats: set[int | str] = set()
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] | None = None
        self._webhook: _Webhook | None = None
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._next_message_id: dict[int | str, int] = defaultdict(lambda: 1)
        self._users: dict[int | str, dict[str, Any]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._callbacks: dict[str, bool] = {}
        self._buckets: dict[int | str, _Bucket] = {}
        self._global_window: deque[float] = deque()
        self._channel_ids: dict[str, int] = {}
        self._poll_generation = 0
        self._ids = itertools.count(1)
        self._webhook_task: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/bot{token}/{method}", self._handle_api)
        app.router.add_post("/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_post("/_fake/updates", self._control_push)
        app.router.add_get("/_fake/calls", self._control_calls)
        app.router.add_get("/_fake/violations", self._control_violations)
        app.router.add_post("/_fake/clear", self._control_clear)

    async def started(self) -> None:
        self._webhook_task = asyncio.create_task(self._webhook_worker())

    async def stopping(self) -> None:
        """Pending long polls were woken by the stop; end webhook delivery."""
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None

    @property
    def base_url(self) -> str:
        """What PTB's ``base_url`` takes (PTB appends the token)."""
        return f"{self.address}/bot"

    @property
    def base_file_url(self) -> str:
        """What PTB's ``base_file_url`` takes."""
        return f"{self.address}/file/bot"

    # -- inspection helpers ---------------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call answered (or dropped), in order of answer."""
        return self.exchanges

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Recorded calls of one method (case-insensitive)."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def sent_messages(self, chat_id: int | str | None = None) -> list[RecordedCall]:
        """Successfully accepted sendMessage/sendDocument/copyMessage/... calls, optionally for one chat."""
        return [
            c for c in self.calls if c.method in SENDING_METHODS and c.ok and (chat_id is None or c.chat_id == chat_id)
        ]

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        """Texts/captions (after entity parsing) of the accepted messages, optionally for one chat."""
        out = []
        for call in self.sent_messages(chat_id):
            result = call.result if isinstance(call.result, dict) else {}
            out.append(result.get("text", result.get("caption", call.text or "")))
        return out

    def chat_messages(self, chat_id: int | str) -> list[dict[str, Any]]:
        """Current state (after edits and deletions) of the messages in a chat, oldest first."""
        return [m for (c, _), m in sorted(self._messages.items(), key=lambda kv: kv[0][1]) if c == chat_id]

    def clear(self) -> None:
        """Forget recorded calls, violations and deliveries (state such as chats and messages is kept)."""
        self.clear_log()
        self.violations.clear()
        self.webhook_deliveries.clear()

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot."""
        return list(self._updates)

    @property
    def unanswered_callbacks(self) -> list[str]:
        """Ids of the callback queries (button presses) the bot never answered with answerCallbackQuery."""
        return [query_id for query_id, answered in self._callbacks.items() if not answered]

    @property
    def deliver_webhooks(self) -> bool:
        """When True, pending updates are POSTed to the webhook URL (if one is set)."""
        return self._deliver_webhooks

    @deliver_webhooks.setter
    def deliver_webhooks(self, value: bool) -> None:
        self._deliver_webhooks = value
        self.notify()

    @property
    def webhook_url(self) -> str:
        """The webhook URL currently set ("" when none)."""
        return self._webhook.url if self._webhook else ""

    # -- fault injection ------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: int | str | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> Fault:
        """Answer the next ``times`` valid calls of ``method`` ("*" for any) with an error (after ``delay``)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            default = _DEFAULT_DESCRIPTIONS.get(status, "Error")
            description = f"Too Many Requests: retry after {retry_after}" if status == 429 else default
        details = {"description": description, "retry_after": retry_after}
        return self.faults.plan(
            times=times, status=status, delay=delay, details=details, method=method, chat_id=chat_id
        )

    def delay_next(self, method: str, seconds: float, times: int = 1, *, chat_id: int | str | None = None) -> Fault:
        """Delay the next ``times`` valid calls of ``method`` ("*" for any); they are handled after the delay."""
        return self.faults.plan(times=times, delay=seconds, method=method, chat_id=chat_id)

    def drop_next(self, method: str, *, times: int = 1, chat_id: int | str | None = None) -> Fault:
        """Close the connection of the next ``times`` valid calls of ``method`` without an answer."""
        return self.faults.plan(times=times, drop=True, method=method, chat_id=chat_id)

    def block_chat(self, chat_id: int | str) -> None:
        """Sends to this chat answer 403 "Forbidden: bot was blocked by the user"."""
        self.blocked_chats.add(chat_id)

    def unblock_chat(self, chat_id: int | str) -> None:
        """Undo ``block_chat``."""
        self.blocked_chats.discard(chat_id)

    # -- updates --------------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update (``update_id`` assigned if missing); validated against the ``Update`` type."""
        update = {"update_id": update.get("update_id", self._next_update_id), **update}
        try:
            self.schema.check_object("Update", update)
        except ApiError as exc:
            raise ValueError(f"invalid Update: {exc.detail}") from None
        self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        for key in ("message", "edited_message", "callback_query"):
            obj = update.get(key)
            if isinstance(obj, dict):
                chat = (obj.get("message") or {}).get("chat") if key == "callback_query" else obj.get("chat")
                if chat:
                    self.known_chats.add(chat["id"])
        self._updates.append(update)
        self.notify()
        return update

    def user_message(
        self,
        chat_id: int,
        text: str | None,
        user_id: int | None = None,
        *,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "fr",
        **extra: Any,
    ) -> dict[str, Any]:
        """Push a message from a user in a private chat (``/commands`` get their bot_command entity)."""
        user = self._remember_user(chat_id, user_id, first_name, last_name, username, language_code)
        message: dict[str, Any] = {
            "message_id": self._take_message_id(chat_id),
            "from": user,
            "chat": self._chat_object(chat_id),
            "date": int(self.clock()),
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/") and len(text) > 1:
                command = text.split(maxsplit=1)[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        message.update(extra)
        self._messages[(chat_id, message["message_id"])] = message
        return self.push_update({"message": message})

    def callback_press(
        self,
        chat_id: int,
        data: str,
        message_id: int | None = None,
        user_id: int | None = None,
        *,
        first_name: str = "Test",
        language_code: str | None = "fr",
    ) -> dict[str, Any]:
        """Push a callback query as if the user pressed an inline button carrying ``data``.

        Without ``message_id`` the latest bot message of the chat holding that button is used.
        """
        user = self._remember_user(chat_id, user_id, first_name, None, None, language_code)
        message = self._messages.get((chat_id, message_id)) if message_id is not None else None
        if message is None and message_id is None:
            candidates = [m for m in self.chat_messages(chat_id) if m.get("from", {}).get("is_bot")]
            with_button = [m for m in candidates if data in _callback_datas(m)]
            message = (with_button or candidates or [None])[-1]
        if message is None:
            message = {
                "message_id": message_id or self._take_message_id(chat_id),
                "from": dict(self.bot_user),
                "chat": self._chat_object(chat_id),
                "date": int(self.clock()),
                "text": "",
            }
        query_id = str(secrets.randbits(63))
        self._callbacks[query_id] = False
        query = {
            "id": query_id,
            "from": user,
            "message": message,
            "chat_instance": str(abs(hash(("chat", chat_id))) % 10**18),
            "data": data,
        }
        return self.push_update({"callback_query": query})

    def store_file(self, data: bytes, file_name: str = "file.bin", mime_type: str | None = None) -> dict[str, Any]:
        """Store a file as if a user had sent it; returns a ``Document`` object (for ``user_message``)."""
        return self._new_file(data, file_name, mime_type, "documents").as_object()

    # -- HTTP handlers --------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        raw_method = request.match_info["method"]
        method = self.schema.resolve_method(raw_method) or raw_method
        params: dict[str, Any] = {}
        chat_id: int | str | None = None
        result: Any = None
        extra: dict[str, Any] = {}
        arrival = time.monotonic()
        fault: Fault | None = None
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized", kind="auth")
            params = await _read_params(request)
            if self.schema.resolve_method(raw_method) is None:
                raise ApiError(404, "Not Found", detail=f"unknown method {raw_method!r}", kind="unknown_method")
            params = self.schema.decode_params(method, params)
            formatted = check_method_rules(method, params)
            chat_id = params.get("chat_id")
            fault = self.faults.take(method=method, chat_id=chat_id)
            await self.apply(fault)
            if fault is not None and fault.status is not None:
                retry_after = fault.details.get("retry_after")
                raise ApiError(fault.status, fault.details["description"], retry_after=retry_after, kind="injected")
            self._check_chat(method, chat_id, params)
            self._check_flood(method, chat_id, params)
            result, extra = await self._dispatch(method, params, formatted)
            status, body = 200, {"ok": True, "result": result, **extra}
        except ApiError as exc:
            status, body = exc.status, exc.payload()
            if exc.kind != "injected":
                self.violations.append(
                    Violation(method, exc.description, dict(params), exc.kind, exc.detail, exc.status)
                )
        except ConnectionDropped:
            call = RecordedCall(method=method, params=params, chat_id=chat_id, at=arrival, fault=fault)
            self.record(call)
            raise
        call = RecordedCall(
            method=method,
            params=params,
            chat_id=chat_id,
            at=arrival,
            status=status,
            fault=fault,
            result=result if status == 200 else None,
            description=body.get("description"),
            http_method=request.method,
        )
        self.record(call)
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        path = request.match_info["path"]
        for stored in self._files.values():
            if stored.file_path == path and stored.data is not None:
                return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")
        return web.json_response(ApiError(404, "Not Found").payload(), status=404)

    # -- checks ---------------------------------------------------------------------------------

    def _check_chat(self, method: str, chat_id: int | str | None, params: dict[str, Any]) -> None:
        if chat_id is None:
            return
        if chat_id in self.unknown_chats or (
            self.strict_chats and isinstance(chat_id, int) and chat_id not in self.known_chats
        ):
            raise ApiError(400, "Bad Request: chat not found", kind="injected")
        if method in _CHAT_BOUND and chat_id in self.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user", kind="injected")

    def _check_flood(self, method: str, chat_id: int | str | None, params: dict[str, Any]) -> None:
        if not self.enforce_rate_limits or method not in RATE_LIMITED_METHODS:
            return
        weight = len(params.get("media") or params.get("message_ids") or [None])
        now = time.monotonic()
        window = self._global_window
        while window and window[0] <= now - 1.0:
            window.popleft()
        limit = max(1, int(self.global_rate))
        if len(window) + weight > limit:
            index = min(len(window) + weight - limit, len(window)) - 1
            wait = window[index] + 1.0 - now if index >= 0 else 1.0
            raise _flood(wait, f"global limit {self.global_rate}/s")
        if chat_id is not None:
            bucket = self._buckets.get(chat_id)
            if bucket is None:
                bucket = self._buckets[chat_id] = _Bucket(float(self.per_chat_burst), now)
            bucket.tokens = min(float(self.per_chat_burst), bucket.tokens + (now - bucket.stamp) * self.per_chat_rate)
            bucket.stamp = now
            if bucket.tokens < weight:
                raise _flood((weight - bucket.tokens) / self.per_chat_rate, f"chat {chat_id} limit")
            if _is_group(chat_id):
                minute = bucket.minute
                while minute and minute[0] <= now - 60.0:
                    minute.popleft()
                if len(minute) + weight > self.group_per_minute:
                    raise _flood(minute[0] + 60.0 - now, f"group {chat_id} limit {self.group_per_minute}/min")
                minute.extend([now] * weight)
            bucket.tokens -= weight
        window.extend([now] * weight)

    # -- dispatch -------------------------------------------------------------------------------

    async def _dispatch(
        self, method: str, params: dict[str, Any], formatted: dict[str, FormattedText]
    ) -> tuple[Any, dict[str, Any]]:
        handler = getattr(self, f"_m_{method}", None)
        if handler is not None:
            return await handler(params, formatted)
        if self.schema.returns(method) == ["Message"] and "chat_id" in params:
            return self._send(method, params, formatted), {}
        return self._generic_result(method, params), {}

    def _generic_result(self, method: str, params: dict[str, Any]) -> Any:
        returns = self.schema.returns(method)
        kind = returns[0] if returns else "Boolean"
        if kind == "Boolean":
            return True
        if kind == "User":
            return dict(self.bot_user)
        if kind == "MessageId":
            return {"message_id": self._take_message_id(params.get("chat_id", 0))}
        if kind == "Array of MessageId":
            return [{"message_id": self._take_message_id(params["chat_id"])} for _ in params["message_ids"]]
        if kind == "Message" and "chat_id" in params:
            return self._base_message(params["chat_id"])
        return self.schema.skeleton(kind)

    async def _m_getMe(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        user = {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        return user, {}

    async def _m_sendMessage(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        return self._send("sendMessage", params, fmt), {}

    async def _m_sendMediaGroup(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        messages = []
        group_id = str(next(self._ids))
        for item in params["media"]:
            message = self._base_message(params["chat_id"])
            message["media_group_id"] = group_id
            media_type = item["type"]
            stored = self._file_for(item["media"], _files_from(params), media_type + "s")
            obj = stored.as_object()
            message[media_type] = [{**obj, "width": 1280, "height": 720}] if media_type == "photo" else obj
            if item.get("caption"):
                message["caption"] = item["caption"]
            self._store_message(message)
            messages.append(message)
        return messages, {}

    async def _m_copyMessage(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        source = self._find_message(params["from_chat_id"], params["message_id"], "message to copy not found")
        message = self._base_message(params["chat_id"])
        for key in ("text", "entities", "caption", "caption_entities", *(m[1] for m in _MEDIA.values())):
            if key in source:
                message[key] = source[key]
        if "caption" in fmt:
            message["caption"] = fmt["caption"].text
        self._apply_markup(message, params)
        self._store_message(message)
        return {"message_id": message["message_id"]}, {}

    async def _m_forwardMessage(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        source = self._find_message(params["from_chat_id"], params["message_id"], "message to forward not found")
        message = {**source, **self._base_message(params["chat_id"])}
        message["forward_origin"] = {"type": "user", "date": source["date"], "sender_user": source["from"]}
        message.pop("reply_markup", None)
        self._store_message(message)
        return message, {}

    async def _m_editMessageText(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        return self._edit(params, {"text": fmt["text"].text, "entities": fmt["text"].entities}, "text"), {}

    async def _m_editMessageCaption(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        caption = fmt.get("caption") or FormattedText("", [])
        changes = {"caption": caption.text, "caption_entities": caption.entities}
        return self._edit(params, changes, "caption"), {}

    async def _m_editMessageReplyMarkup(
        self, params: dict[str, Any], fmt: dict[str, FormattedText]
    ) -> tuple[Any, dict]:
        return self._edit(params, {}, None), {}

    async def _m_deleteMessage(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        key = self._msg_key(params["chat_id"], params["message_id"])
        if key not in self._messages:
            raise bad_request("message to delete not found", f"no message {key}", kind="state")
        del self._messages[key]
        return True, {}

    async def _m_deleteMessages(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        for message_id in params["message_ids"]:
            self._messages.pop(self._msg_key(params["chat_id"], message_id), None)
        return True, {}

    async def _m_answerCallbackQuery(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        query_id = params["callback_query_id"]
        if self._callbacks.get(query_id, True):
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid",
                f"callback query {query_id!r} unknown or already answered",
                kind="state",
            )
        self._callbacks[query_id] = True
        return True, {}

    async def _m_setMyCommands(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        self.commands[_commands_key(params)] = list(params["commands"])
        return True, {}

    async def _m_getMyCommands(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        return list(self.commands.get(_commands_key(params), [])), {}

    async def _m_deleteMyCommands(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        self.commands.pop(_commands_key(params), None)
        return True, {}

    async def _m_setWebhook(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        url = params["url"].strip()
        if not url:
            return await self._m_deleteWebhook(params, fmt)
        if not url.startswith(("http://", "https://")):
            raise bad_request("invalid webhook URL specified", f"setWebhook: {url!r}")
        if self.require_https_webhook and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook", f"setWebhook: {url!r}")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = _Webhook(
            url=url,
            secret_token=params.get("secret_token"),
            max_connections=params.get("max_connections", 40),
            allowed_updates=params.get("allowed_updates"),
            ip_address=params.get("ip_address"),
            has_custom_certificate="certificate" in params,
        )
        self._poll_generation += 1
        self.notify()
        return True, {"description": "Webhook was set"}

    async def _m_deleteWebhook(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        was_set = self._webhook is not None
        self._webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True, {"description": "Webhook was deleted" if was_set else "Webhook is already deleted"}

    async def _m_getWebhookInfo(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        hook = self._webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": bool(hook and hook.has_custom_certificate),
            "pending_update_count": len(self._updates),
        }
        if hook:
            info["max_connections"] = hook.max_connections
            for key in ("ip_address", "allowed_updates", "last_error_date", "last_error_message"):
                if getattr(hook, key) is not None:
                    info[key] = getattr(hook, key)
        return info, {}

    async def _m_getUpdates(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        if self._webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
                kind="conflict",
            )
        offset = params.get("offset")
        if offset is not None and offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset is not None and offset < 0:
            self._updates = self._updates[offset:]
        self.progress()  # updates confirmed: pending_updates may be empty now
        if "allowed_updates" in params:
            self._allowed_updates = params["allowed_updates"]
        limit = min(max(params.get("limit", 100), 1), 100)
        deadline = time.monotonic() + max(params.get("timeout", 0), 0)
        self._poll_generation += 1
        generation = self._poll_generation
        while True:
            self._drop_unwanted(self._allowed_updates)
            if self._updates or self.closing:
                return self._updates[:limit], {}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return [], {}
            await self.wait_change(remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                    kind="conflict",
                )

    async def _m_getFile(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        stored = self._files.get(params["file_id"])
        if stored is None:
            raise bad_request("invalid file_id", f"unknown file_id {params['file_id']!r}", kind="state")
        result = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_path": stored.file_path}
        if stored.data is not None:
            result["file_size"] = len(stored.data)
        return result, {}

    async def _m_getChat(self, params: dict[str, Any], fmt: dict[str, FormattedText]) -> tuple[Any, dict]:
        info = self.schema.skeleton("ChatFullInfo")
        info.update(self._chat_object(params["chat_id"]))
        info["max_reaction_count"] = 11
        return info, {}

    # -- message building -----------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any], fmt: dict[str, FormattedText]) -> dict[str, Any]:
        message = self._base_message(params["chat_id"])
        if "text" in fmt:
            message["text"] = fmt["text"].text
            if fmt["text"].entities:
                message["entities"] = fmt["text"].entities
        if method in _MEDIA:
            param, key, type_name = _MEDIA[method]
            stored = self._file_for(params[param], _files_from(params), key + "s")
            obj = {**self.schema.skeleton(type_name), **stored.as_object()}
            if type_name != "Document":
                obj = {k: v for k, v in obj.items() if k in self.schema.types[type_name]["fields"]}
            message[key] = [obj] if method == "sendPhoto" else obj
        if "caption" in fmt and fmt["caption"].text:
            message["caption"] = fmt["caption"].text
            if fmt["caption"].entities:
                message["caption_entities"] = fmt["caption"].entities
        if method == "sendLocation":
            message["location"] = {"latitude": params["latitude"], "longitude": params["longitude"]}
        if method == "sendContact":
            message["contact"] = {"phone_number": params["phone_number"], "first_name": params["first_name"]}
        if method == "sendDice":
            message["dice"] = {"emoji": params.get("emoji", "🎲"), "value": 1}
        self._apply_reply(message, params)
        self._apply_markup(message, params)
        self._store_message(message)
        return message

    def _base_message(self, chat_id: int | str) -> dict[str, Any]:
        return {
            "message_id": self._take_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": self._chat_object(chat_id),
            "date": int(self.clock()),
        }

    def _apply_markup(self, message: dict[str, Any], params: dict[str, Any]) -> None:
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        else:
            message.pop("reply_markup", None)

    def _apply_reply(self, message: dict[str, Any], params: dict[str, Any]) -> None:
        reply = params.get("reply_parameters")
        if not reply:
            return
        chat_id = reply.get("chat_id", params["chat_id"])
        target = self._messages.get(self._msg_key(chat_id, reply["message_id"]))
        if target is None:
            if reply.get("allow_sending_without_reply"):
                return
            raise bad_request("message to be replied not found", f"no message {reply['message_id']}", kind="state")
        message["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}

    def _edit(self, params: dict[str, Any], changes: dict[str, Any], content_key: str | None) -> Any:
        if "inline_message_id" in params:
            return True
        message = self._find_message(params["chat_id"], params["message_id"], "message to edit not found")
        if not message.get("from", {}).get("is_bot"):
            raise bad_request("message can't be edited", "not a bot message", kind="state")
        if content_key is not None and content_key == "text" and "text" not in message:
            raise bad_request("there is no text in the message to edit", "no text", kind="state")
        updated = dict(message)
        for key, value in changes.items():
            if value:
                updated[key] = value
            else:
                updated.pop(key, None)
        self._apply_markup(updated, params)
        if updated == message:
            raise bad_request(_NOT_MODIFIED, "edit without any change", kind="state")
        updated["edit_date"] = int(self.clock())
        self._messages[self._msg_key(params["chat_id"], params["message_id"])] = updated
        return updated

    def _find_message(self, chat_id: int | str, message_id: int, error: str) -> dict[str, Any]:
        message = self._messages.get(self._msg_key(chat_id, message_id))
        if message is None:
            raise bad_request(error, f"no message {message_id} in chat {chat_id}", kind="state")
        return message

    def _store_message(self, message: dict[str, Any]) -> None:
        self._messages[(message["chat"]["id"], message["message_id"])] = message

    def _take_message_id(self, chat_id: int | str) -> int:
        key = self._chat_key(chat_id)
        message_id = self._next_message_id[key]
        self._next_message_id[key] = message_id + 1
        return message_id

    def _msg_key(self, chat_id: int | str, message_id: int) -> tuple[int | str, int]:
        return (self._chat_key(chat_id), message_id)

    def _chat_key(self, chat_id: int | str) -> int | str:
        return self._chat_object(chat_id)["id"]

    def _chat_object(self, chat_id: int | str) -> dict[str, Any]:
        if isinstance(chat_id, str):
            name = chat_id.lstrip("@")
            chat_ref = self._channel_ids.setdefault(name, -1001000000000 - len(self._channel_ids))
            return {"id": chat_ref, "type": "channel", "title": name, "username": name}
        if chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            return {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}
        user = self._users.get(chat_id, {"first_name": "Test"})
        chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if user.get(key):
                chat[key] = user[key]
        return chat

    def _remember_user(
        self,
        chat_id: int,
        user_id: int | None,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id if user_id is not None else chat_id, "is_bot": False}
        user["first_name"] = first_name
        for key, value in (
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is not None:
                user[key] = value
        if chat_id > 0:
            self._users[chat_id] = user
        self.known_chats.add(chat_id)
        return user

    # -- files ----------------------------------------------------------------------------------

    def _new_file(self, data: bytes | None, name: str | None, mime: str | None, folder: str) -> _StoredFile:
        number = next(self._ids)
        suffix = Path(name).suffix if name else ""
        stored = _StoredFile(
            file_id=f"BQACAgQAAx{secrets.token_urlsafe(24)}",
            file_unique_id=f"AgAD{secrets.token_urlsafe(8)}",
            file_name=name,
            mime_type=mime,
            data=data,
            file_path=f"{folder}/file_{number}{suffix}",
        )
        self._files[stored.file_id] = stored
        return stored

    def _file_for(self, value: Any, files: dict[str, UploadedFile], folder: str) -> _StoredFile:
        if isinstance(value, str) and value.startswith("attach://"):
            value = files.get(value.removeprefix("attach://"), value)
        if isinstance(value, UploadedFile):
            if not value.data:
                raise bad_request("file must be non-empty", f"empty upload {value.field!r}")
            return self._new_file(value.data, value.filename, value.content_type, folder)
        if value in self._files:
            return self._files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            name = value.rstrip("/").rsplit("/", 1)[-1] or None
            return self._new_file(None, name, None, folder)
        raise bad_request("wrong file identifier/HTTP URL specified", f"unknown file {value!r}", kind="state")

    # -- update delivery ------------------------------------------------------------------------

    def _drop_unwanted(self, allowed: list[str] | None) -> None:
        def wanted(update: dict[str, Any]) -> bool:
            kind = next((k for k in update if k != "update_id"), "")
            return kind in allowed if allowed else kind not in _DEFAULT_UPDATES_EXCLUDED

        self._updates = [u for u in self._updates if wanted(u)]

    async def _webhook_worker(self) -> None:
        while not self.closing:
            hook = self._webhook
            if hook is None or not self.deliver_webhooks:
                await self.wait_change(3600)
                continue
            self._drop_unwanted(hook.allowed_updates)
            if not self._updates:
                await self.wait_change(3600)
                continue
            update = self._updates[0]
            status, error = await self._post_update(hook, update)
            self.webhook_deliveries.append(
                WebhookDelivery(update["update_id"], hook.url, status, error, hook.secret_token, time.monotonic())
            )
            if status is not None and 200 <= status < 300:
                if self._updates and self._updates[0] is update:
                    self._updates.pop(0)
                self.progress()
                continue
            self.progress()
            hook.last_error_date = int(self.clock())
            hook.last_error_message = error or f"Wrong response from the webhook: {status}"
            await self.pause(self.webhook_retry_delay)

    async def _post_update(self, hook: _Webhook, update: dict[str, Any]) -> tuple[int | None, str | None]:
        headers = {"X-Telegram-Bot-Api-Secret-Token": hook.secret_token} if hook.secret_token else {}
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with self.session().post(hook.url, json=update, headers=headers, timeout=timeout) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"Connection failed: {exc!r}"

    # -- control API (standalone use) -----------------------------------------------------------

    async def _control_push(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            if "callback_data" in body:
                update = self.callback_press(body["chat_id"], body["callback_data"], body.get("message_id"))
            elif "chat_id" in body:
                update = self.user_message(body["chat_id"], body.get("text"), body.get("user_id"))
            else:
                update = self.push_update(body)
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"ok": False, "description": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": update})

    async def _control_calls(self, request: web.Request) -> web.Response:
        return web.json_response([_jsonable(asdict(c)) for c in self.calls])

    async def _control_violations(self, request: web.Request) -> web.Response:
        return web.json_response([_jsonable(asdict(v)) for v in self.violations])

    async def _control_clear(self, request: web.Request) -> web.Response:
        self.clear()
        return web.json_response({"ok": True})


# -- helpers ----------------------------------------------------------------------------------------


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Query string + body (JSON, urlencoded or multipart) as strings and uploaded files."""
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return params
    if request.content_type == "application/json":
        raw = await request.read()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise bad_request("can't parse JSON body", "request body is not JSON") from None
            if not isinstance(body, dict):
                raise bad_request("JSON body must be an object", "request body is not a JSON object")
            for key, value in body.items():
                if value is not None:
                    params[key] = value if isinstance(value, str) else json.dumps(value)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = UploadedFile(key, value.filename, value.content_type, value.file.read())
            else:
                params[key] = value
    return params


def _flood(seconds: float, detail: str) -> ApiError:
    retry_after = max(1, math.ceil(seconds))
    return ApiError(
        429,
        f"Too Many Requests: retry after {retry_after}",
        detail=detail,
        retry_after=retry_after,
        kind="flood",
    )


def _is_group(chat_id: int | str) -> bool:
    return isinstance(chat_id, str) or chat_id < 0


def _files_from(params: dict[str, Any]) -> dict[str, UploadedFile]:
    return {k: v for k, v in params.items() if isinstance(v, UploadedFile)}


def _callback_datas(message: dict[str, Any]) -> set[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["callback_data"] for row in rows for b in row if "callback_data" in b}


def _commands_key(params: dict[str, Any]) -> str:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps([scope, params.get("language_code", "")], sort_keys=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, UploadedFile):
        return {"upload": value.filename, "size": value.size}
    if isinstance(value, bytes):
        return {"size": len(value)}
    return value


async def _serve(args: argparse.Namespace) -> None:
    server = FakeTelegramServer(
        token=args.token,
        host=args.host,
        port=args.port,
        enforce_rate_limits=not args.no_rate_limits,
        per_chat_rate=args.per_chat_rate,
        per_chat_burst=args.per_chat_burst,
        global_rate=args.global_rate,
        deliver_webhooks=args.deliver_webhooks,
    )
    async with server:
        print(f"Fake Telegram Bot API ({server.schema.version}) on {server.base_url}{server.token}/", flush=True)
        print(f"base_url={server.base_url} base_file_url={server.base_file_url}", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Run the fake server standalone until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123:ABC")
    parser.add_argument("--no-rate-limits", action="store_true", help="disable flood control")
    parser.add_argument("--per-chat-rate", type=float, default=1.0)
    parser.add_argument("--per-chat-burst", type=int, default=3)
    parser.add_argument("--global-rate", type=float, default=30.0)
    parser.add_argument("--deliver-webhooks", action="store_true", help="POST updates to the webhook URL")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
