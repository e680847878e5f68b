"""What an action or a parser sees of the turn being handled, and how they register with what they declare."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from sqlmodel import Session

from relai_bot.config import Settings
from relai_bot.conversation.language_choice import LANGUAGE_KEY
from relai_bot.conversation.render import Renderer
from relai_bot.store.models import Conversation, Resident
from relai_bot.turns import Attachment, Effect, Inbound, SharePhone


@dataclass
class Context:
    session: Session
    now: datetime
    settings: Settings
    renderer: Renderer
    inbound: Inbound
    conversation: Conversation
    resident: Resident | None
    # Values actions compute for the templates of this turn (not stored)
    vars: dict[str, Any] = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    # Set by an action (or the engine) to offer or withdraw a one-tap phone sharing with the last reply
    share_phone: SharePhone | None = None
    # Set when the conversation itself must not be kept (consent refused, data erased)
    forget: bool = False

    @property
    def data(self) -> dict[str, Any]:
        """Answers kept in the conversation between messages (JSON values only)."""
        return self.conversation.data

    @property
    def language(self) -> str:
        """The resident's language; before consent (nothing stored yet), the one chosen or detected in this
        conversation (conversation/languages_choice.py), else the default."""
        if self.resident is not None:
            return self.renderer.known_language(self.resident.language)
        return self.renderer.known_language(self.data.get(LANGUAGE_KEY))

    @property
    def channel(self) -> str:
        return self.inbound.channel

    def drop(self, *keys: str) -> None:
        """Forget answers kept in the conversation (a finished booking must not linger into the next one)."""
        for key in keys:
            self.data.pop(key, None)

    def effect(self, name: str, **data: Any) -> None:
        self.effects.append(Effect(name, data))

    def render(self, name: str, **extra: Any) -> str:
        return self.renderer.render(
            name, language=self.language, channel=self.channel, context=self.template_context(**extra)
        )

    def label(self, key: str, **extra: Any) -> str:
        return self.renderer.label(key, self.language, self.template_context(**extra))

    def template_context(self, **extra: Any) -> dict[str, Any]:
        return {"resident": self.resident, "data": self.data, "lang": self.language, **self.vars, **extra}

    def require_resident(self) -> Resident:
        if self.resident is None:
            raise RuntimeError("this action needs a resident who gave consent")
        return self.resident


Action = Callable[..., str | None]
Parser = Callable[[Context, str], Any]
_ActionT = TypeVar("_ActionT", bound=Action)
_ParserT = TypeVar("_ParserT", bound=Parser)


class ParseError(ValueError):
    """What the resident typed does not fit; `template` explains what is expected."""

    def __init__(self, template: str | None = None) -> None:
        super().__init__(template or "not understood")
        self.template = template


@dataclass(frozen=True)
class Argument:
    """An argument a flow file passes to an action (`do: {action: x, name: value}`)."""

    name: str
    type: Any  # the annotation: str, bool, int | None, Literal["a", "b"]...
    required: bool

    def __str__(self) -> str:
        return f"{self.name}: {type_name(self.type)}" + ("" if self.required else " = ...")

    def accepts(self, value: Any) -> bool:
        """Whether a value written in a flow file fits (a "{{ ... }}" template is only known at run time)."""
        return (isinstance(value, str) and "{{" in value) or _fits(self.type, value)


@dataclass(frozen=True)
class ActionSpec:
    """A registered action and what it declares, checked against the flow files by the validator."""

    name: str
    function: Action
    takes: tuple[Argument, ...]
    outcomes: tuple[str, ...]  # what it may return besides None (None: carry on with the step)
    provides: tuple[str, ...]  # keys it sets in ctx.vars (for templates and `for_each`)
    reads: tuple[str, ...]  # ctx.data keys it cannot do without
    writes: tuple[str, ...]  # ctx.data keys it may set
    # What it does is not taken back by going back (a booking, a cancellation): "retour" after it leads
    # to the menu, not to the question whose answer did it (conversation/state.py)
    irreversible: bool = False


@dataclass(frozen=True)
class ParserSpec:
    name: str
    function: Parser
    errors: tuple[str, ...]  # templates its ParseError may name


ACTIONS: dict[str, ActionSpec] = {}
PARSERS: dict[str, ParserSpec] = {}


def action(
    name: str,
    *,
    outcomes: tuple[str, ...] = (),
    provides: tuple[str, ...] = (),
    reads: tuple[str, ...] = (),
    writes: tuple[str, ...] = (),
    irreversible: bool = False,
) -> Callable[[_ActionT], _ActionT]:
    """Register a Python action under the name flow files use, with what it declares.

    Its arguments are those of the function after `ctx`, with their annotated types. `irreversible`: what
    it does must not be undone nor redone by "retour" (a booking, a cancellation, a consent).
    """

    declared: dict[str, object] = {"outcomes": outcomes, "provides": provides, "reads": reads, "writes": writes}
    for what, names in declared.items():
        if isinstance(names, str):
            raise TypeError(f"action {name!r}: {what} is a tuple of names, e.g. ({names!r},)")

    def register(function: _ActionT) -> _ActionT:
        if name in ACTIONS:
            raise ValueError(f"action {name!r} registered twice")
        arguments = _arguments(name, function)
        ACTIONS[name] = ActionSpec(name, function, arguments, outcomes, provides, reads, writes, irreversible)
        return function

    return register


def parser(name: str, *, errors: tuple[str, ...] = ()) -> Callable[[_ParserT], _ParserT]:
    """Register a parser of free text; `errors` are the templates its ParseError may name."""

    def register(function: _ParserT) -> _ParserT:
        if name in PARSERS:
            raise ValueError(f"parser {name!r} registered twice")
        PARSERS[name] = ParserSpec(name, function, errors)
        return function

    return register


def _arguments(name: str, function: Action) -> tuple[Argument, ...]:
    hints = get_type_hints(function)
    parameters = list(inspect.signature(function).parameters.values())[1:]  # after ctx
    arguments = []
    for parameter in parameters:
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise TypeError(f"action {name!r}: argument {parameter.name!r} must be a named argument")
        if parameter.name not in hints:
            raise TypeError(f"action {name!r}: argument {parameter.name!r} needs a type annotation")
        arguments.append(Argument(parameter.name, hints[parameter.name], parameter.default is parameter.empty))
    return tuple(arguments)


def type_name(annotation: Any) -> str:
    """How a type reads in a message or the documentation: "bool", "str | None", "'a' | 'b'"."""
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(value) for value in get_args(annotation))
    if origin in (Union, UnionType):
        return " | ".join(type_name(member) for member in get_args(annotation))
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and origin is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _fits(annotation: Any, value: Any) -> bool:
    origin = get_origin(annotation)
    if annotation is Any:
        return True
    if origin is Literal:
        return any(value == choice and type(value) is type(choice) for choice in get_args(annotation))
    if origin in (Union, UnionType):
        return any(_fits(member, value) for member in get_args(annotation))
    if annotation is type(None):
        return value is None
    expected = origin or annotation
    if isinstance(value, bool) and expected is not bool:
        return False  # YAML's true is not a number
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(expected, type) and isinstance(value, expected)
