"""Staff text with placeholders: `{{ prenom }}` and `{{ quartier }}`, filled in for each recipient.

Staff write the text of a broadcast; it is a small template of its own, rendered in a Jinja2
SandboxedEnvironment that has no loader (so it can never include, extend or import a resident template)
and knows only the placeholders below. `check_text` validates it the way staff need: an unknown
placeholder, a tag (`{% ... %}`) or a broken brace is refused with a French message that names it.

A placeholder with no value for a recipient (a first name the service does not know) disappears with
the space before it: "Bonjour {{ prenom }}, ..." reads "Bonjour, ..." for that resident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

# Placeholder (as staff write it) -> what it holds
PLACEHOLDERS = {"prenom": "first name, where the service knows it", "quartier": "the resident's district"}
_ABSENT = "\x00"
_ABSENT_GAP = re.compile("[ \t]?" + _ABSENT)


class BroadcastTextError(ValueError):
    """The staff text (or another field of a draft) cannot be used; the message (French, for staff) says why
    and how to fix it, and `field` names the draft's field it is about (a form shows it there)."""

    def __init__(self, message: str, *, field: str = "text") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Personal:
    """What one recipient's placeholders hold."""

    first_name: str | None
    district: str


_ENV = SandboxedEnvironment(loader=None, autoescape=False, undefined=StrictUndefined)


def _known() -> str:
    return ", ".join("{{ " + name + " }}" for name in PLACEHOLDERS)


def check_text(text: str, *, field: str = "text") -> None:
    """Raise BroadcastTextError when `text` is not a valid staff text (empty, bad braces, tags, unknown names);
    `field` is the form's field it came from (the French text, or a version in another language)."""
    if not text.strip():
        raise BroadcastTextError("Le texte est vide.", field=field)
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as error:
        raise BroadcastTextError(
            f"Accolades mal formées ligne {error.lineno} : un champ s'écrit {{{{ prenom }}}} ou {{{{ quartier }}}}.",
            field=field,
        ) from None
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            raise BroadcastTextError(
                f"Les balises {{% ... %}} ne sont pas acceptées. Champs possibles : {_known()}.", field=field
            )
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                continue
            if not isinstance(child, nodes.Name):
                raise BroadcastTextError(
                    f"Seuls des champs simples sont acceptés entre {{{{ }}}} (ligne {child.lineno}). "
                    f"Champs possibles : {_known()}.",
                    field=field,
                )
            if child.name not in PLACEHOLDERS:
                raise BroadcastTextError(
                    f"Champ inconnu : {{{{ {child.name} }}}}. Champs possibles : {_known()}.", field=field
                )


def placeholders_in(text: str) -> set[str]:
    """The placeholders a (valid) text uses."""
    return {node.name for node in _ENV.parse(text).find_all(nodes.Name)}


@lru_cache(maxsize=64)
def _compiled(text: str) -> Template:
    check_text(text)
    return _ENV.from_string(text)


def personalise(text: str, who: Personal) -> str:
    """The text one recipient reads (placeholders filled in); `text` must pass `check_text`."""
    if "{" not in text:
        return text
    values = {"prenom": (who.first_name or "").strip() or _ABSENT, "quartier": who.district}
    rendered: str = _compiled(text).render(**values)
    return _ABSENT_GAP.sub("", rendered)
