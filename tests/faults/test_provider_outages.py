"""Provider outages: `relai-bot serve`'s app with both channels, against the fake Telegram and Twilio servers,
through a refused connection, a minute of 5xx, a storm of 429s and answers that come after the timeout.

Each scenario sends a broadcast to a few hundred residents (most on Telegram, some by SMS) and a few
reminders, on SQLite and on PostgreSQL. Retry waits are the outbox's (relai_bot.sending.retry.OUTBOX), on
the runtime's clock: the test moves a FrozenClock on, step by step, once the worker has nothing in hand, so
a simulated minute takes a few real seconds; the pacers and the fakes' flood control keep real time.
Afterwards: every recipient got each message once, except where a send was ambiguous in flight (no answer
after the request left: the outbox row says so; counted, never silently doubled); every outbox row is
final and sent; the fakes recorded no broken limit (Telegram's flood control, Twilio's refusals and its
queue, the SMS pace in segments per second).

Conversation replies under an outage are at the end: they go through the outbox on the lead's branch.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import or_
from sqlmodel import col, select

from relai_bot.channels.sms.channel import INBOUND_PATH
from relai_bot.clock import FrozenClock
from relai_bot.entry_points import REMINDER
from relai_bot.services import booking, broadcasts, outbox
from relai_bot.services.reminders import USEFUL_UNTIL_BEFORE
from relai_bot.store.models import ChannelAddress, OutboxMessage, Slot
from relai_bot.wiring import Runtime
from tests.delivery_support import add_residents
from tests.fakes.twilio_api import inbound_sms_params, signed_form
from tests.proof import record
from tests.provider_stack import Site, serving_with_fake_providers
from tests.sms_harness import TWO_WAY

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*retry_after:telegram.warnings.PTBDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

TELEGRAM_RESIDENTS = 200
# Few by SMS: Twilio's pace is 10 segments a second, and each round of failed tries takes its place too
SMS_RESIDENTS = 15
TELEGRAM_REMINDERS = 6
SMS_REMINDERS = 3
FIRST_CHAT = 100_000
REMINDER_CHAT = 200_000
TEXT = "Forum de l'emploi samedi à la mairie."
# Simulated seconds the clock moves at each step (the first outbox retry comes 15 to 30 s after a failure)
STEP = 15.0
# What the outbox writes on a row whose send got no answer after it left (the provider may have taken it)
AMBIGUOUS = ("may have taken", "connection lost", "no answer")
# Every attempt of the fakes' fault plans in these tests (a "minute" of 5xx ends by clearing the plan)
FOREVER = 10**6
SETTINGS = {"quiet_hours": "off", "broadcasts_per_week": 50}

SCENARIOS_RUN: set[str] = set()
DATABASES_RUN: set[str] = set()


@dataclass
class Audience:
    """Who must get one message each: Telegram chats and SMS numbers, and the outbox rows that carry them."""

    broadcast_id: int
    telegram: set[int] = field(default_factory=set)
    sms: set[str] = field(default_factory=set)
    reminder_keys: set[str] = field(default_factory=set)

    @property
    def messages(self) -> int:
        return len(self.telegram) + len(self.sms)


def numbered(runtime: Runtime, resident_ids: list[int], first: int) -> list[str]:
    """Give SMS residents E.164 numbers (add_residents numbers them 0, 1, ...)."""
    numbers = []
    with runtime.db.transaction() as session:
        for n, resident_id in enumerate(resident_ids):
            address = session.exec(select(ChannelAddress).where(ChannelAddress.resident_id == resident_id)).one()
            address.address = f"+262692{first + n:06d}"
            numbers.append(address.address)
    return numbers


def populate(runtime: Runtime) -> Audience:
    """The broadcast to Saint-Laurent (Telegram and SMS residents), then reminders due now for residents of
    Moulin-Joli who booked an appointment (as the reminders tick would enqueue them: Engine.push renders
    them, with their buttons)."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        add_residents(session, TELEGRAM_RESIDENTS, now, first_address=FIRST_CHAT)
        sms_ids = add_residents(session, SMS_RESIDENTS, now, channel="sms", first_address=0)
        reminded_tg = add_residents(
            session, TELEGRAM_REMINDERS, now, district="moulin-joli", first_address=REMINDER_CHAT
        )
        reminded_sms = add_residents(session, SMS_REMINDERS, now, district="moulin-joli", channel="sms")
    sms_numbers = numbered(runtime, sms_ids, 0)
    reminder_numbers = numbered(runtime, reminded_sms, 500)
    audience = Audience(broadcast_id=0)
    with runtime.db.transaction() as session:
        sent = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent"], text=TEXT),
            created_by="provider outages",
            now=now,
            per_week=runtime.settings.broadcasts_per_week,
        )
        assert sent.id is not None and sent.recipients == TELEGRAM_RESIDENTS + SMS_RESIDENTS
        audience.broadcast_id = sent.id
        slots = session.exec(
            select(Slot).where(Slot.starts_at > now + timedelta(days=1)).order_by(col(Slot.starts_at))
        ).all()
        reminded = [
            *(("telegram", str(REMINDER_CHAT + n), rid) for n, rid in enumerate(reminded_tg)),
            *(("sms", number, rid) for number, rid in zip(reminder_numbers, reminded_sms, strict=True)),
        ]
        assert len(slots) >= len(reminded)
        for (channel, address, resident_id), slot in zip(reminded, slots, strict=False):
            appointment = booking.book_slot(
                session, resident_id=resident_id, slot_id=slot.id, scheme_id=None, channel=channel, now=now
            )
            key = f"reminder:{appointment.id}:outage"
            outbox.enqueue(
                session,
                key=key,
                kind="reminder",
                channel=channel,
                address=address,
                now=now,
                resident_id=resident_id,
                appointment_id=appointment.id,
                target=REMINDER.target(appointment_id=appointment.id),
                expires_at=appointment.starts_at - USEFUL_UNTIL_BEFORE,
            )
            audience.reminder_keys.add(key)
    audience.telegram = {FIRST_CHAT + n for n in range(TELEGRAM_RESIDENTS)}
    audience.telegram |= {REMINDER_CHAT + n for n in range(TELEGRAM_REMINDERS)}
    audience.sms = {*sms_numbers, *reminder_numbers}
    return audience


