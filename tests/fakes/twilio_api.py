"""A fake Twilio REST server (Messages API) for tests and benchmarks, driven by the real twilio client.

Twilio cannot be reached from the test machines, so tests run the real ``twilio`` Python client (9.x)
against this aiohttp server on 127.0.0.1. Requests are checked against
``tests/fakes/specs/twilio_messages.json``, a compact schema derived from Twilio's OpenAPI spec by
``tools/derive_twilio_schema.py`` and committed (no network, no /work/shared needed at test time).
No pytest import: usable from a benchmark or standalone.

Use, inside a running event loop::

    async with FakeTwilioServer() as srv:          # or account_sid="AC" + 32 hex, auth_token="..."
        client = srv.client()                      # sync twilio.rest.Client pointed at srv.base_url
        msg = await asyncio.to_thread(
            client.messages.create, to="+262692123456", from_="MAIRIE", body="Bonjour"
        )

        http = AsyncTwilioHttpClient()
        aclient = srv.client(http_client=http)     # async: await aclient.messages.create_async(...)
        ...
        await http.close()

Pointing a twilio client at the fake (twilio 9.13). Every domain (``client.api``, ``client.messaging``...)
is a ``twilio.base.domain.Domain`` whose ``base_url`` ("https://api.twilio.com" for ``Api``) is joined
with the versioned URI in ``Domain.absolute_url``; ``client.messages`` and
``client.api.account(s).messages`` both go through ``client.api``. So the cleanest switch is one
attribute, and it works the same for the sync ``TwilioHttpClient`` (requests) and the async
``AsyncTwilioHttpClient`` (aiohttp), because the rewrite happens before the HTTP client sees the URL::

    client = Client(account_sid, auth_token)                       # or http_client=AsyncTwilioHttpClient()
    client.api.base_url = srv.base_url                             # "http://127.0.0.1:PORT"

(``FakeTwilioServer.client()`` does exactly that.) Leave ``TWILIO_EDGE``/``TWILIO_REGION`` unset: they
make ``ClientBase.get_hostname`` rewrite the host. The alternative, a ``TwilioHttpClient`` subclass whose
``request()`` replaces ``https://api.twilio.com`` in the URL, also works but needs one subclass per
HTTP client (sync and async); it is the place to go if production code builds its own Client and the test
can only inject an http_client.

What the fake does, like Twilio:

* POST ``/2010-04-01/Accounts/{AccountSid}/Messages.json``: HTTP Basic auth (401, code 20003), account SID in
  the path (404, 20404), form parameters against the schema, then 201 with a full message resource
  (``sid`` "SM"+32 hex, ``status`` "queued", or "accepted" with a Messaging Service, ``num_segments`` computed
  with ``relai_bot.channels.sms.encoding.measure``, "0" while "accepted"), RFC 2822 dates.
* GET ``/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json``: the stored message (404, 20404 if unknown).
* GET ``/2010-04-01/Accounts/{Sid}.json``: the account (``api.v2010.account``; another SID is 404, 20404), and
  GET ``/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json``: a page of the account's numbers
  (``srv.incoming_numbers``, E.164; the ``PhoneNumber`` query filters on its digits), what
  ``relai-bot doctor`` reads to check the credentials and the sender.
* Numbers in ``srv.opted_out`` answer 400 / 21610. Throughput is not enforced by refusing (Twilio queues):
  each accepted message records its send time per sender (``srv.send_times``) and the time it would wait in
  Twilio's queue at ``mps`` segments per second (``FakeMessage.queued_for``); only a backlog above
  ``queue_limit_seconds`` (10 h by default) answers 400 / 21611, as Twilio does.
* Status callbacks: ``await srv.send_status(sid, "delivered")`` POSTs the signed form to the message's
  StatusCallback URL.

Stricter than Twilio, on purpose: an unknown form parameter is refused (400, code 20001; Twilio ignores
it with warning 20001), so that typos in parameter names fail the tests. Refusals without a specific
Twilio code (bad boolean, enum value, pattern...) use code 400 (Twilio's generic "Bad Request" page).

Recording: ``srv.messages`` (accepted, in order), ``srv.requests`` (every request with its status),
``srv.violations`` (requests refused because they were wrong; not injected faults, not opt-outs),
``srv.callbacks`` (status callbacks sent), ``srv.clear()``.

Faults (the plan shared with the Telegram fake, tests/fakes/server.py): ``srv.fail_next(status=503,
code=20503, times=2)``, ``srv.delay_next(0.6)``, ``srv.drop_next(to=...)``; each returns its ``Fault``, whose
``hits`` count the requests it took. ``await srv.wait_for_messages(n)`` waits on the server's signals.

Standalone: ``python -m tests.fakes.twilio_api --port 4010`` prints the base URL and credentials.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from aiohttp import ClientTimeout, web
from twilio.http import HttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from relai_bot.channels.sms.encoding import measure

from .server import Exchange, FakeServer, Fault

__all__ = [
    "API_VERSION",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "SCHEMA_PATH",
    "CallbackRecord",
    "FakeMessage",
    "FakeTwilioServer",
    "RecordedRequest",
    "inbound_sms_params",
    "load_schema",
    "signed_form",
]

SCHEMA_PATH = Path(__file__).resolve().parent / "specs" / "twilio_messages.json"
API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "5e1a" * 8
DEFAULT_AUTH_TOKEN = "f4ce" * 8  # Twilio auth tokens are 32 hex characters
MORE_INFO = "https://www.twilio.com/docs/errors/{code}"

Operation = Literal["create", "fetch", "fetch_account", "list_numbers", "any"]

# Twilio error codes used by the fake (titles from Twilio's error dictionary, see platform.md §5).
UNKNOWN_PARAMETER = 20001
AUTHENTICATE = 20003
METHOD_NOT_ALLOWED = 20004
NOT_FOUND = 20404
BAD_REQUEST = 400  # no specific code: Twilio's generic "400: Bad Request"
INVALID_TO = 21211
INVALID_FROM = 21212
BODY_REQUIRED = 21602
FROM_REQUIRED = 21603
TO_REQUIRED = 21604
INVALID_STATUS_CALLBACK = 21609
UNSUBSCRIBED = 21610
QUEUE_FULL = 21611
BODY_TOO_LONG = 21617
INVALID_VALIDITY_PERIOD = 21624

_DEFAULT_FAULT_MESSAGES = {
    400: "Bad Request",
    401: "Authenticate",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_E164 = re.compile(r"^(?:[a-z]+:)?\+[1-9]\d{1,14}$")  # optional channel prefix, e.g. "whatsapp:"
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_SHORT_CODE = re.compile(r"^\d{3,8}$")
_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_FINAL_STATUSES = frozenset({"delivered", "undelivered", "failed", "canceled", "read"})


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """The committed compact schema (see tools/derive_twilio_schema.py)."""
    return json.loads(path.read_text(encoding="utf-8"))


def _new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _rfc2822(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment)


def _path_regex(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile("^" + pattern + "$")


def error_body(status: int, code: int, message: str, detail: str | None = None) -> dict[str, Any]:
    """Twilio's (legacy) JSON error envelope, as parsed by ``twilio.base.version.Version.exception``."""
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "more_info": MORE_INFO.format(code=code),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    return body


