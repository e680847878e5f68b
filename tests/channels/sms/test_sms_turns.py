"""Whole turns by SMS: what a resident receives at every step of every flow, as the SMS channel sends it,
in every language (each folder of templates/messages: French, Réunion Creole…), the resident's language
being Resident.language.

For each step that waits for the resident, the step's texts and its options are built by the engine's
own parts (conversation.options.build_options, the step's templates, the SMS variants) and composed by
the SMS channel's composer (numbered options, GSM-7, merging, splitting), in a representative worst case:
the demo data's longest names (schemes, venues, districts, advisers) and a long date. The same is done
for the turns that lead to a step (a text said on the way, "Merci !" before the menu), for an error
answered at a step (a slot taken), and for "aide" at every step (the help, then the options).

Every SMS of the booking path takes at most 2 segments of GSM-7 and, arriving at its steps, their mean
stays under 1.5 (the budget of tools/sms_journey.py, which measures a real booking the same way). Run
with -s to see the report: each turn, its SMS, the segments and characters of each, for each language,
then the languages side by side.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from statistics import mean
from typing import Any, cast

import pytest
from sqlmodel import Session
from tools.sms_journey import MAX_MEAN, MAX_SEGMENTS

from relai_bot.channels.sms.encoding import measure
from relai_bot.channels.sms.render import SmsComposer
from relai_bot.config import Settings, load_settings
from relai_bot.conversation import options
from relai_bot.conversation.actions.notices import NOTICE_SLOTS
from relai_bot.conversation.context import Context
from relai_bot.conversation.flows import FlowSet, StepSpec, Target
from relai_bot.conversation.render import Renderer
from relai_bot.seed.load import read_seed
from relai_bot.store.models import Conversation
from relai_bot.turns import Inbound, Option, Reply
from relai_bot.wiring import load_content
from tests.template_samples import LANGUAGE, LANGUAGES, sample_context

# The steps of a booking by SMS, from the first message on (the welcome and the privacy notice included)
BOOKING_PATH = (
    "onboarding",
    "menu",
    "booking",
    "my_appointments",
    "callback",
    "reminder",
    "waitlist",
    "waitlist_offer",
    "find_scheme",
)
ADDRESS = "+262692000001"
# What the privacy notice must say by SMS, in each language: the number, the adviser, how long, where to
# erase it, and the question
PRIVACY_SAYS = {
    "fr": ("numéro", "conseiller", "12 mois", "Mon compte", "Etes-vous d'accord ?"),
    "rcf": ("niméro", "konséyé", "12 mwa", "Mon kont", "Ou lé dakor ?"),
}


def how_to_answer(renderer: Renderer, language: str) -> re.Pattern[str]:
    """The last line of channel/sms_options in a language, as a pattern: in French "Répondez 1", "Répondez 1
    ou 2", "Répondez un numéro de 1 à 5" (the words before the first number, for one option and for four)."""
    leads = []
    for count in (1, 4):
        listed = [{"number": n, "label": "x"} for n in range(1, count + 1)]
        context = {"options": listed, "flow": "menu"}
        last = renderer.render("channel/sms_options", language=language, channel="sms", context=context)
        line = last.splitlines()[-1]
        leads.append(re.escape(line[: line.index("1")]))
    return re.compile(rf"^({'|'.join(leads)})\d")


@dataclass(frozen=True)
class SmsTurn:
    """What the resident receives in one turn: `sms` are the texts of the SMS, in order."""

    name: str
    flow: str
    kind: str  # "step" (arriving at it), "via" (a text on the way), "error", "help"
    sms: list[str]
    options: list[Option]  # what the turn offers

    @property
    def segments(self) -> list[int]:
        return [measure(text).segments for text in self.sms]

    @property
    def booking_path(self) -> bool:
        return self.flow in BOOKING_PATH


def _longest(items: list[Any], key: Any, count: int) -> list[Any]:
    return sorted(items, key=lambda item: len(key(item)), reverse=True)[:count]


