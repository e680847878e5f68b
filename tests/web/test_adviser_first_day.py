"""The issue's "done when", as a fresh install lives it: `make run` on a new clone (an empty embedded
database gets the demo data and its fictional activity), an adviser account made by the real
`relai-bot users create` command, signed in over HTTP to `relai-bot serve`'s app (both channels pointed at
the fake Telegram and Twilio servers), the demo appointments in the agenda, one marked seen and one absent;
the next working morning the outbox worker sends the absent resident the kind follow-up, and it reaches
their phone through python-telegram-bot or twilio, whichever channel they use."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlmodel import col, select
from typer.testing import CliRunner

from relai_bot.cli import app as cli
from relai_bot.clock import FrozenClock
from relai_bot.config import load_settings
from relai_bot.services.appointment_status import next_morning
from relai_bot.store.models import Adviser, Appointment, ChannelAddress, OutboxMessage, Resident, Scheme, Slot
from relai_bot.wiring import build_runtime, prepare_embedded
from tests.conftest import TEST_ADMIN_SECRET
from tests.provider_stack import Site, serving_with_fake_providers

TZ = ZoneInfo("Indian/Reunion")
EMAIL = "claire.payet@mairie-lapossession.re"
PASSWORD = "un mot de passe assez long"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# A Tuesday at 17:00: the afternoon's appointments (Mme Payet at the Ravine à Malheur annex) are over, their
# statuses not filled in yet
TUESDAY_EVENING = datetime(2026, 12, 1, 17, 0, tzinfo=TZ)


class Browser:
    """Someone's browser on /admin over real HTTP: cookies kept, the CSRF token read from each page."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client, self.csrf = client, ""

    async def get(self, path: str) -> httpx.Response:
        response = await self.client.get(path)
        if found := CSRF.search(response.text):
            self.csrf = found.group(1)
        return response

    async def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return await self.client.post(path, data={"csrf": self.csrf, **data})


def _pending_of_payet(site: Site, now: datetime) -> list[tuple[int, str, str, str | None]]:
    """Payet's past appointments still without a status: (id, channel, address, first name), newest first."""
    with site.runtime.db.transaction() as session:
        rows = session.exec(
            select(Appointment.id, ChannelAddress.channel, ChannelAddress.address, Resident.display_name)
            .join(Slot, col(Slot.id) == Appointment.slot_id)
            .join(Adviser, col(Adviser.id) == Slot.adviser_id)
            .join(Resident, col(Resident.id) == Appointment.resident_id)
            .join(ChannelAddress, col(ChannelAddress.resident_id) == Resident.id)
            .where(Adviser.code == "payet", Appointment.status == "booked", Appointment.ends_at <= now)
            .order_by(col(Appointment.starts_at).desc())
        ).all()
    return [(int(i), channel, address, name) for i, channel, address, name in rows if i is not None]


def _starts(site: Site, pending: list[tuple[int, str, str, str | None]]) -> list[object]:
    with site.runtime.db.transaction() as session:
        found = [session.get(Appointment, appointment_id) for appointment_id, *_ in pending]
        return [a.starts_at.astimezone(TZ).date() if a else None for a in found]


def _received(site: Site, channel: str, address: str) -> list[str]:
    if channel == "telegram":
        return site.telegram.texts(int(address))
    return [m.body for m in site.twilio.messages if m.to == address]


