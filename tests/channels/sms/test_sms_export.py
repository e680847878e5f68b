""" "Recevoir mes données" by SMS: no file can go by SMS, so the SMS says how to get the copy (the town hall
or the adviser, who export it from the back-office at the resident's request), and nothing is attached."""

from __future__ import annotations

import pytest

from relai_bot.testing.driver import Driver
from tests.sms_harness import SmsStack

pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


async def test_by_sms_the_export_says_how_to_get_the_file(stack: SmsStack) -> None:
    phone = await stack.onboarded()
    await phone.tap("Mon compte")
    await phone.tap("Recevoir mes données")
    assert "je ne peux pas envoyer de fichier" in phone.text
    assert "demandez-la à la mairie ou à votre conseiller" in phone.text
    assert "fichier joint" not in phone.text
    assert "Que voulez-vous faire ?" in phone.text and "Recevoir mes données" in phone.labels  # back to the account
    assert all(not m.media_urls and m.segments <= 2 for m in phone.received)


@pytest.mark.parametrize("channel", ["sms", "web_sms"])
async def test_no_file_is_attached_for_a_channel_that_cannot_carry_one(driver: Driver, channel: str) -> None:
    chat = await driver.onboarded(channel, address="+262692000042")
    await chat.tap("Mon compte")
    await chat.tap("Recevoir mes données")
    assert all(reply.attachment is None for reply in chat.turn.replies)
    assert "je ne peux pas envoyer de fichier" in chat.text


async def test_elsewhere_the_file_is_attached(driver: Driver) -> None:
    chat = await driver.onboarded("telegram", address="4242")
    await chat.tap("Mon compte")
    await chat.tap("Recevoir mes données")
    assert chat.last.attachment is not None and "fichier joint" in chat.text
