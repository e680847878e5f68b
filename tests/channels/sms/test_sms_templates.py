"""Every French template, rendered as the SMS channel renders it: GSM-7 after transliteration, within budget.

The context is representative and leans to the worst case: the demo data's longest scheme, venue,
address and adviser, a long date ("mercredi 30 décembre à 11 h 30"). Run with -s (or look at the
report test) to see every template with its length and segment count.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from relai_bot.channels.sms.encoding import measure, to_gsm7
from relai_bot.conversation.render import Renderer
from tests.template_samples import LANGUAGE, _renderer, sample_context, template_names

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
