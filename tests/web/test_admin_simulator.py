"""The simulator in /admin: each signed-in person talks to the bot as their own test resident, through the
same dispatcher and engine as Telegram and SMS, and can reach no other conversation."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlmodel import select

from relai_bot.services import audit
from relai_bot.store.models import Appointment, ChannelAddress, Conversation, MessageLog, Resident
from relai_bot.wiring import Runtime
from tests.web.admin_support import Staff, admin_browser, make_account

BUTTON = re.compile(r'name="choice" value="([^"]+)"><span class="sim-number">(\d+)\.</span> ([^<]+)</button>')
MESSAGE_ID = re.compile(r'name="message_id" value="([^"]+)"')


def buttons(page: httpx.Response) -> dict[str, str]:
    """The buttons on offer: label -> option id."""
    return {label.strip(): value for value, _, label in BUTTON.findall(page.text)}


def say(browser: Staff, text: str, *, view: str = "telegram", htmx: bool = False) -> httpx.Response:
    headers = {"HX-Request": "true"} if htmx else {}
    form = {"vue": view, "text": text, "csrf": browser.csrf}
    return browser.client.post("/admin/simulator/say", data=form, headers=headers, follow_redirects=False)


def press(browser: Staff, page: httpx.Response, label: str, *, htmx: bool = False) -> httpx.Response:
    headers = {"HX-Request": "true"} if htmx else {}
    form = {"vue": "telegram", "choice": buttons(page)[label], "csrf": browser.csrf}
    found = MESSAGE_ID.search(page.text)
    if found:
        form["message_id"] = found.group(1)
    return browser.client.post("/admin/simulator/say", data=form, headers=headers, follow_redirects=False)


def test_a_staff_member_talks_as_a_test_resident(runtime: Runtime) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    with admin_browser(runtime) as browser:
        browser.log_in("agent@mairie.re")
        page = browser.get("/admin/simulator")
        assert page.status_code == 200 and "Simulateur" in page.text
        first = say(browser, "bonjour")
        assert first.status_code == 200
        print(first.text[first.text.index("<main"):][:4000])
        print(buttons(first))
