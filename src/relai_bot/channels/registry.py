"""Which channels run: each one whose credentials are set."""

from __future__ import annotations

from relai_bot.channels.base import ChannelAdapter
from relai_bot.wiring import Runtime


def build_channels(runtime: Runtime) -> list[ChannelAdapter]:
    channels: list[ChannelAdapter] = []
    settings = runtime.settings
    if settings.telegram_token is not None:
        from relai_bot.channels.telegram.channel import TelegramChannel

        channels.append(TelegramChannel(runtime))
    if settings.twilio_account_sid is not None:
        from relai_bot.channels.sms.channel import SmsChannel

        channels.append(SmsChannel(runtime))
    return channels