def turn_context(settings: Settings, renderer: Renderer, language: str = LANGUAGE) -> dict[str, Any]:
    """The templates' context (tests/template_samples.py) for a resident of `language`, plus what options are
    built from, each list as long as the actions make it and with the longest labels of the demo data."""
    seed = read_seed()
    context = sample_context(language=language)
    # a result's reason as discovery/_why.j2 writes it in the language (results.j2 shows it; not by SMS)
    why = renderer.render("discovery/_why", language=language, channel="console", context={"reasons": ["age:18-25"]})
    when = datetime(2026, 12, 30, 7, 30, tzinfo=UTC)  # mercredi 30 décembre à 11 h 30, La Réunion
    # slots are at the verified places where advisers receive (only those take bookings): the longest
    # name of those, every slot there
    hosting = {opening.venue for adviser in seed.advisers for opening in adviser.openings}
    places = [v for v in seed.venues if v.code in hosting and v.verified]
    venue = max((v for v in places if not v.remote), key=lambda v: len(v.name))
    slots = [
        {
            **context["slot"],
            "id": n,
            "starts_at": when + timedelta(days=n),
            "venue": venue.name,
            "address": venue.address,
            "group": n == 0,
        }
        for n in range(settings.slots_offered)
    ]

    def label(s: Any) -> str:
        text = f"{s.acronym} - {s.name}" if s.acronym else s.name
        return text if len(text) <= 60 else (s.acronym or s.name[:57] + "...")

    def scheme(s: Any) -> dict[str, Any]:
        return {
            **context["scheme"],
            "code": s.code,
            "name": s.name,
            "acronym": s.acronym,
            "label": label(s),
            "summary": s.summary,
            "why": why,
            "reasons": ["age:18-25"],
        }

    schemes = [scheme(s) for s in _longest(list(seed.schemes), label, 5)]
    bookable = [scheme(s) for s in _longest([s for s in seed.schemes if s.verified], label, 5)]
    return {
        **context,
        "slots": slots,
        "results": schemes,
        "schemes": bookable,
        "general_scheme": "accompagnement-france-travail",
        "districts": [{"name": d.name, "code": d.code} for d in seed.districts],
        "venues": [
            {"id": n, "name": v.name, "remote": v.remote, "first_start": when, "free": 12}
            for n, v in enumerate(_longest(places, lambda v: v.name, len(places)))
        ],
        "appointments": [context["appointment"]] * 3,
    }


class TurnBuilder:
    """Builds each turn's replies with the engine's parts, then the SMS the channel would send."""

    def __init__(self, flows: FlowSet, renderer: Renderer, settings: Settings, language: str = LANGUAGE) -> None:
        self.flows = flows
        self.renderer = renderer
        self.composer = SmsComposer(renderer, settings)
        self.settings = settings
        self.language = language
        self.context = turn_context(settings, renderer, language)

    def ctx(self, flow: str) -> Context:
        values = dict(self.context)
        if flow == "appointment_notice":  # a notice offers fewer slots
            values["slots"] = values["slots"][:NOTICE_SLOTS]
        resident, data = values.pop("resident"), dict(values.pop("data"))
        conversation = Conversation(channel="sms", address=ADDRESS, flow="menu", step="home", data=data)
        inbound = Inbound(channel="sms", address=ADDRESS)
        now = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
        # No database: the turn's texts and options come from the context, as an action would leave them
        ctx = Context(cast(Session, None), now, self.settings, self.renderer, inbound, conversation, resident)
        ctx.vars.update(values)
        assert ctx.language == self.language  # the resident's language, as Context.language reads it
        return ctx

    def offered(self, ctx: Context, step: StepSpec) -> list[Option]:
        built = options.build_options(ctx, step)
        return [Option(id=f"1.{o['n']}", label=o["label"], number=o["n"]) for o in built]

    def arrive(self, ctx: Context, target: Target, replies: list[Reply]) -> tuple[Target, StepSpec]:
        """Enter `target` as the engine does (its texts, automatic steps followed) until a step waits."""
        for _ in range(10):
            step = self.flows.step(target)
            replies += [Reply(text=ctx.render(name)) for name in step.say]
            if step.waits:
                offered = self.offered(ctx, step)
                if offered:
                    if not replies:
                        replies.append(Reply(text=ctx.render("common/choose")))
                    replies[-1].options = offered
                return target, step
            assert step.goto is not None
            target = self.flows.resolve(target.flow, step.goto)
        raise AssertionError(f"no waiting step after {target}")

    def turn(self, name: str, flow: str, kind: str, replies: list[Reply], at: Target) -> SmsTurn:
        # the engine's replies carry the resident's language (Reply.language): the channel's words follow it
        batches = self.composer.batches(replies, language=self.language, flow=at.flow)
        offered = [o for r in replies for o in r.options]
        return SmsTurn(name, flow, kind, [part for batch in batches for part in batch.parts], offered)

    def turns(self) -> Iterator[SmsTurn]:
        for flow_id, flow in self.flows.flows.items():
            for step_id, step in flow.steps.items():
                here = Target(flow_id, step_id)
                name = f"{flow_id}/{step_id}"
                if step.waits:
                    ctx = self.ctx(flow_id)
                    replies: list[Reply] = []
                    self.arrive(ctx, here, replies)
                    yield self.turn(name, flow_id, "step", replies, here)
                    if step.choices:
                        ctx = self.ctx(flow_id)
                        help_reply = Reply(text=ctx.render(step.help or "common/help"), options=self.offered(ctx, step))
                        yield self.turn(f"{name} (aide)", flow_id, "help", [help_reply], here)
                elif step.say:
                    ctx = self.ctx(flow_id)
                    replies = []
                    at, _ = self.arrive(ctx, here, replies)
                    yield self.turn(f"{name} -> {at.flow}/{at.step}", flow_id, "via", replies, at)
                for error, handler in step.errors.items():
                    ctx = self.ctx(flow_id)
                    replies = [Reply(text=ctx.render(template)) for template in handler.say]
                    at, _ = self.arrive(ctx, self.flows.resolve(flow_id, handler.goto), replies)
                    yield self.turn(f"{name} !{error} -> {at.flow}/{at.step}", flow_id, "error", replies, at)


