"""Texts: Jinja2 templates in a sandbox, label catalogs and keyword lists, one folder per language.

templates/messages/<lang>/<name>.j2          a message (plain text; a channel escapes it for its markup)
templates/messages/<lang>/<name>.<channel>.j2  a channel's own version (e.g. a shorter SMS)
templates/messages/<lang>/labels.yaml        button and option labels, and small words used in formats
templates/messages/<lang>/keywords.yaml      words that work at every step (menu, aide, stop…)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateNotFound, pass_context
from jinja2.runtime import Context as JinjaContext
from jinja2.sandbox import SandboxedEnvironment

from relai_bot.conversation.intents import IntentMatcher
from relai_bot.conversation.language_choice import LanguageWords
from relai_bot.services import timefmt
from relai_bot.services.text import fold
from relai_bot.turns import texts_channel

KEYWORD_GROUPS = ("menu", "help", "back", "cancel", "stop", "start", "appointments")
# The filters that write a date in the template's language ({{ appointment.starts_at | when }})
DATE_FILTERS = ("when", "day", "clock", "date")
_BLANKS = re.compile(r"\n{3,}")


class Renderer:
    def __init__(
        self, templates_dir: Path, tz: ZoneInfo, default_language: str = "fr", retention_months: int = 12
    ) -> None:
        self.root = templates_dir / "messages"
        self.tz = tz
        self.default_language = default_language
        self.languages = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        if default_language not in self.languages:
            raise FileNotFoundError(f"{self.root / default_language}: the default language has no templates")
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(self.root)),
            autoescape=False,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            # The texts are read once per process: no look at the files' dates on every message
            auto_reload=False,
        )
        # What every text may state from the settings (the privacy notice says how long data is kept)
        self.env.globals["retention_months"] = retention_months
        self.labels = {lang: self._yaml(lang, "labels.yaml") for lang in self.languages}
        keywords = {lang: self._yaml(lang, "keywords.yaml") for lang in self.languages}
        self.keywords: dict[str, frozenset[str]] = {
            group: frozenset(fold(w) for lang in self.languages for w in keywords[lang].get(group, []))
            for group in KEYWORD_GROUPS
        }
        self.answers: dict[str, frozenset[str]] = {}
        for lang in self.languages:
            for key, synonyms in (keywords[lang].get("answers") or {}).items():
                self.answers[key] = self.answers.get(key, frozenset()) | {fold(w) for w in synonyms}
        self.language_words = LanguageWords.from_keywords(keywords)
        self.stopwords = {lang: tuple(keywords[lang].get("search_stopwords", [])) for lang in self.languages}
        # Sentences (conversation/intents.py) and search spellings, from every language, like the keywords
        self.intents = IntentMatcher(_merged(keywords, "intents"))
        self.consent = IntentMatcher(_merged(keywords, "consent"))
        self.search_words = {
            fold(k): fold(v) for lang in self.languages for k, v in keywords[lang].get("search_words", {}).items()
        }
        self.dates = {lang: timefmt.words_for(lang, self.root / lang) for lang in self.languages}
        # Each filter writes in the language of the template being rendered (its `lang` variable)
        functions = {"when": self._when, "day": self._day, "clock": self._clock, "date": self._date}
        for name in DATE_FILTERS:
            self.env.filters[name] = _in_template_language(functions[name])

    def _yaml(self, language: str, name: str) -> dict[str, Any]:
        path = self.root / language / name
        if not path.exists():
            return {}
        # Every scalar is a string here: "oui", "non", "on", "no" must not turn into booleans
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CBaseLoader) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping")
        return data

    def known_language(self, language: object) -> str:
        """The language if there are texts for it, else the default one."""
        return language if isinstance(language, str) and language in self.languages else self.default_language

    _language = known_language

    # -- filters (language-aware through the `lang` context variable) ------------------------------
    def _when(self, moment: datetime, language: str | None = None) -> str:
        lang = self._language(language)
        joiner = self.label("format.at", lang)
        return timefmt.format_when(moment, self.tz, lang, joiner=joiner, words=self.dates[lang])

    def _day(self, moment: datetime, language: str | None = None) -> str:
        lang = self._language(language)
        return timefmt.format_day(moment, self.tz, lang, self.dates[lang])

    def _clock(self, moment: datetime, language: str | None = None) -> str:
        lang = self._language(language)
        return timefmt.format_clock(moment, self.tz, lang, self.dates[lang])

    def _date(self, day: date, language: str | None = None) -> str:
        lang = self._language(language)
        return timefmt.format_long_date(day, lang, self.dates[lang])

    # -- lookups ----------------------------------------------------------------------------------
    @cache  # noqa: B019  (one renderer per process; names are few)
    def _template_file(self, name: str, language: str, channel: str) -> str | None:
        for lang in dict.fromkeys((language, self.default_language)):
            for candidate in (f"{lang}/{name}.{channel}.j2", f"{lang}/{name}.j2"):
                if (self.root / candidate).is_file():
                    return candidate
        return None

    def template_exists(self, name: str) -> bool:
        return (self.root / self.default_language / f"{name}.j2").is_file()

    def label_exists(self, key: str) -> bool:
        return key in self.labels[self.default_language]

    def render(self, name: str, *, language: str | None, channel: str, context: dict[str, Any]) -> str:
        lang = self._language(language)
        channel = texts_channel(channel)  # the simulator shows the texts of the channel it imitates
        file = self._template_file(name, lang, channel)
        if file is None:
            raise TemplateNotFound(name)
        text = self.env.get_template(file).render({**context, "lang": lang, "channel": channel})
        return tidy(text)

    def label(self, key: str, language: str | None, context: dict[str, Any] | None = None) -> str:
        lang = self._language(language)
        raw = self.labels[lang].get(key, self.labels[self.default_language].get(key))
        if raw is None:
            raise KeyError(f"label {key!r}")
        if "{" in str(raw):
            return tidy(self._inline(str(raw)).render({**(context or {}), "lang": lang}))
        return str(raw)

    def inline(self, source: str, context: dict[str, Any]) -> str:
        """Render a small template written in a flow file (a dynamic label or a `set:` value)."""
        return tidy(self._inline(source).render(**context))

    @cache  # noqa: B019  (the sources are the flows' and labels' own: a fixed, small set)
    def _inline(self, source: str) -> Template:
        return self.env.from_string(source)

    @cache  # noqa: B019
    def expression(self, source: str) -> Callable[..., Any]:
        """A Jinja expression written in a flow file (`item.id`), compiled once."""
        return self.env.compile_expression(source)


def _in_template_language(function: Callable[[Any, str | None], str]) -> Callable[..., str]:
    @pass_context
    def in_language(context: JinjaContext, value: Any) -> str:
        return function(value, context.get("lang"))

    return in_language


def _merged(keywords: dict[str, dict[str, Any]], section: str) -> dict[str, list[str]]:
    """A section of keywords.yaml (name -> words), all languages together."""
    merged: dict[str, list[str]] = {}
    for by_language in keywords.values():
        for name, phrases in (by_language.get(section) or {}).items():
            merged.setdefault(name, []).extend(phrases)
    return merged


def tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines))
