"""Pieces of the Telegram channel on their own: splitting, escaping, keyboards, errors, phone numbers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove
from telegram.error import RetryAfter

from relai_bot.channels.telegram.channel import file_url, webhook_secret
from relai_bot.channels.telegram.handlers import contact_phone
from relai_bot.channels.telegram.render import (
    LABEL_LIMIT,
    escape,
    inline_keyboard,
    plain_message,
    render_reply,
    split_text,
    utf16_len,
)
from relai_bot.channels.telegram.send import retry_seconds
from relai_bot.turns import Attachment, Option, Reply

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after:telegram.warnings.PTBDeprecationWarning")

_TEXT = st.text(alphabet=st.sampled_from(list("ab é😀<&>\n\n  ")), max_size=600)


@given(_TEXT, st.integers(min_value=8, max_value=120))
def test_split_keeps_every_word_within_the_limit(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(part and part == part.strip() and utf16_len(part) <= limit for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


def test_split_prefers_paragraphs_then_lines() -> None:
    paragraphs = ["\n".join(f"ligne {p}.{n}" for n in range(8)) for p in range(6)]
    parts = split_text("\n\n".join(paragraphs), 200)
    assert len(parts) > 1 and all(set(part.split("\n\n")) <= set(paragraphs) for part in parts)
    lines = [f"ligne {n}" for n in range(60)]
    parts = split_text("\n".join(lines), 100)
    assert len(parts) > 1 and all(set(part.split("\n")) <= set(lines) for part in parts)
    assert split_text("court") == ["court"] and split_text("  \n ") == []


def test_escape_keeps_the_text_as_typed() -> None:
    assert escape("<b>Tom & Jerry</b> 'x' \"y\"") == "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt; 'x' \"y\""


def test_keyboard_one_button_a_row_short_labels_valid_data() -> None:
    options = [
        Option(id="3.1", label="mardi 1er décembre à 11 h, " + "Médiathèque " * 6, number=1),
        Option(id="3.2", label="Oui", number=2),
        Option(id="3." + "9" * 70, label="trop long", number=3),
    ]
    markup = inline_keyboard(options)
    assert markup is not None
    rows = markup.inline_keyboard
    assert [len(row) for row in rows] == [1, 1]
    assert len(rows[0][0].text) <= LABEL_LIMIT and rows[0][0].text.endswith("…")
    assert [row[0].callback_data for row in rows] == ["3.1", "3.2"]
    assert inline_keyboard([]) is None


def test_a_reply_becomes_text_then_document_log_row_on_the_first() -> None:
    reply = Reply(
        text="C'est réservé !",
        options=[Option(id="9.1", label="Mes rendez-vous", number=1)],
        attachment=Attachment("rdv.ics", "text/calendar", b"BEGIN:VCALENDAR"),
        log_id=12,
    )
    text, document = render_reply(reply, fallback_text="?")
    assert (text.text, text.log_id, document.document, document.log_id) == (
        "C'est réservé !",
        12,
        reply.attachment,
        None,
    )
    assert text.markup is not None and document.markup is None
    [only] = render_reply(Reply(text="", options=reply.options), fallback_text="Que voulez-vous faire ?")
    assert only.text == "Que voulez-vous faire ?" and only.markup is not None
    assert render_reply(Reply(text=""), fallback_text="?") == []


def test_the_offer_to_share_the_phone_comes_last_and_goes_away_when_withdrawn() -> None:
    offer = plain_message("Partagez votre numéro ?", ReplyKeyboardMarkup([[KeyboardButton("Partager", True)]]))
    booked = Reply(
        text="C'est réservé !",
        options=[Option(id="9.1", label="Mes rendez-vous", number=1)],
        attachment=Attachment("rdv.ics", "text/calendar", b"BEGIN:VCALENDAR"),
        share_phone="offer",
    )
    assert [m.document is not None for m in render_reply(booked, fallback_text="?", phone_offer=offer)] == [
        False,
        True,
        False,
    ]
    assert render_reply(booked, fallback_text="?", phone_offer=offer)[-1] is offer
    assert offer not in render_reply(Reply(text="Bonjour"), fallback_text="?", phone_offer=offer)
    [linked] = render_reply(Reply(text="Merci, c'est noté.", share_phone="withdraw"), fallback_text="?")
    assert isinstance(linked.markup, ReplyKeyboardRemove)
    # A reply with buttons keeps them: Telegram takes one keyboard per message
    [asked] = render_reply(Reply(text="Quand ?", options=booked.options, share_phone="withdraw"), fallback_text="?")
    assert isinstance(asked.markup, InlineKeyboardMarkup)


def test_retry_after_as_seconds_or_timedelta() -> None:
    assert retry_seconds(RetryAfter(5)) == 5.0
    assert retry_seconds(RetryAfter(timedelta(seconds=2.5))) == 2.5


def test_webhook_secret_is_stable_and_allowed_by_telegram() -> None:
    secret = webhook_secret("123:ABC")
    assert secret == webhook_secret("123:ABC") != webhook_secret("123:ABD")
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret)


def test_file_url_follows_the_api_url() -> None:
    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("262692123456", "+262692123456"),
        ("+262692123456", "+262692123456"),
        ("0692 12 34 56", "+262692123456"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("33612345678", "+33612345678"),
        ("12", None),
        ("", None),
        ("abc", None),
    ],
)
def test_shared_numbers_become_e164(raw: str, expected: str | None) -> None:
    assert contact_phone(raw) == expected


@given(st.text(max_size=40))
def test_any_shared_number_is_e164_or_nothing(raw: str) -> None:
    phone = contact_phone(raw)
    assert phone is None or re.fullmatch(r"\+[1-9]\d{6,14}", phone)
