"""The SMS stack the channel tests talk to: the real app and Twilio client against the fake Twilio server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relai_bot.clock import FrozenClock
from tests.sms_harness import SmsStack, sms_stack


@pytest.fixture
async def stack(sqlite_url: str, clock: FrozenClock) -> AsyncIterator[SmsStack]:
    """Nothing Twilio would refuse may be sent during the test (assert_clean)."""
    async with sms_stack(sqlite_url, clock) as running:
        yield running
        running.assert_clean()
