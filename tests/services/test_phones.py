"""One phone-number rule for every door a number comes in by (SMS sender, typed number, shared contact)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relai_bot.channels.telegram.handlers import contact_phone
from relai_bot.conversation.actions.parsers import parse_phone
from relai_bot.conversation.context import ParseError
from relai_bot.services.phones import display_phone, normalise_phone

# (as written, E.164): the French national plan gives 0262/0263/0692/0693 to La Réunion, 0269/0639 to
# Mayotte (both +262); other national numbers are the mainland's (+33) or another overseas department's
WRITTEN = [
    ("0692 12 34 56", "+262692123456"),
    ("0693 12 34 56", "+262693123456"),
    ("0262 42 00 00", "+262262420000"),
    ("+262 639 12 34 56", "+262639123456"),
    ("0639 12 34 56", "+262639123456"),
    ("0269 61 00 00", "+262269610000"),
    ("06 12 34 56 78", "+33612345678"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("00262 692 12 34 56", "+262692123456"),
    ("0692.12.34.56", "+262692123456"),
    ("0690 12 34 56", "+590690123456"),
]
NOT_NUMBERS = ["", "12", "0692", "abc", "MAIRIE", "+33 692 12 34 56", "692123456", "0692 12 34 56 78 9"]


@pytest.mark.parametrize(("written", "e164"), WRITTEN)
def test_numbers_follow_the_french_national_plan(written: str, e164: str) -> None:
    assert normalise_phone(written) == e164


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_what_is_not_a_number_is_none(text: str) -> None:
    assert normalise_phone(text) is None


def test_a_mayotte_mobile_is_accepted_at_every_door() -> None:
    """+262 639 12 34 56: libphonenumber does not list the range, the national plan does."""
    mayotte = "+262639123456"
    assert normalise_phone("+262 639 12 34 56") == mayotte  # an SMS sender, as Twilio gives it
    assert parse_phone(None, "0639 12 34 56") == mayotte  # type: ignore[arg-type]  # typed for a call-back
    assert contact_phone("262639123456") == mayotte  # shared on Telegram (no "+")


def test_a_typed_number_that_is_not_one_is_refused_kindly() -> None:
    for bad in NOT_NUMBERS:
        with pytest.raises(ParseError):
            parse_phone(None, bad)  # type: ignore[arg-type]


def test_residents_read_numbers_the_national_way() -> None:
    assert display_phone("+262692123456") == "0692 12 34 56"
    assert display_phone("+262639123456") == "0639 12 34 56"
    assert display_phone("+33612345678") == "06 12 34 56 78"
    assert display_phone("MG" + "0" * 32) is None


@given(st.text(max_size=40))
def test_normalising_never_fails_and_gives_e164_or_nothing(text: str) -> None:
    result = normalise_phone(text)
    assert result is None or (result.startswith("+") and result[1:].isdigit() and normalise_phone(result) == result)


@given(st.integers(min_value=0, max_value=999_999), st.sampled_from(["692", "693"]))
def test_any_way_of_writing_a_reunion_mobile_is_one_address(digits: int, prefix: str) -> None:
    rest = f"{digits:06d}"
    expected = f"+262{prefix}{rest}"
    spaced = f"0{prefix} {rest[:2]} {rest[2:4]} {rest[4:]}"
    for written in (expected, spaced, spaced.replace(" ", ""), spaced.replace(" ", "."), f"00262{prefix}{rest}"):
        assert normalise_phone(written) == expected, written