@cache
def turns_in(language: str) -> list[SmsTurn]:
    settings = load_settings()
    flows, renderer = load_content(settings)
    return list(TurnBuilder(flows, renderer, settings, language).turns())


@pytest.fixture(scope="module", params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    return cast(str, request.param)


@pytest.fixture(scope="module")
def turns(language: str) -> list[SmsTurn]:
    return turns_in(language)


def report(turns: list[SmsTurn]) -> str:
    """One line a turn: booking path or not, how many SMS, the segments and characters of each."""
    width = max(len(t.name) for t in turns)
    lines = [f"{'turn'.ljust(width)}  path  sms  segments  characters"]
    for t in turns:
        segments = " + ".join(str(s) for s in t.segments)
        chars = " + ".join(str(len(text)) for text in t.sms)
        path = "yes" if t.booking_path else ""
        lines.append(f"{t.name.ljust(width)}  {path:<4}  {len(t.sms):>3}  {segments:<8}  {chars}")
    main = booking_path_segments(turns)
    lines.append(
        f"booking path (arriving at each step; errors and help apart): {len(main)} SMS, "
        f"max {max(main)} segments, mean {mean(main):.2f}"
    )
    return "\n".join(lines)


def booking_path_segments(turns: list[SmsTurn]) -> list[int]:
    """The segments of each SMS a resident gets on arriving at a step of the booking path (with the texts
    said on the way): the mean is taken over these; an error or "aide" is a turn apart."""
    return [s for t in turns if t.booking_path and t.kind in ("step", "via") for s in t.segments]


def test_the_report_covers_every_waiting_step_with_its_help(turns: list[SmsTurn], language: str) -> None:
    print(f"\n[{language}]\n" + report(turns))
    settings = load_settings()
    flows, _ = load_content(settings)
    waiting = {f"{f}/{s}" for f, flow in flows.flows.items() for s, step in flow.steps.items() if step.waits}
    assert waiting <= {t.name for t in turns if t.kind == "step"}
    assert {t.name.removesuffix(" (aide)") for t in turns if t.kind == "help"} <= waiting
    assert set(BOOKING_PATH) <= set(flows.flows)


def test_every_sms_of_the_booking_path_fits_two_segments_and_the_mean_stays_low(
    turns: list[SmsTurn], language: str
) -> None:
    too_long = [(t.name, t.segments) for t in turns if t.booking_path and max(t.segments) > MAX_SEGMENTS]
    assert too_long == [], too_long
    figures = booking_path_segments(turns)
    print(f"\n[{language}] booking path: {len(figures)} SMS, mean {mean(figures):.2f} segments")
    assert mean(figures) < MAX_MEAN, report(turns)


def test_every_sms_of_every_turn_is_gsm7_within_the_setting(turns: list[SmsTurn]) -> None:
    settings = load_settings()
    assert settings.sms_max_segments == MAX_SEGMENTS  # the default: the splitter keeps every SMS to it
    for t in turns:
        for text in t.sms:
            cost = measure(text)
            assert cost.encoding == "GSM-7" and 1 <= cost.segments <= MAX_SEGMENTS, f"{t.name}:\n{text}"


def test_the_line_that_says_how_to_answer_is_found_in_each_language() -> None:
    _, renderer = load_content(load_settings())
    french = how_to_answer(renderer, "fr")
    assert all(french.match(line) for line in ("Répondez 1.", "Répondez 1 ou 2.", "Répondez un numéro de 1 à 5."))
    assert not french.match("1. Répondez") and not french.match("Réponn 1 oswa 2.")
    creole = how_to_answer(renderer, "rcf")
    assert creole.match("Réponn 1 oswa 2.") and creole.match("Réponn in niméro de 1 a 5.")
    assert not creole.match("Répondez 1 ou 2.")


def test_an_option_list_is_never_split_and_goes_with_the_last_sms(turns: list[SmsTurn], language: str) -> None:
    """Every option and the line that says how to answer are in the last SMS, one a line, in order, and
    no option line is in an SMS before: after "aide" too."""
    _, renderer = load_content(load_settings())
    answer = how_to_answer(renderer, language)
    with_options = [t for t in turns if t.options]
    assert len(with_options) > 100
    for t in with_options:
        *before, last = t.sms
        lines = last.splitlines()
        numbered = [line for line in lines if line.split(". ", 1)[0].isdigit()]
        assert [int(line.split(".")[0]) for line in numbered] == [o.number for o in t.options], f"{t.name}:\n{last}"
        assert answer.match(lines[-1]), f"{t.name}:\n{last}"
        earlier = [line for text in before for line in text.splitlines()]
        assert not any(line.startswith("1. ") or answer.match(line) for line in earlier), t.name


def test_the_booking_steps_take_one_sms_each(turns: list[SmsTurn]) -> None:
    """Arriving at a step of the booking itself: one SMS, never a question sent apart from its options."""
    booking = [t for t in turns if t.flow == "booking" and t.kind == "step"]
    assert len(booking) >= 5
    assert [(t.name, len(t.sms)) for t in booking if len(t.sms) != 1] == []


def test_the_welcome_and_the_privacy_notice_fit_one_sms_with_more_to_read(turns: list[SmsTurn], language: str) -> None:
    by_name = {t.name: t for t in turns}
    welcome, privacy = by_name["onboarding/welcome"], by_name["onboarding/privacy"]
    assert len(welcome.sms) == 1 and len(privacy.sms) == 1
    _, renderer = load_content(load_settings())
    more = renderer.label("onboarding.privacy_more", language)  # "En savoir plus": leads to the privacy notice
    assert f"3. {more}" in welcome.sms[0]
    if language == LANGUAGE:
        assert more == "En savoir plus"
    assert language in PRIVACY_SAYS, f"add what the privacy notice says in {language!r} to PRIVACY_SAYS"
    for said in PRIVACY_SAYS[language]:
        assert said in privacy.sms[0], f"{language}: {said!r} not in\n{privacy.sms[0]}"


def test_the_languages_side_by_side() -> None:
    """Each language's figures beside the French ones (run with -s): the booking path's SMS, the mean and
    the max of their segments, and every turn's segments where the languages differ. Same limits for all."""
    by_language = {language: turns_in(language) for language in LANGUAGES}
    lines = [f"{'language':<8}  booking-path SMS  mean  max  all turns: SMS  max"]
    for language, turns in by_language.items():
        path = booking_path_segments(turns)
        every = [s for t in turns for s in t.segments]
        lines.append(
            f"{language:<8}  {len(path):>16}  {mean(path):.2f}  {max(path):>3}  {len(every):>14}  {max(every):>3}"
        )
    names = {language: {t.name: t for t in turns} for language, turns in by_language.items()}
    french = names[LANGUAGE]
    width = max(len(name) for name in french)
    lines.append(f"\nturns whose segments differ from French\n{'turn'.ljust(width)}  " + "  ".join(LANGUAGES))
    for name in french:
        cells = [
            " + ".join(str(s) for s in names[lang][name].segments) if name in names[lang] else "-" for lang in LANGUAGES
        ]
        if len(set(cells)) > 1:
            lines.append(f"{name.ljust(width)}  " + "  ".join(f"{cell:<8}" for cell in cells))
    print("\n" + "\n".join(lines))
    for language, turns in by_language.items():
        assert {t.name for t in turns} == set(french), language  # the same turns in every language
        path = booking_path_segments(turns)
        assert max(path) <= MAX_SEGMENTS and mean(path) < MAX_MEAN, f"{language}:\n{report(turns)}"
