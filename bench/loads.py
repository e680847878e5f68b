"""The loads: residents on a random walk through the menus, driven from the harness process with the fakes.

The harness process plays the providers: the fake Bot API and the fake Twilio REST API (tests/fakes) and,
beside them, what Telegram and Twilio do on their side: make an update available (polling: queued at the
fake for getUpdates; webhook: POSTed to the system), POST a signed SMS webhook. The system under test runs
in another process (bench.systems), so its CPU is its own and `time.monotonic()` (one clock system-wide on
Linux) times both sides.

A `Resident` has at most one message in flight, as a person waits for the answer before the next tap: it is
answered when the first reply reaches the provider (sendMessage at the fake Bot API, Messages create at the
fake Twilio, or, for the bare SMS app, its TwiML answer), and done with its turn when a message with buttons
came (Telegram) or no more messages came for `SETTLE` seconds. Its next message: one of the buttons (the
numbered options by SMS) of the last answer, drawn at random (those that would end its part of the run left
out), or a word from a fixed script when there is none.

- `closed_loop`: each resident answers as soon as its turn is done (saturation: many chats in flight).
- `open_loop`: messages at a steady rate (fixed interval or Poisson), each from a resident that is done
  with its turn and has read it for `THINK` seconds, or from a new resident: the arrivals never wait for
  the system, so a system that cannot keep up builds a backlog.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.twilio_api import FakeMessage, FakeTwilioServer, RecordedRequest, inbound_sms_params, signed_form
from tests.sms_harness import numbered_options

from relai_bot.services.text import fold

# Options a resident never takes (they would end its part of the run: a resident who stopped the messages
# gets no answer any more), in French and in Creole (a resident may switch), compared folded
AVOID = tuple(
    fold(word)
    for word in (
        "non merci",
        "oublier",
        "ne plus recevoir",
        "effacer",
        "plus de messages",
        "stop",
        "chercher par un mot",
        "non mersi",
        "pi gingn mesaz",
        "efas",
        "aret bann mesaz",
        "rod avek in mo",
    )
)
SMS_SCRIPT = ["bonjour", "1", "1", "2", "2", "menu", "2", "1", "1", "menu", "formation", "menu", "3", "menu", "aide"]
THINK = 0.2  # seconds a resident of the open loop reads an answer before its next message
SETTLE = 0.25  # a turn without buttons is done once no more messages came for this long
REPLY_WAIT = 10.0  # a message unanswered after this long is counted as lost by the closed loop
DRAIN = 5.0  # after an open loop: how long answers are still awaited
WEBHOOK_CONNECTIONS = 40  # Telegram's default max_connections; Twilio's webhooks get the same here


@dataclass
class Request:
    sent: float  # when the provider made it available (scheduled time in the open loop)
    answered: float | None = None
    what: str = ""  # what the resident sent (a text, or the label of the button it pressed)


@dataclass
class Recorder:
    requests: list[Request] = field(default_factory=list)
    failures: int = 0  # webhook POSTs answered with an error, or not at all

    def add(self, at: float) -> Request:
        request = Request(at)
        self.requests.append(request)
        return request


@dataclass(eq=False)
class Resident:
    key: int | str  # chat id, or phone number
    rng: random.Random
    on_done: Callable[[Resident], None] | None = None
    sent: int = 0
    pending: Request | None = None
    last_reply: float = 0.0
    options: list[tuple[str, str]] = field(default_factory=list)  # (label, what to send back)
    options_message: int | None = None  # Telegram: the message carrying the buttons
    done: asyncio.Event = field(default_factory=asyncio.Event)
    _settle: asyncio.TimerHandle | None = None

    def start(self, recorder: Recorder, at: float) -> None:
        self.pending = recorder.add(at)
        self.sent += 1
        self.done.clear()
        if self._settle is not None:
            self._settle.cancel()
            self._settle = None

    def note(self, what: str) -> None:
        if self.pending is not None:
            self.pending.what = what

    def replied(self, at: float, options: list[tuple[str, str]], *, final: bool, message_id: int | None = None) -> None:
        if self.pending is not None:
            self.pending.answered = at
            self.pending = None
        elif self.done.is_set():
            return  # a late message of a turn already done
        self.last_reply = at
        if options:
            self.options = options
            self.options_message = message_id
        if self._settle is not None:
            self._settle.cancel()
        if final:
            self._finish()
        else:
            self._settle = asyncio.get_running_loop().call_later(SETTLE, self._finish)

    def _finish(self) -> None:
        self._settle = None
        if not self.done.is_set():
            self.done.set()
            if self.on_done is not None:
                self.on_done(self)

    def choose(self) -> tuple[str, str] | None:
        """One of the last answer's options, at random (most of the time), or None: type something."""
        choices = [option for option in self.options if not any(word in fold(option[0]) for word in AVOID)]
        if not choices or self.sent % 11 == 10:
            return None
        return self.rng.choice(choices)


