"""A broadcast from the browser to the phones: a staff member signs in, composes a broadcast to one district,
reads the preview, sends it, and sees it delivered in the report, against the fake Telegram and Twilio
servers (python-telegram-bot and twilio run for real; `relai-bot serve`'s app with its outbox worker)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlmodel import select

from relai_bot.clock import FrozenClock
from relai_bot.services import accounts
from relai_bot.store.models import Broadcast
from relai_bot.wiring import Runtime
from tests.browser.harness import axe_violations, screenshot_path, sign_in
from tests.provider_stack import (
    OTHER_DISTRICT_CHAT,
    SMS_NUMBER,
    TELEGRAM_CHATS,
    add_fictional_residents,
    serving_with_fake_providers,
)

AGENT = "agent.saint-laurent@mairie-lapossession.re"
PASSWORD = "un mot de passe assez long"


def staff_member(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        accounts.create_account(
            session,
            email=AGENT,
            name="Agent Saint-Laurent",
            role="staff",
            districts=["saint-laurent"],
            now=runtime.clock.now(),
            password=PASSWORD,
        )


async def test_a_broadcast_composed_in_the_browser_reaches_the_phones(
    tmp_path: Path, clock: FrozenClock, page: Any
) -> None:
    async with serving_with_fake_providers(f"sqlite:///{tmp_path / 'relai.sqlite3'}", clock) as site:
        add_fictional_residents(site.runtime)
        staff_member(site.runtime)
        await sign_in(page, site.url, AGENT, PASSWORD)
        await page.get_by_role("link", name="Diffusions").first.click()
        await page.get_by_role("link", name="Écrire une diffusion").click()
        assert (await page.title()).startswith("Écrire une diffusion")
        # Only the staff member's own district is offered
        assert await page.get_by_label("Pichette").count() == 0
        await page.get_by_label("Saint-Laurent").check()
        await page.get_by_label("Titre (facultatif)").fill("Forum de l'emploi")
        await page.get_by_label("Message").fill("Bonjour {{ prenom }} ! Venez samedi avec votre CV.")
        # The live preview (htmx) comes without pressing anything
        preview = page.locator("#apercu")
        await preview.get_by_text("3 habitants : 2 par Telegram, 1 par SMS.").wait_for(timeout=10_000)
        assert "Bonjour Marie ! Venez samedi avec votre CV." in await preview.inner_text()
        assert await axe_violations(page) == []
        await page.screenshot(path=str(screenshot_path("broadcast_preview")), full_page=True)
        # Without JavaScript's help too: the preview button shows the same
        await page.get_by_role("button", name="Voir l'aperçu").click()
        await page.wait_for_load_state()
        text = await page.locator("#apercu").inner_text()
        assert "1 habitant par SMS, 1 partie au plus chacun, 1 en tout : 0.07 EUR" in text
        await page.get_by_role("button", name=re.compile(r"^Envoyer à 3 habitants")).click()
        await page.wait_for_url(re.compile(r"/admin/broadcasts/\d+$"))
        assert "La diffusion est partie vers 3 habitants" in await page.get_by_role("status").first.inner_text()

        # The outbox worker delivers: two Telegram messages, one SMS (the page follows, polling with htmx)
        state = page.locator("#progress-annonce")
        await state.get_by_text("Terminée. Messages : 3 envoyés.").wait_for(timeout=20_000)
        (sms,) = site.twilio.messages
        assert sms.to == SMS_NUMBER and sms.body.startswith("Forum de l'emploi\nBonjour Marie !")
        # Then Twilio reports the SMS delivered: the page keeps listening for it
        assert await site.twilio.send_status(sms.sid, "delivered") == 204
        await state.get_by_text(re.compile("remis")).wait_for(timeout=20_000)
        assert await state.inner_text() == "Terminée. Messages : 2 envoyés, 1 remis."
        for chat_id in TELEGRAM_CHATS:
            (received,) = site.telegram.texts(chat_id)
            assert received.startswith("Forum de l'emploi\n\nBonjour !") and "avec votre CV." in received
        assert site.telegram.texts(OTHER_DISTRICT_CHAT) == []
        report = await page.locator("main").inner_text()
        assert "Saint-Laurent" in report and "Pichette" not in report
        assert await axe_violations(page) == []
        await page.screenshot(path=str(screenshot_path("broadcast_report")), full_page=True)
        with site.runtime.db.transaction() as session:
            (broadcast,) = session.exec(select(Broadcast)).all()
            assert broadcast.recipients == 3 and broadcast.created_by == AGENT
