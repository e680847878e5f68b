"""Python actions and input parsers that flow files name; importing this package registers them all."""

from relai_bot.conversation.actions import (
    account,
    appointments,
    discovery,
    language,
    notices,
    onboarding,
    parsers,
    reminders,
)

__all__ = ["account", "appointments", "discovery", "language", "notices", "onboarding", "parsers", "reminders"]
