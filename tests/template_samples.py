"""Representative contexts for every resident template, built from the demo data (no database).

The SMS budget test (tests/channels/sms/test_sms_templates.py) renders each template once with the worst case:
the demo data's longest scheme, venue, address and adviser, a long date ("mercredi 30 décembre à 11 h 30").
The content tests (tests/content/) render each template once per scheme and once per venue of the seed, with the
scheme or the venue where the flows put it (conversation/actions/*.py: `scheme_item`, `slot_item`,
`appointment_item`, the `scheme_detail` action).

Each takes the `language` of a folder of templates/messages (LANGUAGES): the resident's language, and the
texts the flows put into values (a result's `why`, the options' labels, the flow's title) written in it.
A scheme's name, summary and details are the language's (the seed's `texts`, as services.schemes.scheme_text
gives them, French where a language has none); the other values (amounts, places) stay as the seed has them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from relai_bot.config import load_settings
from relai_bot.conversation.render import Renderer
from relai_bot.seed.load import read_seed
from relai_bot.seed.schema import SchemeSeed, SchemeTextSeed, VenueSeed
from relai_bot.wiring import load_content

LANGUAGE = "fr"  # the default language, the one every other is compared with


@cache
def _renderer() -> Renderer:
    return load_content(load_settings())[1]


def languages() -> list[str]:
    """Every language folder under templates/messages, the default language first."""
    found = _renderer().languages
    return [LANGUAGE, *(language for language in found if language != LANGUAGE)]


LANGUAGES = languages()


def template_names(language: str = LANGUAGE) -> list[str]:
    """Every message name under templates/messages/<language> (a .sms.j2 variant counts as its base name)."""
    root = Path(_renderer().root) / language
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no texts in {language!r}")
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


# A result's reasons, the longest kind (services.schemes.RankedScheme): a priority, then the age group
SAMPLE_REASONS = ("priority:demandeur_emploi_longue_duree", "age:16-25")


def scheme_text(s: SchemeSeed, language: str = LANGUAGE) -> SchemeTextSeed:
    """The scheme's name, summary and details in `language` (the French ones where it has none)."""
    return s.texts.get(language) or SchemeTextSeed(name=s.name, summary=s.summary, details=s.details)


def scheme_sample(s: SchemeSeed, reasons: tuple[str, ...] = (), language: str = LANGUAGE) -> dict[str, Any]:
    """A scheme as templates get it in `language`: actions.discovery.scheme_item's keys (with `why` rendered
    from discovery/_why.j2, as result_items does), and the fields the detail reads (`scheme_detail` passes
    services.schemes.scheme_view)."""
    text = scheme_text(s, language)
    label = f"{s.acronym} - {text.name}" if s.acronym else text.name
    sample = {
        "code": s.code,
        "name": text.name,
        "acronym": s.acronym,
        "label": label if len(label) <= 60 else (s.acronym or text.name[:57] + "..."),
        "summary": text.summary,
        "details": text.details,
        "operator": s.operator,
        "verified": s.verified,
        "review_by": s.review_by,
        "reasons": list(reasons),
    }
    context = {"reasons": list(reasons), "scheme": sample}
    why = _renderer().render("discovery/_why", language=language, channel="console", context=context)
    return {**sample, "why": why if reasons else ""}


