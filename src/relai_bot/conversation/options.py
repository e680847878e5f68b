"""Options offered at a step: built from the flow's choices, found again from a button id or typed text."""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz import fuzz

from relai_bot.conversation.context import Context
from relai_bot.conversation.flows import StepSpec
from relai_bot.conversation.render import Renderer
from relai_bot.services.text import fold
from relai_bot.store.models import Conversation
from relai_bot.turns import Option

_WHOLE_EXPRESSION = re.compile(r"^\{\{\s*(.+?)\s*\}\}$")
# A typed answer this close to one label (and closer to it than to any other) chooses it
FUZZY_MATCH = 85


def render_value(renderer: Renderer, value: Any, scope: dict[str, Any]) -> Any:
    """A value written in a flow file: "{{ item.id }}" keeps its type; other templates give text."""
    if not isinstance(value, str) or "{{" not in value:
        return value
    whole = _WHOLE_EXPRESSION.match(value)
    if whole:
        return renderer.expression(whole.group(1))(**scope)
    return renderer.inline(value, scope)


def build_options(ctx: Context, step: StepSpec) -> list[dict[str, Any]]:
    """The step's choices, with `for_each` expanded over what its action computed (JSON-safe, stored)."""
    renderer = ctx.renderer
    options: list[dict[str, Any]] = []
    base = ctx.template_context()

    def resolved(choice_values: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
        return {k: render_value(renderer, v, scope) for k, v in choice_values.items()}

    for index, choice in enumerate(step.choices):
        args = choice.do.args if choice.do else {}
        if choice.for_each is None:
            options.append(
                {
                    "key": choice.key,
                    "label": ctx.label(choice.label),
                    "set": resolved(choice.set, base),
                    "args": resolved(args, base),
                    "choice": index,
                }
            )
            continue
        for position, item in enumerate(ctx.vars.get(choice.for_each) or []):
            scope = {**base, "item": item}
            label = (
                renderer.inline(choice.label, scope)
                if "{{" in choice.label
                else renderer.label(choice.label, ctx.language, scope)
            )
            options.append(
                {
                    "key": f"{choice.for_each}_{position + 1}",
                    "label": label,
                    "set": resolved(choice.set, scope),
                    "args": resolved(args, scope),
                    "choice": index,
                }
            )
    for number, option in enumerate(options, start=1):
        option["n"] = number
    return options


def offered(conversation: Conversation) -> list[Option]:
    """The options as the channels show them; ids carry the turn so an old button is recognised."""
    return [Option(id=f"{conversation.turn}.{o['n']}", label=o["label"], number=o["n"]) for o in conversation.options]


def by_id(conversation: Conversation, choice: str) -> dict[str, Any] | None:
    """The option a button press means, or None for an old, replayed or forged button."""
    turn, _, number = choice.partition(".")
    if turn != str(conversation.turn) or not number.isdigit():
        return None
    return next((o for o in conversation.options if o["n"] == int(number)), None)


def by_text(options: list[dict[str, Any]], text: str, answers: dict[str, frozenset[str]]) -> dict[str, Any] | None:
    """The option a typed answer means: its number, key, label or a synonym, then a close spelling."""
    wanted = fold(text)
    if not wanted:
        return None
    if wanted.isdigit():
        return next((o for o in options if o["n"] == int(wanted)), None)
    for option in options:
        synonyms = answers.get(str(option["key"]), frozenset())
        if wanted in (fold(str(option["key"]).replace("_", " ")), fold(option["label"])) or wanted in synonyms:
            return option
    scored = sorted(((fuzz.ratio(wanted, fold(o["label"])), o["n"]) for o in options), reverse=True)
    if scored and scored[0][0] >= FUZZY_MATCH and (len(scored) == 1 or scored[1][0] < scored[0][0]):
        return next(o for o in options if o["n"] == scored[0][1])
    return None
