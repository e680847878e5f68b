"""An adviser's day in the browser: created like `relai-bot users create --role adviser --adviser payet`, they
sign in, open today's agenda, mark one appointment seen with a note and another a no-show; the next morning
at 9:00 the outbox worker sends the no-show's kind follow-up, which reaches the resident on the fake Telegram
(`relai-bot serve`'s app, python-telegram-bot for real). axe-core checks every agenda page on the way."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from relai_bot.clock import FrozenClock
from relai_bot.services import accounts
from relai_bot.wiring import Runtime
from tests.agenda_support import appointment_at, local
from tests.browser.harness import axe_violations, screenshot_path, sign_in
from tests.provider_stack import serving_with_fake_providers
from tests.web.residents_support import add_resident

ADVISER = "c.payet@mairie-lapossession.re"
PASSWORD = "un mot de passe assez long"
SEEN_CHAT, ABSENT_CHAT = 7301, 7302


def adviser_account(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        accounts.create_account(
            session,
            email=ADVISER,
            name="Claire Payet",
            role="adviser",
            adviser="payet",
            now=runtime.clock.now(),
            password=PASSWORD,
        )


async def accessible(page: Any, name: str) -> None:
    violations = await axe_violations(page)
    assert violations == [], f"{name}: " + "; ".join(str(v) for v in violations)
    await page.screenshot(path=str(screenshot_path(name)), full_page=True)


async def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait for the app's own workers (no assertion on how long they take, a bound so a failure ends)."""
    for _ in range(int(timeout / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def test_an_adviser_marks_seen_and_no_show_and_the_resident_gets_the_follow_up(
    tmp_path: Path, clock: FrozenClock, page: Any
) -> None:
    async with serving_with_fake_providers(f"sqlite:///{tmp_path / 'relai.sqlite3'}", clock) as site:
        runtime = site.runtime
        adviser_account(runtime)
        # Tuesday 1 December, 10:00 in La Réunion: two of this morning's appointments are over
        seen = add_resident(runtime, str(SEEN_CHAT), channel="telegram", name="Marie", age="18-25")
        absent = add_resident(runtime, str(ABSENT_CHAT), channel="telegram", name="Paul")
        later = add_resident(runtime, "+262692000003", name="Jade")
        appointment_at(
            runtime, seen, local(2026, 12, 1, 8, 0), venue="annexe-ravine-a-malheur", scheme="cej", channel="telegram"
        )
        appointment_at(runtime, absent, local(2026, 12, 1, 8, 45), venue="annexe-ravine-a-malheur", channel="telegram")
        appointment_at(runtime, later, local(2026, 12, 1, 14, 15), venue="annexe-ravine-a-malheur", scheme=None)

        await sign_in(page, site.url, ADVISER, PASSWORD)
        banner = page.get_by_role("link", name="2 rendez-vous passés sans statut")
        assert await banner.count() == 1
        await page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Agenda").click()
        await page.wait_for_url(f"{site.url}/admin/agenda")
        assert await page.get_by_role("heading", level=1).inner_text() == "Agenda : mardi 1er décembre"
        table = page.get_by_role("table")
        assert [" ".join((await row.inner_text()).split()) for row in await table.get_by_role("rowheader").all()] == [
            "Marie : rendez-vous de 8 h",
            "Paul : rendez-vous de 8 h 45",
            "Jade : rendez-vous de 14 h 15",
        ]
        await accessible(page, "agenda_day")

        # Marie came: seen, with a note
        await page.get_by_role("link", name="Marie : rendez-vous de 8 h").click()
        await page.wait_for_url(re.compile(r"/admin/appointments/\d+$"))
        assert "18 à 25 ans" in await page.locator("dl.facts").inner_text()
        await accessible(page, "appointment")
        await page.get_by_label("Venu").check()
        await page.get_by_role("button", name="Enregistrer le statut").click()
        status = page.get_by_role("status").first
        await status.get_by_text("Le rendez-vous est marqué « Venu ».").wait_for()
        await page.get_by_label("Note sur le rendez-vous").fill("CV revu ; inscription à l'atelier de jeudi.")
        await page.get_by_role("button", name="Enregistrer la note").click()
        await page.get_by_role("status").first.get_by_text("La note est enregistrée.").wait_for()
        assert await page.get_by_label("Note sur le rendez-vous").input_value() == (
            "CV revu ; inscription à l'atelier de jeudi."
        )

        # Paul did not come: a no-show, from the list of past ones without a status
        await page.get_by_role("link", name="1 rendez-vous passé sans statut").click()
        await page.wait_for_url(f"{site.url}/admin/agenda/pending")
        await accessible(page, "agenda_pending")
        await page.get_by_role("link", name="Paul : rendez-vous de 8 h 45").click()
        await page.get_by_label("Absent").check()
        await page.get_by_role("button", name="Enregistrer le statut").click()
        done = page.get_by_role("status").first
        await done.get_by_text(re.compile("L'habitant recevra mercredi 2 décembre à 9 h un message")).wait_for()
        assert await page.get_by_text("sans statut").count() == 0  # the banner is gone

        # The week and the calendar feed's page pass the same checks
        await page.goto(f"{site.url}/admin/agenda?day=2026-12-01&view=week")
        await accessible(page, "agenda_week")
        await page.goto(f"{site.url}/admin/agenda/feed")
        await page.get_by_role("button", name="Créer le lien").click()
        assert "/calendar/" in await page.locator(".feed-url code").inner_text()
        await accessible(page, "agenda_feed")
        await page.set_viewport_size({"width": 320, "height": 640})
        for path in ("/admin/agenda", "/admin/agenda/pending", "/admin/agenda?view=week"):
            await page.goto(f"{site.url}{path}")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at 320 px"

        # Nothing goes before the next morning; at 9:00 the outbox worker sends Paul the follow-up
        await asyncio.sleep(1)  # a few of the worker's polls (0.2 s): nothing is due yet
        assert site.telegram.texts(ABSENT_CHAT) == [] and site.telegram.texts(SEEN_CHAT) == []
        clock.advance(hours=23)  # Wednesday 2 December, 09:00 in La Réunion
        await eventually(lambda: bool(site.telegram.texts(ABSENT_CHAT)), "the follow-up reaching Paul")
        (follow_up,) = site.telegram.texts(ABSENT_CHAT)
        assert follow_up.startswith("Bonjour. Nous ne vous avons pas vu à votre rendez-vous de mardi 1er décembre.")
        assert site.telegram.texts(SEEN_CHAT) == []
