"""The fake Twilio REST server, exercised with the REAL twilio client (sync and async)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.twilio_api import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    SCHEMA_PATH,
    FakeTwilioServer,
    inbound_sms_params,
    load_schema,
    signed_form,
)
from tests.paths import REPO as REPO_ROOT

RESIDENT = "+262692123456"
OTHER_RESIDENT = "+262693654321"
SERVICE_SID = "MG" + "0a" * 16

# twilio 9.13's async client still passes aiohttp's deprecated BasicAuth: not ours to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


@pytest.fixture
async def srv() -> AsyncIterator[FakeTwilioServer]:
    async with FakeTwilioServer() as server:
        yield server


@pytest.fixture
async def async_client(srv: FakeTwilioServer) -> AsyncIterator[Client]:
    http = AsyncTwilioHttpClient()
    try:
        yield srv.client(http_client=http)
    finally:
        await http.close()


@dataclass
class Receiver:
    """A tiny app standing in for our status-callback endpoint."""

    url: str = ""
    calls: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    answer: int = 200


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()

    async def handle(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        rec.calls.append((str(request.url), form, dict(request.headers)))
        return web.Response(status=rec.answer, text="")

    app = web.Application()
    app.router.add_post("/sms/status", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/sms/status"
    try:
        yield rec
    finally:
        await runner.cleanup()


def _messages_url(srv: FakeTwilioServer, account_sid: str | None = None) -> str:
    return f"{srv.base_url}/2010-04-01/Accounts/{account_sid or srv.account_sid}/Messages.json"


async def _raw_post(srv: FakeTwilioServer, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(auth=srv.auth) as http:
        return await http.post(kwargs.pop("url", None) or _messages_url(srv), data=data, **kwargs)


# --------------------------------------------------------------------------------------------- create


async def test_sync_client_creates_message(srv: FakeTwilioServer) -> None:
    client = srv.client()
    message = await asyncio.to_thread(
        client.messages.create, to=RESIDENT, from_="MAIRIE", body="Bonjour, votre RDV est confirmé."
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert message.num_segments == "1"
    assert message.to == RESIDENT
    assert message.from_ == "MAIRIE"
    assert message.direction == "outbound-api"
    assert message.api_version == "2010-04-01"
    assert message.account_sid == srv.account_sid
    assert message.price is None and message.error_code is None
    assert message.date_created is not None and message.date_created.tzinfo is not None

    [stored] = srv.messages
    assert stored.sid == message.sid
    assert stored.params == {"To": RESIDENT, "From": "MAIRIE", "Body": "Bonjour, votre RDV est confirmé."}
    assert stored.encoding == "GSM-7"
    assert [r.status for r in srv.requests] == [201]
    assert srv.violations == []


async def test_async_client_counts_segments(srv: FakeTwilioServer, async_client: Client) -> None:
    gsm = await async_client.messages.create_async(to=RESIDENT, from_="MAIRIE", body="a" * 161)
    ucs2 = await async_client.messages.create_async(to=RESIDENT, from_="MAIRIE", body="Fête " + "a" * 66)
    euro = await async_client.messages.create_async(to=RESIDENT, from_="MAIRIE", body="€" * 80)
    assert (gsm.num_segments, ucs2.num_segments, euro.num_segments) == ("2", "2", "1")
    assert srv.messages[1].encoding == "UCS-2"


async def test_messaging_service_send_is_accepted(srv: FakeTwilioServer, async_client: Client) -> None:
    message = await async_client.messages.create_async(to=RESIDENT, messaging_service_sid=SERVICE_SID, body="Bonjour")
    assert message.status == "accepted"
    assert message.num_segments == "0"
    assert message.from_ is None
    assert message.messaging_service_sid == SERVICE_SID


async def test_resource_has_exactly_the_schema_fields(srv: FakeTwilioServer) -> None:
    response = await _raw_post(srv, {"To": RESIDENT, "From": "MAIRIE", "Body": "x"})
    assert response.status_code == 201
    fields = load_schema()["message_resource"]["fields"]
    body = response.json()
    assert set(body) == set(fields)
    assert body["num_media"] == "0" and body["num_segments"] == "1"
    assert body["uri"] == f"/2010-04-01/Accounts/{srv.account_sid}/Messages/{body['sid']}.json"
    assert body["date_created"].endswith("+0000")
    assert body["status"] in load_schema()["message_enum_status"]


# ------------------------------------------------------------------------------------------- refusals


async def test_wrong_auth_is_401(srv: FakeTwilioServer) -> None:
    client = Client(srv.account_sid, "wrong-token")
    client.api.base_url = srv.base_url
    with pytest.raises(TwilioRestException) as excinfo:
        await asyncio.to_thread(client.messages.create, to=RESIDENT, from_="MAIRIE", body="x")
    assert excinfo.value.status == 401
    assert excinfo.value.code == 20003
    assert srv.messages == []
    [violation] = srv.violations
    assert violation.status == 401 and violation.code == 20003


async def test_error_body_is_twilio_shaped(srv: FakeTwilioServer) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(_messages_url(srv), data={"To": RESIDENT}, auth=("AC" + "0" * 32, "x"))
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "detail": "Your AccountSid or AuthToken was incorrect.",
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


async def test_other_account_in_path_is_404(srv: FakeTwilioServer) -> None:
    response = await _raw_post(
        srv, {"To": RESIDENT, "From": "MAIRIE", "Body": "x"}, url=_messages_url(srv, "AC" + "1" * 32)
    )
    assert response.status_code == 404
    assert response.json()["code"] == 20404
    assert len(srv.violations) == 1


async def test_missing_to_is_21604(srv: FakeTwilioServer, async_client: Client) -> None:
    with pytest.raises(TwilioRestException) as excinfo:
        await async_client.messages.create_async(to=None, from_="MAIRIE", body="x")  # type: ignore[arg-type]
    assert (excinfo.value.status, excinfo.value.code) == (400, 21604)
    assert srv.violations[0].code == 21604


async def test_unknown_parameter_is_a_violation(srv: FakeTwilioServer) -> None:
    response = await _raw_post(srv, {"To": RESIDENT, "From": "MAIRIE", "Body": "x", "Bodyy": "typo"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 20001
    assert "Bodyy" in body["message"]
    assert body["more_info"] == "https://www.twilio.com/docs/errors/20001"
    assert body["status"] == 400
    [violation] = srv.violations
    assert violation.params["Bodyy"] == "typo"
    assert srv.messages == []


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"To": RESIDENT, "Body": "x"}, 21603),
        ({"To": RESIDENT, "From": "MAIRIE"}, 21602),
        ({"To": RESIDENT, "From": "MAIRIE", "Body": ""}, 21602),
        ({"To": RESIDENT, "From": "MAIRIE", "Body": "x" * 1601}, 21617),
        ({"To": "0692123456", "From": "MAIRIE", "Body": "x"}, 21211),
        ({"To": "+33 6 12 34 56 78", "From": "MAIRIE", "Body": "x"}, 21211),
        ({"To": RESIDENT, "From": "MAIRIE DE LA POSSESSION", "Body": "x"}, 21212),
        ({"To": RESIDENT, "From": "MAIRIE", "Body": "x", "StatusCallback": "pas une url"}, 21609),
        ({"To": RESIDENT, "From": "MAIRIE", "Body": "x", "StatusCallback": "http://my_host/cb"}, 21609),
        ({"To": RESIDENT, "From": "MAIRIE", "Body": "x", "ValidityPeriod": "0"}, 21624),
        ({"To": RESIDENT, "From": "MAIRIE", "Body": "x", "ValidityPeriod": "36001"}, 21624),
        ({"To": RESIDENT, "From": "MAIRIE", "Body": "x", "ValidityPeriod": "1h"}, 21624),
        ({"To": RESIDENT, "From": "MAIRIE", "Body": "x", "SmartEncoded": "yes"}, 400),
        ({"To": RESIDENT, "From": "MAIRIE", "Body": "x", "RiskCheck": "maybe"}, 400),
        ({"To": RESIDENT, "MessagingServiceSid": "MG123", "Body": "x"}, 400),
        ({"To": RESIDENT, "From": "MAIRIE", "Body": "x", "SendAt": "2026-01-01T08:00:00Z"}, 400),
    ],
)
async def test_invalid_requests(srv: FakeTwilioServer, data: dict[str, str], code: int) -> None:
    response = await _raw_post(srv, data)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert [v.code for v in srv.violations] == [code]
    assert srv.messages == []


async def test_valid_optional_parameters_are_accepted(srv: FakeTwilioServer, async_client: Client) -> None:
    message = await async_client.messages.create_async(
        to=RESIDENT,
        from_="MAIRIE",
        body="Coupure d'eau demain 8h-12h",
        status_callback="https://relai.example.org/sms/status?x=1",
        validity_period=36000,
        smart_encoded=True,
        attempt=1,
        risk_check="disable",
    )
    assert message.status == "queued"
    assert srv.messages[0].params["SmartEncoded"] == "true"
    assert srv.violations == []


async def test_scheduled_message(srv: FakeTwilioServer) -> None:
    response = await _raw_post(
        srv,
        {
            "To": RESIDENT,
            "MessagingServiceSid": SERVICE_SID,
            "Body": "Rappel",
            "ScheduleType": "fixed",
            "SendAt": "2026-01-02T08:00:00Z",
        },
    )
    assert response.status_code == 201
    assert response.json()["status"] == "scheduled"


# --------------------------------------------------------------------------------- twilio behaviours


async def test_opted_out_number_is_21610(srv: FakeTwilioServer, async_client: Client) -> None:
    srv.opted_out.add(RESIDENT)
    with pytest.raises(TwilioRestException) as excinfo:
        await async_client.messages.create_async(to=RESIDENT, from_="MAIRIE", body="Info")
    assert (excinfo.value.status, excinfo.value.code) == (400, 21610)
    assert "unsubscribed recipient" in excinfo.value.msg
    assert srv.violations == []  # Twilio behaviour, not a wrong request
    assert srv.messages == []
    ok = await async_client.messages.create_async(to=OTHER_RESIDENT, from_="MAIRIE", body="Info")
    assert ok.status == "queued"


async def test_injected_429_then_success(srv: FakeTwilioServer, async_client: Client) -> None:
    srv.fail_next(status=429, code=20429, times=2, headers={"Retry-After": "1"})
    for _ in range(2):
        with pytest.raises(TwilioRestException) as excinfo:
            await async_client.messages.create_async(to=RESIDENT, from_="MAIRIE", body="x")
        assert (excinfo.value.status, excinfo.value.code) == (429, 20429)
    message = await async_client.messages.create_async(to=RESIDENT, from_="MAIRIE", body="x")
    assert message.status == "queued"
    assert [r.status for r in srv.requests] == [429, 429, 201]
    assert [r.injected for r in srv.requests] == [True, True, False]
    assert srv.violations == []
    assert len(srv.messages) == 1


async def test_injected_fault_for_one_recipient(srv: FakeTwilioServer) -> None:
    srv.fail_next(status=503, code=20503, to=OTHER_RESIDENT)
    first = await _raw_post(srv, {"To": RESIDENT, "From": "MAIRIE", "Body": "x"})
    second = await _raw_post(srv, {"To": OTHER_RESIDENT, "From": "MAIRIE", "Body": "x"})
    third = await _raw_post(srv, {"To": OTHER_RESIDENT, "From": "MAIRIE", "Body": "x"})
    assert [first.status_code, second.status_code, third.status_code] == [201, 503, 201]
    assert second.json()["code"] == 20503


async def test_delay_makes_the_client_time_out(srv: FakeTwilioServer) -> None:
    srv.delay_next(1.0)
    client = srv.client(http_client=TwilioHttpClient(timeout=0.2))
    with pytest.raises(requests.exceptions.Timeout):
        await asyncio.to_thread(client.messages.create, to=RESIDENT, from_="MAIRIE", body="x")
    # like a real server, the slow request is still processed: the message may have gone out
    [message] = await srv.wait_for_messages(1)
    assert srv.requests[0].delayed == 1.0
    assert message.to == RESIDENT


async def test_throughput_is_recorded_not_enforced() -> None:
    async with FakeTwilioServer(mps=10) as srv, httpx.AsyncClient(auth=srv.auth) as http:
        responses = await asyncio.gather(
            *(
                http.post(_messages_url(srv), data={"To": RESIDENT, "From": "MAIRIE", "Body": f"n{i}"})
                for i in range(25)
            )
        )
        assert {r.status_code for r in responses} == {201}  # a burst is never refused...
        assert len(srv.send_times["MAIRIE"]) == 25
        assert srv.max_in_window("MAIRIE", 1.0) == 25
        assert srv.max_in_window("MAIRIE", 1.0, segments=True) == 25
        assert srv.messages[-1].queued_for == pytest.approx(2.4, abs=0.5)  # ...Twilio queues it


async def test_queue_overflow_is_21611() -> None:
    async with FakeTwilioServer(mps=1, queue_limit_seconds=1.5) as srv:
        codes = []
        for _ in range(4):
            response = await _raw_post(srv, {"To": RESIDENT, "From": "MAIRIE", "Body": "x"})
            codes.append(response.status_code if response.status_code == 201 else response.json()["code"])
        assert codes == [201, 201, 21611, 21611]
        assert srv.violations == []


# ----------------------------------------------------------------------------------------------- fetch


async def test_fetch_by_sid(srv: FakeTwilioServer) -> None:
    client = srv.client()
    created = await asyncio.to_thread(client.messages.create, to=RESIDENT, from_="MAIRIE", body="x")
    fetched = await asyncio.to_thread(client.messages(created.sid).fetch)
    assert (fetched.sid, fetched.body, fetched.status) == (created.sid, "x", "queued")

    with pytest.raises(TwilioRestException) as excinfo:
        await asyncio.to_thread(client.messages("SM" + "f" * 32).fetch)
    assert (excinfo.value.status, excinfo.value.code) == (404, 20404)


async def test_unknown_route_and_method(srv: FakeTwilioServer) -> None:
    async with httpx.AsyncClient(auth=srv.auth) as http:
        missing = await http.get(f"{srv.base_url}/2010-04-01/Accounts/{srv.account_sid}/Calls.json")
        wrong_method = await http.delete(_messages_url(srv))
    assert (missing.status_code, missing.json()["code"]) == (404, 20404)
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, 20004)
    assert len(srv.violations) == 2


# --------------------------------------------------------------------------- the account and its numbers


async def test_fetch_account_has_exactly_the_schema_fields(srv: FakeTwilioServer, async_client: Client) -> None:
    account = await async_client.api.v2010.accounts(srv.account_sid).fetch_async()
    assert (account.sid, account.status) == (srv.account_sid, "active")
    async with httpx.AsyncClient(auth=srv.auth) as http:
        body = (await http.get(f"{srv.base_url}/2010-04-01/Accounts/{srv.account_sid}.json")).json()
    assert set(body) == set(load_schema()["account_resource"]["fields"])
    assert body["auth_token"] is None  # never echoed back


async def test_fetch_another_account_is_404_and_wrong_token_401(srv: FakeTwilioServer) -> None:
    async with httpx.AsyncClient(auth=srv.auth) as http:
        other = await http.get(f"{srv.base_url}/2010-04-01/Accounts/{'AC' + '1' * 32}.json")
    assert (other.status_code, other.json()["code"]) == (404, 20404)
    client = Client(srv.account_sid, "wrong-token")
    client.api.base_url = srv.base_url
    with pytest.raises(TwilioRestException) as excinfo:
        await asyncio.to_thread(client.api.v2010.accounts(srv.account_sid).fetch)
    assert (excinfo.value.status, excinfo.value.code) == (401, 20003)


async def test_incoming_numbers_list_and_filter() -> None:
    async with FakeTwilioServer(incoming_numbers=["+262262000001", "+262262000002"]) as srv:
        client = srv.client()
        found = await asyncio.to_thread(client.incoming_phone_numbers.list, phone_number="+262262000002")
        everything = await asyncio.to_thread(client.incoming_phone_numbers.list)
        none = await asyncio.to_thread(client.incoming_phone_numbers.list, phone_number="+33612345678")
        async with httpx.AsyncClient(auth=srv.auth) as http:
            url = f"{srv.base_url}/2010-04-01/Accounts/{srv.account_sid}/IncomingPhoneNumbers.json"
            page = (await http.get(url)).json()
            unknown = await http.get(url, params={"Colour": "blue"})
        assert [number.phone_number for number in found] == ["+262262000002"]
        assert [number.phone_number for number in everything] == ["+262262000001", "+262262000002"]
        assert none == []
        schema = load_schema()
        assert set(page) == set(schema["list_incoming_phone_numbers"]["page_fields"]) | {"incoming_phone_numbers"}
        assert set(page["incoming_phone_numbers"][0]) == set(schema["incoming_phone_number_resource"]["fields"])
        assert (unknown.status_code, unknown.json()["code"]) == (400, 20001)


# ------------------------------------------------------------------------------------ status callbacks


async def test_status_callback_is_signed(srv: FakeTwilioServer, receiver: Receiver) -> None:
    client = srv.client()
    message = await asyncio.to_thread(
        client.messages.create, to=RESIDENT, from_="MAIRIE", body="x", status_callback=receiver.url
    )
    assert await srv.send_status(message.sid, "sent") == 200
    assert await srv.send_status(message.sid, "delivered") == 200

    (url, form, headers), (_, delivered, delivered_headers) = receiver.calls
    assert url == receiver.url
    assert form == {
        "MessageSid": message.sid,
        "MessageStatus": "sent",
        "SmsSid": message.sid,
        "SmsStatus": "sent",
        "AccountSid": srv.account_sid,
        "From": "MAIRIE",
        "To": RESIDENT,
        "ApiVersion": "2010-04-01",
    }
    validator = RequestValidator(srv.auth_token)
    assert validator.validate(url, form, headers["X-Twilio-Signature"])
    assert validator.validate(url, delivered, delivered_headers["X-Twilio-Signature"])
    assert delivered["MessageStatus"] == "delivered"

    # forged: wrong key, or a tampered field, or another URL
    assert not RequestValidator("not-the-token").validate(url, form, headers["X-Twilio-Signature"])
    assert not validator.validate(url, {**form, "MessageStatus": "failed"}, headers["X-Twilio-Signature"])
    assert not validator.validate(url.replace("http://", "https://"), form, headers["X-Twilio-Signature"])
    forged = signed_form(url, "attacker-token", form)["X-Twilio-Signature"]
    assert not validator.validate(url, form, forged)

    fetched = await asyncio.to_thread(client.messages(message.sid).fetch)
    assert fetched.status == "delivered"
    assert fetched.date_sent is not None
    assert [c.status for c in srv.callbacks] == [200, 200]


async def test_failed_status_carries_error_code(srv: FakeTwilioServer, receiver: Receiver) -> None:
    response = await _raw_post(
        srv,
        {"To": RESIDENT, "MessagingServiceSid": SERVICE_SID, "Body": "x", "StatusCallback": receiver.url},
    )
    sid = response.json()["sid"]
    receiver.answer = 500
    assert await srv.send_status(sid, "undelivered", error_code=30003) == 500
    assert await srv.send_status(sid, "failed") == 500
    first, second = (form for _, form, _ in receiver.calls)
    assert first["ErrorCode"] == "30003"
    assert second["ErrorCode"] == "30008"
    assert first["MessagingServiceSid"] == SERVICE_SID
    assert srv.message(sid).error_code == 30008


async def test_send_status_rejects_unknown_status(srv: FakeTwilioServer) -> None:
    response = await _raw_post(srv, {"To": RESIDENT, "From": "MAIRIE", "Body": "x"})
    sid = response.json()["sid"]
    with pytest.raises(ValueError, match="not a message status"):
        await srv.send_status(sid, "lost")
    with pytest.raises(ValueError, match="no StatusCallback"):
        await srv.send_status(sid, "sent")


# --------------------------------------------------------------------------------- inbound webhooks


def test_signed_inbound_webhook() -> None:
    url = "https://relai.example.org/sms/inbound"
    params = inbound_sms_params(RESIDENT, "+262639000000", "STOP", opt_out_type="STOP")
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"]
    assert params["MessageSid"].startswith("SM") and len(params["MessageSid"]) == 34
    assert params["AccountSid"] == DEFAULT_ACCOUNT_SID
    assert (params["From"], params["Body"], params["NumMedia"], params["NumSegments"]) == (
        RESIDENT,
        "STOP",
        "0",
        "1",
    )
    assert (params["FromCountry"], params["SmsStatus"], params["ApiVersion"]) == (
        "RE",
        "received",
        "2010-04-01",
    )
    assert params["OptOutType"] == "STOP"

    headers = signed_form(url, DEFAULT_AUTH_TOKEN, params)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    validator = RequestValidator(DEFAULT_AUTH_TOKEN)
    assert validator.validate(url, params, headers["X-Twilio-Signature"])
    assert not validator.validate(url, {**params, "Body": "START"}, headers["X-Twilio-Signature"])


# ------------------------------------------------------------------------------------ schema & tools


def test_committed_schema_matches_the_spec() -> None:
    spec = REPO_ROOT.parent / "shared" / "specs" / "twilio" / "twilio_api_v2010.json"
    if not spec.is_file():
        pytest.skip("Twilio OpenAPI spec not available (fresh clone): the committed schema is used as is")
    module_spec = importlib.util.spec_from_file_location(
        "derive_twilio_schema", REPO_ROOT / "tools" / "derive_twilio_schema.py"
    )
    assert module_spec is not None and module_spec.loader is not None
    tool = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(tool)
    assert tool.dumps(tool.build(spec)) == SCHEMA_PATH.read_text(encoding="utf-8")


def test_committed_schema_content() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    create = schema["create_message"]
    assert create["required"] == ["To"]
    assert create["conditional"] == [["From", "MessagingServiceSid"], ["Body", "MediaUrl", "ContentSid"]]
    assert create["params"]["Body"]["max_length"] == 1600
    assert (create["params"]["ValidityPeriod"]["minimum"], create["params"]["ValidityPeriod"]["maximum"]) == (
        1,
        36000,
    )
    assert "canceled" in schema["message_enum_status"]
    assert schema["source"]["commit"] == "d50069b44ea8cd23141385bdb6db48f16ff75bb5"


async def test_clear(srv: FakeTwilioServer) -> None:
    await _raw_post(srv, {"To": RESIDENT, "From": "MAIRIE", "Body": "x"})
    await _raw_post(srv, {"To": RESIDENT})
    srv.fail_next(status=500, code=20500)
    srv.clear()
    assert (srv.messages, srv.requests, srv.violations, srv.send_times) == ([], [], [], {})
    response = await _raw_post(srv, {"To": RESIDENT, "From": "MAIRIE", "Body": "x"})
    assert response.status_code == 201


def test_standalone_server_prints_url_and_credentials() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.twilio_api", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Fake Twilio API listening on http://127.0.0.1:")
        base_url = first.rsplit(" ", 1)[-1].strip()
        assert DEFAULT_ACCOUNT_SID in process.stdout.readline()
        response = httpx.post(
            f"{base_url}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json",
            data={"To": RESIDENT, "From": "MAIRIE", "Body": "Bonjour"},
            auth=(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN),
        )
        assert response.status_code == 201
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
