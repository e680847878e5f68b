"""An amount shows the date until which it holds (its review_by, the last day it holds); past that date the
resident is told to ask an adviser, never shown a stale figure. An unverified scheme is never presented as a
place to go. With the real renderer, then through the real flow on every channel."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import select

from relai_bot.services import timefmt
from relai_bot.store.models import Scheme
from relai_bot.testing.driver import Chat, ChatDriver
from relai_bot.wiring import Runtime
from tests.content.resident_texts import renderer
from tests.template_samples import LANGUAGE, LANGUAGES, sample_context

AMOUNT = "Allocation jusqu'à 560 € par mois environ, selon votre âge et les revenus du foyer."
REVIEW_BY = date(2026, 12, 31)  # the test clock's day (1 December 2026) is within it


def _detail(channel: str, language: str = LANGUAGE, **changes: Any) -> str:
    context = sample_context("cej", language=language)
    context["scheme"] = {**context["scheme"], "review_by": REVIEW_BY, **changes.pop("scheme", {})}
    context.update(changes)
    return renderer().render("discovery/detail", language=language, channel=channel, context=context)


@pytest.mark.parametrize(
    ("day", "written"),
    [
        (date(2026, 12, 31), "31 décembre 2026"),
        (date(2027, 4, 1), "1er avril 2027"),
        (date(2027, 1, 9), "9 janvier 2027"),
    ],
)
def test_a_date_that_an_amount_holds_until_is_written_in_full(day: date, written: str) -> None:
    assert timefmt.format_long_date(day) == written
    assert renderer().inline("{{ day | date }}", {"day": day}) == written


@pytest.mark.parametrize(
    ("channel", "sentence"),
    [("console", "Ce montant est valable jusqu'au 31 décembre 2026."), ("sms", "Valable jusqu'au 31 décembre 2026.")],
)
def test_an_amount_is_shown_with_its_date(channel: str, sentence: str) -> None:
    text = _detail(channel, amount=AMOUNT, amount_to_ask=False)
    assert f"Montant : {AMOUNT}" in text and sentence in text
    assert "conseiller" not in text.split("Montant")[1].split("\n")[0]


@pytest.mark.parametrize("channel", ["console", "sms"])
def test_past_its_date_the_resident_asks_an_adviser_for_the_amount(channel: str) -> None:
    text = _detail(channel, amount=None, amount_to_ask=True)
    assert "Montant" not in text and "560" not in text and "valable" not in text.lower()
    assert "montant, demandez à un conseiller." in text


@pytest.mark.parametrize("channel", ["console", "sms"])
def test_a_scheme_without_an_amount_says_nothing_of_one(channel: str) -> None:
    text = _detail(channel, amount=None, amount_to_ask=False)
    assert "montant" not in text.lower()


@pytest.mark.parametrize("channel", ["console", "sms"])
def test_an_unverified_scheme_is_not_presented_as_a_place_to_go(channel: str) -> None:
    verified = _detail(channel, amount=None, amount_to_ask=False)
    unverified = _detail(channel, amount=None, amount_to_ask=False, scheme={"verified": False})
    assert "Où en parler" in verified
    assert "Où en parler" not in unverified and "rendez-vous" not in unverified.lower()
    assert "vérifier" not in unverified.lower()


@pytest.mark.parametrize("channel", ["console", "sms"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_in_every_language_an_amount_is_shown_as_the_catalog_holds_it_with_its_date(
    language: str, channel: str
) -> None:
    """The same in each language's own words: the amount as the catalog holds it (in French), the last day it
    holds written in the language; past it, no figure; an unverified scheme names no place to go."""
    until = renderer().inline("{{ day | date }}", {"day": REVIEW_BY, "lang": language})
    shown = _detail(channel, language, amount=AMOUNT, amount_to_ask=False)
    assert AMOUNT in shown and until in shown, shown
    asked = _detail(channel, language, amount=None, amount_to_ask=True)
    none = _detail(channel, language, amount=None, amount_to_ask=False)
    assert "560" not in asked and until not in asked and asked != none
    assert until not in none
    venue = sample_context("cej", language=language)["scheme_venues"][0]
    assert venue in none
    assert venue not in _detail(channel, language, amount=None, amount_to_ask=False, scheme={"verified": False})


def _set_cej_review(runtime: Runtime, review_by: date) -> None:
    with runtime.db.transaction() as session:
        cej = session.exec(select(Scheme).where(Scheme.code == "cej")).one()
        assert cej.amount == AMOUNT  # the demo's
        cej.review_by = review_by


async def _open_the_cej(chat: Chat) -> None:
    await chat.tap("Trouver une aide")
    await chat.tap("Chercher par un mot")
    await chat.send("CEJ")
    await chat.tap("CEJ")
    assert "Contrat d'engagement jeune" in chat.text


async def test_the_amount_holds_until_its_date_then_an_adviser_gives_it(any_channel: ChatDriver) -> None:
    runtime = any_channel.runtime
    _set_cej_review(runtime, REVIEW_BY)
    chat = await any_channel.onboarded()
    await _open_the_cej(chat)
    assert AMOUNT in chat.text and "alable jusqu'au 31 décembre 2026." in chat.text
    runtime.clock.advance(timedelta(days=31))  # 1 January 2027: the day after the last day it holds
    await chat.send("menu")
    await _open_the_cej(chat)
    assert AMOUNT not in chat.text and "560" not in chat.text
    assert "montant, demandez à un conseiller." in chat.text


async def test_the_detail_names_only_verified_places(any_channel: ChatDriver) -> None:
    """The CEJ is offered at Heva (verified) and at the MIO's nearest site (not verified): only Heva is named."""
    chat = await any_channel.onboarded()
    await _open_the_cej(chat)
    assert "Où en parler" in chat.text and "Médiathèque Heva" in chat.text
    assert "Mission intercommunale de l'Ouest (antenne" not in chat.text