async def test_an_adviser_made_by_the_cli_fills_in_the_demo_day_and_the_absent_resident_hears_from_us(
    tmp_path: Path, clock: FrozenClock
) -> None:
    url = f"sqlite:///{tmp_path / 'relai_bot.sqlite3'}"
    clock.set(TUESDAY_EVENING)
    fresh = build_runtime(load_settings(database_url=url, admin_secret_key=TEST_ADMIN_SECRET), clock)
    assert prepare_embedded(fresh) is not None  # what `make run` does to a new clone's empty database
    fresh.close()
    made = CliRunner().invoke(
        cli,
        [
            "users",
            "create",
            "--role",
            "adviser",
            "--email",
            EMAIL,
            "--name",
            "Claire Payet",
            "--adviser",
            "payet",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        env={"RELAI_DATABASE_URL": url, "RELAI_ADMIN_SECRET_KEY": TEST_ADMIN_SECRET},
    )
    assert made.exit_code == 0, made.output
    async with serving_with_fake_providers(url, clock) as site:
        async with httpx.AsyncClient(base_url=site.url, timeout=30) as client:
            browser = Browser(client)
            await browser.get("/admin/login")
            signed_in = await browser.post("/admin/login", {"email": EMAIL, "password": PASSWORD})
            assert signed_in.status_code == 303, signed_in.text[:300]
            pending = _pending_of_payet(site, clock.now())
            assert len(pending) >= 2, "the demo leaves some of this morning's appointments to fill in"
            agenda = await browser.get(f"/admin/agenda?day={TUESDAY_EVENING.date().isoformat()}")
            assert agenda.status_code == 200
            today = [
                p for p, starts in zip(pending, _starts(site, pending), strict=True) if starts == TUESDAY_EVENING.date()
            ]
            named = [name for _, _, _, name in today if name]
            assert named and all(name in agenda.text for name in named)  # the demo's residents, by first name
            assert f"{len(pending)} rendez-vous passé" in agenda.text  # the banner counts them
            (seen_id, *_), (absent_id, channel, address, _name) = pending[0], pending[1]
            await browser.get(f"/admin/appointments/{seen_id}")
            marked = await browser.post(f"/admin/appointments/{seen_id}/status", {"status": "attended"})
            assert marked.status_code == 303
            noted = await browser.post(f"/admin/appointments/{seen_id}/note", {"note": "Cherche un CAP cuisine."})
            assert noted.status_code == 303
            await browser.get(f"/admin/appointments/{absent_id}")
            marked = await browser.post(f"/admin/appointments/{absent_id}/status", {"status": "no_show"})
            assert marked.status_code == 303
            after = await browser.get("/admin/agenda")
            left = len(pending) - 2
            assert (f"{left} rendez-vous passé" in after.text) if left else ("pending-banner" not in after.text)
        with site.runtime.db.transaction() as session:
            seen, absent = session.get(Appointment, seen_id), session.get(Appointment, absent_id)
            assert seen is not None and absent is not None
            assert (seen.status, seen.adviser_note, absent.status) == ("attended", "Cherche un CAP cuisine.", "no_show")
        await asyncio.sleep(1.0)
        assert not any("pas vu" in text for text in _received(site, channel, address))  # not the same day
        clock.set(next_morning(clock.now(), TZ, site.runtime.settings.no_show_follow_up_at) + timedelta(seconds=1))
        for _ in range(300):  # the service's own outbox worker sends it (a bound, not a timing assertion)
            if any("Nous ne vous avons pas vu" in text for text in _received(site, channel, address)):
                break
            await asyncio.sleep(0.1)
        else:
            with site.runtime.db.transaction() as session:
                rows = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "notice")).all()
                states = [(r.status, r.error, r.due_at, r.channel) for r in rows]
            raise AssertionError(f"the follow-up never reached the resident by {channel}: {states}, {clock.now()}")


def test_a_real_service_on_sqlite_gets_the_catalog_without_the_fictional_residents(
    tmp_path: Path, clock: FrozenClock
) -> None:
    url = f"sqlite:///{tmp_path / 'relai_bot.sqlite3'}"
    fresh = build_runtime(load_settings(database_url=url, demo_activity=False), clock)
    try:
        assert prepare_embedded(fresh) is not None
        with fresh.db.transaction() as session:
            assert session.exec(select(Scheme)).first() is not None
            assert session.exec(select(Resident)).first() is None
            assert session.exec(select(Appointment)).first() is None
    finally:
        fresh.close()
