"""`relai-bot serve` killed with SIGKILL five times during a 2,000-recipient broadcast while residents chat,
restarted each time (issue 15, fault tests): the real CLI in its own process, against the fake Telegram and
Twilio servers of this process, on SQLite and on PostgreSQL.

What is shown, from the providers' side (what the fakes received):
- every recipient got the broadcast, once, except rows that were in flight when a kill fell: a row sent
  to the provider by the killed process and not yet recorded as sent may go again; each duplicate is
  matched to the kill(s) at which its row was in flight, and counted;
- every outbox row ends in a final status; the providers' limits held (no refusal by the fake Telegram,
  never more SMS segments in a second than the account's rate);
- every resident message the webhook answered with 200 had its turn committed (strict), and got a reply
  (see `test_every_answered_message_gets_its_reply`).

The scenario runs once per database (a module fixture); the tests read its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, literal, update
from sqlmodel import Session, col, select

from relai_bot.channels.sms.channel import INBOUND_PATH
from relai_bot.channels.telegram.channel import SECRET_HEADER, WEBHOOK_PATH
from relai_bot.clock import SystemClock
from relai_bot.config import load_settings
from relai_bot.services import broadcasts
from relai_bot.services.outbox import FINAL_STATUSES
from relai_bot.store.models import ChannelAddress, OutboxMessage, ProcessedMessage
from relai_bot.wiring import build_runtime, migrate, seed_demo
from tests.conftest import TEST_ADMIN_SECRET, fresh_postgres
from tests.delivery_support import add_residents
from tests.fakes.telegram_api import SENDING_METHODS, FakeTelegramServer
from tests.fakes.twilio_api import FakeTwilioServer, inbound_sms_params, signed_form
from tests.proof import record
from tests.web.test_serve import RELAI_BOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

SEED = 1502  # issue 15, part 2: the kill moments and the residents' chatter
KILLS = 5
# Up after a kill this long (seeded), then killed again: the broadcast is still going at the fifth kill
RUN_BETWEEN_KILLS = (0.8, 3.5)
# 2,000 recipients in four districts: on Telegram only, on Telegram and SMS (the broadcast goes by Telegram,
# the preferred channel), by SMS only
DISTRICTS = ("saint-laurent", "moulin-joli", "pichette", "centre-ville")
TELEGRAM_ONLY, BOTH, SMS_ONLY = 1_600, 250, 150
RECIPIENTS = TELEGRAM_ONLY + BOTH + SMS_ONLY
FIRST_CHAT = 5_100_000
FIRST_NUMBER = 262_693_100_000  # +262 693 10 00 00, Réunion mobiles
TELEGRAM_CHATTERS, SMS_CHATTERS = 16, 8
MARK = "KILLTEST"
BROADCAST_TEXT = f"{MARK} Forum de l'emploi samedi a la mairie, venez nombreux."
CHATTER_LINES = ("bonjour", "aide", "menu", "merci", "?", "rendez-vous", "ok")

TOKEN = "123456:KILL-relai-token"
WEBHOOK_SECRET = "kill-suite-webhook-secret"
TWO_WAY = "+262939001122"
# Faster than the defaults to stay within minutes; the fakes enforce limits at least as high
TELEGRAM_RATE = 75.0
FAKE_TELEGRAM_RATE = 75.0  # the fake's overall limit: the pacer may use all of it, never more
SMS_RATE = 10.0  # segments/s for the account: Twilio's own figure
LEASE_SECONDS = 10.0  # the shortest lease the settings allow
START_TIMEOUT = 60.0
# After the last restart: the rows of the last kill come back when their lease ends (or at once, when a
# restart takes back what a dead process of this host held). These are only the limits of the waits, for
# the broadcast's end and for the replies still awaited (one lease and a margin: a reply is not kept longer)
SETTLE_LIMIT = LEASE_SECONDS + 60.0
REPLY_LIMIT = LEASE_SECONDS + 15.0
CHAT_AFTER_LAST_RESTART = 3.0


# -- the database ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """A SQLite file, or a new PostgreSQL database (created here, dropped after; the server is left alone)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'relai.sqlite3'}"
        return
    with fresh_postgres("relai_kill") as url:
        yield url


@dataclass(frozen=True)
class Address:
    channel: str
    address: str


def telegram_chat(n: int) -> Address:
    return Address("telegram", str(FIRST_CHAT + n))


