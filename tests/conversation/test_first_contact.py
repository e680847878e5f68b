"""First contact with a wish ("je veux un rdv", "mi rode travay"), and consent said in a sentence.

The journeys run on every channel (`chat`: the console, Telegram through python-telegram-bot and its
fake Bot API, SMS through signed webhooks and the fake Twilio)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from relai_bot.conversation.actions.onboarding import FIRST_WISHES
from relai_bot.conversation.engine import INTENT_ENTRIES
from relai_bot.conversation.flows import FlowSet
from relai_bot.store.models import Conversation, Resident
from relai_bot.testing.driver import Chat, ChatDriver, Driver
from relai_bot.wiring import Runtime

pytestmark = [
    # twilio 9.13's async client still passes aiohttp's deprecated BasicAuth: not ours to fix
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]
CONSENT_QUESTION = "Êtes-vous d'accord ?"


def residents(runtime: Runtime) -> int:
    with runtime.db.transaction() as session:
        return session.exec(select(func.count()).select_from(Resident)).one()


def stored_data(runtime: Runtime) -> str:
    with runtime.db.transaction() as session:
        return json.dumps([c.data for c in session.exec(select(Conversation))])


async def test_a_wish_to_book_gets_the_consent_question_then_the_booking(any_channel: ChatDriver, chat: Chat) -> None:
    await chat.send("Bonjour, je veux un rdv svp")
    assert CONSENT_QUESTION in chat.text
    assert "pas compris" not in chat.text
    # Before consent only the intent's code is kept, never the words
    assert residents(any_channel.runtime) == 0
    data = stored_data(any_channel.runtime)
    assert '"start_intent": "book"' in data and "rdv" not in data.replace('"book"', "")
    await chat.send("oui")
    assert "C'est pour quelle aide ?" in chat.text
    await chat.tap(1)
    assert "prochains rendez-vous libres" in chat.text


async def test_mi_rode_travay_leads_to_the_scheme_finder_after_wi(any_channel: ChatDriver, chat: Chat) -> None:
    await chat.send("mi rode travay")
    assert "Ou lé dakor ?" in chat.text  # a Creole wish is answered in Creole
    await chat.send("wi")
    assert "3 kestyon" in chat.text
    assert residents(any_channel.runtime) == 1


async def test_an_unclear_answer_is_asked_again_once_then_explained(any_channel: ChatDriver, chat: Chat) -> None:
    await chat.send("salut")
    assert CONSENT_QUESTION in chat.text
    await chat.send("c'est quoi ce truc")
    assert "D'abord, j'ai besoin de votre accord." in chat.text
    await chat.send("hein")
    assert "Si vous dites non, je ne garde rien." in chat.text
    await chat.send("ok d'accord")
    assert "offres de votre quartier" in chat.text  # no wish: the usual onboarding


async def test_a_no_sentence_is_a_no_and_nothing_is_kept(any_channel: ChatDriver, chat: Chat) -> None:
    await chat.send("formation")
    await chat.send("non je suis pas d'accord")
    assert "Je n'ai rien gardé." in chat.text
    assert residents(any_channel.runtime) == 0
    assert stored_data(any_channel.runtime) == "[]"


async def test_a_wish_said_at_the_consent_question_is_kept_for_after(driver: Driver) -> None:
    chat = driver.resident()
    await chat.send("bonjour")
    await chat.send("je voudrais être rappelé")
    assert "D'abord, j'ai besoin de votre accord." in chat.text
    await chat.send("oui je veux bien")
    assert "À quel numéro pouvons-nous vous appeler ?" in chat.text


async def test_a_sentence_asking_to_stop_is_a_no_before_consent(driver: Driver) -> None:
    chat = driver.resident()
    await chat.send("bonjour")
    await chat.send("je veux plus de messages")
    assert "Je n'ai rien gardé." in chat.text
    assert residents(driver.runtime) == 0


async def test_a_question_is_not_a_yes(driver: Driver) -> None:
    chat = driver.resident()
    await chat.send("bonjour")
    await chat.send("oui mais vous gardez quoi ?")
    assert residents(driver.runtime) == 0
    assert "D'abord, j'ai besoin de votre accord." in chat.text


async def test_a_poster_district_is_kept_when_a_wish_skips_onboarding(driver: Driver) -> None:
    chat = driver.resident(channel="telegram")
    await chat.start("moulin-joli")  # a poster's deep link
    await chat.send("je veux un rdv")
    await chat.send("oui")
    assert "C'est pour quelle aide ?" in chat.text
    with driver.runtime.db.transaction() as session:
        resident = session.exec(select(Resident)).one()
        assert resident.district_id is not None


def test_each_first_wish_leads_where_the_intent_leads_everywhere(runtime: Runtime) -> None:
    """conversations/onboarding.yaml (step `consented`) and engine.INTENT_ENTRIES agree."""
    flows: FlowSet = runtime.engine.flows
    consented = flows.flows["onboarding"].steps["consented"]
    assert set(consented.outcomes) == set(FIRST_WISHES)
    for wish, goto in consented.outcomes.items():
        assert flows.resolve("onboarding", goto).flow == INTENT_ENTRIES[wish].flow
