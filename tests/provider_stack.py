"""`relai-bot serve`'s app with both channels pointed at the project's fake Telegram and Twilio servers, on
127.0.0.1: the browser tests and tools/broadcast_demo.py use it.

    async with serving_with_fake_providers(database_url, clock) as site:
        add_fictional_residents(site.runtime)
        ...  # site.url, site.telegram (FakeTelegramServer), site.twilio (FakeTwilioServer)
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlmodel import select

from relai_bot.channels.base import ChannelAdapter
from relai_bot.channels.registry import build_channels
from relai_bot.clock import Clock
from relai_bot.config import load_settings
from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.store.models import ChannelAddress, Resident
from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime, build_runtime, migrate, seed_demo
from tests.app_server import bound_socket, serving, url_of
from tests.conftest import TEST_ADMIN_SECRET
from tests.delivery_support import add_residents
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.twilio_api import FakeTwilioServer
from tests.sms_harness import TWO_WAY
from tests.telegram_harness import RELAXED_CHANNEL, RELAXED_FAKE, TOKEN

# The fictional residents of add_fictional_residents
TELEGRAM_CHATS = (7001, 7002)
OTHER_DISTRICT_CHAT = 7100
SMS_NUMBER = "+262692000001"


@dataclass
class Site:
    url: str
    runtime: Runtime
    telegram: FakeTelegramServer
    twilio: FakeTwilioServer
    channels: list[ChannelAdapter] = field(default_factory=list)


def _socket(port: int) -> socket.socket:
    if port == 0:
        return bound_socket()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@asynccontextmanager
async def serving_with_fake_providers(
    database_url: str, clock: Clock | None, *, port: int = 0, **settings: object
) -> AsyncIterator[Site]:
    """`relai-bot serve` as it runs: both channels, the scheduler and the outbox worker (`port` 0: a free one)."""
    async with FakeTelegramServer(token=TOKEN, **RELAXED_FAKE) as telegram, FakeTwilioServer() as twilio:
        sock = _socket(port)
        values: dict[str, object] = {
            "database_url": database_url,
            "public_url": url_of(sock),
            "admin_secret_key": TEST_ADMIN_SECRET,
            "telegram_token": TOKEN,
            "telegram_api_url": telegram.base_url,
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": twilio.auth_token,
            "twilio_from": TWO_WAY,
            "twilio_api_url": twilio.base_url,
            "outbox_poll_seconds": 0.2,
            **RELAXED_CHANNEL,
            **settings,
        }
        config = load_settings(**values)
        runtime = build_runtime(config, clock, strict=True)
        try:
            migrate(runtime)
            seed_demo(runtime)
            telegram.deliver_webhooks = True
            records = DeliveryRecords(runtime.db, runtime.clock)
            channels = build_channels(config, runtime.dispatcher, runtime.renderer, records)
            app = create_app(runtime, channels=channels)
            async with serving(app, sock):
                yield Site(url_of(sock), runtime, telegram, twilio, channels)
        finally:
            sock.close()
            runtime.close()


def add_fictional_residents(runtime: Runtime) -> None:
    """Saint-Laurent: two residents on Telegram (chats 7001, 7002), one by SMS named Marie (+262692000001);
    Pichette: one on Telegram (7100). All said yes to opportunities."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        add_residents(session, len(TELEGRAM_CHATS), now, first_address=TELEGRAM_CHATS[0])
        (sms,) = add_residents(session, 1, now, channel="sms", first_address=1)
        address = session.exec(select(ChannelAddress).where(ChannelAddress.resident_id == sms)).one()
        address.address = SMS_NUMBER
        resident = session.get(Resident, sms)
        assert resident is not None
        resident.display_name = "Marie"
        add_residents(session, 1, now, district="pichette", first_address=OTHER_DISTRICT_CHAT)


async def report_sms_delivered(site: Site, after: float = 2.0, poll: float = 0.5) -> None:
    """Until cancelled: each SMS the fake Twilio accepted is reported delivered (a signed status callback,
    as Twilio sends it) `after` seconds later."""
    reported: set[str] = set()
    while True:
        for message in list(site.twilio.messages):
            if message.sid not in reported and message.status_callback:
                reported.add(message.sid)
                await asyncio.sleep(after)
                await site.twilio.send_status(message.sid, "delivered")
        await asyncio.sleep(poll)
