"""python-telegram-bot handlers: every kind of update a resident may send, turned into an `Inbound`.

No state lives here (no ConversationHandler, no user_data): each handler builds an `Inbound` for the
engine (a shared contact or position too: the engine decides what it means where the resident stands),
or answers by itself when the engine has nothing to do with it (an edited message, a group). Message ids
are "<chat id>:<message id>" and "cb:<callback query id>", so the engine handles a message Telegram
delivers twice only once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

from telegram import CallbackQuery, ChatMember, Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.services.phones import normalise_phone
from relai_bot.turns import Inbound, InboundKind

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE

CHANNEL = "telegram"
# Commands whose text the engine knows as a keyword (templates/messages/<lang>/keywords.yaml)
KEYWORD_COMMANDS = ("menu", "aide", "stop", "rendezvous")
# A second press of the same button within this many seconds is a double tap: acknowledged, not handled
DOUBLE_TAP_SECONDS = 2.0
MAX_REMEMBERED = 10_000
_MEDIA = (
    filters.PHOTO
    | filters.Sticker.ALL
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.ANIMATION
    | filters.Document.ALL
    | filters.Dice.ALL
    | filters.POLL
)


def contact_phone(raw: str) -> str | None:
    """A shared contact's number in E.164: Telegram writes it internationally, usually without the "+"."""
    text = raw.strip()
    return normalise_phone(text if text.startswith(("+", "0")) else "+" + text)


class Chats(Protocol):
    """What the handlers need of the channel: run a turn and send its replies, say a text of its own."""

    @property
    def bot_link(self) -> str | None: ...

    async def converse(self, inbound: Inbound) -> None: ...

    async def say(self, chat_id: int, template: str, **context: Any) -> None: ...

    def acknowledge(self, query: CallbackQuery) -> None: ...

    def failed(self, error: BaseException) -> None: ...


class TelegramHandlers:
    def __init__(self, chats: Chats, records: DeliveryRecords) -> None:
        self.chats = chats
        self.records = records
        self._last_press: OrderedDict[int, tuple[str, float]] = OrderedDict()

    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        private = filters.ChatType.PRIVATE
        app.add_handler(MessageHandler(filters.UpdateType.EDITED, self.on_edited))
        app.add_handler(MessageHandler(~private, self.on_not_private))
        app.add_handler(CommandHandler("start", self.on_start, filters=private))
        app.add_handler(CommandHandler(list(KEYWORD_COMMANDS), self.on_keyword_command, filters=private))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(MessageHandler(private & filters.CONTACT, self.on_contact))
        app.add_handler(MessageHandler(private & filters.LOCATION, self.on_location))
        app.add_handler(MessageHandler(private & filters.TEXT, self.on_text))
        app.add_handler(MessageHandler(private & _MEDIA, self.on_media))
        app.add_handler(ChatMemberHandler(self.on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_error_handler(self.on_error)

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _inbound(update: Update, kind: InboundKind, **fields: Any) -> Inbound:
        chat = update.effective_chat
        message = update.effective_message
        assert chat is not None and message is not None
        user = update.effective_user
        return Inbound(
            channel=CHANNEL,
            address=str(chat.id),
            kind=kind,
            message_id=f"{chat.id}:{message.message_id}",
            language_hint=user.language_code if user is not None else None,
            **fields,
        )

    # -- messages ---------------------------------------------------------------------------------
    async def on_text(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None
        await self.chats.converse(self._inbound(update, "text", text=message.text or ""))

    async def on_start(self, update: Update, context: Context) -> None:
        payload = (context.args or [""])[0][:64]
        if payload:  # a deep link: t.me/<bot>?start=<district code>
            inbound = self._inbound(update, "start", payload={"payload": payload})
        else:
            # Plain /start works like the word START: back to the menu, and it resumes a resident who
            # said stop (the engine reads a "start" kind as a deep link only)
            inbound = self._inbound(update, "text", text="/start")
        await self.chats.converse(inbound)

    async def on_keyword_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        command = message.text.split()[0].split("@")[0].lower()
        await self.chats.converse(self._inbound(update, "text", text=command))

    async def on_media(self, update: Update, context: Context) -> None:
        await self.chats.converse(self._inbound(update, "media"))

    async def on_contact(self, update: Update, context: Context) -> None:
        """A shared contact card: its number (E.164, or "" if it is none) and whether it is the sender's."""
        message = update.effective_message
        assert message is not None and message.contact is not None
        sender = message.from_user
        own = sender is not None and message.contact.user_id == sender.id
        phone = contact_phone(message.contact.phone_number) or ""
        await self.chats.converse(self._inbound(update, "contact", payload={"phone": phone, "own": own}))

    async def on_location(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None and message.location is not None
        point = {"lat": message.location.latitude, "lon": message.location.longitude}
        await self.chats.converse(self._inbound(update, "location", payload=point))

    async def on_edited(self, update: Update, context: Context) -> None:
        message = update.effective_message
        chat = update.effective_chat
        if message is None or chat is None or chat.type != ChatType.PRIVATE:
            return
        if message.location is not None:  # a live location moving: nothing to say
            return
        await self.chats.say(chat.id, "channel/telegram_edited")

    async def on_not_private(self, update: Update, context: Context) -> None:
        """Groups, supergroups and channels: say once that the bot works in private chats only."""
        chat = update.effective_chat
        if chat is None or update.effective_message is None:
            return
        if await asyncio.to_thread(self.records.first_time, CHANNEL, f"private-only:{chat.id}"):
            log.info("telegram message in a %s: told once it works in private chats", chat.type)
            await self.chats.say(chat.id, "channel/telegram_private_only", bot_link=self.chats.bot_link)

    # -- buttons ----------------------------------------------------------------------------------
    async def on_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None
        self.chats.acknowledge(query)
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        if query.data is None or (message is not None and message.chat.type != ChatType.PRIVATE):
            return
        if self._double_tap(chat_id, query.data):
            return
        inbound = Inbound(
            channel=CHANNEL, address=str(chat_id), kind="choice", choice=query.data, message_id=f"cb:{query.id}"
        )
        await self.chats.converse(inbound)

    def _double_tap(self, chat_id: int, data: str) -> bool:
        now = time.monotonic()
        last = self._last_press.get(chat_id)
        self._last_press[chat_id] = (data, now)
        self._last_press.move_to_end(chat_id)
        while len(self._last_press) > MAX_REMEMBERED:
            self._last_press.popitem(last=False)
        return last is not None and last[0] == data and now - last[1] < DOUBLE_TAP_SECONDS

    # -- the bot's membership in a chat -----------------------------------------------------------
    async def on_membership(self, update: Update, context: Context) -> None:
        """A resident blocked (or unblocked) the bot: later broadcasts skip (or use again) the chat."""
        change = update.my_chat_member
        if change is None or change.chat.type != ChatType.PRIVATE:
            return
        address = str(change.chat.id)
        status = change.new_chat_member.status
        if status in (ChatMember.BANNED, ChatMember.LEFT):
            await asyncio.to_thread(self.records.note_address, CHANNEL, address, "unreachable")
        elif status == ChatMember.MEMBER:
            await asyncio.to_thread(self.records.note_address, CHANNEL, address, "reachable")

    async def on_error(self, update: object, context: Context) -> None:
        error = context.error
        kind = type(update).__name__ if update is not None else "none"
        log.error("telegram update failed: %s (%s)", type(error).__name__, kind, exc_info=error)
        self.chats.failed(error if isinstance(error, BaseException) else RuntimeError(str(error)))