def sample_context(
    scheme_code: str | None = None, venue_code: str | None = None, language: str = LANGUAGE
) -> dict[str, Any]:
    """Every variable a resident template may read, for a resident who speaks `language`. Without codes: the
    worst case for length. With a scheme's or a venue's code: that scheme (or venue) wherever the flows show
    one."""
    if language not in _renderer().languages:
        raise ValueError(f"no texts in {language!r} (templates/messages has {_renderer().languages})")
    renderer = _renderer()
    seed = read_seed()
    when = datetime(2026, 12, 30, 7, 30, tzinfo=UTC)  # mercredi 30 décembre à 11 h 30, La Réunion
    # the longest place a resident may be offered: in person, and verified (services.booking.bookable_venue_ids)
    in_person = [v for v in seed.venues if not v.remote and v.verified]
    venue: VenueSeed = (
        next(v for v in seed.venues if v.code == venue_code)
        if venue_code
        else _longest(in_person, lambda v: v.name + (v.address or ""))
    )
    adviser = _longest(seed.advisers, lambda a: a.name)
    district = _longest(seed.districts, lambda d: d.name)
    scheme_seed: SchemeSeed = (
        next(s for s in seed.schemes if s.code == scheme_code)
        if scheme_code
        else _longest(seed.schemes, lambda s: scheme_text(s, language).summary + scheme_text(s, language).details)
    )
    by_summary = sorted(seed.schemes, key=lambda s: len(scheme_text(s, language).summary), reverse=True)
    if scheme_code:
        by_summary = [scheme_seed, *(s for s in by_summary if s.code != scheme_code)]
    # the seed's own verified flag for a chosen scheme; the worst case is verified (it shows where to go)
    sampled = scheme_sample(scheme_seed, language=language)
    scheme = sampled if scheme_code else {**sampled, "verified": True}

    appointment = {
        "id": 1,
        "starts_at": when,
        "venue": venue.name,
        "remote": venue.remote,
        "address": venue.address,
        "town": venue.town,
        "adviser": adviser.name,
        "scheme": scheme,
    }
    slot = {**appointment, "ends_at": when, "group": True}
    results = [scheme_sample(s, SAMPLE_REASONS, language) for s in by_summary[:5]]

    def slot_label(starts_at: datetime) -> str:  # in French "mercredi 30 décembre à 11 h 30, <venue>"
        item = {"starts_at": starts_at, "group": False, "remote": False, "venue": venue.name}
        return renderer.label("booking.slot_option", language, {"item": item})

    options = [
        {"number": 1, "label": slot_label(when)},
        {"number": 2, "label": slot_label(when + timedelta(days=1, hours=3))},
        {"number": 3, "label": renderer.label("booking.choose_place", language)},  # "Choisir le lieu"
    ]
    if scheme_code:  # the chosen scheme's amount as the detail shows it while it holds
        amount = scheme_seed.amount
    else:  # a scheme's amount while it is checked (schemes.amount_shown): the longest of the seed's
        priced = _longest([s for s in seed.schemes if s.amount], lambda s: s.amount)
        amount, scheme["review_by"] = priced.amount, priced.review_by
    scheme_venues = [v.name for v in seed.venues if v.code in scheme_seed.venues and v.verified][:4]
    return {
        "resident": SampleResident(display_name="Marie-Thérèse", opportunities=True, language=language),
        "district": SimpleNamespace(name=district.name, code=district.code),
        "data": {"query": "formation cariste", "scheme_code": scheme_seed.code},
        "appointment": appointment,
        "appointments": [appointment, appointment],
        "slot": slot,
        "slots": [slot, slot, slot],
        "scheme": scheme,
        "scheme_venues": [venue.name] if venue_code else (scheme_venues or [venue.name]),
        "amount": amount,
        "amount_to_ask": False,
        "results": results,
        "page": 0,
        "more_pages": [1],
        "schemes": results,
        "where": renderer.label("booking.title", language),  # a flow's title (common/welcome_back)
        "starts_at": when,
        # a shared position (common/nearest_places)
        "district_name": district.name,
        "venue_name": venue.name,
        "venue_address": venue.address,
        "venue_km": 1.2,
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
        # a label's `item` (booking.slot_option, booking.venue_option, appointments.option)
        "item": {**slot, "name": venue.name},
        "flow": "booking",
        "reply_number": "0939 00 11 22",
        "telegram": "t.me/relai_possession_bot",
        "phone": "0262 22 00 00",
    }