def signed_form(url: str, auth_token: str, params: Mapping[str, str]) -> dict[str, str]:
    """Headers for a webhook POST of ``params`` to ``url`` signed as Twilio does (X-Twilio-Signature).

    ``url`` must be the exact URL the app will validate against (scheme, host, port, path, query).
    """
    signature = RequestValidator(auth_token).compute_signature(url, dict(params))
    return {
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
    }


def _country_of(number: str) -> str:
    digits = number.removeprefix("+")
    if digits.startswith(("262639", "262269")):
        return "YT"  # Mayotte shares +262
    if digits.startswith("262"):
        return "RE"
    if digits.startswith("33"):
        return "FR"
    return ""


def inbound_sms_params(
    from_: str,
    to: str,
    body: str,
    *,
    message_sid: str | None = None,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    messaging_service_sid: str | None = None,
    opt_out_type: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Form fields of a realistic inbound SMS webhook (Twilio → app), for use with ``signed_form``.

    ``opt_out_type`` ("STOP", "START", "HELP") adds ``OptOutType`` as Advanced Opt-Out does; ``extra`` adds or
    overrides fields (Twilio may add fields without notice, so apps must ignore unknown ones).
    """
    sid = message_sid or _new_sid("SM")
    params = {
        "ToCountry": _country_of(to) or "RE",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": _country_of(from_) or "RE",
        "To": to,
        "ToZip": "",
        "NumSegments": str(max(1, measure(body).segments)),
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if messaging_service_sid is not None:
        params["MessagingServiceSid"] = messaging_service_sid
    if opt_out_type is not None:
        params["OptOutType"] = opt_out_type
    if extra:
        params.update(extra)
    return params


# ------------------------------------------------------------------------------------------ recordings


@dataclass(kw_only=True)
class RecordedRequest(Exchange):
    """One HTTP request the fake received, and how it answered (``at``: time.monotonic() at arrival;
    ``status``: None while still being handled, e.g. delayed, or when a planned fault dropped it;
    ``injected``/``delayed``/``dropped``: what a planned fault did to it)."""

    method: str
    path: str
    form: list[tuple[str, str]]
    headers: dict[str, str]
    operation: str | None = None  # "create", "fetch" or None (unknown route)
    code: int | None = None  # Twilio error code of a refusal
    message: str | None = None
    violation: bool = False  # refused because the request itself was wrong
    sid: str | None = None  # message created or fetched

    @property
    def params(self) -> dict[str, str]:
        """Form fields, last value wins (see ``form`` for repeated fields such as MediaUrl)."""
        return dict(self.form)


@dataclass
class FakeMessage:
    """A message the fake accepted."""

    sid: str
    account_sid: str
    params: dict[str, str]
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    media_urls: list[str]
    status: str
    status_callback: str | None
    segments: int  # computed for the body, whatever the status
    encoding: str
    date_created: datetime
    date_updated: datetime
    created_at: float  # time.monotonic()
    queued_for: float  # seconds it would wait in Twilio's queue at the configured MPS
    date_sent: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None

    @property
    def sender(self) -> str:
        """From, or the Messaging Service SID when Twilio picks the sender."""
        return self.from_ or self.messaging_service_sid or ""

    @property
    def uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def resource(self) -> dict[str, Any]:
        """The JSON message resource (fields of ``api.v2010.account.message``)."""
        hide_segments = self.status in ("accepted", "scheduled")
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": _rfc2822(self.date_sent),
            "date_updated": _rfc2822(self.date_updated),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": self.error_message,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(len(self.media_urls)),
            "num_segments": "0" if hide_segments else str(self.segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}/Media.json",
                "feedback": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}/Feedback.json",
            },
            "to": self.to,
            "uri": self.uri,
        }


@dataclass
class CallbackRecord:
    """A status callback the fake POSTed."""

    sid: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int


class _Refusal(Exception):
    def __init__(self, status: int, code: int, message: str, *, violation: bool = True) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.violation = status, code, message, violation


# ---------------------------------------------------------------------------------------------- server


class FakeTwilioServer(FakeServer[RecordedRequest]):
    """aiohttp fake of Twilio's Messages API, started in the running event loop.

    Lifecycle, request log (``requests``), fault plan (``faults``) and waiting come from ``FakeServer``.

    Args:
        account_sid: "AC" + 32 hex; the Basic-auth user and the only account in paths.
        auth_token: the Basic-auth password, and the key for signing status callbacks.
        host, port: where to listen (port 0 = a free port; see ``base_url``).
        mps: per-sender throughput (segments per second) used to simulate Twilio's queue.
        queue_limit_seconds: backlog above which a send answers 21611 (Twilio: about 10 hours).
        opted_out: E.164 numbers that sent STOP (sends answer 21610); ``srv.opted_out`` is a mutable set.
        service_sender: the From reported in status callbacks of Messaging Service sends without From.
        schema: the compact schema (default: the committed ``specs/twilio_messages.json``).
        incoming_numbers: the E.164 numbers the account owns (IncomingPhoneNumbers); ``srv.incoming_numbers``
            is a mutable list.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        mps: float = 10.0,
        queue_limit_seconds: float = 36_000.0,
        opted_out: Iterable[str] = (),
        service_sender: str = "MAIRIE",
        schema: Mapping[str, Any] | None = None,
        incoming_numbers: Iterable[str] = (),
    ) -> None:
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", account_sid):
            raise ValueError("account_sid must be 'AC' followed by 32 hex digits")
        if mps <= 0:
            raise ValueError("mps must be positive")
        super().__init__(host=host, port=port)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.mps = mps
        self.queue_limit_seconds = queue_limit_seconds
        self.opted_out: set[str] = set(opted_out)
        self.service_sender = service_sender
        self.schema: dict[str, Any] = dict(schema) if schema is not None else load_schema()
        self._create = self.schema["create_message"]
        self._fetch = self.schema["fetch_message"]
        self._create_re = _path_regex(self._create["path"])
        self._fetch_re = _path_regex(self._fetch["path"])
        self.statuses: tuple[str, ...] = tuple(self.schema["message_enum_status"])
        self._account = self.schema["fetch_account"]
        self._numbers = self.schema["list_incoming_phone_numbers"]
        self._account_re = _path_regex(self._account["path"])
        self._numbers_re = _path_regex(self._numbers["path"])
        self.incoming_numbers: list[str] = list(incoming_numbers)
        self._number_sids: dict[str, str] = {}

        self.messages: list[FakeMessage] = []
        self.violations: list[RecordedRequest] = []
        self.callbacks: list[CallbackRecord] = []
        self.send_times: dict[str, list[float]] = {}
        self._by_sid: dict[str, FakeMessage] = {}
        self._sender_free_at: dict[str, float] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server's URL, "http://127.0.0.1:PORT", to put in ``client.api.base_url``."""
        return self.address

    @property
    def auth(self) -> tuple[str, str]:
        return (self.account_sid, self.auth_token)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request, in order of arrival (a delayed one has no status until it is answered)."""
        return self.exchanges

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._dispatch)

    def client(self, http_client: HttpClient | None = None) -> Client:
        """A real ``twilio.rest.Client`` for this account, pointed at the fake.

        Pass ``http_client=AsyncTwilioHttpClient()`` for ``create_async``/``fetch_async`` (close it yourself).
        """
        client = Client(self.account_sid, self.auth_token, http_client=http_client)
        client.edge = client.region = None  # TWILIO_EDGE/TWILIO_REGION would rewrite the host
        client.api.base_url = self.base_url
        return client

    # -- test controls -----------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget recorded messages, requests, violations, callbacks, send times and pending faults/delays.

        Configuration (``opted_out``, ``mps``...) is kept.
        """
        self.messages.clear()
        self.clear_log()
        self.violations.clear()
        self.callbacks.clear()
        self.send_times.clear()
        self._by_sid.clear()
        self._sender_free_at.clear()
        self.faults.clear()

    def fail_next(
        self,
        *,
        status: int,
        code: int,
        message: str | None = None,
        times: int = 1,
        to: str | None = None,
        operation: Operation = "create",
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Answer the next ``times`` matching requests with a Twilio error (e.g. 429/20429, 500, 503).

        ``to`` restricts the fault to sends to that number; ``operation`` to "create" (default), "fetch" or
        "any"; ``delay``: answer that late. Checked after authentication, before parameter validation. Not
        recorded as violations.
        """
        text = message or _DEFAULT_FAULT_MESSAGES.get(status, "Error")
        details = {"code": code, "message": text, "headers": dict(headers or {})}
        return self._plan(times=times, status=status, delay=delay, details=details, to=to, operation=operation)

    def delay_next(self, seconds: float, times: int = 1, *, operation: Operation = "create") -> Fault:
        """Wait ``seconds`` before handling the next ``times`` matching requests (client timeouts).

        The request is still processed after the delay, even if the client gave up, as a real server
        would: a timed-out send may have been accepted.
        """
        return self._plan(times=times, delay=seconds, operation=operation)

    def drop_next(self, times: int = 1, *, to: str | None = None, operation: Operation = "create") -> Fault:
        """Close the connection of the next ``times`` matching requests without an answer (nothing is sent)."""
        return self._plan(times=times, drop=True, to=to, operation=operation)

    def _plan(self, *, operation: Operation, **fault: Any) -> Fault:
        return self.faults.plan(operation=None if operation == "any" else operation, **fault)

    def message(self, sid: str) -> FakeMessage:
        return self._by_sid[sid]

    async def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[FakeMessage]:
        """Wait until at least ``count`` messages were accepted; return them."""
        try:
            await self.wait_until(lambda: len(self.messages) >= count, timeout)
        except TimeoutError:
            raise TimeoutError(f"{len(self.messages)} messages accepted, expected {count}") from None
        return list(self.messages)

    def max_in_window(self, sender: str | None = None, window: float = 1.0, *, segments: bool = False) -> int:
        """Most messages (or segments) accepted within any ``window`` seconds, for one sender or all."""
        items = sorted(
            (m.created_at, m.segments if segments else 1) for m in self.messages if sender is None or m.sender == sender
        )
        best = running = 0
        start = 0
        for end_time, weight in items:
            running += weight
            while items[start][0] <= end_time - window:
                running -= items[start][1]
                start += 1
            best = max(best, running)
        return best

    # -- status callbacks --------------------------------------------------------------------------

    async def send_status(
        self,
        sid: str,
        status: str,
        *,
        error_code: int | None = None,
        error_message: str | None = None,
        url: str | None = None,
        extra: Mapping[str, str] | None = None,
        timeout: float = 15.0,
    ) -> int:
        """POST a signed status callback for message ``sid`` and return the HTTP status the app answered.

        Sends MessageSid, MessageStatus, SmsSid, SmsStatus, AccountSid, From, To, ApiVersion (plus
        MessagingServiceSid when used, and ErrorCode for failed/undelivered: ``error_code`` or 30008)
        to the message's StatusCallback (or ``url``), with ``X-Twilio-Signature`` computed by
        ``RequestValidator(auth_token).compute_signature(url, params)``. The stored message takes the
        new status, as a later fetch shows. ``extra`` adds fields (e.g. RawDlrDoneDate).
        """
        message = self._by_sid.get(sid)
        if message is None:
            raise KeyError(f"unknown message {sid}")
        if status not in self.statuses:
            raise ValueError(f"{status!r} is not a message status ({', '.join(self.statuses)})")
        target = url or message.status_callback
        if not target:
            raise ValueError(f"message {sid} has no StatusCallback")
        if status in ("failed", "undelivered") and error_code is None:
            error_code = 30008
        params = {
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "AccountSid": message.account_sid,
            "From": message.from_ or self.service_sender,
            "To": message.to,
            "ApiVersion": API_VERSION,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        if extra:
            params.update(extra)

        now = datetime.now(UTC)
        message.status = status
        message.date_updated = now
        if status in ("sent", "delivered", "undelivered", "read") and message.date_sent is None:
            message.date_sent = now
        if error_code is not None:
            message.error_code = error_code
            message.error_message = error_message

        headers = signed_form(target, self.auth_token, params)
        async with self.session().post(
            target, data=params, headers=headers, timeout=ClientTimeout(total=timeout)
        ) as response:
            await response.read()
            http_status = response.status
        self.callbacks.append(CallbackRecord(sid, target, params, headers, http_status))
        self.progress()
        return http_status

    # -- HTTP handling -----------------------------------------------------------------------------

    def _json(self, record: RecordedRequest, status: int, body: dict[str, Any]) -> web.Response:
        self.answered(record, status)
        return web.json_response(body, status=status, headers={"Twilio-Request-Id": _new_sid("RQ")})

    def _injected(self, record: RecordedRequest, fault: Fault) -> web.Response:
        assert fault.status is not None
        code, message = fault.details["code"], fault.details["message"]
        record.code, record.message = code, message
        response = self._json(record, fault.status, error_body(fault.status, code, message))
        response.headers.update(fault.details["headers"])
        return response

    def _refuse(self, record: RecordedRequest, refusal: _Refusal) -> web.Response:
        record.code, record.message = refusal.code, refusal.message
        self.answered(record, refusal.status)
        if refusal.violation:
            record.violation = True
            self.violations.append(record)
        detail = "Your AccountSid or AuthToken was incorrect." if refusal.code == AUTHENTICATE else None
        response = web.json_response(
            error_body(refusal.status, refusal.code, refusal.message, detail),
            status=refusal.status,
            headers={"Twilio-Request-Id": _new_sid("RQ")},
        )
        if refusal.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return response

    def _check_auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        ok = False
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
                ok = (user, password) == (self.account_sid, self.auth_token)
            except (binascii.Error, UnicodeDecodeError):
                ok = False
        if not ok:
            raise _Refusal(401, AUTHENTICATE, "Authenticate")

    def _route(self, path: str) -> tuple[str, re.Match[str], str, str] | None:
        """The operation a path names, its match, the method it takes and its account SID's group."""
        routes = (
            ("create", self._create_re, "POST", "AccountSid"),
            ("fetch", self._fetch_re, "GET", "AccountSid"),
            ("fetch_account", self._account_re, "GET", "Sid"),
            ("list_numbers", self._numbers_re, "GET", "AccountSid"),
        )
        for operation, pattern, method, account in routes:
            match = pattern.match(path)
            if match is not None:
                return operation, match, method, account
        return None

    async def _dispatch(self, request: web.Request) -> web.Response:
        path = request.path
        route = self._route(path)
        operation = route[0] if route else None
        record = RecordedRequest(
            method=request.method, path=path, form=[], headers=dict(request.headers), operation=operation
        )
        self.record(record)
        if request.method in ("POST", "PUT"):
            if request.content_type == "application/x-www-form-urlencoded":
                record.form = [(k, str(v)) for k, v in (await request.post()).items()]
            elif request.body_exists:
                await request.read()
        try:
            self._check_auth(request)
            if route is None:
                raise _Refusal(404, NOT_FOUND, f"The requested resource {path} was not found")
            operation, match, expected_method, account_group = route
            if request.method != expected_method:
                raise _Refusal(405, METHOD_NOT_ALLOWED, "Method not allowed")
            if match.group(account_group) != self.account_sid:
                raise _Refusal(404, NOT_FOUND, f"The requested resource {path} was not found")
            fault = record.fault = self.faults.take(operation=operation, to=record.params.get("To"))
            await self.apply(fault)
            if fault is not None and fault.status is not None:
                return self._injected(record, fault)
            if operation == "create":
                if request.content_type != "application/x-www-form-urlencoded":
                    raise _Refusal(400, BAD_REQUEST, "Content-Type must be application/x-www-form-urlencoded")
                message = self._accept(record)
                record.sid = message.sid
                return self._json(record, self._create["response_status"], message.resource())
            if operation == "fetch_account":
                return self._json(record, self._account["response_status"], self._account_resource())
            if operation == "list_numbers":
                return self._json(record, self._numbers["response_status"], self._numbers_page(request))
            sid = match.group("Sid")
            message = self._by_sid.get(sid)
            if message is None:
                raise _Refusal(404, NOT_FOUND, f"The requested resource {path} was not found")
            record.sid = sid
            return self._json(record, self._fetch["response_status"], message.resource())
        except _Refusal as refusal:
            return self._refuse(record, refusal)

    # -- the account and its numbers ---------------------------------------------------------------

    def _account_resource(self) -> dict[str, Any]:
        """The account (fields of ``api.v2010.account``); its auth token is never echoed back."""
        moment = _rfc2822(datetime(2024, 1, 15, 8, 0, tzinfo=UTC))
        base = f"/{API_VERSION}/Accounts/{self.account_sid}"
        return {
            "auth_token": None,
            "date_created": moment,
            "date_updated": moment,
            "friendly_name": "Mairie de La Possession",
            "owner_account_sid": self.account_sid,
            "sid": self.account_sid,
            "status": "active",
            "subresource_uris": {
                "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
                "messages": f"{base}/Messages.json",
            },
            "type": "Full",
            "uri": f"{base}.json",
        }

    def _number_resource(self, number: str) -> dict[str, Any]:
        """One incoming phone number (fields of ``api.v2010.account.incoming_phone_number``)."""
        sid = self._number_sids.setdefault(number, _new_sid("PN"))
        moment = _rfc2822(datetime(2024, 1, 15, 8, 0, tzinfo=UTC))
        return {
            "account_sid": self.account_sid,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": API_VERSION,
            "beta": False,
            "bundle_sid": None,
            "capabilities": {"voice": False, "sms": True, "mms": False, "fax": False},
            "date_created": moment,
            "date_updated": moment,
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "emergency_status": "Inactive",
            "friendly_name": number,
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": number,
            "sid": sid,
            "sms_application_sid": None,
            "sms_fallback_method": "POST",
            "sms_fallback_url": None,
            "sms_method": "POST",
            "sms_url": None,
            "status": "in-use",
            "status_callback": None,
            "status_callback_method": "POST",
            "trunk_sid": None,
            "type": "local",
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{sid}.json",
            "voice_application_sid": None,
            "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST",
            "voice_fallback_url": None,
            "voice_method": "POST",
            "voice_receive_mode": "voice",
            "voice_url": None,
        }

    def _numbers_page(self, request: web.Request) -> dict[str, Any]:
        """A page of the account's numbers; query parameters are checked against the schema (unknown: 20001)."""
        spec: dict[str, dict[str, Any]] = self._numbers["query_params"]
        query = dict(request.query)
        unknown = sorted(name for name in query if name not in spec)
        if unknown:
            raise _Refusal(400, UNKNOWN_PARAMETER, f"Unknown parameters: {', '.join(unknown)}")
        for name, value in query.items():
            self._check_value(name, value, spec[name])
        size = int(query.get("PageSize", "50"))
        page = int(query.get("Page", "0"))
        wanted = query.get("PhoneNumber", "").removeprefix("+")
        found = [number for number in self.incoming_numbers if wanted in number.removeprefix("+")]
        items = found[page * size : (page + 1) * size]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
        return {
            "end": page * size + max(len(items) - 1, 0),
            "first_page_uri": f"{uri}?PageSize={size}&Page=0",
            self._numbers["items_key"]: [self._number_resource(number) for number in items],
            "next_page_uri": f"{uri}?PageSize={size}&Page={page + 1}" if len(found) > (page + 1) * size else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": f"{uri}?PageSize={size}&Page={page - 1}" if page > 0 else None,
            "start": page * size,
            "uri": f"{uri}?PageSize={size}&Page={page}",
        }

    # -- create: validation and acceptance ---------------------------------------------------------

    def _validate(self, form: list[tuple[str, str]]) -> dict[str, list[str]]:
        spec: dict[str, dict[str, Any]] = self._create["params"]
        values: dict[str, list[str]] = {}
        for name, value in form:
            values.setdefault(name, []).append(value)

        unknown = sorted(name for name in values if name not in spec)
        if unknown:
            raise _Refusal(400, UNKNOWN_PARAMETER, f"Unknown parameters: {', '.join(unknown)}")
        for name, items in values.items():
            if len(items) > 1 and spec[name].get("type") != "array":
                raise _Refusal(400, BAD_REQUEST, f"Parameter '{name}' was given {len(items)} times")

        def single(name: str) -> str | None:
            items = values.get(name)
            return items[0] if items else None

        def present(name: str) -> bool:
            return any(item != "" for item in values.get(name, []))

        # Required and conditional parameters, in the order Twilio reports them.
        to = single("To")
        if not to:
            raise _Refusal(400, TO_REQUIRED, "A 'To' phone number is required.")
        self._check_value("To", to, spec["To"])
        for group in self._create["conditional"]:
            if not any(present(name) for name in group):
                if "From" in group:
                    raise _Refusal(400, FROM_REQUIRED, "A 'From' phone number is required.")
                raise _Refusal(400, BODY_REQUIRED, "Message body is required.")
        for name in sorted(values):
            if name == "To":
                continue
            for item in values[name]:
                self._check_value(name, item, spec[name])

        # Cross-parameter rules stated in the parameter descriptions.
        if present("ScheduleType") and not (present("SendAt") and present("MessagingServiceSid")):
            raise _Refusal(400, BAD_REQUEST, "ScheduleType requires SendAt and MessagingServiceSid")
        if present("SendAt") and not present("ScheduleType"):
            raise _Refusal(400, BAD_REQUEST, "SendAt requires ScheduleType=fixed")
        if single("ShortenUrls") == "true" and not present("MessagingServiceSid"):
            raise _Refusal(400, BAD_REQUEST, "ShortenUrls requires MessagingServiceSid")
        if present("ContentVariables") and not present("ContentSid"):
            raise _Refusal(400, BAD_REQUEST, "ContentVariables requires ContentSid")
        return values

    def _check_value(self, name: str, value: str, spec: Mapping[str, Any]) -> None:
        kind = spec.get("type")
        if kind == "array":
            self._check_value(name, value, spec.get("items", {}))
            return
        if kind == "boolean":
            if value not in ("true", "false"):
                raise _Refusal(400, BAD_REQUEST, f"Parameter '{name}' must be 'true' or 'false', got {value!r}")
            return
        if kind == "integer":
            if not _INTEGER.match(value):
                code = INVALID_VALIDITY_PERIOD if name == "ValidityPeriod" else BAD_REQUEST
                raise _Refusal(400, code, f"Parameter '{name}' must be an integer, got {value!r}")
            self._check_range(name, int(value), spec)
            return
        if kind == "number":
            if not _NUMBER.match(value):
                raise _Refusal(400, BAD_REQUEST, f"Parameter '{name}' must be a number, got {value!r}")
            self._check_range(name, float(value), spec)
            return
        # strings
        if "enum" in spec and value not in spec["enum"]:
            allowed = ", ".join(spec["enum"])
            raise _Refusal(400, BAD_REQUEST, f"Parameter '{name}' must be one of {allowed}, got {value!r}")
        if "max_length" in spec and len(value) > spec["max_length"]:
            if name == "Body":
                raise _Refusal(
                    400,
                    BODY_TOO_LONG,
                    f"The concatenated message body exceeds the {spec['max_length']} character limit.",
                )
            raise _Refusal(400, BAD_REQUEST, f"Parameter '{name}' is longer than {spec['max_length']}")
        if "min_length" in spec and len(value) < spec["min_length"]:
            raise _Refusal(400, BAD_REQUEST, f"Parameter '{name}' is shorter than {spec['min_length']}")
        if "pattern" in spec and not re.search(spec["pattern"], value):
            raise _Refusal(400, BAD_REQUEST, f"Parameter '{name}' does not match {spec['pattern']}")
        if spec.get("ignore_format"):
            return
        fmt = spec.get("format")
        if fmt == "phone-number":
            if name == "To":
                if not _E164.match(value):
                    raise _Refusal(400, INVALID_TO, f"The 'To' number {value} is not a valid phone number.")
            elif not (_E164.match(value) or _ALPHANUMERIC_SENDER.match(value) or _SHORT_CODE.match(value)):
                raise _Refusal(
                    400,
                    INVALID_FROM,
                    f"The '{name}' number {value} is not a valid phone number, shortcode, or alphanumeric sender ID.",
                )
        elif fmt == "uri":
            parts = urlsplit(value)
            host = parts.hostname or ""
            if parts.scheme not in ("http", "https") or not host or "_" in host or len(value) > 4000:
                code = INVALID_STATUS_CALLBACK if name == "StatusCallback" else BAD_REQUEST
                raise _Refusal(400, code, f"The {name} URL {value} is not a valid URL.")
        elif fmt == "date-time":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise _Refusal(
                    400, BAD_REQUEST, f"Parameter '{name}' must be an ISO 8601 date-time, got {value!r}"
                ) from None

    def _check_range(self, name: str, number: float, spec: Mapping[str, Any]) -> None:
        low, high = spec.get("minimum"), spec.get("maximum")
        if (low is not None and number < low) or (high is not None and number > high):
            code = INVALID_VALIDITY_PERIOD if name == "ValidityPeriod" else BAD_REQUEST
            raise _Refusal(400, code, f"Parameter '{name}' must be between {low} and {high}, got {number:g}")

    def _accept(self, record: RecordedRequest) -> FakeMessage:
        values = self._validate(record.form)
        params = {name: items[-1] for name, items in values.items()}
        to = params["To"]
        if to in self.opted_out:
            raise _Refusal(400, UNSUBSCRIBED, "Attempt to send to unsubscribed recipient", violation=False)

        body = params.get("Body", "")
        measured = measure(body)
        media = values.get("MediaUrl", [])
        segments = max(1, measured.segments)
        from_ = params.get("From") or None
        service = params.get("MessagingServiceSid") or None
        sender = from_ or service or ""

        now = time.monotonic()
        start = max(now, self._sender_free_at.get(sender, now))
        queued_for = start - now
        if queued_for > self.queue_limit_seconds:
            raise _Refusal(
                400,
                QUEUE_FULL,
                "This 'From' number has exceeded the maximum number of queued messages",
                violation=False,
            )
        self._sender_free_at[sender] = start + segments / self.mps

        if params.get("ScheduleType"):
            status = "scheduled"
        elif service:
            status = "accepted"
        else:
            status = "queued"
        moment = datetime.now(UTC)
        message = FakeMessage(
            sid=_new_sid("MM" if media else "SM"),
            account_sid=self.account_sid,
            params=params,
            to=to,
            from_=from_,
            messaging_service_sid=service,
            body=body,
            media_urls=list(media),
            status=status,
            status_callback=params.get("StatusCallback"),
            segments=segments,
            encoding=measured.encoding,
            date_created=moment,
            date_updated=moment,
            created_at=now,
            queued_for=queued_for,
        )
        self.messages.append(message)
        self._by_sid[message.sid] = message
        self.send_times.setdefault(sender, []).append(now)
        self.progress()
        return message


# ------------------------------------------------------------------------------------------ standalone


async def _serve(args: argparse.Namespace) -> None:
    server = FakeTwilioServer(
        args.account_sid, args.auth_token, host=args.host, port=args.port, opted_out=args.opted_out
    )
    async with server:
        print(f"Fake Twilio API listening on {server.base_url}")
        print(f"  account_sid = {server.account_sid}")
        print(f"  auth_token  = {server.auth_token}")
        print("  point a client at it:  client.api.base_url = " + repr(server.base_url))
        print(
            f"  curl -u {server.account_sid}:{server.auth_token} "
            f"{server.base_url}/{API_VERSION}/Accounts/{server.account_sid}/Messages.json "
            "--data-urlencode To=+262692123456 --data-urlencode From=MAIRIE --data-urlencode Body=Bonjour",
            flush=True,
        )
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Twilio REST server (Messages API)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--opted-out", action="append", default=[], metavar="E164", help="repeatable")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