def sms_number(n: int) -> Address:
    return Address("sms", f"+{FIRST_NUMBER + n}")


def prepare(url: str) -> None:
    """Schema, demo catalog, and the 2,000 residents who said yes to opportunities, spread over DISTRICTS."""
    settings = load_settings(database_url=url, admin_secret_key=TEST_ADMIN_SECRET, demo_activity=False)
    runtime = build_runtime(settings, SystemClock(), strict=True)
    try:
        migrate(runtime)
        seed_demo(runtime)
        now = runtime.clock.now()
        with runtime.db.transaction() as session:
            # Each district a block of consecutive chats, then a block of numbers
            for district, (start, stop) in zip(DISTRICTS, blocks(TELEGRAM_ONLY + BOTH), strict=True):
                add_residents(session, stop - start, now, district=district, first_address=FIRST_CHAT + start)
            for district, (start, stop) in zip(DISTRICTS, blocks(SMS_ONLY), strict=True):
                first = FIRST_NUMBER + BOTH + start
                add_residents(session, stop - start, now, district=district, channel="sms", first_address=first)
            # add_residents writes the number as digits: the E.164 "+" in front
            session.execute(
                update(ChannelAddress)
                .where(col(ChannelAddress.channel) == "sms", ~col(ChannelAddress.address).startswith("+"))
                .values(address=literal("+") + col(ChannelAddress.address))
            )
            # The last BOTH residents on Telegram also gave their number
            both = session.exec(
                select(ChannelAddress.resident_id).where(
                    ChannelAddress.channel == "telegram",
                    col(ChannelAddress.address).in_([telegram_chat(TELEGRAM_ONLY + n).address for n in range(BOTH)]),
                )
            )
            session.add_all(
                ChannelAddress(resident_id=resident_id, channel="sms", address=sms_number(n).address, created_at=now)
                for n, resident_id in enumerate(sorted(both))
            )
    finally:
        runtime.close()


def blocks(count: int) -> list[tuple[int, int]]:
    """`count` numbers cut into one block of consecutive numbers per district: (start, stop) each."""
    size = -(-count // len(DISTRICTS))
    return [(start, min(start + size, count)) for start in range(0, count, size)]


def queue_broadcast(url: str) -> int:
    """The broadcast to the four districts, created and queued as the back-office would (services)."""
    settings = load_settings(database_url=url, admin_secret_key=TEST_ADMIN_SECRET, quiet_hours="off")
    runtime = build_runtime(settings, SystemClock(), strict=True)
    try:
        with runtime.db.transaction() as session:
            sent = broadcasts.create_broadcast(
                session,
                broadcasts.BroadcastDraft(districts=list(DISTRICTS), text=BROADCAST_TEXT),
                created_by="kill-suite",
                now=runtime.clock.now(),
                per_week=settings.broadcasts_per_week,
            )
        assert sent.recipients == RECIPIENTS, sent
        assert sent.id is not None
        return sent.id
    finally:
        runtime.close()


def reader(url: str) -> Engine:
    """Reads of the test, beside serve: plain transactions (no BEGIN IMMEDIATE: they never wait for a writer)."""
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": 30})
    return create_engine(url, pool_size=2)


def held_by(engine: Engine, pid: int) -> list[OutboxMessage]:
    """The outbox rows a dead serve process had claimed and not settled (the worker id holds its pid)."""
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.status == "sending", col(OutboxMessage.claimed_by).contains(f":{pid}:")
            )
        )
        return list(rows)


def statuses(engine: Engine) -> Counter[str]:
    with Session(engine) as session:
        return Counter(session.exec(select(OutboxMessage.status)))


def broadcast_left(engine: Engine, broadcast_id: int) -> int:
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage.id).where(
                OutboxMessage.broadcast_id == broadcast_id, col(OutboxMessage.status).not_in(FINAL_STATUSES)
            )
        )
        return len(list(rows))


def broadcast_rows(engine: Engine, broadcast_id: int) -> dict[Address, OutboxMessage]:
    with Session(engine) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id))
        return {Address(r.channel, r.address): r for r in rows}


def processed(engine: Engine) -> set[tuple[str, str]]:
    with Session(engine) as session:
        return {(p.channel, p.external_id) for p in session.exec(select(ProcessedMessage))}