def our_rows(runtime: Runtime, audience: Audience) -> list[OutboxMessage]:
    with runtime.db.transaction() as session:
        found = session.exec(
            select(OutboxMessage).where(
                or_(
                    col(OutboxMessage.broadcast_id) == audience.broadcast_id,
                    col(OutboxMessage.key).in_(sorted(audience.reminder_keys)),
                )
            )
        )
        return list(found)


# -- driving the clock ---------------------------------------------------------------------------------
def _in_hand(runtime: Runtime) -> tuple[int, int]:
    """Rows the worker holds (claimed, result not written yet) and rows due but not claimed yet."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        statuses = session.exec(
            select(OutboxMessage.status, OutboxMessage.next_attempt_at).where(
                col(OutboxMessage.status).in_(("pending", "sending"))
            )
        ).all()
    sending = sum(1 for status, _ in statuses if status == "sending")
    due = sum(1 for status, at in statuses if status == "pending" and _aware(at) <= now)
    return sending, due


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive UTC datetimes back."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _waiting(runtime: Runtime) -> int:
    """Rows still to send at some time (pending or claimed), whenever due."""
    with runtime.db.transaction() as session:
        return len(
            session.exec(select(OutboxMessage.id).where(col(OutboxMessage.status).in_(("pending", "sending")))).all()
        )


async def worker_done(site: Site, timeout: float = 90.0) -> None:
    """Wait until the outbox worker has tried everything due now and written the results."""
    deadline = time.monotonic() + timeout
    while any(await asyncio.to_thread(_in_hand, site.runtime)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the outbox worker still holds rows after {timeout} s")
        await asyncio.sleep(0.05)


async def pass_time(site: Site, clock: FrozenClock, seconds: float) -> None:
    """`seconds` of the runtime's clock, a step at a time, each step once the worker is done with what is due."""
    end = clock.now() + timedelta(seconds=seconds)
    while clock.now() < end:
        await worker_done(site)
        clock.advance(seconds=STEP)
    await worker_done(site)


