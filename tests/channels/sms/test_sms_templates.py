"""Every template of every language, rendered as the SMS channel renders it: GSM-7 after transliteration,
within budget. Each language folder of templates/messages is checked (French, Réunion Creole, any other),
against the same budgets.

The context is representative and leans to the worst case: the demo data's longest scheme, venue,
address and adviser, a long date ("mercredi 30 décembre à 11 h 30"), for a resident of that language.
Run with -s (or look at the report test) to see every template with its length and segment count, the
languages side by side.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from relai_bot.channels.sms.encoding import measure, to_gsm7
from relai_bot.conversation.render import Renderer
from tests.template_samples import LANGUAGE, LANGUAGES, _renderer, sample_context, template_names

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
    "staff/digest": 3,
}
# Not sent by SMS at all: they go into the .ics file attached on Telegram
NOT_SMS = {"booking/ics_description", "booking/ics_location", "booking/ics_summary"}
# Telegram's own texts (buttons, commands, phone sharing): never rendered for SMS
TELEGRAM_ONLY_PREFIX = "channel/telegram_"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return _renderer()


@pytest.fixture(scope="module")
def contexts() -> dict[str, dict[str, Any]]:
    return {language: sample_context(language=language) for language in LANGUAGES}


def render_sms(renderer: Renderer, name: str, context: dict[str, Any], language: str = LANGUAGE) -> str:
    try:
        return renderer.render(name, language=language, channel="sms", context=context)
    except UndefinedError as error:
        raise AssertionError(
            f"{language}/{name}: {error}. Add a representative value for it to sample_context() in {__file__}"
        ) from None


NAMES = {language: template_names(language) for language in LANGUAGES}
CASES = [(language, name) for language in LANGUAGES for name in NAMES[language]]


def _sent_by_sms(name: str) -> bool:
    return not name.startswith(TELEGRAM_ONLY_PREFIX)


def test_every_language_is_checked() -> None:
    """French, and every other folder of templates/messages (Réunion Creole today), each with its texts."""
    assert LANGUAGES[0] == LANGUAGE and "rcf" in LANGUAGES
    assert all(len(NAMES[language]) > 60 for language in LANGUAGES)


@pytest.mark.parametrize(("language", "name"), CASES)
def test_template_fits_its_sms_budget(
    language: str, name: str, renderer: Renderer, contexts: dict[str, dict[str, Any]]
) -> None:
    if not _sent_by_sms(name):
        pytest.skip("a Telegram-only text")
    text = render_sms(renderer, name, contexts[language], language)
    sent = to_gsm7(text)
    cost = measure(sent)
    budget = BUDGETS.get(name, DEFAULT_BUDGET)
    raw = measure(text)
    print(
        f"{language}/{name}: {cost.segments} segment(s), {cost.units} septets ({raw.encoding} as written), "
        f"budget {budget}"
    )
    assert cost.encoding == "GSM-7"
    if name not in NOT_SMS:
        assert cost.segments <= budget, (
            f"{language}/{name} takes {cost.segments} segments by SMS (budget {budget}):\n{sent}"
        )


def test_report_lists_every_template(renderer: Renderer, contexts: dict[str, dict[str, Any]]) -> None:
    """One table of all templates and what they cost by SMS in each language (shown with -s, and on failure):
    the segments, the characters, GSM-7 or UCS-2 as written (before transliteration), and whether the
    language has an SMS variant of its own."""
    reports = {language: dict(_report(renderer, contexts[language], language)) for language in LANGUAGES}
    names = sorted({name for rows in reports.values() for name in rows})
    width = max(len(name) for name in names)
    header = "  ".join(f"{language + ' seg':>7}  chars  written-as  sms" for language in LANGUAGES)
    lines = [f"{'template'.ljust(width)}  {header}"]
    for name in names:
        cells = []
        for language in LANGUAGES:
            row = reports[language].get(name)
            if row is None:
                cells.append(f"{'-':>7}  {'':>5}  {'':<10}  {'':<3}")
                continue
            segments, chars, encoding, variant = row
            cells.append(f"{segments:>7}  {chars:>5}  {encoding:<10}  {'yes' if variant else '':<3}")
        lines.append(f"{name.ljust(width)}  " + "  ".join(cells))
    for language in LANGUAGES:
        rows = reports[language].values()
        lines.append(
            f"{language}: {len(rows)} templates, {sum(r[0] for r in rows)} segments in all, "
            f"max {max(r[0] for r in rows)}, {sum(r[1] for r in rows)} characters"
        )
    print("\n" + "\n".join(lines))
    for language in LANGUAGES:
        assert len(reports[language]) == len([n for n in NAMES[language] if _sent_by_sms(n)]) > 60


def _report(
    renderer: Renderer, context: dict[str, Any], language: str
) -> Iterator[tuple[str, tuple[int, int, str, bool]]]:
    root = Path(renderer.root) / language
    for name in NAMES[language]:
        if not _sent_by_sms(name):
            continue
        text = render_sms(renderer, name, context, language)
        sent = measure(to_gsm7(text))
        variant = (root / f"{name}.sms.j2").is_file()
        yield name, (sent.segments, sent.characters, measure(text).encoding, variant)
