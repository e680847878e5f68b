"""Each channel's limits, from the settings: its pace (one Pacer per channel, see relai_bot.sending.pacing)
and how many of the delivery worker's sends may be under way at once on its lane."""

from __future__ import annotations

from dataclasses import dataclass

from relai_bot.config import Settings
from relai_bot.sending.pacing import PaceRules


@dataclass(frozen=True)
class ChannelLimits:
    """Messages per second for a channel (SMS: segments per second per account), spacing and burst per
    chat, and how many sends the delivery worker keeps in flight on its lane."""

    rate: float
    chat_interval: float = 0.0
    # How many sends may be in flight at once
    concurrency: int = 8
    chat_burst: int = 1

    def pace(self) -> PaceRules:
        return PaceRules(self.rate, self.chat_interval, self.chat_burst)


def channel_limits(settings: Settings) -> dict[str, ChannelLimits]:
    """The configured limits of each channel (the channels build their Pacer from these)."""
    return {
        "telegram": ChannelLimits(
            settings.telegram_rate,
            settings.telegram_chat_interval,
            concurrency=8,
            chat_burst=settings.telegram_chat_burst,
        ),
        "sms": ChannelLimits(settings.sms_rate, 0.0, concurrency=4),
    }