# -- the fakes, telling the residents when an answer arrives --------------------------------------------


class BenchTelegram(FakeTelegramServer):
    """The fake Bot API; each message the bot sends tells its chat's resident (with its buttons). In webhook
    mode (`direct` set) an update is handed to `direct` (which POSTs it) instead of waiting for getUpdates."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.residents: dict[int, Resident] = {}
        self.direct: Callable[[dict[str, Any]], None] | None = None
        self.polled = asyncio.Event()

    def _send(self, method: str, params: dict[str, Any], fmt: dict[str, Any]) -> dict[str, Any]:
        message = super()._send(method, params, fmt)
        resident = self.residents.get(message["chat"]["id"])
        if resident is not None:
            rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            buttons = [(b["text"], b["callback_data"]) for row in rows for b in row if "callback_data" in b]
            resident.replied(time.monotonic(), buttons, final=bool(buttons), message_id=message["message_id"])
        return message

    async def _m_getUpdates(self, params: dict[str, Any], fmt: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        self.polled.set()
        return await super()._m_getUpdates(params, fmt)

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        if self.direct is None:
            return super().push_update(update)
        update = {"update_id": self._next_update_id, **update}
        self._next_update_id += 1
        self.direct(update)
        return update

    def act(self, resident: Resident) -> None:
        """The resident's next update: a button of the last answer, or a text."""
        assert isinstance(resident.key, int)
        choice = resident.choose()
        if choice is None:
            text = "/start" if resident.sent <= 1 else "/menu"
            resident.note(text)
            self.user_message(resident.key, text)
        else:
            resident.note(f"[{choice[0]}]")
            self.callback_press(resident.key, choice[1], resident.options_message)


