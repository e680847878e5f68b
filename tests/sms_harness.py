"""The SMS stack for tests and the benchmark: the real app under uvicorn on 127.0.0.1, the real twilio
client, and FakeTwilioServer where Twilio would be. A resident's phone posts signed webhooks.

    async with sms_stack(database_url, clock) as stack:
        phone = stack.phone("+262692123456")
        sent = await phone.send("bonjour")          # what the fake received for this number
        assert "Êtes-vous d'accord" in phone.text   # (transliterated: "Etes-vous d'accord")

No pytest import: bench/bench_sms_webhook.py uses it too.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn

from relai_bot.channels.sms.channel import INBOUND_PATH, STATUS_PATH, SmsChannel
from relai_bot.clock import Clock
from relai_bot.config import load_settings
from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime, build_runtime, migrate, seed_demo
from tests.fakes.twilio_api import FakeMessage, FakeTwilioServer, inbound_sms_params, signed_form

TWO_WAY = "+262939001122"  # a "technical platform" style number; any E.164 will do for the fake
ONE_WAY = "MAIRIE"


async def no_sleep(seconds: float) -> None:
    """Backoff in tests: recorded by the stack, not waited."""


@dataclass
class SmsStack:
    runtime: Runtime
    channel: SmsChannel
    srv: FakeTwilioServer
    http: httpx.AsyncClient
    public_url: str
    sleeps: list[float] = field(default_factory=list)

    @property
    def auth_token(self) -> str:
        return self.srv.auth_token

    def phone(self, number: str, *, written_as: str | None = None) -> Phone:
        """A resident's phone; `written_as` is how the From field spells the number (e.g. "0692 12 34 56")."""
        return Phone(self, number, written_as or number)

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


@dataclass
class Phone:
    stack: SmsStack
    number: str
    written_as: str
    received: list[FakeMessage] = field(default_factory=list)
    last_batch: list[FakeMessage] = field(default_factory=list)

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

    @property
    def text(self) -> str:
        """Everything the last message brought back, as one text."""
        return "\n\n".join(m.body for m in self.last_batch)


def free_socket() -> socket.socket:
    # IPPROTO_TCP, as uvicorn's own sockets: asyncio sets TCP_NODELAY only then (else 40 ms delayed ACKs)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


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
        sock = free_socket()
        port = sock.getsockname()[1]
        public_url = f"http://127.0.0.1:{port}"
        values: dict[str, object] = {
            "database_url": database_url,
            "public_url": public_url,
            "twilio_account_sid": srv.account_sid,
            "twilio_auth_token": srv.auth_token,
            "twilio_from": TWO_WAY,
            "twilio_api_url": srv.base_url,
            **overrides,
        }
        runtime = build_runtime(load_settings(**values), clock, strict=strict)
        migrate(runtime)
        seed_demo(runtime)
        sleeps: list[float] = []

        async def recorded_sleep(seconds: float) -> None:
            sleeps.append(seconds)
            await (sleep or no_sleep)(seconds)

        records = DeliveryRecords(runtime.db, runtime.clock)
        channel = SmsChannel(runtime.settings, runtime.dispatcher, runtime.renderer, records, sleep=recorded_sleep)
        app = create_app(runtime, with_scheduler=False, channels=[channel])
        # a long keep-alive: httpx reuses idle connections, uvicorn's default (5 s) may close one under it
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, timeout_keep_alive=60)
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.005)
            async with httpx.AsyncClient(base_url=public_url, timeout=30) as http:
                yield SmsStack(runtime, channel, srv, http, public_url, sleeps)
                await channel.idle()
        finally:
            server.should_exit = True
            await serving
            sock.close()
            runtime.close()