# -- serve, the process ----------------------------------------------------------------------------------
@dataclass
class Serve:
    """`relai-bot serve` as systemd would run it: started again after each death, on the same port."""

    database_url: str
    telegram: FakeTelegramServer
    twilio: FakeTwilioServer
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    start_seconds: list[float] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith("RELAI_")}
        return env | {
            "RELAI_DATABASE_URL": self.database_url,
            "RELAI_HOST": "127.0.0.1",
            "RELAI_PORT": str(self.port),
            "RELAI_PUBLIC_URL": self.base_url,
            "RELAI_ADMIN_SECRET_KEY": TEST_ADMIN_SECRET,
            "RELAI_DEMO_ACTIVITY": "false",
            "RELAI_QUIET_HOURS": "off",  # the suite may run at night, or on a Sunday
            "RELAI_REMINDER_OFFSETS": "off",
            "RELAI_NO_SHOW_FOLLOW_UP": "off",
            "RELAI_TELEGRAM_TOKEN": TOKEN,
            "RELAI_TELEGRAM_API_URL": self.telegram.base_url,
            "RELAI_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "RELAI_TELEGRAM_RATE": str(TELEGRAM_RATE),
            "RELAI_TWILIO_ACCOUNT_SID": self.twilio.account_sid,
            "RELAI_TWILIO_AUTH_TOKEN": self.twilio.auth_token,
            "RELAI_TWILIO_FROM": TWO_WAY,
            "RELAI_TWILIO_API_URL": self.twilio.base_url,
            "RELAI_SMS_RATE": str(SMS_RATE),
            "RELAI_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
            "RELAI_OUTBOX_POLL_SECONDS": "0.2",
            "PYTHONUNBUFFERED": "1",
        }

    async def start(self) -> None:
        log = self.folder / f"serve-{len(self.start_seconds) + 1}.log"
        began = time.monotonic()
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [str(RELAI_BOT), "serve"], cwd=self.folder, env=self.environment(), stdout=output, stderr=output
            )
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(f"serve exited with {self.process.returncode}:\n{log.read_text(errors='replace')}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(self.base_url + "/healthz")).status_code == 200:
                        self.start_seconds.append(time.monotonic() - began)
                        return
                await asyncio.sleep(0.05)
        pytest.fail(f"serve not healthy after {START_TIMEOUT:.0f} s:\n{log.read_text(errors='replace')}")

    def kill(self) -> int:
        """SIGKILL: nothing is given back, nothing flushed; returns the dead process's pid."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("serve-*.log")))


# -- what the providers received --------------------------------------------------------------------------
@dataclass
class Tally:
    """The messages the fakes accepted, by address: broadcasts (they carry MARK) and the rest (replies).
    Read incrementally: the fakes only ever append."""

    telegram: FakeTelegramServer
    twilio: FakeTwilioServer
    broadcast: Counter[Address] = field(default_factory=Counter)
    replies: Counter[Address] = field(default_factory=Counter)
    _calls: int = 0
    _sms: int = 0

    def update(self) -> None:
        calls = self.telegram.calls
        for call in calls[self._calls :]:
            if call.method in SENDING_METHODS and call.ok:
                self._count(Address("telegram", str(call.chat_id)), call.text or "")
        self._calls = len(calls)
        messages = self.twilio.messages
        for message in messages[self._sms :]:
            self._count(Address("sms", message.to), message.body)
        self._sms = len(messages)

    def _count(self, address: Address, body: str) -> None:
        (self.broadcast if MARK in body else self.replies)[address] += 1


# -- residents who chat while it goes ----------------------------------------------------------------------
@dataclass
class Sent:
    """A resident's message the webhook answered with 200, and whether a reply followed."""

    address: Address
    key: tuple[str, str]  # (channel, the provider's message id): the turn's de-duplication key
    posted_after: int  # kills that had happened when it was first posted
    answered_after: int  # ... and when the webhook answered 200
    replied: bool = False


@dataclass
class Chatter:
    address: Address
    serve: Serve
    tally: Tally
    http: httpx.AsyncClient
    rng: random.Random
    updates: Iterator[int]
    kills: list[Kill]
    sent: list[Sent] = field(default_factory=list)
    retries: int = 0
    waiting: bool = False

    async def run(self, stop_chatting: asyncio.Event, give_up: asyncio.Event) -> None:
        """Write, wait for the answer, read it a moment, write again; until told to stop. A message whose
        answer never comes stays the last one (the resident waits for it)."""
        for n in itertools.count(1):
            if stop_chatting.is_set():
                return
            self.tally.update()
            before = self.tally.replies[self.address]
            self.waiting = True
            sent = await self.post(n, self.rng.choice(CHATTER_LINES))
            self.sent.append(sent)
            while not give_up.is_set():
                self.tally.update()
                if self.tally.replies[self.address] > before:
                    sent.replied = True
                    break
                await asyncio.sleep(0.05)
            self.waiting = False
            if not sent.replied:
                return
            await asyncio.sleep(self.rng.uniform(0.3, 1.2) if self.address.channel == "telegram" else 1.5)

    async def post(self, n: int, body: str) -> Sent:
        """Post the message until serve answers 200 (a provider retries when a webhook fails: Telegram
        with the same update, Twilio's request again with the same MessageSid)."""
        if self.address.channel == "telegram":
            chat = int(self.address.address)
            update_id = next(self.updates)
            message = {
                "message_id": n,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private", "first_name": "Test"},
                "from": {"id": chat, "is_bot": False, "first_name": "Test"},
                "text": body,
            }
            key = ("telegram", f"{chat}:{n}")

            def request() -> httpx.Request:
                return self.http.build_request(
                    "POST",
                    self.serve.base_url + WEBHOOK_PATH,
                    json={"update_id": update_id, "message": message},
                    headers={SECRET_HEADER: WEBHOOK_SECRET},
                )
        else:
            sid = "SM" + uuid.UUID(int=self.rng.getrandbits(128)).hex
            params = inbound_sms_params(self.address.address, TWO_WAY, body, message_sid=sid)
            key = ("sms", sid)

            def request() -> httpx.Request:
                headers = signed_form(self.serve.base_url + INBOUND_PATH, self.serve.twilio.auth_token, params)
                return self.http.build_request("POST", self.serve.base_url + INBOUND_PATH, data=params, headers=headers)

        posted_after = len(self.kills)
        while True:
            try:
                response = await self.http.send(request())
            except httpx.TransportError:  # serve is dead, or died while answering
                response = None
            if response is not None and response.status_code == 200:
                return Sent(self.address, key, posted_after, len(self.kills))
            if response is not None and response.status_code < 500:
                pytest.fail(f"the webhook refused a genuine message: {response.status_code} {response.text[:200]}")
            self.retries += 1
            await asyncio.sleep(0.2)


# -- the scenario -----------------------------------------------------------------------------------------
@dataclass
class Kill:
    seconds_up: float  # how long serve ran since it answered /healthz
    broadcast_left: int  # broadcast rows not final at the kill
    held: dict[Address, int]  # rows of the broadcast the dead process had claimed: address -> row id
    in_flight: set[Address]  # ... of which the provider had received the message (not recorded as sent)
    other_held: int  # rows of other kinds it held


@dataclass
class Outcome:
    database: str
    broadcast_id: int
    kills: list[Kill]
    tally: Tally
    rows: dict[Address, OutboxMessage]
    statuses: Counter[str]
    sent: list[Sent]
    processed: set[tuple[str, str]]
    retries: int
    broadcast_done: float | None  # seconds from the last restart to the broadcast's last row final
    replies_done: float | None  # ... to the last awaited reply (None: some never came)
    start_seconds: list[float]  # each start of serve, to /healthz answering
    telegram_violations: list[Any]
    twilio_violations: list[Any]
    busiest_sms_second: int
    logs: str


async def scenario(kind: str, url: str, folder: Path) -> Outcome:
    rng = random.Random(SEED)
    await asyncio.to_thread(prepare, url)
    engine = reader(url)
    fake = {"token": TOKEN, "global_rate": FAKE_TELEGRAM_RATE}  # one message a second per chat, burst 3
    async with FakeTelegramServer(**fake) as telegram, FakeTwilioServer(mps=SMS_RATE) as twilio:
        serve = Serve(url, telegram, twilio, folder)
        tally = Tally(telegram, twilio)
        kills: list[Kill] = []
        stop_chatting, give_up = asyncio.Event(), asyncio.Event()
        limits = httpx.Limits(max_connections=TELEGRAM_CHATTERS + SMS_CHATTERS)
        async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:
            updates = itertools.count(1)
            chatters = [
                Chatter(telegram_chat(n), serve, tally, http, random.Random(rng.random()), updates, kills)
                # spread over the residents on Telegram only and those who also have a number
                for n in rng.sample(range(TELEGRAM_ONLY + BOTH), TELEGRAM_CHATTERS)
            ] + [
                Chatter(sms_number(BOTH + n), serve, tally, http, random.Random(rng.random()), updates, kills)
                for n in rng.sample(range(SMS_ONLY), SMS_CHATTERS)
            ]
            try:
                await serve.start()
                broadcast_id = await asyncio.to_thread(queue_broadcast, url)
                tasks = [asyncio.create_task(c.run(stop_chatting, give_up)) for c in chatters]
                received: Counter[Address] = Counter()  # broadcasts the fakes had at the previous kill
                for _ in range(KILLS):
                    up = rng.uniform(*RUN_BETWEEN_KILLS)
                    await asyncio.sleep(up)
                    pid = serve.kill()
                    await asyncio.sleep(0.3)  # what was on the wire reaches the fakes
                    kills.append(await observe_kill(engine, broadcast_id, pid, tally, received, up))
                    received = Counter(tally.broadcast)
                    await serve.start()
                restarted = time.monotonic()
                await asyncio.sleep(CHAT_AFTER_LAST_RESTART)
                stop_chatting.set()
                broadcast_done = replies_done = None
                while time.monotonic() - restarted < SETTLE_LIMIT:
                    since = time.monotonic() - restarted
                    if broadcast_done is None and not await asyncio.to_thread(broadcast_left, engine, broadcast_id):
                        broadcast_done = since
                    if replies_done is None and not any(c.waiting for c in chatters):
                        replies_done = since
                    if broadcast_done is not None and (replies_done is not None or since > REPLY_LIMIT):
                        break
                    await asyncio.sleep(0.2)
                give_up.set()
                await asyncio.gather(*tasks)
            finally:
                give_up.set()
                stop_chatting.set()
                await asyncio.to_thread(serve.stop)
        await asyncio.sleep(0.2)
        tally.update()
        try:
            return Outcome(
                database=kind,
                broadcast_id=broadcast_id,
                kills=kills,
                tally=tally,
                rows=await asyncio.to_thread(broadcast_rows, engine, broadcast_id),
                statuses=await asyncio.to_thread(statuses, engine),
                sent=[s for c in chatters for s in c.sent],
                processed=await asyncio.to_thread(processed, engine),
                retries=sum(c.retries for c in chatters),
                broadcast_done=broadcast_done,
                replies_done=replies_done,
                start_seconds=serve.start_seconds,
                telegram_violations=list(telegram.violations),
                twilio_violations=list(twilio.violations),
                busiest_sms_second=twilio.max_in_window(TWO_WAY, 1.0, segments=True),
                logs=serve.logs(),
            )
        finally:
            engine.dispose()


async def observe_kill(
    engine: Engine, broadcast_id: int, pid: int, tally: Tally, before: Counter[Address], up: float
) -> Kill:
    """What the process just killed left: the rows it held, and those of them it had sent (the provider got
    the message during its life, `before` being what it had got until the previous kill)."""
    rows = await asyncio.to_thread(held_by, engine, pid)
    left = await asyncio.to_thread(broadcast_left, engine, broadcast_id)
    tally.update()
    held = {Address(r.channel, r.address): r.id for r in rows if r.broadcast_id == broadcast_id and r.id}
    # Sent, and its result not written when the process died: in flight
    in_flight = {address for address in held if tally.broadcast[address] > before[address]}
    return Kill(up, left, held, in_flight, sum(1 for r in rows if r.broadcast_id != broadcast_id))


def seconds(value: float | None) -> str:
    return "(never)" if value is None else f"{value:.1f} s"


def duplicates_by_kill(outcome: Outcome) -> tuple[list[int], list[str]]:
    """Each extra copy a recipient got, matched to a kill at which its row was in flight (earliest first);
    and the recipients whose extra copies no kill accounts for."""
    counts = [0] * len(outcome.kills)
    unexplained = []
    for address, received in outcome.tally.broadcast.items():
        extra = received - 1
        if extra <= 0:
            continue
        at = [k for k, kill in enumerate(outcome.kills) if address in kill.in_flight]
        if extra > len(at):
            unexplained.append(f"{address}: {received} copies, in flight at {len(at)} kill(s)")
        for k in at[:extra]:
            counts[k] += 1
    return counts, unexplained


# -- the tests --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def outcome(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    folder = tmp_path_factory.mktemp(f"kill-{request.param}")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):  # no developer's settings in the test's own runtime
            if name.startswith("RELAI_") and name not in ("RELAI_TEST_POSTGRES_URL", "RELAI_REQUIRE_POSTGRES"):
                patch.delenv(name)
        patch.chdir(folder)
        with fresh_database(request.param, folder) as url:
            result = asyncio.run(scenario(request.param, url, folder))
    duplicates, _ = duplicates_by_kill(result)
    answered = len(result.sent)
    replied = sum(1 for s in result.sent if s.replied)
    delivered = sum(1 for row in result.rows if result.tally.broadcast[row] > 0)
    record(
        "kills",
        database=[request.param],
        runs=1,
        kills=len(result.kills),
        recipients=len(result.rows),
        delivered=delivered,
        duplicates=sum(duplicates),
        in_flight_at_kills=sum(len(k.in_flight) for k in result.kills),
        claimed_at_kills=sum(len(k.held) + k.other_held for k in result.kills),
        messages=answered,
        replies=replied,
        lost=answered - replied,
    )
    if result.broadcast_done is not None:  # how soon the last kill's rows came back (the lease, or sooner)
        record("kills", **{f"{request.param}_broadcast_end_after_last_restart_s": round(result.broadcast_done, 1)})
    print(
        f"\nkills ({request.param}): {delivered}/{len(result.rows)} delivered, duplicates by kill {duplicates}, "
        f"in flight {[len(k.in_flight) for k in result.kills]}, claimed {[len(k.held) for k in result.kills]}, "
        f"broadcast left at the kills {[k.broadcast_left for k in result.kills]}, "
        f"up {[round(k.seconds_up, 1) for k in result.kills]} s; "
        f"{answered} messages, {replied} replied, {result.retries} webhook retries; after the last restart the "
        f"broadcast ended in {seconds(result.broadcast_done)}, the awaited replies came in "
        f"{seconds(result.replies_done)}; starts {[round(s, 1) for s in result.start_seconds]} s; "
        f"busiest SMS second {result.busiest_sms_second}"
    )
    yield result


def test_every_recipient_gets_the_broadcast_once_but_what_was_in_flight(outcome: Outcome) -> None:
    assert len(outcome.kills) == KILLS
    # The kills fell during the broadcast
    assert all(kill.broadcast_left > 0 for kill in outcome.kills), [k.broadcast_left for k in outcome.kills]
    assert len(outcome.rows) == RECIPIENTS
    missing = [address for address in outcome.rows if outcome.tally.broadcast[address] == 0]
    assert missing == [], f"{len(missing)} recipients never got the broadcast"
    assert set(outcome.tally.broadcast) == set(outcome.rows)  # nobody else got it
    duplicates, unexplained = duplicates_by_kill(outcome)
    assert unexplained == [], "copies beyond what was in flight at a kill"
    for count, kill in zip(duplicates, outcome.kills, strict=True):
        assert count <= len(kill.in_flight) <= len(kill.held)


def test_every_outbox_row_ends_final_and_the_limits_held(outcome: Outcome) -> None:
    assert set(outcome.statuses) <= FINAL_STATUSES, outcome.statuses
    assert {row.status for row in outcome.rows.values()} <= {"sent", "delivered"}
    assert outcome.telegram_violations == []
    assert outcome.twilio_violations == []
    assert outcome.busiest_sms_second <= SMS_RATE


def test_every_answered_message_had_its_turn_committed(outcome: Outcome) -> None:
    """A webhook answers 200 only after the turn is in the database: a kill never loses a message itself."""
    assert len(outcome.sent) >= 50  # residents did chat through the kills
    assert any(s.answered_after for s in outcome.sent)
    uncommitted = [s.key for s in outcome.sent if s.key not in outcome.processed]
    assert uncommitted == []
    # A reply that never came was lost to a kill after its message was posted (the gap the outbox closes),
    # never by the process that ran on to the end
    unexplained = [s.key for s in outcome.sent if not s.replied and s.posted_after >= len(outcome.kills)]
    assert unexplained == []
    assert "Traceback" not in outcome.logs


def test_every_answered_message_gets_its_reply(outcome: Outcome) -> None:
    lost = [s for s in outcome.sent if not s.replied]
    assert lost == [], f"{len(lost)} of {len(outcome.sent)} answered messages got no reply"
