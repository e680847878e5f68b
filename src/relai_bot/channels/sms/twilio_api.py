"""One SMS through Twilio's REST API (the real twilio client, async), and what Twilio's errors mean.

Error codes (platform.md §5): 21610 the person sent STOP to our sender; 30003 / 30005 / 30006 the
handset is off, unknown or a landline; 21614 / 21635 not a mobile; 429 / 20429 / 5xx / 21611 / 30001 try
again later (`retry_after` only when Twilio is throttling: the refused request did not count); any other
4xx is our mistake. An HTTP error answer means Twilio did not take the message,
so it may be sent again; a timeout may hide a message Twilio took: such a failure is `ambiguous`, and
the retry policy (relai_bot.sending.retry) never resends it inline.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from relai_bot.channels.base import ProviderWatch
from relai_bot.config import Settings
from relai_bot.sending.contract import SendFailure

log = logging.getLogger(__name__)

STOPPED_CODES = frozenset({21610})
UNREACHABLE_CODES = frozenset({30003, 30005, 30006})
NOT_MOBILE_CODES = frozenset({21614, 21635})
_RATE_LIMITED = frozenset({20429})
_QUEUE_FULL = frozenset({21611, 30001})
_TRANSIENT = frozenset({30008})


@dataclass(frozen=True)
class SmsSender:
    """Who an SMS comes from: a number or alphanumeric id (`from_`), or a Messaging Service."""

    from_: str | None
    messaging_service_sid: str | None
    one_way: bool

    @classmethod
    def of(cls, value: str, *, one_way: bool) -> SmsSender:
        if value.startswith("MG"):
            return cls(None, value, one_way)
        return cls(value, None, one_way)


@dataclass(frozen=True)
class Accepted:
    sid: str
    status: str | None


def failure_for(error: TwilioRestException) -> SendFailure:
    """What a Twilio refusal means for the caller (see the module docstring)."""
    code = int(error.code) if error.code is not None else None
    label = str(code if code is not None else error.status)
    detail = f"twilio {error.status} code {label}"
    if code in STOPPED_CODES:
        return SendFailure("stopped", detail, code=label)
    if code in UNREACHABLE_CODES or code in NOT_MOBILE_CODES:
        return SendFailure("unreachable", detail, code=label)
    if error.status == 429 or code in _RATE_LIMITED:
        return SendFailure("retry", detail, retry_after=1.0, code=label)
    if code in _QUEUE_FULL:
        return SendFailure("retry", detail, retry_after=60.0, code=label)
    if error.status >= 500 or code in _TRANSIENT:
        return SendFailure("retry", detail, code=label)
    return SendFailure("invalid", detail, code=label)


class TwilioMessages:
    """The Messages API of one account, at RELAI_TWILIO_API_URL, through AsyncTwilioHttpClient."""

    def __init__(self, settings: Settings, status_callback: str | None) -> None:
        if settings.twilio_account_sid is None or settings.twilio_auth_token is None:
            raise ValueError("RELAI_TWILIO_ACCOUNT_SID and RELAI_TWILIO_AUTH_TOKEN are both needed")
        self.account_sid = settings.twilio_account_sid
        self.auth_token = settings.twilio_auth_token.get_secret_value()
        self.api_url = settings.twilio_api_url.rstrip("/")
        self.timeout = settings.twilio_timeout_seconds
        self.status_callback = status_callback
        self.watch = ProviderWatch("sms")
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    async def open(self) -> None:
        if self._client is not None:
            return
        # twilio logs every request at INFO: keep that out of our logs
        quiet = logging.getLogger(f"{__name__}.http")
        quiet.setLevel(logging.WARNING)
        self._http = AsyncTwilioHttpClient(logger=quiet)
        client = Client(self.account_sid, self.auth_token, http_client=self._http)
        client.edge = client.region = None  # TWILIO_EDGE / TWILIO_REGION would rewrite the host
        client.api.base_url = self.api_url
        self._client = client

    @property
    def opened(self) -> bool:
        return self._client is not None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = self._client = None

    async def create(self, to: str, body: str, sender: SmsSender) -> Accepted:
        """One attempt; raises SendFailure (`ambiguous` when Twilio may have taken the message)."""
        try:
            accepted = await self._create(to, body, sender)
        except SendFailure as failure:
            self.watch.refused(failure)
            raise
        self.watch.accepted("201")
        return accepted

    async def _create(self, to: str, body: str, sender: SmsSender) -> Accepted:
        if self._client is None:
            await self.open()
        assert self._client is not None
        kwargs: dict[str, object] = {"to": to, "body": body}
        if sender.from_ is not None:
            kwargs["from_"] = sender.from_
        if sender.messaging_service_sid is not None:
            kwargs["messaging_service_sid"] = sender.messaging_service_sid
        if self.status_callback is not None:
            kwargs["status_callback"] = self.status_callback
        try:
            async with asyncio.timeout(self.timeout):
                message = await self._client.messages.create_async(**kwargs)
        except TwilioRestException as error:
            raise failure_for(error) from None
        except TimeoutError:
            detail = "no answer in time: Twilio may have taken it"
            raise SendFailure("retry", detail, code="timeout", ambiguous=True) from None
        except aiohttp.ClientConnectorError as error:
            raise SendFailure("retry", f"cannot connect: {type(error).__name__}", code="connect") from None
        except aiohttp.ClientError as error:
            detail = f"connection lost: {type(error).__name__}"
            raise SendFailure("retry", detail, code="network", ambiguous=True) from None
        if not message.sid:
            raise SendFailure("retry", "answer without a sid", code="no_sid", ambiguous=True)
        return Accepted(sid=message.sid, status=message.status)
