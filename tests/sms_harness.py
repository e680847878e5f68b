"""The SMS stack for tests and the benchmark: the real app under uvicorn on 127.0.0.1, the real twilio
client, and FakeTwilioServer where Twilio would be. A resident's phone posts signed webhooks.

    async with sms_stack(database_url, clock) as stack:
        phone = stack.resident()                    # a `Chat` (relai_bot.testing.driver) by SMS
        sent = await phone.send("bonjour")          # what the fake received for this number
        assert "Êtes-vous d'accord" in phone.text   # compared as read: the SMS says "Etes-vous d'accord"
        await phone.tap("Oui, je suis d'accord")    # answers with the option's number: "1"

`SmsStack` is the SMS `ChatDriver`: the shared scenarios run through it.
No pytest import: bench/loads.py uses it too.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import httpx

from relai_bot.channels.sms.channel import INBOUND_PATH, STATUS_PATH, SmsChannel
from relai_bot.clock import Clock
from relai_bot.config import load_settings
from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.services.text import fold
from relai_bot.testing.driver import Received, book_first_slot, find_option, onboard
from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime, build_runtime, migrate, seed_demo
from tests.app_server import bound_socket, serving, url_of
from tests.conftest import TEST_ADMIN_SECRET
from tests.fakes.twilio_api import FakeMessage, FakeTwilioServer, inbound_sms_params, signed_form

TWO_WAY = "+262939001122"  # a "technical platform" style number; any E.164 will do for the fake
ONE_WAY = "MAIRIE"
# Numbers of the residents the stack makes up: +262 692 00 00 01, ...
FIRST_RESIDENT = 1
_OPTION_LINE = re.compile(r"^(\d+)\. (.+)$")


async def no_sleep(seconds: float) -> None:
    """Backoff in tests: recorded by the stack, not waited."""


def sms_channel(runtime: Runtime, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> SmsChannel:
    """The one place the tests build the SMS channel."""
    records = DeliveryRecords(runtime.db, runtime.clock)
    return SmsChannel(runtime.settings, runtime.dispatcher, runtime.renderer, records, sleep=sleep)


class LooseText(str):
    """An SMS as the resident reads it: `fragment in text` ignores accents, case and punctuation.

    GSM-7 cannot write every accent (the channel writes "Etes-vous" for "Êtes-vous") and the SMS versions
    of some texts are written without them, so a scenario's fragment is compared folded.
    """

    __slots__ = ()

    def __contains__(self, fragment: object) -> bool:
        return isinstance(fragment, str) and fold(fragment) in fold(self)


class SmsOption(NamedTuple):
    """A numbered line of an SMS ("2. Prendre rendez-vous"): answered by sending its number."""

    label: str
    number: int


def numbered_options(text: str) -> list[SmsOption]:
    """The last block of numbered lines of an SMS text: the options it offers."""
    blocks: list[list[SmsOption]] = [[]]
    for line in text.splitlines():
        match = _OPTION_LINE.match(line.strip())
        if match:
            blocks[-1].append(SmsOption(match[2], int(match[1])))
        elif blocks[-1]:
            blocks.append([])
    return next((block for block in reversed(blocks) if block), [])


@dataclass
class SmsStack:
    runtime: Runtime
    channel: SmsChannel
    srv: FakeTwilioServer
    http: httpx.AsyncClient
    public_url: str
    sleeps: list[float] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(FIRST_RESIDENT))

    @property
    def auth_token(self) -> str:
        return self.srv.auth_token

    def phone(self, number: str, *, written_as: str | None = None) -> Phone:
        """A resident's phone; `written_as` is how the From field spells the number (e.g. "0692 12 34 56")."""
        return Phone(self, number, written_as or number)

    def resident(self, number: str | None = None) -> Phone:
        """A resident's phone (a new number unless one is given)."""
        return self.phone(number or f"+262692{next(self._numbers):06d}")

    async def onboarded(
        self, number: str | None = None, /, *, district: str = "Saint-Laurent", **profile: str
    ) -> Phone:
        """A resident who said yes to everything and stands at the menu."""
        phone = self.resident(number)
        await onboard(phone, district=district, **profile)
        return phone

    async def post_inbound(
        self, params: dict[str, str], *, signature: str | None = None, url: str | None = None
    ) -> httpx.Response:
        headers = signed_form(url or self.public_url + INBOUND_PATH, self.auth_token, params)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await self.http.post(INBOUND_PATH, data=params, headers=headers)

    async def post_status(self, params: dict[str, str], *, signature: str | None = None) -> httpx.Response:
        headers = signed_form(self.public_url + STATUS_PATH, self.auth_token, params)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await self.http.post(STATUS_PATH, data=params, headers=headers)

    def sent_to(self, number: str) -> list[FakeMessage]:
        return [m for m in self.srv.messages if m.to == number]

    def assert_clean(self) -> None:
        """Nothing Twilio would refuse; every SMS asks for its status and fits the segment budget."""
        assert self.srv.violations == []
        settings = self.runtime.settings
        for message in self.srv.messages:
            assert message.status_callback == self.public_url + STATUS_PATH, message
            assert message.segments <= settings.sms_max_segments, message.body
            if settings.sms_transliterate:
                assert message.encoding == "GSM-7", message.body


