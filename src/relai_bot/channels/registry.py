"""Which channels run: each one whose credentials are set, built from what it uses, and the back-office's
simulator (channels/web.py), which needs none."""

from __future__ import annotations

from relai_bot.channels.base import ChannelAdapter
from relai_bot.channels.web import build_web_channels
from relai_bot.config import Settings
from relai_bot.conversation.dispatcher import Dispatcher
from relai_bot.conversation.render import Renderer
from relai_bot.services.delivery_records import DeliveryRecords


def build_channels(
    settings: Settings,
    dispatcher: Dispatcher,
    renderer: Renderer,
    records: DeliveryRecords,
    *,
    telegram_dispatcher: Dispatcher | None = None,
) -> list[ChannelAdapter]:
    """`telegram_dispatcher`: what Telegram's turns go through instead of `dispatcher` (the staff desk,
    which serves /diffuser and hands everything else to the residents' dispatcher)."""
    channels: list[ChannelAdapter] = []
    if settings.telegram_token is not None:
        from relai_bot.channels.telegram.channel import TelegramChannel

        channels.append(TelegramChannel(settings, telegram_dispatcher or dispatcher, renderer, records))
    if settings.twilio_account_sid is not None:
        from relai_bot.channels.sms.channel import SmsChannel

        channels.append(SmsChannel(settings, dispatcher, renderer, records))
    channels += build_web_channels(dispatcher, renderer, settings, records)
    return channels
