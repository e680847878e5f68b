"""No phone number, name or message body in any log line, at DEBUG, in either log format: a resident's
short conversation on each channel (the console, Telegram against the fake Bot API, SMS by signed
webhooks), every record of every logger captured and formatted as `serve` would write it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from relai_bot.cli import _logging
from relai_bot.config import load_settings
from relai_bot.logs import TALKATIVE, TEXT_FORMAT, json_formatter
from relai_bot.testing.driver import Chat, ChatDriver
from tests.journeys import consent_and_settle_in
from tests.proof import record
from tests.telegram_harness import TelegramStack

pytestmark = [
    pytest.mark.proof,  # its figures go to docs/reliability.md (`make proof`)
    # twilio 9.13's async client still passes aiohttp's deprecated BasicAuth: not ours to fix
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

FIRST_NAME, LAST_NAME, USERNAME = "Clothilde", "Grondin", "clogrondin"
BODY = "Mon cousin Maximilien travaille au port, il m'a parle de vous"
CALLBACK_PHONE = "0692 55 44 33"
SECRETS = [FIRST_NAME, LAST_NAME, USERNAME, "Maximilien", "cousin", "55 44 33", "692554433"]


class Everything(logging.Handler):
    """Keeps every record that reaches the root logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def every_record(capsys: pytest.CaptureFixture[str]) -> Iterator[Everything]:
    """Logging as `serve` sets it up with RELAI_LOG_LEVEL=DEBUG, from before the channel's stack starts
    (requested first) to after it stopped; every record that reaches the root logger is kept."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    talkative = {name: logging.getLogger(name).level for name in TALKATIVE}
    _logging(load_settings(log_level="DEBUG"))
    handler = Everything()
    root.addHandler(handler)
    yield handler
    for added in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(added)
    root.setLevel(level)
    for name, was in talkative.items():
        logging.getLogger(name).setLevel(was)


def resident(any_channel: ChatDriver) -> Chat:
    if isinstance(any_channel, TelegramStack):  # Telegram tells the bot the person's names
        return any_channel.resident(first_name=FIRST_NAME, last_name=LAST_NAME, username=USERNAME)
    return any_channel.resident()


def secrets_of(chat: Chat) -> list[str]:
    """What must never be written: the names, the texts typed, the phone numbers in any spelling, the
    resident's address itself (a phone number, a Telegram chat id)."""
    digits = chat.address.removeprefix("+")
    return [*SECRETS, chat.address, digits, digits.removeprefix("262")]


async def test_no_personal_data_in_any_log_line(every_record: Everything, any_channel: ChatDriver) -> None:
    chat = resident(any_channel)
    await consent_and_settle_in(chat)
    await chat.send(BODY)
    await chat.send("menu")
    await chat.tap("Être rappelé")
    if "À quel numéro" in chat.text:  # by SMS the number is the sender's
        await chat.send(CALLBACK_PHONE)
    await chat.tap("Le matin")
    assert "vous appellera" in chat.text

    records = every_record.records
    assert any(r.name == "relai_bot.conversation.dispatcher" and r.levelno == logging.INFO for r in records)
    text, as_json = logging.Formatter(TEXT_FORMAT), json_formatter()
    lines = [formatter.format(record) for record in records for formatter in (text, as_json)]
    assert len(lines) == 2 * len(records) >= 20
    leaks = [(secret, line) for line in lines for secret in secrets_of(chat) if secret.lower() in line.lower()]
    record("log_privacy", conversations=1, lines_read=len(lines), leaks=len(leaks))
    assert leaks == []
