"""Hostile requests to the webhooks of `serve` (both channels, a real server on 127.0.0.1): forged, unsigned,
replayed, oversized (declared or streamed), malformed, of the wrong type or method. Each is refused with
its 4xx, never a 500, and leaves no row behind; a replayed genuine request is answered and handled once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from relai_bot.channels.sms.channel import INBOUND_PATH, STATUS_PATH
from relai_bot.channels.telegram.channel import SECRET_HEADER, WEBHOOK_PATH
from relai_bot.clock import FrozenClock
from relai_bot.store.models import ChannelAddress, Conversation, MessageLog, OutboxMessage, ProcessedMessage, Resident
from relai_bot.web.limits import MAX_BODY_BYTES
from tests.conftest import START
from tests.fakes.twilio_api import inbound_sms_params, signed_form
from tests.proof import record
from tests.provider_stack import Site, serving_with_fake_providers
from tests.sms_harness import TWO_WAY

pytestmark = pytest.mark.proof  # its figures go to docs/reliability.md (`make proof`)

TABLES = (Resident, ChannelAddress, Conversation, ProcessedMessage, MessageLog, OutboxMessage)
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def site(sqlite_url: str) -> AsyncIterator[Site]:
    async with serving_with_fake_providers(sqlite_url, FrozenClock(START)) as running:
        yield running


def stored(site: Site) -> dict[str, int]:
    with site.runtime.db.transaction() as session:
        return {t.__tablename__: session.exec(select(func.count()).select_from(t)).one() for t in TABLES}  # type: ignore[attr-defined]


def secret(site: Site) -> str:
    channel: Any = next(c for c in site.channels if c.name == "telegram")
    return str(channel.secret)


def update(chat: int, text: str, update_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_796_000_000,
            "chat": {"id": chat, "type": "private", "first_name": "Test"},
            "from": {"id": chat, "is_bot": False, "first_name": "Test"},
            "text": text,
        },
    }


def sms_form(body: str = "bonjour", sid: str | None = None) -> dict[str, str]:
    return inbound_sms_params("+262692777001", TWO_WAY, body, message_sid=sid or "SM" + uuid.uuid4().hex)


async def streamed(size: int) -> AsyncIterator[bytes]:
    """A body sent in chunks without a Content-Length (chunked transfer)."""
    chunk = b"a" * 65_536
    for _ in range(size // len(chunk) + 1):
        yield chunk


Attack = Callable[[httpx.AsyncClient, Site], Any]


def telegram_attacks() -> dict[str, tuple[Attack, int]]:
    def json_post(body: Any, headers: Callable[[Site], dict[str, str]]) -> Attack:
        return lambda client, site: client.post(WEBHOOK_PATH, json=body, headers=headers(site))

    good = update(8100, "bonjour", 5_000_001)
    signed = lambda site: {SECRET_HEADER: secret(site)}  # noqa: E731
    return {
        "no secret": (json_post(good, lambda site: {}), 403),
        "a wrong secret": (json_post(good, lambda site: {SECRET_HEADER: "not-the-secret"}), 403),
        "another bot's secret, longer": (json_post(good, lambda site: {SECRET_HEADER: secret(site) + "x"}), 403),
        "not JSON": (
            lambda client, site: client.post(
                WEBHOOK_PATH, content=b"{update", headers=signed(site) | {"Content-Type": "application/json"}
            ),
            400,
        ),
        "a JSON list": (json_post([good], signed), 400),
        "a form": (lambda client, site: client.post(WEBHOOK_PATH, data={"update_id": "1"}, headers=signed(site)), 415),
        "declared too large": (
            lambda client, site: client.post(
                WEBHOOK_PATH,
                content=b" " * (MAX_BODY_BYTES + 1),
                headers=signed(site) | {"Content-Type": "application/json"},
            ),
            413,
        ),
        "streamed too large": (
            lambda client, site: client.post(
                WEBHOOK_PATH,
                content=streamed(MAX_BODY_BYTES * 2),
                headers=signed(site) | {"Content-Type": "application/json"},
            ),
            413,
        ),
        "a GET": (lambda client, site: client.get(WEBHOOK_PATH, headers=signed(site)), 405),
        "an update without an id": (json_post({"message": good["message"]}, signed), 200),
    }


def sms_attacks() -> dict[str, tuple[Attack, int]]:
    def form_post(headers: Callable[[Site, dict[str, str]], dict[str, str]], path: str = INBOUND_PATH) -> Attack:
        def attack(client: httpx.AsyncClient, site: Site) -> Any:
            form = sms_form()
            return client.post(path, data=form, headers=headers(site, form))

        return attack

    return {
        "unsigned": (form_post(lambda site, form: {"Content-Type": FORM}), 403),
        "signed with another token": (
            form_post(lambda site, form: signed_form(site.url + INBOUND_PATH, "f" * 32, form)),
            403,
        ),
        "signed for another address": (
            form_post(
                lambda site, form: signed_form("https://evil.example" + INBOUND_PATH, site.twilio.auth_token, form)
            ),
            403,
        ),
        "a signature over other fields": (
            form_post(
                lambda site, form: signed_form(site.url + INBOUND_PATH, site.twilio.auth_token, form | {"Body": "x"})
            ),
            403,
        ),
        "JSON": (lambda client, site: client.post(INBOUND_PATH, json=sms_form()), 415),
        "multipart": (lambda client, site: client.post(INBOUND_PATH, files={"Body": ("a.txt", b"bonjour")}), 415),
        "garbage as a form": (
            lambda client, site: client.post(INBOUND_PATH, content=b"\xff\xfe%%%=&&==", headers={"Content-Type": FORM}),
            403,
        ),
        "declared too large": (
            lambda client, site: client.post(
                INBOUND_PATH, content=b"Body=" + b"a" * (MAX_BODY_BYTES + 1), headers={"Content-Type": FORM}
            ),
            413,
        ),
        "streamed too large": (
            lambda client, site: client.post(
                INBOUND_PATH, content=streamed(MAX_BODY_BYTES * 2), headers={"Content-Type": FORM}
            ),
            413,
        ),
        "a status callback unsigned": (form_post(lambda site, form: {"Content-Type": FORM}, STATUS_PATH), 403),
        "a GET": (lambda client, site: client.get(INBOUND_PATH), 405),
    }


ATTACKS = {f"telegram: {k}": v for k, v in telegram_attacks().items()} | {
    f"sms: {k}": v for k, v in sms_attacks().items()
}


async def test_each_hostile_request_is_refused_with_its_4xx_and_leaves_nothing(site: Site) -> None:
    answers: dict[str, int] = {}
    written: dict[str, dict[str, int]] = {}  # attack: rows it added or removed, by table
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as client:
        for name, (attack, _expected) in ATTACKS.items():
            before = stored(site)
            response = await attack(client, site)
            answers[name] = response.status_code
            after = stored(site)
            if changed := {table: after[table] - before[table] for table in after if after[table] != before[table]}:
                written[name] = changed
    replies = len(site.telegram.sent_messages()) + len(site.twilio.messages)
    refused = Counter(code for code in answers.values() if 400 <= code < 500)
    record(
        "webhook_attacks",
        requests_tried=len(answers),
        **{f"refused_{code}": count for code, count in sorted(refused.items())},
        accepted_and_ignored=sum(200 <= code < 300 for code in answers.values()),
        wrong_status=sum(answers[name] != expected for name, (_attack, expected) in ATTACKS.items()),
        server_errors=sum(code >= 500 for code in answers.values()),
        rows_written=sum(abs(n) for changed in written.values() for n in changed.values()),
        replies_to_an_attack=replies,
    )
    assert written == {}, f"rows were written: {written}"
    assert answers == {name: expected for name, (_attack, expected) in ATTACKS.items()}
    assert not any(code >= 500 for code in answers.values())
    assert replies == 0  # nobody was answered


async def test_a_replayed_genuine_request_is_answered_and_handled_once(site: Site) -> None:
    statuses: list[int] = []
    once = 0  # genuine requests whose second delivery wrote nothing
    async with httpx.AsyncClient(base_url=site.url, timeout=30) as client:
        telegram = update(8200, "bonjour", 5_000_100)
        headers = {SECRET_HEADER: secret(site)}
        form = sms_form(sid="SM" + "1" * 32)
        signed = signed_form(site.url + INBOUND_PATH, site.twilio.auth_token, form)
        for send in (
            lambda: client.post(WEBHOOK_PATH, json=telegram, headers=headers),
            lambda: client.post(INBOUND_PATH, data=form, headers=signed),
        ):
            statuses.append((await send()).status_code)
            after_first = stored(site)
            statuses.append((await send()).status_code)
            once += stored(site) == after_first
    with site.runtime.db.transaction() as session:
        handled = session.exec(select(func.count()).select_from(ProcessedMessage)).one()
    record("webhook_attacks", genuine_requests_sent_twice=2, genuine_requests_handled_once=once)
    assert statuses == [200, 200, 200, 200]
    assert once == 2
    assert handled == 2  # one Telegram update, one SMS: each once
