"""Property-based: whatever a person types, at whatever step, the bot answers and never breaks."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relai_bot.conversation.actions.parsers import parse_age, parse_phone
from relai_bot.conversation.context import ParseError
from relai_bot.services.text import fold
from relai_bot.testing.driver import Driver
from relai_bot.wiring import Runtime

typed = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["1", "0", "99", "oui", "NON", "menu", "retour", "annuler", "aide", "Stop", "start", "é", "🙂"]),
    st.text(alphabet="0123456789 +-.", max_size=20),
)
counter = itertools.count()
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(messages=st.lists(typed, min_size=1, max_size=6))
def test_any_sequence_of_messages_gets_answers(runtime: Runtime, messages: list[str]) -> None:
    async def run() -> None:
        chat = Driver(runtime).resident(address=f"fuzz-{next(counter)}")
        await chat.send("bonjour")
        await chat.send("1")  # consent, so that later messages reach every part of the bot
        for text in messages:
            turn = await chat.send(text)
            assert turn.duplicate or turn.replies, f"no answer to {text!r}"
            for reply in turn.replies:
                assert reply.text.strip()
                assert "Traceback" not in reply.text and "{{" not in reply.text

    asyncio.run(run())


@FUZZ
@given(text=st.text(max_size=200))
def test_fold_is_idempotent_and_plain(text: str) -> None:
    folded = fold(text)
    assert fold(folded) == folded
    assert folded == folded.strip()
    assert all(ch.isascii() for ch in folded)


@FUZZ
@given(text=st.text(max_size=40))
def test_parsers_return_clean_values_or_refuse(runtime: Runtime, text: str) -> None:
    for parser in (parse_age, parse_phone):
        try:
            value = parser(None, text)  # type: ignore[arg-type]
        except ParseError:
            continue
        assert isinstance(value, str) and value


def test_age_and_phone_parsing_examples() -> None:
    assert parse_age(None, "j'ai 22 ans") == "18-25"  # type: ignore[arg-type]
    assert parse_age(None, "50") == "50+"  # type: ignore[arg-type]
    assert parse_phone(None, "0692 12 34 56") == "+262692123456"  # type: ignore[arg-type]
    assert parse_phone(None, "+262 692 12 34 56") == "+262692123456"  # type: ignore[arg-type]
    for bad in ("12", "0692", "abc", "+33 692 12 34 56"):
        try:
            parse_phone(None, bad)  # type: ignore[arg-type]
        except ParseError:
            continue
        raise AssertionError(f"{bad!r} accepted")
