"""Parsers for free text typed at a step: each returns a clean value or raises ParseError."""

from __future__ import annotations

import re

from relai_bot.conversation.context import Context, ParseError, parser
from relai_bot.services import residents
from relai_bot.services.phones import normalise_phone
from relai_bot.services.schemes import bracket_for_age
from relai_bot.services.text import fold

_NUMBER = re.compile(r"\d+")


@parser("text")
def parse_text(ctx: Context, text: str) -> str:
    """Any text of at least two letters or digits, kept to 500 characters."""
    if len(fold(text).replace(" ", "")) < 2:
        raise ParseError()
    return text.strip()[:500]


@parser("search", errors=("discovery/search_too_short",))
def parse_search(ctx: Context, text: str) -> str:
    """Words to search the schemes with, at least three letters or digits, folded."""
    folded = fold(text)
    if len(folded.replace(" ", "")) < 3:
        raise ParseError("discovery/search_too_short")
    return folded[:200]


@parser("age", errors=("onboarding/age_invalid",))
def parse_age(ctx: Context, text: str) -> str:
    """An age in years ("22", "j'ai 22 ans") becomes an age bracket code."""
    numbers = _NUMBER.findall(text)
    if len(numbers) != 1:
        raise ParseError("onboarding/age_invalid")
    age = int(numbers[0])
    bracket = bracket_for_age(age) if 14 <= age <= 110 else None
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
