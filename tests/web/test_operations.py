"""/metrics and /readyz on the app `serve` runs, both channels against the fake Telegram and Twilio servers.

/metrics: off without RELAI_METRICS_TOKEN, refused without the right bearer token, and its counters move
while residents write on Telegram and by SMS and the outbox sends. /readyz: 200 when all is well, 503 with
the reason when the Telegram webhook is gone, Twilio refuses the credentials, polling's token is refused,
a reminder waits past its time, or nobody sends on an outbox lane.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from relai_bot.channels.sms.channel import INBOUND_PATH
from relai_bot.clock import FrozenClock
from relai_bot.delivery.leadership import LaneLock
from relai_bot.services import outbox
from relai_bot.store.db import Database
from relai_bot.web.app import create_app
from relai_bot.web.operations import Figures, readiness
from tests.app_server import bound_socket, serving, url_of
from tests.conftest import TEST_ADMIN_SECRET, make_runtime
from tests.delivery_support import add_residents
from tests.fakes.twilio_api import inbound_sms_params, signed_form
from tests.paths import REPO
from tests.provider_stack import Site, serving_with_fake_providers
from tests.sms_harness import TWO_WAY
from tests.telegram_harness import RELAXED_CHANNEL, TOKEN, telegram_stack

# 10:00 in La Possession, a Tuesday: inside the sending hours
MORNING = datetime(2026, 12, 8, 6, 0, tzinfo=UTC)
METRICS_TOKEN = "a-metrics-token-for-the-tests-0123456789"
BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@asynccontextmanager
async def site_and_client(sqlite_url: str, **settings: Any) -> AsyncIterator[tuple[Site, httpx.AsyncClient]]:
    async with (
        serving_with_fake_providers(sqlite_url, FrozenClock(MORNING), **settings) as site,
        httpx.AsyncClient(base_url=site.url, timeout=30) as client,
    ):
        yield site, client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page by (name, sorted labels)."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(page: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


async def text_by_sms(site: Site, client: httpx.AsyncClient, number: str, body: str) -> None:
    params = inbound_sms_params(number, TWO_WAY, body, message_sid="SM" + uuid.uuid4().hex)
    headers = signed_form(site.url + INBOUND_PATH, site.twilio.auth_token, params)
    response = await client.post(INBOUND_PATH, data=params, headers=headers)
    assert response.status_code == 200, response.text


async def eventually(check: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.1)


# -- /metrics ----------------------------------------------------------------------------------------------
async def test_metrics_are_off_without_a_token_and_refused_without_the_right_one(sqlite_url: str) -> None:
    async with site_and_client(sqlite_url) as (_site, client):
        off = await client.get("/metrics", headers=BEARER)
        assert off.status_code == 404 and "RELAI_METRICS_TOKEN" in off.text
    async with site_and_client(sqlite_url, metrics_token=METRICS_TOKEN) as (_site, client):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {METRICS_TOKEN}"}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert "relai_" not in refused.text
        page = await scrape(client)
        assert value(page, "process_resident_memory_bytes") > 0


async def test_the_counters_move_while_residents_write_and_the_outbox_sends(sqlite_url: str) -> None:
    async with site_and_client(sqlite_url, metrics_token=METRICS_TOKEN) as (site, client):
        before = await scrape(client)
        # A resident on Telegram (the fake delivers the update to the webhook) and one by SMS
        site.telegram.user_message(8001, "bonjour")
        await text_by_sms(site, client, "+262692555001", "bonjour")

        async def both_answered() -> bool:
            return bool(site.telegram.texts(8001)) and any(m.to == "+262692555001" for m in site.twilio.messages)

        await eventually(both_answered)
        # A notice to a resident on Telegram: the outbox worker sends it
        with site.runtime.db.transaction() as session:
            now = site.runtime.clock.now()
            (resident,) = add_residents(session, 1, now, first_address=8002)
            note = {"channel": "telegram", "address": "8002", "now": now, "resident_id": resident}
            outbox.enqueue(session, key="t:1", kind="notification", body="Votre conseiller vous rappelle.", **note)
            # ... and a notice about an appointment that does not exist: skipped, and counted so
            outbox.enqueue(session, key="t:2", kind="notice", body="Votre rendez-vous change.", **note)

        async def notice_sent() -> bool:
            page = await scrape(client)
            sent = value(page, "relai_outbox_sends_total", kind="notification", result="sent")
            return sent > value(before, "relai_outbox_sends_total", kind="notification", result="sent")

        await eventually(notice_sent)
        after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    for channel in ("telegram", "sms"):
        assert moved("relai_turns_total", channel=channel, flow="onboarding") == 1, channel
        assert moved("relai_turn_seconds_count", channel=channel) >= 1
        assert moved("relai_replies_total", channel=channel) >= 1
    assert moved("relai_provider_answers_total", channel="telegram", outcome="accepted", code="200") >= 2
    assert moved("relai_provider_answers_total", channel="sms", outcome="accepted", code="201") >= 1
    assert value(after, "relai_outbox_rows", kind="notification", status="sent") == 1
    assert value(after, "relai_outbox_rows", kind="notice", status="skipped") == 1
    assert moved("relai_outbox_skipped_total", kind="notice", reason="appointment_gone") == 1
    assert value(after, "relai_outbox_lane_here", channel="telegram") == 1
    assert value(after, "relai_broadcasts_in_flight") == 0
    assert value(after, "relai_turn_failures_total", channel="telegram", reason="error") == value(
        before, "relai_turn_failures_total", channel="telegram", reason="error"
    )


def test_the_grafana_dashboard_reads_only_what_metrics_shows(sqlite_url: str) -> None:
    """Every series docs/grafana-dashboard.json queries is one /metrics exposes (a renamed counter would
    leave an empty panel): the names come from a real scrape's families, the outbox's included."""
    dashboard = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(?:relai|process)_[a-z_]+", target["expr"])
    }
    runtime = make_runtime(
        sqlite_url, FrozenClock(MORNING), metrics_token=METRICS_TOKEN, admin_secret_key=TEST_ADMIN_SECRET
    )
    try:
        with runtime.db.transaction() as session:  # one row, so that the outbox's families have a sample
            (resident,) = add_residents(session, 1, MORNING, first_address=9002)
            outbox.enqueue(
                session,
                key="n:1",
                kind="notification",
                channel="telegram",
                address="9002",
                now=MORNING,
                body="Bonjour",
                resident_id=resident,
            )
        with TestClient(create_app(runtime, with_scheduler=False)) as client:
            page = client.get("/metrics", headers=BEARER)
        assert page.status_code == 200
        exposed = set()
        for family in text_string_to_metric_families(page.text):
            exposed.add(family.name)
            exposed.update(sample.name for sample in family.samples)
            if family.type == "counter":
                exposed.add(f"{family.name}_total")
            if family.type == "histogram":
                exposed.update(f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum"))
    finally:
        runtime.close()
    assert queried - exposed == set()
    assert len(queried) >= 12


# -- /readyz -----------------------------------------------------------------------------------------------
async def test_ready_when_all_is_well_then_not_when_the_telegram_webhook_is_gone(sqlite_url: str) -> None:
    async with site_and_client(sqlite_url) as (site, client):
        # The outbox worker takes its lanes on its first pass
        async def lanes_taken() -> bool:
            body = (await client.get("/readyz")).json()
            return set(body.get("outbox", {}).get("lanes", {}).values()) == {"here"}

        await eventually(lanes_taken)
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready" and body["problems"] == []
        assert body["channels"]["telegram"]["state"] == "webhook" and body["channels"]["telegram"]["ok"]
        assert body["channels"]["sms"] == {
            "ok": True,
            "state": "sending",
            "problem": None,
            "last_accepted_at": None,
            "last_refusal": None,
            "last_refusal_at": None,
        }
        assert body["database"]["ok"] and body["database"]["schema"]
        # Telegram out of reach for a moment says nothing of the webhook: still ready
        channel = next(c for c in site.channels if c.name == "telegram")
        site.telegram.fail_next("getWebhookInfo", status=502)
        channel._webhook_seen = None  # type: ignore[attr-defined]  # the check's 30 s memory, skipped
        assert (await client.get("/readyz")).status_code == 200
        assert site.telegram.calls_to("getWebhookInfo")[-1].status == 502
        # Someone removes the webhook at Telegram (another deployment with the same token, say)
        telegram = site.runtime.settings.telegram_api_url
        async with httpx.AsyncClient() as bot_api:
            assert (await bot_api.post(f"{telegram}{TOKEN}/deleteWebhook")).json()["ok"]
        channel._webhook_seen = None  # type: ignore[attr-defined]  # the check's 30 s memory, skipped
        gone = await client.get("/readyz")
        assert gone.status_code == 503
        (problem,) = gone.json()["problems"]
        assert problem.startswith("telegram: Telegram's webhook is 'not set'")


async def test_not_ready_when_twilio_refuses_the_credentials(sqlite_url: str) -> None:
    async with site_and_client(sqlite_url) as (site, client):
        site.twilio.fail_next(status=401, code=20003, message="Authenticate", times=20)
        await text_by_sms(site, client, "+262692555002", "bonjour")

        async def refused() -> bool:
            return (await client.get("/readyz")).status_code == 503

        await eventually(refused)
        body = (await client.get("/readyz")).json()
        assert any(p.startswith("sms: the provider refused the credentials (code 20003)") for p in body["problems"])
        assert body["channels"]["sms"]["last_refusal"] == "invalid 20003"
        site.twilio.clear()
        # Fixed: the next accepted SMS makes it ready again
        await text_by_sms(site, client, "+262692555003", "bonjour")

        async def accepted_again() -> bool:
            return (await client.get("/readyz")).json()["channels"]["sms"]["ok"]

        await eventually(accepted_again)


async def test_a_reminder_late_past_the_limit_makes_it_not_ready_a_broadcast_never(sqlite_url: str) -> None:
    # No outbox worker in this app (with_scheduler=False is what the test helpers use for that): rows wait
    from datetime import UTC, datetime

    from relai_bot.clock import FrozenClock
    from tests.delivery_support import add_residents

    clock = FrozenClock(datetime(2026, 12, 8, 6, 0, tzinfo=UTC))
    runtime = make_runtime(sqlite_url, clock, ready_backlog_seconds=300, admin_secret_key=TEST_ADMIN_SECRET)
    try:
        with runtime.db.transaction() as session:
            (resident,) = add_residents(session, 1, clock.now(), first_address=9001)
            outbox.enqueue(
                session,
                key="b:1",
                kind="broadcast",
                channel="telegram",
                address="9001",
                now=clock.now() - timedelta(hours=2),
                body="Forum",
                resident_id=resident,
            )
        app = create_app(runtime, with_scheduler=False)
        sock = bound_socket()
        async with serving(app, sock), httpx.AsyncClient(base_url=url_of(sock)) as client:
            calm = await client.get("/readyz")
            assert calm.status_code == 200, calm.text
            assert calm.json()["outbox"]["oldest_due_seconds"] == {"broadcast": 7200.0}
            assert calm.json()["outbox"]["broadcasts_in_flight"] == 0  # not one of a broadcast row's own
            with runtime.db.transaction() as session:
                outbox.enqueue(
                    session,
                    key="r:1",
                    kind="reminder",
                    channel="telegram",
                    address="9001",
                    now=clock.now() - timedelta(seconds=301),
                    body="Rappel",
                    resident_id=resident,
                )
            late = await client.get("/readyz")
            assert late.status_code == 503
            assert late.json()["problems"] == ["outbox: a reminder has waited 301 s past its time"]
    finally:
        runtime.close()


def test_readiness_names_each_problem() -> None:
    backlog = outbox.Backlog(rows={}, waited={"notice": 10.0}, broadcasts_in_flight=2)
    figures = Figures(revision="0009_old", backlog=backlog, lanes={"telegram": "elsewhere", "sms": "nobody"})
    body = readiness(figures, "0010_new", {}, late_after=300)
    assert body["problems"] == [
        "the database schema is at 0009_old, not 0010_new: run relai-bot db upgrade",
        "sms: no instance sends the outbox (reminders, broadcasts)",
    ]
    assert body["outbox"]["broadcasts_in_flight"] == 2


@pytest.mark.postgres
def test_a_lane_held_by_another_instance_is_seen_from_this_one(postgres_url: str) -> None:
    here, there = Database(postgres_url), Database(postgres_url)
    try:
        mine, theirs = LaneLock(here, "telegram"), LaneLock(there, "telegram")
        assert not mine.holding and not mine.taken_elsewhere()
        assert theirs.held() and theirs.holding
        assert not mine.held()  # the other instance has it
        assert mine.taken_elsewhere() and not mine.holding
        theirs.release()
        assert not mine.taken_elsewhere()
    finally:
        here.dispose()
        there.dispose()


async def test_polling_is_healthy_while_get_updates_answers_and_not_once_the_token_is_refused(
    sqlite_url: str, clock: FrozenClock
) -> None:
    quick = {**RELAXED_CHANNEL, "telegram_poll_seconds": 1}  # a long poll of 1 s: the refusal comes soon
    async with telegram_stack(sqlite_url, clock, mode="polling", settings=quick) as stack:
        await stack.resident().send("bonjour")  # answered: polling runs
        health = await stack.channel.health()
        assert (health.ok, health.state, health.problem) == (True, "polling", None)
        assert health.last_accepted_at is not None
        # BotFather revoked the token: every call answers 401 from now on
        stack.srv.fail_next("*", status=401, times=1000)

        async def stopped() -> bool:
            return not (await stack.channel.health()).ok

        await eventually(stopped)
        health = await stack.channel.health()
        assert health.problem == "Telegram refused the token (RELAI_TELEGRAM_TOKEN): polling stopped"