@dataclass
class Phone:
    """A resident's phone: texts the service, reads the SMS it gets back, answers options by number."""

    stack: SmsStack
    number: str
    written_as: str
    received: list[FakeMessage] = field(default_factory=list)
    last_batch: list[FakeMessage] = field(default_factory=list)
    channel = "sms"

    @property
    def address(self) -> str:
        return self.number

    async def send(self, body: str, *, message_sid: str | None = None, **extra: str) -> list[FakeMessage]:
        """Text the service; wait until its answers went out; return the SMS this phone got for it."""
        before = len(self.stack.sent_to(self.number))
        sid = message_sid or "SM" + uuid.uuid4().hex
        params = inbound_sms_params(self.written_as, TWO_WAY, body, message_sid=sid, extra=extra or None)
        response = await self.stack.post_inbound(params)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        await self.stack.channel.idle()
        self.last_batch = self.stack.sent_to(self.number)[before:]
        self.received += self.last_batch
        return self.last_batch

    async def tap(self, label: str | int) -> list[FakeMessage]:
        """Answer with the number of the option with that label (or label start), or that number."""
        return await self.send(str(self.option(label).number))

    async def book_first_slot(self) -> object:
        return await book_first_slot(self)

    @property
    def text(self) -> LooseText:
        """Everything the last message brought back, as one text."""
        return LooseText("\n\n".join(m.body for m in self.last_batch))

    @property
    def last(self) -> Received:
        return Received(LooseText(self.last_batch[-1].body))

    @property
    def options(self) -> list[SmsOption]:
        """The numbered options of the last answer."""
        return numbered_options(self.text)

    def option(self, label: str | int) -> SmsOption:
        return find_option(self.options, label)

    @property
    def labels(self) -> list[str]:
        return [option.label for option in self.options]


@asynccontextmanager
async def sms_stack(
    database_url: str,
    clock: Clock | None,
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    strict: bool = True,
    **overrides: object,
) -> AsyncIterator[SmsStack]:
    """The whole SMS stack, started; everything is stopped on the way out."""
    async with FakeTwilioServer() as srv:
        sock = bound_socket()
        public_url = url_of(sock)
        values: dict[str, object] = {
            "database_url": database_url,
            "public_url": public_url,
            "twilio_account_sid": srv.account_sid,
            "twilio_auth_token": srv.auth_token,
            "twilio_from": TWO_WAY,
            "twilio_api_url": srv.base_url,
            "admin_secret_key": TEST_ADMIN_SECRET,
            **overrides,
        }
        runtime = build_runtime(load_settings(**values), clock, strict=strict)
        sleeps: list[float] = []

        async def recorded_sleep(seconds: float) -> None:
            sleeps.append(seconds)
            await (sleep or no_sleep)(seconds)

        try:
            migrate(runtime)
            seed_demo(runtime)
            channel = sms_channel(runtime, recorded_sleep)
            app = create_app(runtime, with_scheduler=False, channels=[channel])
            async with serving(app, sock), httpx.AsyncClient(base_url=public_url, timeout=30) as http:
                yield SmsStack(runtime, channel, srv, http, public_url, sleeps)
                await channel.idle()
        finally:
            sock.close()
            runtime.close()
