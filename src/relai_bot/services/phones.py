"""Phone numbers: the one place that reads and writes them (E.164 inside, the national way for residents).

Every phone number that enters relai_bot (an SMS sender, a number typed for a call-back, a number shared
on Telegram) goes through `normalise_phone`, so the same person always has the same address.

The rules come from the French numbering plan (ARCEP): La Réunion and Mayotte share the country code
+262 and are written nationally with ten digits, like the mainland: 0262 and 0263 (Réunion, fixed),
0692 and 0693 (Réunion, mobile), 0269 (Mayotte, fixed) and 0639 (Mayotte, mobile); other ten-digit
numbers starting with 0 are mainland numbers (+33), or another overseas department's. A number is
accepted when libphonenumber knows it as valid, or when it falls in one of the +262 blocks above:
libphonenumber's list of allocated Mayotte ranges lags behind the operators, and a resident must never
be refused their own number because of it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # libphonenumber (its code and metadata) is imported by the first number read, not at start
    import phonenumbers

# Blocks the national plan gives La Réunion and Mayotte under +262 (national number: 9 digits)
_PLUS_262_BLOCKS = re.compile(r"(262|263|269|639|692|693)\d{6}")
# A national number ("0692 12 34 56") is read as a number of these regions, in this order
_NATIONAL_REGIONS = ("RE", "YT", "FR", "GP", "MQ", "GF", "PM")
_SEPARATORS = re.compile(r"[\s.\-/()\u00a0]")


def _accepted(number: phonenumbers.PhoneNumber) -> bool:
    import phonenumbers

    if phonenumbers.is_valid_number(number):
        return True
    return number.country_code == 262 and bool(_PLUS_262_BLOCKS.fullmatch(str(number.national_number)))


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if _accepted(number) else None


def normalise_phone(raw: str | None) -> str | None:
    """A phone number in E.164 ("+262692123456"), or None when it is not one.

    International forms ("+262 692 12 34 56", "00262692123456") keep their country code; national forms
    ("0692 12 34 56", "06 12 34 56 78") follow the French numbering plan (see the module docstring).
    """
    if not raw:
        return None
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not re.fullmatch(r"\+?\d{4,17}", text):
        return None
    if text.startswith("+"):
        number = _parse(text, None)
    elif len(text) == 10 and text.startswith("0"):
        number = next((n for region in _NATIONAL_REGIONS if (n := _parse(text, region)) is not None), None)
    else:
        return None
    if number is None:
        return None
    import phonenumbers

    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str | None) -> str | None:
    """A number the way residents write it ("0692 12 34 56"); None for what is not a number (an SID)."""
    if not e164 or not e164.startswith("+"):
        return None
    import phonenumbers

    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code == 262 and _PLUS_262_BLOCKS.fullmatch(str(number.national_number)):
        digits = f"0{number.national_number}"
        return " ".join([digits[:4], digits[4:6], digits[6:8], digits[8:]])
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def number_to_text(reply_number: str | None, sender: str | None) -> str | None:
    """The number residents text to talk with the service, as printed or said to them: the one set for it
    (RELAI_SMS_REPLY_NUMBER), else the two-way sender (RELAI_TWILIO_FROM) written the national way; None
    when neither is a number (a Messaging Service SID, nothing set)."""
    return reply_number or display_phone(sender)
