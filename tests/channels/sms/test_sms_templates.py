"""Every French template, rendered as the SMS channel renders it: GSM-7 after transliteration, within budget.

The context is representative and leans to the worst case: the demo data's longest scheme, venue,
address and adviser, a long date ("mercredi 30 décembre à 11 h 30"). Run with -s (or look at the
report test) to see every template with its length and segment count.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import UndefinedError

from relai_bot.channels.sms.encoding import measure, to_gsm7
from relai_bot.config import load_settings
from relai_bot.conversation.render import Renderer
from relai_bot.seed.load import read_seed
from relai_bot.wiring import load_content

LANGUAGE = "fr"
# Segments a template's own text may take by SMS: at most RELAI_SMS_MAX_SEGMENTS (2 by default), beyond
# which the channel splits it. What the resident receives, the options included, is measured turn by turn
# in test_sms_turns.py (every step of every flow): that is the budget that counts.
DEFAULT_BUDGET = 2
BUDGETS = {
    # a scheme with its amount: sent as two SMS, the options with the second
    "discovery/detail": 3,
    # the options of a one-way SMS plus three other ways to answer
    "channel/sms_options_oneway": 3,
    "channel/sms_options": 3,
    # an adviser's day (staff): a long day is split, never cut
    "digest/day": 3,
}
# Not sent by SMS at all: they go into the .ics file attached on Telegram
NOT_SMS = {"booking/ics_description", "booking/ics_location", "booking/ics_summary"}
# Telegram's own texts (buttons, commands, phone sharing): never rendered for SMS
TELEGRAM_ONLY_PREFIX = "channel/telegram_"


def _renderer() -> Renderer:
    return load_content(load_settings())[1]


def template_names() -> list[str]:
    """Every message name under templates/messages/fr (a .sms.j2 variant counts as its base name)."""
    root = Path(_renderer().root) / LANGUAGE
    names = set()
    for path in root.rglob("*.j2"):
        relative = path.relative_to(root).as_posix().removesuffix(".j2").removesuffix(".sms")
        if not Path(relative).name.startswith("_"):  # partials, included by others
            names.add(relative)
    return sorted(names)


class SampleResident(SimpleNamespace):
    """A resident as templates see it; printed as their name (staff notices write {{ resident }})."""

    def __str__(self) -> str:
        return "Marie-Thérèse Payet-Grondin"


def _longest(items: list[Any], key: Any) -> Any:
    return max(items, key=lambda item: len(key(item)))


def sample_context() -> dict[str, Any]:
    seed = read_seed()
    when = datetime(2026, 12, 30, 7, 30, tzinfo=UTC)  # mercredi 30 décembre à 11 h 30, La Réunion
    venue = _longest([v for v in seed.venues if not v.remote], lambda v: v.name + (v.address or ""))
    adviser = _longest(seed.advisers, lambda a: a.name)
    district = _longest(seed.districts, lambda d: d.name)
    scheme_seed = _longest(seed.schemes, lambda s: s.summary + s.details)
    by_summary = sorted(seed.schemes, key=lambda s: len(s.summary), reverse=True)

    def scheme(s: Any, reasons: tuple[str, ...] = ()) -> dict[str, Any]:
        label = f"{s.acronym} - {s.name}" if s.acronym else s.name
        return {
            "code": s.code,
            "name": s.name,
            "acronym": s.acronym,
            "label": label if len(label) <= 60 else (s.acronym or s.name[:57] + "..."),
            "summary": s.summary,
            "details": s.details,
            "verified": False,
            "reasons": list(reasons),
        }

    appointment = {
        "id": 1,
        "starts_at": when,
        "venue": venue.name,
        "remote": False,
        "address": venue.address,
        "town": venue.town,
        "adviser": adviser.name,
        "scheme": scheme(scheme_seed),
    }
    slot = {**appointment, "ends_at": when, "group": True}
    results = [scheme(s, ("goal", "situation", "district")) for s in by_summary[:5]]
    options = [
        {"number": 1, "label": "mercredi 30 décembre à 11 h 30, " + venue.name},
        {"number": 2, "label": "jeudi 31 décembre à 14 h 30, " + venue.name},
        {"number": 3, "label": "Choisir le lieu"},
    ]
    return {
        "resident": SampleResident(display_name="Marie-Thérèse", opportunities=True, language=LANGUAGE),
        "district": SimpleNamespace(name=district.name, code=district.code),
        "data": {"query": "formation cariste", "scheme_code": scheme_seed.code},
        "appointment": appointment,
        "appointments": [appointment, appointment],
        "slot": slot,
        "slots": [slot, slot, slot],
        "scheme": scheme(scheme_seed),
        "scheme_venues": [v.name for v in seed.venues if v.code in scheme_seed.venues][:4] or [venue.name],
        # a scheme's amount while it is checked (schemes.amount_shown): the longest of the seed's
        "amount": max((s.amount or "" for s in seed.schemes), key=len),
        "results": results,
        "schemes": results,
        "where": "la prise de rendez-vous",
        "starts_at": when,
        # the delivery engine's texts: reminders, waitlist, broadcasts, advisers' digest
        "resident_name": "Marie-Thérèse Payet-Grondin",
        "resident_id": 1234,
        "offer_minutes": 120,
        "expires_at": when,
        "text": (
            "Job dating le jeudi 10 décembre de 9 h à 12 h à la médiathèque Heva. "
            "Une vingtaine d'entreprises recrutent. Venez avec votre CV."
        ),
        "broadcast": {
            "title": "Job dating à Heva",
            "link": "https://lapossession.re/emploi",
            "scheme": None,
            "venue": venue.name,
            "venue_address": venue.address,
            "event_at": when,
        },
        "adviser": adviser.name,
        "day": when,
        "lines": [
            {
                "starts_at": when,
                "resident_name": "Marie-Thérèse Payet-Grondin" if n % 2 else None,
                "resident_id": 1230 + n,
                "scheme": scheme_seed.acronym or scheme_seed.name,
                "remote": n == 2,
                "venue": venue.name,
                "confirmed": n == 1,
            }
            for n in range(1, 4)
        ],
        "options": options,
        "flow": "booking",
        "reply_number": "0939 00 11 22",
        "telegram": "t.me/relai_possession_bot",
        "phone": "0262 22 00 00",
    }


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return _renderer()


@pytest.fixture(scope="module")
def context() -> dict[str, Any]:
    return sample_context()


def render_sms(renderer: Renderer, name: str, context: dict[str, Any]) -> str:
    try:
        return renderer.render(name, language=LANGUAGE, channel="sms", context=context)
    except UndefinedError as error:
        raise AssertionError(
            f"{name}: {error}. Add a representative value for it to sample_context() in {__file__}"
        ) from None


NAMES = template_names()


@pytest.mark.parametrize("name", NAMES)
def test_template_fits_its_sms_budget(name: str, renderer: Renderer, context: dict[str, Any]) -> None:
    if name.startswith(TELEGRAM_ONLY_PREFIX):
        pytest.skip("a Telegram-only text")
    text = render_sms(renderer, name, context)
    sent = to_gsm7(text)
    cost = measure(sent)
    budget = BUDGETS.get(name, DEFAULT_BUDGET)
    raw = measure(text)
    print(f"{name}: {cost.segments} segment(s), {cost.units} septets ({raw.encoding} as written), budget {budget}")
    assert cost.encoding == "GSM-7"
    if name not in NOT_SMS:
        assert cost.segments <= budget, f"{name} takes {cost.segments} segments by SMS (budget {budget}):\n{sent}"


def test_report_lists_every_template(renderer: Renderer, context: dict[str, Any]) -> None:
    """One table of all templates and what they cost by SMS (shown with -s, and on failure)."""
    rows = list(_report(renderer, context))
    width = max(len(name) for name, *_ in rows)
    lines = [f"{'template'.ljust(width)}  seg  chars  written-as  sms-variant"]
    lines += [
        f"{name.ljust(width)}  {segments:>3}  {chars:>5}  {encoding:<10}  {'yes' if variant else ''}"
        for name, segments, chars, encoding, variant in rows
    ]
    print("\n" + "\n".join(lines))
    assert len(rows) == len([n for n in NAMES if not n.startswith(TELEGRAM_ONLY_PREFIX)]) > 60


def _report(renderer: Renderer, context: dict[str, Any]) -> Iterator[tuple[str, int, int, str, bool]]:
    root = Path(renderer.root) / LANGUAGE
    for name in NAMES:
        if name.startswith(TELEGRAM_ONLY_PREFIX):
            continue
        text = render_sms(renderer, name, context)
        sent = measure(to_gsm7(text))
        yield name, sent.segments, sent.characters, measure(text).encoding, (root / f"{name}.sms.j2").is_file()
