"""One pacer per channel, shared by its conversation replies and the outbox's sends: together they stay
under the provider's limits, as the fake servers count them (Telegram's flood control refuses; Twilio's
arrivals are counted in segments per second)."""

from __future__ import annotations

import asyncio
import bisect

import pytest

from relai_bot.clock import FrozenClock
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.services import outbox
from relai_bot.wiring import Runtime
from tests.delivery_support import add_address, add_residents, statuses
from tests.fakes.twilio_api import inbound_sms_params
from tests.sms_harness import TWO_WAY, sms_stack
from tests.telegram_harness import telegram_stack

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*retry_after:telegram.warnings.PTBDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


def enqueue_broadcast(runtime: Runtime, channel: str, addresses: list[str]) -> None:
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        ids = add_residents(session, len(addresses), now, first_address=900_000)
    rows = []
    for rid, address in zip(ids, addresses, strict=True):
        if channel != "telegram":
            add_address(runtime, rid, channel, address)
        fields = {"kind": "broadcast", "channel": channel, "address": address, "body": "Forum", "resident_id": rid}
        rows.append(outbox.message_row(key=f"b:{rid}", now=now, **fields))
    with runtime.db.transaction() as session:
        outbox.enqueue_many(session, rows)


def busiest_second(stamps: list[tuple[float, int]]) -> int:
    times = sorted(t for t, units in stamps for _ in range(units))
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


async def test_telegram_replies_and_a_broadcast_stay_under_the_limits_together(
    sqlite_url: str, clock: FrozenClock
) -> None:
    """Telegram's real limits at the fake (30 a second overall; 1 a second per chat after a burst of 3),
    the channel's settings equal to them: no margin to hide a second pacer."""
    async with telegram_stack(sqlite_url, clock, fake={}, settings={"telegram_chat_burst": 3}) as stack:
        broadcast = [str(900_000 + n) for n in range(45)]
        enqueue_broadcast(stack.runtime, "telegram", broadcast)
        worker = DeliveryWorker(stack.runtime, {"telegram": stack.channel}, poll_seconds=0.01)
        assert worker.lanes["telegram"].pacer is stack.channel.pacer
        for n in range(25):  # 25 residents write at the same time...
            stack.srv.user_message(30_000 + n, "/start")
        for _ in range(3):  # ... and one who gets the broadcast asks for the menu three times
            stack.srv.user_message(900_000, "menu")
        sending = asyncio.create_task(worker.drain())
        await stack.settle()
        await sending
        await worker.stop()
        assert stack.srv.violations == []
        assert all(call.ok for call in stack.srv.calls_to("sendMessage"))
        assert statuses(stack.runtime) == {"sent": 45}
        assert all(len(stack.srv.texts(30_000 + n)) == 1 for n in range(25))
        assert len(stack.srv.texts(900_000)) == 4


async def test_sms_replies_and_a_broadcast_share_the_pace_in_segments(sqlite_url: str, clock: FrozenClock) -> None:
    async with sms_stack(sqlite_url, clock, sms_rate=6) as stack:
        broadcast = [f"+262692{n:06d}" for n in range(15)]
        enqueue_broadcast(stack.runtime, "sms", broadcast)
        worker = DeliveryWorker(stack.runtime, {"sms": stack.channel}, poll_seconds=0.01)
        assert worker.lanes["sms"].pacer is stack.channel.pacer
        sending = asyncio.create_task(worker.drain())
        phones = [f"+262693{n:06d}" for n in range(8)]
        answers = await asyncio.gather(
            *(stack.post_inbound(inbound_sms_params(phone, TWO_WAY, "bonjour")) for phone in phones)
        )
        assert all(answer.status_code == 200 for answer in answers)
        await sending
        await stack.channel.idle()
        await worker.stop()
        assert statuses(stack.runtime) == {"sent": 15}
        assert {m.to for m in stack.srv.messages} == {*broadcast, *phones}
        assert sum(m.segments for m in stack.srv.messages) > 2 * 6  # more than two seconds' worth
        assert busiest_second([(m.created_at, m.segments) for m in stack.srv.messages]) <= 6