class BenchTwilio(FakeTwilioServer):
    """The fake Twilio REST API; each message created tells its number's resident (with the options)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.residents: dict[str, Resident] = {}

    def _accept(self, record: RecordedRequest) -> FakeMessage:
        message = super()._accept(record)
        resident = self.residents.get(message.to)
        if resident is not None:
            options = [(o.label, str(o.number)) for o in numbered_options(message.body)]
            resident.replied(time.monotonic(), options, final=False)
        return message


class WebhookPoster:
    """What the provider does to deliver a webhook: a POST, with at most `connections` open at once."""

    def __init__(self, url: str, recorder: Recorder, connections: int = WEBHOOK_CONNECTIONS) -> None:
        self.url = url
        self.recorder = recorder
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))
        self.tasks: set[asyncio.Task[None]] = set()

    def post(self, data: bytes, headers: dict[str, str], on_answer: Callable[[bytes], None] | None = None) -> None:
        task = asyncio.create_task(self._post(data, headers, on_answer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _post(self, data: bytes, headers: dict[str, str], on_answer: Callable[[bytes], None] | None) -> None:
        try:
            async with self.session.post(self.url, data=data, headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    self.recorder.failures += 1
                elif on_answer is not None:
                    on_answer(body)
        except (aiohttp.ClientError, TimeoutError):
            self.recorder.failures += 1

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.session.close()


def telegram_webhook(srv: BenchTelegram, url: str, secret: str, recorder: Recorder) -> WebhookPoster:
    """Deliver the fake's updates by POSTing them to `url` with the secret-token header (Telegram's way)."""
    import json

    poster = WebhookPoster(url, recorder)
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    srv.direct = lambda update: poster.post(json.dumps(update).encode(), headers)
    return poster


@dataclass
class SmsSender:
    """Signed inbound-SMS webhooks, as Twilio POSTs them; `twiml_reply`: the answer is the TwiML itself."""

    poster: WebhookPoster
    auth_token: str
    to: str
    twiml_reply: bool
    steps: dict[str, int] = field(default_factory=dict)

    def act(self, resident: Resident) -> None:
        assert isinstance(resident.key, str)
        choice = resident.choose()
        if resident.sent <= 1:
            body = "bonjour"
        elif choice is not None:
            body = choice[1]
        else:
            step = self.steps.get(resident.key, 0)
            self.steps[resident.key] = step + 1
            body = SMS_SCRIPT[step % len(SMS_SCRIPT)]
        resident.note(body)
        params = inbound_sms_params(resident.key, self.to, body, message_sid="SM" + uuid.uuid4().hex)
        headers = signed_form(self.poster.url, self.auth_token, params)
        on_answer = None
        if self.twiml_reply:

            def on_answer(body: bytes) -> None:
                resident.replied(time.monotonic(), [], final=True)

        self.poster.post(urlencode(params).encode(), headers, on_answer)


# -- the two shapes of load ----------------------------------------------------------------------------


def sms_number(n: int) -> str:
    return f"+262692{n:06d}"


async def closed_loop(
    residents: list[Resident],
    act: Callable[[Resident], None],
    recorder: Recorder,
    warmup: float,
    seconds: float,
    *,
    stop_after: int | None = None,
) -> tuple[float, float]:
    """Every resident answers at once when its turn is done, until the end (or `stop_after` messages were
    sent); returns the measured window (after the warm-up)."""
    started = time.monotonic()
    window = (started + warmup, started + warmup + seconds)

    async def walk(resident: Resident) -> None:
        while time.monotonic() < window[1] and (stop_after is None or len(recorder.requests) < stop_after):
            resident.start(recorder, time.monotonic())
            act(resident)
            try:
                await asyncio.wait_for(resident.done.wait(), REPLY_WAIT)
            except TimeoutError:
                resident.pending = None

    await asyncio.gather(*(walk(resident) for resident in residents))
    return window[0], min(window[1], time.monotonic())


async def open_loop(
    new_resident: Callable[[int], Resident],
    act: Callable[[Resident], None],
    recorder: Recorder,
    rate: float,
    seconds: float,
    *,
    poisson: bool = False,
    seed: int = 1,
) -> tuple[tuple[float, float], list[float], int]:
    """`rate` messages a second for `seconds`, whatever the system does; then answers are awaited up to DRAIN.
    Returns the window, how late the harness was on its schedule (s) for each message, and the residents."""
    rng = random.Random(seed)
    ready: deque[Resident] = deque()
    count = itertools.count()
    made = 0
    start = time.monotonic() + 0.05
    total = int(rate * seconds)
    if poisson:
        moments = list(itertools.accumulate(rng.expovariate(rate) for _ in range(total)))
    else:
        moments = [n / rate for n in range(total)]
    lateness: list[float] = []
    for offset in moments:
        at = start + offset
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.monotonic()
        lateness.append(now - at)
        if ready and now - ready[0].last_reply >= THINK:
            resident = ready.popleft()
        else:
            resident = new_resident(next(count))
            resident.on_done = ready.append
            made += 1
        resident.start(recorder, at)
        act(resident)
    end = start + seconds
    drain_until = time.monotonic() + DRAIN
    while time.monotonic() < drain_until and any(r.answered is None for r in recorder.requests):
        await asyncio.sleep(0.05)
    return (start, end), lateness, made
