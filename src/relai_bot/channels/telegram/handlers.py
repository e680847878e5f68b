"""python-telegram-bot handlers: every kind of update a resident may send, turned into an `Inbound`.

No state lives here (no ConversationHandler, no user_data): each handler builds an `Inbound` for the
engine, or answers by itself when the engine has nothing to do with it (an edited message, a group, a
contact or a position that only the channel can use). Message ids are "<chat id>:<message id>" and
"cb:<callback query id>", so the engine handles a message Telegram delivers twice only once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from telegram import ChatMember, ReplyKeyboardRemove, Update
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

from relai_bot.channels.telegram import db
from relai_bot.services.phones import normalise_phone
from relai_bot.services.residents import address_tag
from relai_bot.turns import Inbound, InboundKind

if TYPE_CHECKING:
    from relai_bot.channels.telegram.channel import TelegramChannel

log = logging.getLogger(__name__)
Context = ContextTypes.DEFAULT_TYPE

CHANNEL = "telegram"
# Commands whose text the engine knows as a keyword (templates/messages/<lang>/keywords.yaml)
KEYWORD_COMMANDS = ("menu", "aide", "stop")
APPOINTMENTS_COMMAND = "rendezvous"
# The menu option /rendezvous stands for (its key in conversations/menu.yaml)
APPOINTMENTS_OPTION = "mes_rdv"
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


class TelegramHandlers:
    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel
        self._last_press: OrderedDict[int, tuple[str, float]] = OrderedDict()

    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        private = filters.ChatType.PRIVATE
        app.add_handler(MessageHandler(filters.UpdateType.EDITED, self.on_edited))
        app.add_handler(MessageHandler(~private, self.on_not_private))
        app.add_handler(CommandHandler("start", self.on_start, filters=private))
        app.add_handler(CommandHandler(list(KEYWORD_COMMANDS), self.on_keyword_command, filters=private))
        app.add_handler(CommandHandler(APPOINTMENTS_COMMAND, self.on_appointments, filters=private))
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
        return Inbound(
            channel=CHANNEL,
            address=str(chat.id),
            kind=kind,
            message_id=f"{chat.id}:{message.message_id}",
            **fields,
        )

    @staticmethod
    def _chat_id(update: Update) -> int:
        chat = update.effective_chat
        assert chat is not None
        return chat.id

    # -- messages ---------------------------------------------------------------------------------
    async def on_text(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None
        await self.channel.converse(self._inbound(update, "text", text=message.text or ""))

    async def on_start(self, update: Update, context: Context) -> None:
        payload = (context.args or [""])[0][:64]
        if payload:  # a deep link: t.me/<bot>?start=<district code>
            inbound = self._inbound(update, "start", payload={"payload": payload})
        else:
            # Plain /start works like the word START: back to the menu, and it resumes a resident who
            # said stop (the engine reads a "start" kind as a deep link only)
            inbound = self._inbound(update, "text", text="/start")
        await self.channel.converse(inbound)

    async def on_keyword_command(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        command = message.text.split()[0].split("@")[0].lower()
        await self.channel.converse(self._inbound(update, "text", text=command))

    async def on_appointments(self, update: Update, context: Context) -> None:
        """/rendezvous: the menu's "Mes rendez-vous", from wherever the resident stands."""
        address = str(self._chat_id(update))
        standing = await self.channel.db(db.standing, address)
        menu_turn = None
        if standing.option_with_key(APPOINTMENTS_OPTION) is None and standing.resident_id is not None:
            # Pass through the menu first; what it says is not shown (its log rows are removed)
            menu_turn = await self.channel.dispatch(self._inbound(update, "text", text="/menu"))
            standing = await self.channel.db(db.standing, address)
        choice = standing.option_with_key(APPOINTMENTS_OPTION)
        if choice is None:
            if menu_turn is not None:
                await self.channel.deliver_turn(int(address), menu_turn)
            else:
                await self.channel.converse(self._inbound(update, "text", text="/menu"))
            return
        if menu_turn is not None:
            await self.channel.db(db.forget_unsent, [r.log_id for r in menu_turn.replies if r.log_id is not None])
        inbound = self._inbound(update, "choice", choice=choice)
        await self.channel.converse(replace(inbound, message_id=f"{inbound.message_id}:rdv"))

    async def on_media(self, update: Update, context: Context) -> None:
        await self.channel.converse(self._inbound(update, "media"))

    async def on_contact(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None and message.contact is not None
        chat_id = self._chat_id(update)
        sender = message.from_user
        if sender is None or message.contact.user_id != sender.id:
            await self.channel.say(chat_id, "channel/telegram_contact_not_yours")
            return
        phone = contact_phone(message.contact.phone_number)
        standing = await self.channel.db(db.standing, str(chat_id))
        parses_phone = self.channel.step_parses(standing, "phone")
        if phone is None:
            if parses_phone:  # the step explains what it needs
                await self.channel.converse(self._inbound(update, "contact", payload={"phone": ""}))
            else:
                await self.channel.say(chat_id, "channel/telegram_phone_invalid", markup=ReplyKeyboardRemove())
            return
        if parses_phone or standing.resident_id is None:
            # A step asks for a number (call-back), or the person did not consent yet: the engine answers
            await self.channel.converse(self._inbound(update, "contact", payload={"phone": phone}))
            return
        result = await self.channel.db(db.link_phone, standing.resident_id, phone, self.channel.now())
        log.info("telegram phone linked who=%s outcome=%s", address_tag(CHANNEL, str(chat_id)), result.outcome)
        await self.channel.say(
            chat_id, "channel/telegram_phone_linked", markup=ReplyKeyboardRemove(), merged=result.outcome == "merged"
        )

    async def on_location(self, update: Update, context: Context) -> None:
        message = update.effective_message
        assert message is not None and message.location is not None
        chat_id = self._chat_id(update)
        lat, lon = message.location.latitude, message.location.longitude
        standing = await self.channel.db(db.standing, str(chat_id))
        near = await self.channel.db(db.nearby, lat, lon)
        if self.channel.step_parses(standing, "district") and near.district is not None:
            # The district question: the nearest district is the answer, as if its name was typed
            await self.channel.converse(self._inbound(update, "text", text=near.district))
            return
        await self.channel.say(
            chat_id,
            "channel/telegram_location",
            district_name=near.district,
            venue_name=near.venue,
            venue_address=near.venue_address,
            venue_km=near.venue_km,
        )

    async def on_edited(self, update: Update, context: Context) -> None:
        message = update.effective_message
        chat = update.effective_chat
        if message is None or chat is None or chat.type != ChatType.PRIVATE:
            return
        if message.location is not None:  # a live location moving: nothing to say
            return
        await self.channel.say(chat.id, "channel/telegram_edited")

    async def on_not_private(self, update: Update, context: Context) -> None:
        """Groups, supergroups and channels: say once that the bot works in private chats only."""
        chat = update.effective_chat
        if chat is None or update.effective_message is None:
            return
        if await self.channel.db(db.first_time, f"private-only:{chat.id}", self.channel.now()):
            log.info("telegram message in a %s: told once it works in private chats", chat.type)
            await self.channel.say(chat.id, "channel/telegram_private_only", bot_link=self.channel.bot_link)

    # -- buttons ----------------------------------------------------------------------------------
    async def on_button(self, update: Update, context: Context) -> None:
        query = update.callback_query
        assert query is not None
        self.channel.acknowledge(query)
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        if query.data is None or (message is not None and message.chat.type != ChatType.PRIVATE):
            return
        if self._double_tap(chat_id, query.data):
            return
        inbound = Inbound(
            channel=CHANNEL, address=str(chat_id), kind="choice", choice=query.data, message_id=f"cb:{query.id}"
        )
        await self.channel.converse(inbound)

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
            await self.channel.db(db.mark_unreachable, address, self.channel.now())
        elif status == ChatMember.MEMBER:
            await self.channel.db(db.mark_reachable, address)

    async def on_error(self, update: object, context: Context) -> None:
        error = context.error
        kind = type(update).__name__ if update is not None else "none"
        log.error("telegram update failed: %s (%s)", type(error).__name__, kind, exc_info=error)
        self.channel.errors.append(error if isinstance(error, BaseException) else RuntimeError(str(error)))
