"""A resident's side of the simulator, as a `Chat` (relai_bot.testing.driver): the shared journeys run
through /admin/simulator as a staff member's browser plays them (htmx requests, the fragments parsed)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import NamedTuple

import httpx

from relai_bot.testing.driver import Received, book_first_slot, find_option
from relai_bot.turns import SIMULATED_CHANNELS
from tests.sms_harness import LooseText, SmsOption, numbered_options
from tests.web.admin_support import Staff

PATH = "/admin/simulator/say"
BUTTON = re.compile(
    r'<button type="submit" name="choice" value="([^"]+)"><span class="sim-number">(\d+)\.</span> (.*?)</button>'
)
MESSAGE_ID = re.compile(r'name="message_id" value="([^"]+)"')
BOT = re.compile(r'<li class="sim-message sim-bot">\s*<p class="sim-who">[^<]*</p>\s*<p class="bubble">(.*?)</p>', re.S)
RESIDENT = re.compile(
    r'<li class="sim-message sim-resident">\s*<p class="sim-who">[^<]*</p>\s*<p class="bubble">(.*?)</p>', re.S
)
SMS_COST = re.compile(r"Par SMS : (\d+) SMS, (GSM-7|UCS-2), (\d+) caractères")


class Button(NamedTuple):
    id: str
    number: int
    label: str


def page_buttons(text: str) -> list[Button]:
    return [Button(value, int(number), html.unescape(label).strip()) for value, number, label in BUTTON.findall(text)]


def bot_texts(text: str) -> list[str]:
    return [html.unescape(found) for found in BOT.findall(text)]


def resident_texts(text: str) -> list[str]:
    return [html.unescape(found) for found in RESIDENT.findall(text)]


@dataclass
class SimulatorChat:
    """A staff member playing a test resident on one view ("telegram": buttons; "sms": numbered text)."""

    browser: Staff
    view: str = "telegram"
    fragments: list[httpx.Response] = field(default_factory=list)

    @property
    def channel(self) -> str:
        return next(name for name, imitated in SIMULATED_CHANNELS.items() if imitated == self.view)

    @property
    def address(self) -> str:
        raise NotImplementedError("the simulator's address is the server's business")

    def open(self) -> httpx.Response:
        """The page itself (its form's token and message id)."""
        page = self.browser.get(f"/admin/simulator?vue={self.view}")
        assert page.status_code == 200, page.status_code
        self.fragments.append(page)
        return page

    def _post(self, form: dict[str, str]) -> httpx.Response:
        last = self.fragments[-1].text if self.fragments else self.open().text
        found = MESSAGE_ID.search(last)
        data = {"vue": self.view, "csrf": self.browser.csrf, **form}
        if found:
            data["message_id"] = found.group(1)
        response = self.browser.client.post(PATH, data=data, headers={"HX-Request": "true"})
        assert response.status_code == 200, (response.status_code, response.text[:500])
        self.fragments.append(response)
        return response

    async def send(self, text: str, /) -> httpx.Response:
        return self._post({"text": text})

    async def press(self, option_id: str, /) -> httpx.Response:
        return self._post({"choice": option_id})

    async def tap(self, label: str | int, /) -> httpx.Response:
        option = self.option(label)
        if isinstance(option, Button):
            return await self.press(option.id)
        return await self.send(str(option.number))

    async def book_first_slot(self) -> object:
        return await book_first_slot(self)

    def option(self, label: str | int, /) -> Button | SmsOption:
        return find_option(self.options, label)

    @property
    def text(self) -> str:
        joined = "\n\n".join(bot_texts(self.fragments[-1].text))
        return LooseText(joined) if self.view == "sms" else joined

    @property
    def last(self) -> Received:
        return Received(bot_texts(self.fragments[-1].text)[-1])

    @property
    def options(self) -> list[Button] | list[SmsOption]:
        if self.view == "sms":
            return numbered_options(self.text)
        return page_buttons(self.fragments[-1].text)

    @property
    def labels(self) -> list[str]:
        return [option.label for option in self.options]

    @property
    def sms_costs(self) -> list[tuple[int, str, int]]:
        return [(int(a), b, int(c)) for a, b, c in SMS_COST.findall(self.fragments[-1].text)]
