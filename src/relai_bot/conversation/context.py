"""What an action or a parser sees of the turn being handled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from relai_bot.config import Settings
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
        return self.resident.language if self.resident else self.renderer.default_language

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
        return {"resident": self.resident, "data": self.data, **self.vars, **extra}

    def require_resident(self) -> Resident:
        if self.resident is None:
            raise RuntimeError("this action needs a resident who gave consent")
        return self.resident


Action = Callable[..., str | None]
Parser = Callable[[Context, str], Any]


class ParseError(ValueError):
    """What the resident typed does not fit; `template` explains what is expected."""

    def __init__(self, template: str | None = None) -> None:
        super().__init__(template or "not understood")
        self.template = template


ACTIONS: dict[str, Action] = {}
PARSERS: dict[str, Parser] = {}


def action(name: str) -> Callable[[Action], Action]:
    """Register a Python action under the name flow files use."""

    def register(function: Action) -> Action:
        if name in ACTIONS:
            raise ValueError(f"action {name!r} registered twice")
        ACTIONS[name] = function
        return function

    return register


def parser(name: str) -> Callable[[Parser], Parser]:
    def register(function: Parser) -> Parser:
        if name in PARSERS:
            raise ValueError(f"parser {name!r} registered twice")
        PARSERS[name] = function
        return function

    return register
