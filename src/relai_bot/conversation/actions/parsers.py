"""Parsers for free text typed at a step: each returns a clean value or raises ParseError."""

from __future__ import annotations

import re

from relai_bot.conversation.actions.onboarding import note_wish
from relai_bot.conversation.context import Context, ParseError, parser
from relai_bot.services import residents
from relai_bot.services.phones import normalise_phone
from relai_bot.services.schemes import AGE_BRACKETS, bracket_for_age
from relai_bot.services.text import fold, replace_words, words

_NUMBER = re.compile(r"\d+")
YOUNGEST_TOLD = 10  # a younger "age" is more likely a slip: not understood
OLDEST = 110
# Consent said in a sentence: a question or a "but" is not an answer yet
_NOT_AN_ANSWER = frozenset({"mais"})


def _youngest_bracket() -> int:
    return min(low for low, _ in AGE_BRACKETS.values())


@parser("text")
def parse_text(ctx: Context, text: str) -> str:
    """Any text of at least two letters or digits, kept to 500 characters."""
    if len(fold(text).replace(" ", "")) < 2:
        raise ParseError()
    return text.strip()[:500]


@parser("search", errors=("discovery/search_too_short",))
def parse_search(ctx: Context, text: str) -> str:
    """Words to search the schemes with, at least three letters or digits, folded."""
    folded = replace_words(fold(text), ctx.renderer.search_words)  # "aide pou mon zanfan": "... pour mon enfant"
    if len(folded.replace(" ", "")) < 3:
        raise ParseError("discovery/search_too_short")
    return folded[:200]


@parser("age", errors=("onboarding/age_invalid", "onboarding/age_under_16"))
def parse_age(ctx: Context, text: str) -> str:
    """An age in years ("22", "j'ai 22 ans") becomes an age bracket code. Below the youngest bracket
    (10 to 15), the answer says who can help instead (the steps show their choices again: never a dead end)."""
    numbers = _NUMBER.findall(text)
    if len(numbers) != 1:
        raise ParseError("onboarding/age_invalid")
    age = int(numbers[0])
    if YOUNGEST_TOLD <= age < _youngest_bracket():
        raise ParseError("onboarding/age_under_16")
    bracket = bracket_for_age(age) if age <= OLDEST else None
    if bracket is None:
        raise ParseError("onboarding/age_invalid")
    return bracket


@parser("district", errors=("onboarding/district_unknown",))
def parse_district(ctx: Context, text: str) -> str:
    """A district by its name, code or an alias (accents and typos forgiven), as its code."""
    district = residents.match_district(ctx.session, text)
    if district is None:
        raise ParseError("onboarding/district_unknown")
    return district.code


@parser("phone", errors=("callback/phone_invalid",))
def parse_phone(ctx: Context, text: str) -> str:
    """A phone number, returned in E.164 ("0692 12 34 56" -> "+262692123456"): see services.phones."""
    phone = normalise_phone(text)
    if phone is None:
        raise ParseError("callback/phone_invalid")
    return phone


@parser("consent", errors=("onboarding/consent_again", "onboarding/help_consent"))
def parse_consent(ctx: Context, text: str) -> str:
    """Yes or no said in a sentence ("oui je veux bien", "wi", "pas d'accord"; keywords.yaml `consent`):
    "oui" or "non". Asking to stop the messages is a no. Anything else is asked again in other words,
    once, then explained (onboarding/help_consent); a wish in it ("je veux un rdv") is kept by its code
    for after consent (actions/onboarding.py note_wish)."""
    note_wish(ctx, text)
    answers = {found.intent for found in ctx.renderer.consent.found(text)}
    if ctx.renderer.intents.match(text) == "stop":
        answers.add("non")
    if "?" not in text and not _NOT_AN_ANSWER & set(words(text)) and len(answers) == 1:
        return answers.pop()
    asked = int(ctx.data.get("consent_unclear") or 0)
    ctx.data["consent_unclear"] = asked + 1
    raise ParseError("onboarding/consent_again" if asked == 0 else "onboarding/help_consent")