async def deliver_everything(site: Site, clock: FrozenClock, *, within_minutes: float = 30) -> None:
    """Move the clock on until no row waits any more (the outbox's retry waits, however long)."""
    end = clock.now() + timedelta(minutes=within_minutes)
    while True:
        await worker_done(site)
        if not await asyncio.to_thread(_waiting, site.runtime):
            return
        assert clock.now() < end, f"rows still waiting after {within_minutes} simulated minutes"
        clock.advance(seconds=STEP)


async def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# -- the scenarios ---------------------------------------------------------------------------------------
@dataclass
class Outage:
    """What a scenario did, for its checks: how often each planned fault hit, and what it lets the rows show."""

    hits: dict[str, int] = field(default_factory=dict)
    # True: every row must end with no attempt used up (a 429 is the provider's pace, not a failure)
    free_retries: bool = False
    # The most failed tries a row may have had while the provider was down (the retry policy's backoff)
    max_failed_tries: int | None = None


async def connection_refused(site: Site, clock: FrozenClock, start: Callable[[], Audience]) -> tuple[Audience, Outage]:
    """Both providers go away mid-broadcast (their ports closed: connection refused) for two minutes."""
    audience = start()
    await wait_for(lambda: len(site.telegram.sent_messages()) >= TELEGRAM_RESIDENTS // 3)
    await site.telegram.stop()
    await site.twilio.stop()
    reached = (len(site.telegram.sent_messages()), len(site.twilio.messages))
    await pass_time(site, clock, 120)
    assert (len(site.telegram.sent_messages()), len(site.twilio.messages)) == reached  # nothing got through
    await site.telegram.start()  # the same ports: the channels' configured URLs
    await site.twilio.start()
    await deliver_everything(site, clock)
    return audience, Outage()


async def five_xx_minute(site: Site, clock: FrozenClock, start: Callable[[], Audience]) -> tuple[Audience, Outage]:
    """Every send answers 5xx for a minute of the runtime's clock (Telegram 502, Twilio 503), then works."""
    telegram = site.telegram.fail_next("sendMessage", status=502, times=FOREVER)
    twilio = site.twilio.fail_next(status=503, code=20503, times=FOREVER)
    audience = start()
    await pass_time(site, clock, 60)
    hits = {"telegram 502": telegram.hits, "twilio 503": twilio.hits}
    site.telegram.faults.clear()
    site.twilio.faults.clear()
    await deliver_everything(site, clock)
    # Backoff, not a loop: tries at 0 s, then 15-30 s, then 30-60 s after that: at most 3 within the minute
    return audience, Outage(hits=hits, max_failed_tries=3)


async def storm_of_429(site: Site, clock: FrozenClock, start: Callable[[], Audience]) -> tuple[Audience, Outage]:
    """Telegram's real limits at the fake and in the channel; a storm of 429 retry_after=3 (twice the
    recipients' worth), and Twilio's 429 / 20429 for twice the SMS recipients."""
    telegram = site.telegram.fail_next("sendMessage", status=429, retry_after=3, times=2 * TELEGRAM_RESIDENTS)
    twilio = site.twilio.fail_next(status=429, code=20429, message="Too Many Requests", times=2 * SMS_RESIDENTS)
    audience = start()
    await deliver_everything(site, clock)
    hits = {"telegram 429": telegram.hits, "twilio 429": twilio.hits}
    assert hits == {"telegram 429": 2 * TELEGRAM_RESIDENTS, "twilio 429": 2 * SMS_RESIDENTS}
    return audience, Outage(hits=hits, free_retries=True)


SLOW_TELEGRAM = 20
SLOW_SMS = 5
TIMEOUT = 1.0


async def slow_answers(site: Site, clock: FrozenClock, start: Callable[[], Audience]) -> tuple[Audience, Outage]:
    """Some answers come after the client's timeout (1 s); the provider did take those messages. Half a second
    past the timeout: within the window the pacers count a request for (one second after its answer)."""
    telegram = site.telegram.delay_next("sendMessage", TIMEOUT + 0.5, times=SLOW_TELEGRAM)
    twilio = site.twilio.delay_next(TIMEOUT + 0.5, times=SLOW_SMS)
    audience = start()
    await deliver_everything(site, clock)
    await asyncio.sleep(TIMEOUT + 1.0)  # the slow requests land at the fakes after all
    hits = {"telegram late": telegram.hits, "twilio late": twilio.hits}
    assert hits == {"telegram late": SLOW_TELEGRAM, "twilio late": SLOW_SMS}
    return audience, Outage(hits=hits)


Scenario = Callable[[Site, FrozenClock, Callable[[], Audience]], Awaitable[tuple[Audience, Outage]]]
SCENARIOS: dict[str, tuple[Scenario, dict[str, object]]] = {
    "connection_refused": (connection_refused, {}),
    "5xx_minute": (five_xx_minute, {}),
    # Telegram's own numbers: 30 a second overall, 1 a second per chat after a burst of 3
    "429_storm": (
        storm_of_429,
        {"telegram_rate": 30.0, "telegram_chat_interval": 1.0, "telegram_chat_burst": 3, "fake": "real limits"},
    ),
    "slow_answers": (slow_answers, {"telegram_timeout_seconds": TIMEOUT, "twilio_timeout_seconds": TIMEOUT}),
}


# -- the checks ------------------------------------------------------------------------------------------
@dataclass
class Figures:
    messages: int
    delivered: int
    lost: int
    duplicates: int
    ambiguous: int
    limit_breaks: int
    sms_busiest_second: int
    late_segments: int
    unexpected: set[str]
    doubled_silently: set[str]
    not_final: Counter[str]


def measure(site: Site, audience: Audience, sms_rate: float) -> tuple[Figures, list[OutboxMessage]]:
    telegram = Counter(str(c.chat_id) for c in site.telegram.sent_messages())
    sms = Counter(m.to for m in site.twilio.messages)
    expected = {str(chat) for chat in audience.telegram} | audience.sms
    received = telegram + sms
    rows = our_rows(site.runtime, audience)
    ambiguous = {r.address for r in rows if r.error and any(word in r.error for word in AMBIGUOUS)}
    doubled = {address for address, n in received.items() if n > 1}
    queue_full = [r for r in site.twilio.requests if r.code == 21611]
    breaks = len(site.telegram.violations) + len(site.twilio.violations) + len(queue_full)
    busiest = site.twilio.max_in_window(segments=True)
    # A message Twilio took after our client gave up waiting (a slow answer past the timeout) is counted
    # by Twilio when it takes it, later than the pacer can know: at most those segments above the pace
    late = sum(m.segments for m in site.twilio.messages if m.sid in late_sids(site))
    breaks += busiest > sms_rate + late
    figures = Figures(
        messages=audience.messages,
        delivered=len(expected & received.keys()),
        lost=len(expected - received.keys()),
        duplicates=sum(n - 1 for n in received.values()),
        ambiguous=sum(1 for r in rows if r.address in ambiguous),
        limit_breaks=breaks,
        sms_busiest_second=busiest,
        late_segments=late,
        unexpected=set(received) - expected,
        doubled_silently=doubled - ambiguous,
        not_final=Counter(r.status for r in rows if r.status not in ("sent", "delivered")),
    )
    return figures, rows


def late_sids(site: Site) -> set[str]:
    """SMS Twilio accepted after the client's timeout (their requests were held back longer than it)."""
    timeout = site.runtime.settings.twilio_timeout_seconds
    return {r.sid for r in site.twilio.requests if r.sid and r.delayed > timeout}


def database_name(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_a_broadcast_and_reminders_get_through_a_provider_outage(
    scenario: str, database_url: str, clock: FrozenClock
) -> None:
    run, options = SCENARIOS[scenario]
    settings = {**SETTINGS, **{k: v for k, v in options.items() if k != "fake"}}
    async with serving_with_fake_providers(database_url, clock, **settings) as site:
        if options.get("fake") == "real limits":
            site.telegram.per_chat_rate, site.telegram.per_chat_burst, site.telegram.global_rate = 1.0, 3, 30.0
        audience, outage = await run(site, clock, lambda: populate(site.runtime))
        figures, rows = measure(site, audience, site.runtime.settings.sms_rate)
        SCENARIOS_RUN.add(scenario)
        DATABASES_RUN.add(database_name(database_url))
        record(
            "provider_outages",
            scenarios=1,
            messages=figures.messages,
            delivered=figures.delivered,
            lost=figures.lost,
            duplicates=figures.duplicates,
            ambiguous=figures.ambiguous,
            limit_breaks=figures.limit_breaks,
            late_segments=figures.late_segments,
            faults_injected=sum(outage.hits.values()),
            failed_tries=sum(r.attempts for r in rows),
            tried=sorted(SCENARIOS_RUN),
            database=sorted(DATABASES_RUN),
        )
        assert figures.lost == 0 and figures.delivered == figures.messages
        assert figures.unexpected == set()
        assert figures.not_final == Counter(), "every row sent, none pending, held or given up"
        # A second copy only where a send had no answer after it left, written on its row; no more than one
        assert figures.doubled_silently == set()
        assert figures.duplicates <= figures.ambiguous
        assert site.telegram.violations == [], [(v.kind, v.detail) for v in site.telegram.violations[:5]]
        assert [r.code for r in site.twilio.violations] == []
        assert figures.limit_breaks == 0
        if scenario == "slow_answers":
            # The late answers were messages the providers took: each came twice, and each row says why
            assert figures.duplicates == figures.ambiguous >= SLOW_TELEGRAM + SLOW_SMS
        elif scenario != "connection_refused":  # (a stop may catch a request on the wire: ambiguous)
            assert figures.duplicates == figures.ambiguous == 0
        attempts = Counter(r.attempts for r in rows)
        if scenario in ("connection_refused", "5xx_minute"):
            assert sum(r.attempts for r in rows) > 0  # tries were used up, and the rows still went
        if outage.free_retries:
            assert set(attempts) == {0}, attempts  # a 429 does not use up an attempt
        assert max(attempts) < site.runtime.settings.outbox_max_attempts
        if outage.max_failed_tries is not None:
            refused = Counter(
                str(c.chat_id) for c in site.telegram.calls_to("sendMessage") if c.injected and c.status == 502
            )
            refused += Counter(r.params.get("To") for r in site.twilio.requests if r.injected and r.status == 503)
            assert sum(refused.values()) == sum(outage.hits.values())
            assert max(refused.values()) <= outage.max_failed_tries, refused.most_common(3)
            assert set(refused) == {str(c) for c in audience.telegram} | audience.sms  # every one was tried


# -- conversation replies under an outage ----------------------------------------------------------------
CHAT = 300_001
NUMBER = "+262692900001"
# The real seconds a reply sent in place keeps trying (relai_bot.sending.retry.INLINE: 1 s, then 3 s): the
# outage lasts at least this long too, so that a reply that does not go through the outbox is given up
INLINE_GIVES_UP = 5.0


async def text_by_sms(site: Site, number: str, body: str) -> None:
    params = inbound_sms_params(number, TWO_WAY, body, message_sid="SM" + uuid.uuid4().hex)
    headers = signed_form(site.url + INBOUND_PATH, site.twilio.auth_token, params)
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as client:
        response = await client.post(INBOUND_PATH, data=params, headers=headers)
    assert response.status_code == 200, response.text


async def test_a_resident_who_writes_during_a_5xx_minute_gets_the_reply_afterwards(
    database_url: str, clock: FrozenClock
) -> None:
    async with serving_with_fake_providers(database_url, clock, **SETTINGS) as site:
        site.telegram.fail_next("sendMessage", status=502, times=FOREVER)
        site.twilio.fail_next(status=503, code=20503, times=FOREVER)
        began = time.monotonic()
        site.telegram.user_message(CHAT, "bonjour")
        await text_by_sms(site, NUMBER, "bonjour")
        await site.telegram.wait_until(lambda: not site.telegram.pending_updates)
        await pass_time(site, clock, 60)
        await asyncio.sleep(max(0.0, INLINE_GIVES_UP - (time.monotonic() - began)))
        assert site.telegram.texts(CHAT) == [] and site.twilio.messages == []  # nothing got through
        site.telegram.faults.clear()
        site.twilio.faults.clear()
        await deliver_everything(site, clock)
        for channel in site.channels:
            idle = getattr(channel, "idle", None)
            if idle is not None:
                await idle()
        telegram = site.telegram.texts(CHAT)
        sms = [m.body for m in site.twilio.messages if m.to == NUMBER]
        record("provider_outages", replies_tried=2, replies_delivered=bool(telegram) + bool(sms))
        assert telegram and sms, "each resident got the answer once the provider was back"
        assert len(telegram) == len(set(telegram)) and len(sms) == len(set(sms))  # each part once
        assert site.telegram.violations == [] and site.twilio.violations == []
