"""District posters in /admin: the list, one district's printable page, its QR code read back by a real
decoder (zxing-cpp) and the deep link it holds followed through the engine; what a missing setting does."""

from __future__ import annotations

import io
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from PIL import Image
from sqlmodel import select

from relai_bot.clock import FrozenClock
from relai_bot.services import district_links, posters
from relai_bot.services.phones import number_to_text
from relai_bot.store.models import District, Resident
from relai_bot.testing.driver import ChatDriver, Driver
from relai_bot.wiring import Runtime
from tests.conftest import make_runtime
from tests.web.admin_support import admin_browser, make_account

BOT = "RelaiPossessionBot"


@pytest.fixture
def configured(sqlite_url: str, clock: FrozenClock) -> Iterator[Runtime]:
    """A service with its bot's username (written as @BotFather shows it) and a two-way SMS number."""
    rt = make_runtime(sqlite_url, clock, telegram_bot_username=f"@{BOT}", twilio_from="+262692500600")
    yield rt
    rt.close()


def decode(link: str) -> str:
    """What a phone reads from the poster's QR code: rendered to PNG, decoded by zxing-cpp."""
    buffer = io.BytesIO()
    posters.qr_code(link).save(buffer, kind="png", scale=6, border=4)
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(buffer.getvalue())))
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    return str(found.text)


def test_the_qr_code_decodes_to_the_deep_link_that_presets_the_district(configured: Runtime) -> None:
    with configured.db.transaction() as session:
        poster = posters.district_poster(session, "moulin-joli", bot_username=BOT, sms_number=None)
    assert poster.telegram_link == f"https://t.me/{BOT}?start=moulin-joli"
    link = decode(poster.telegram_link)
    assert link == poster.telegram_link
    (payload,) = parse_qs(urlsplit(link).query)["start"]
    assert payload == district_links.start_payload("moulin-joli")


async def test_following_the_decoded_payload_presets_the_district(configured: Runtime) -> None:
    with configured.db.transaction() as session:
        link = posters.district_poster(session, "saint-laurent", bot_username=BOT, sms_number=None).telegram_link
    assert link is not None
    (payload,) = parse_qs(urlsplit(decode(link)).query)["start"]
    chat = Driver(configured).resident(channel="telegram")
    await chat.start(payload)
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Non")
    assert "Votre quartier : Saint-Laurent." in chat.text
    with configured.db.transaction() as session:
        resident = session.exec(select(Resident)).one()
        assert session.get(District, resident.district_id).code == "saint-laurent"  # type: ignore[union-attr]


@pytest.mark.parametrize("code", ["saint-laurent", "moulin-joli", "centre-ville", "riviere-des-galets"])
async def test_the_word_to_send_by_sms_presets_the_district(runtime: Runtime, code: str) -> None:
    chat = Driver(runtime).resident(channel="sms")
    await chat.send(district_links.sms_word(code))
    assert "accord ?" in chat.text
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Non")
    with runtime.db.transaction() as session:
        district = session.exec(select(District).where(District.code == code)).one()
        assert f"Votre quartier : {district.name}." in chat.text
        resident = session.exec(select(Resident)).one()
        assert resident.district_id == district.id


async def test_the_word_presets_the_district_through_each_channel(any_channel: ChatDriver) -> None:
    chat = any_channel.resident()
    await chat.send(district_links.sms_word("pichette"))
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Non")
    assert "Votre quartier : Pichette." in chat.text


async def test_a_first_message_that_names_no_district_asks_for_it(runtime: Runtime) -> None:
    chat = Driver(runtime).resident(channel="sms")
    await chat.send("bonjour")
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Non")
    assert "Dans quel quartier" in chat.text


def test_staff_see_every_districts_poster(configured: Runtime) -> None:
    make_account(configured, "agent@mairie.re", "staff", districts=["saint-laurent"])
    with admin_browser(configured) as browser:
        browser.log_in("agent@mairie.re")
        listing = browser.get("/admin/posters")
        assert listing.status_code == 200
        with configured.db.transaction() as session:
            codes = [d.code for d in session.exec(select(District))]
        for code in codes:  # public information: not only the staff member's own district
            assert f'href="/admin/posters/{code}"' in listing.text
        assert "Réglages à compléter" not in listing.text
        page = browser.get("/admin/posters/pichette")
    assert page.status_code == 200
    link = f"https://t.me/{BOT}?start=pichette"
    title = f"Code QR du quartier Pichette : il ouvre le lien {link}"
    assert posters.qr_svg(link, title=title) in page.text
    assert "0692 50 06 00" in page.text and ">pichette</p>" in page.text
    assert "Scannez ce code avec votre téléphone." in page.text  # the poster's words, from labels.yaml


def test_a_poster_without_settings_says_so_and_prints_no_code(runtime: Runtime) -> None:
    make_account(runtime, "admin@mairie.re", "admin")
    with admin_browser(runtime) as browser:
        browser.log_in("admin@mairie.re")
        listing = browser.get("/admin/posters").text
        page = browser.get("/admin/posters/saint-laurent")
        missing = browser.get("/admin/posters/atlantis")
    assert "RELAI_TELEGRAM_BOT_USERNAME" in listing and "RELAI_TWILIO_FROM" in listing
    assert page.status_code == 200
    assert "RELAI_TELEGRAM_BOT_USERNAME" in page.text and "RELAI_TWILIO_FROM" in page.text
    assert "<svg" not in page.text and "t.me" not in page.text and "Envoyez ce mot" not in page.text
    assert missing.status_code == 404 and "Ce quartier n&#39;existe pas." in missing.text


def test_the_number_to_text_is_the_reply_number_else_the_sender_written_the_french_way() -> None:
    sid = "MG" + "0" * 32
    assert number_to_text(None, sid) is None and number_to_text(None, None) is None
    assert number_to_text("0692 50 06 00", sid) == "0692 50 06 00"
    assert number_to_text(None, "+262692500600") == "0692 50 06 00"
    assert number_to_text(None, "+33612345678") == "06 12 34 56 78"


def test_advisers_may_not_open_posters(runtime: Runtime) -> None:
    make_account(runtime, "conseil@mairie.re", "adviser")
    with admin_browser(runtime) as browser:
        browser.log_in("conseil@mairie.re")
        assert browser.get("/admin/posters").status_code == 403
        assert browser.get("/admin/posters/saint-laurent").status_code == 403
