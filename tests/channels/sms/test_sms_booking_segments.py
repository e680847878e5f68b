"""A booking by SMS through the real stack, measured SMS by SMS as the resident receives them.

The journey of tools/sms_journey.py (consent, district, book, "Mes rendez-vous", cancel, STOP) runs here
through the SMS harness: signed webhooks into the app under uvicorn, the real twilio client, the fake
Twilio server. Every SMS sent takes at most 2 segments of GSM-7, and their mean stays under 1.5.
Run with -s to see the figures.
"""

from __future__ import annotations

import pytest
from tools.sms_journey import BOOKING, BOOKING_RCF, BOOKINGS, MAX_MEAN, MAX_SEGMENTS, Figures, parse_args

from tests.journeys import whole_journey
from tests.sms_harness import SmsStack

pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


async def test_a_booking_by_sms_stays_within_two_segments_a_message(stack: SmsStack) -> None:
    phone = stack.resident()
    said = []
    for body in BOOKING:
        assert await phone.send(body), f"no answer to {body!r}"
        said.append(phone.text)
    booked = BOOKING.index("oui")  # the first "oui" books, the last one cancels
    assert "C'est réservé" in said[booked] and "C'est annulé" in said[-1], said
    await phone.send("STOP")
    figures = Figures.of([m.body for m in phone.received])
    print(f"\nbooking by SMS: {figures}")
    assert all(m.encoding == "GSM-7" for m in phone.received)
    assert figures.max <= MAX_SEGMENTS and figures.mean < MAX_MEAN, figures
    assert len(figures.segments) >= len(BOOKING)  # each message answered


async def test_the_same_booking_in_creole_stays_within_two_segments_a_message(stack: SmsStack) -> None:
    """`python -m tools.sms_journey --language rcf`: a first message in Creole, then the booking in Creole."""
    phone = stack.resident()
    said = []
    for body in BOOKING_RCF:
        assert await phone.send(body), f"no answer to {body!r}"
        said.append(phone.text)
    assert "Ou lé dakor ?" in said[0]  # the welcome in Creole
    booked = BOOKING_RCF.index("wi")  # the first "wi" books, the last one cancels
    assert "Lé rézèrvé" in said[booked] and "Lé anilé" in said[-1], said
    await phone.send("STOP")
    figures = Figures.of([m.body for m in phone.received])
    print(f"\nbooking by SMS in Creole: {figures}")
    assert all(m.encoding == "GSM-7" for m in phone.received)
    assert figures.max <= MAX_SEGMENTS and figures.mean < MAX_MEAN, figures
    assert len(figures.segments) >= len(BOOKING_RCF)


def test_the_journey_tool_takes_a_language() -> None:
    assert parse_args([]).language == "fr" and parse_args(["--language", "rcf"]).language == "rcf"
    assert BOOKINGS["fr"] == BOOKING
    with pytest.raises(SystemExit):
        parse_args(["--language", "xx"])


async def test_the_whole_journey_by_sms_stays_within_two_segments_a_message(stack: SmsStack) -> None:
    """Consent, a scheme found by the questions, booked, seen and cancelled (tests/journeys.py)."""
    phone = stack.resident()
    await whole_journey(phone)
    figures = Figures.of([m.body for m in phone.received])
    print(f"\nwhole journey by SMS: {figures}")
    assert figures.max <= MAX_SEGMENTS and figures.mean < MAX_MEAN, figures


def test_the_figures_say_too_long_when_they_are() -> None:
    assert Figures.of(["a" * 160, "a" * 161, "a"]).short_enough  # 1, 2, 1: mean 1.33
    assert not Figures.of(["a" * 160, "a" * 161]).short_enough  # mean 1.5 is not under 1.5
    assert not Figures.of(["a" * 307, "a", "a", "a"]).short_enough  # one SMS of 3 segments
    assert Figures.of(["a" * 307]).max == 3
    assert "TOO LONG" in str(Figures.of(["a" * 307])) and "max 3" in str(Figures.of(["a" * 307]))
