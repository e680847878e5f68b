"""Choosing the language: detected in a first message, switched by a button, "kréol" or "français"."""

from __future__ import annotations

from relai_bot.conversation.context import Context, action
from relai_bot.conversation.language_choice import LANGUAGE_KEY


def choose_language(ctx: Context, language: str) -> None:
    """The resident's language from now on: stored on the resident, or kept in the conversation until
    consent (give_consent copies it)."""
    language = ctx.renderer.known_language(language)
    if ctx.resident is not None:
        ctx.resident.language = language
    else:
        ctx.data[LANGUAGE_KEY] = language


@action("note_language", writes=(LANGUAGE_KEY,))
def note_language(ctx: Context) -> str | None:
    """A first message clearly in a language ("bonjour, mi rode in travay") is answered in it; else the
    client's language setting if there are texts for it (a hint only); else the default."""
    if ctx.resident is not None or LANGUAGE_KEY in ctx.data:
        return None
    text = ctx.inbound.text or "" if ctx.inbound.kind == "text" else ""
    words = ctx.renderer.language_words
    language = words.requested(text) or words.detected(text)
    hint = ctx.inbound.language_hint
    if language is None and hint is not None and hint.split("-")[0] in ctx.renderer.languages:
        language = hint.split("-")[0]
    if language is not None and language != ctx.renderer.default_language:
        ctx.data[LANGUAGE_KEY] = language
    return None


@action("other_language", writes=(LANGUAGE_KEY,))
def other_language(ctx: Context) -> str | None:
    """The button next to the welcome and in "Mon compte": the other language (labels `language.other`)."""
    current = ctx.language
    choose_language(ctx, next(lang for lang in ctx.renderer.languages if lang != current))
    return None
