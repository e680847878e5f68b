"""District posters in a real browser: the list and one poster are accessible (axe-core), the poster printed
(print media) shows no navigation and fits one A4 page, and its QR code, read from the screenshot by a real
decoder (zxing-cpp), is the district's deep link, which presets the district when followed."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image
from sqlmodel import select

from relai_bot.clock import FrozenClock
from relai_bot.store.models import District, Resident
from relai_bot.testing.driver import Driver
from relai_bot.wiring import Runtime
from tests.browser.harness import axe_violations, screenshot_path, sign_in
from tests.conftest import make_runtime
from tests.web.admin_support import PASSWORD, make_account

BOT = "RelaiPossessionBot"
LINK = f"https://t.me/{BOT}?start=moulin-joli"


@pytest.fixture
def runtime(sqlite_url: str, clock: FrozenClock) -> Iterator[Runtime]:
    """The service with its bot's username and a two-way SMS number (the `site` fixture serves it)."""
    rt = make_runtime(sqlite_url, clock, telegram_bot_username=BOT, twilio_from="+262692500600")
    yield rt
    rt.close()


def read_qr_codes(png: bytes) -> list[str]:
    return [str(found.text) for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


async def test_a_poster_prints_alone_and_its_qr_code_presets_the_district(
    runtime: Runtime, site: str, page: Any
) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    await sign_in(page, site, "agent@mairie.re", PASSWORD)
    await page.goto(f"{site}/admin/posters")
    assert (await page.title()).startswith("Affiches des quartiers")
    assert await axe_violations(page) == []
    await page.screenshot(path=str(screenshot_path("posters")), full_page=True)

    await page.get_by_role("link", name="Affiche : Moulin Joli").click()
    await page.wait_for_url(f"{site}/admin/posters/moulin-joli")
    assert await page.locator("h1").count() == 1
    violations = await axe_violations(page)
    assert violations == [], "; ".join(str(v) for v in violations)
    qr = page.get_by_role("img", name=re.compile("Code QR du quartier Moulin Joli"))
    assert await qr.count() == 1
    await page.screenshot(path=str(screenshot_path("poster")), full_page=True)

    await page.emulate_media(media="print")
    await page.set_viewport_size({"width": 794, "height": 1123})  # an A4 sheet at 96 dpi
    assert not await page.locator(".site-header").is_visible()
    assert not await page.get_by_role("heading", name="Affiche du quartier Moulin Joli").is_visible()
    assert await page.get_by_text("moulin joli", exact=True).is_visible()  # the word to send by SMS
    assert await page.get_by_text("0692 50 06 00", exact=True).is_visible()
    printed = await page.screenshot(path="/tmp/posters/poster_print.png", full_page=True)
    assert read_qr_codes(printed) == [LINK]
    pdf = await page.pdf(prefer_css_page_size=True, print_background=True)
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 1  # one A4 sheet

    (payload,) = parse_qs(urlsplit(read_qr_codes(printed)[0]).query)["start"]
    chat = Driver(runtime).resident(channel="telegram")
    await chat.start(payload)
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Oui")
    assert "Votre quartier : Moulin Joli." in chat.text
    with runtime.db.transaction() as session:
        resident = session.exec(select(Resident)).one()
        assert session.get(District, resident.district_id).code == "moulin-joli"  # type: ignore[union-attr]


async def test_the_poster_reads_at_320_px(runtime: Runtime, site: str, page: Any) -> None:
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    await sign_in(page, site, "agent@mairie.re", PASSWORD)
    await page.set_viewport_size({"width": 320, "height": 800})
    await page.goto(f"{site}/admin/posters/saint-laurent")
    assert await axe_violations(page) == []
    overflow = await page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    assert not overflow
    await page.screenshot(path="/tmp/posters/poster_320.png", full_page=True)
