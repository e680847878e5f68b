"""The house's plain-words (FALC) rules, as a linter for texts residents read (docs/plain-words.md says why).

`check(text, rules)` returns what breaks a rule: a sentence too long, an acronym not spelled out, a banned
word; `internal_markers(text)` finds notes meant for staff ("à confirmer", "TODO", a "{{" left over). The word
lists live beside each language's texts (templates/messages/<lang>/plain_words.yaml). The tests run both over
every template, label and scheme text; the back-office may run them over what staff write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from relai_bot.services.text import fold

RULES_FILE = "plain_words.yaml"  # in each language's folder of templates/messages


@dataclass(frozen=True)
class Rules:
    """A language's word lists (templates/messages/<lang>/plain_words.yaml)."""

    max_words: int  # per sentence
    acronyms: dict[str, tuple[str, ...]]  # acronym -> the plain words that spell it out
    common_acronyms: tuple[str, ...]  # known well enough to need no expansion
    banned: dict[str, str]  # word -> what to write instead (whole words, accents and case ignored)
    shouted_banned: dict[str, str]  # banned only in capitals, as the word a resident is told to type
    shouted_allowed: dict[str, str]  # text name -> the one such word it must show (a provider's keyword)


@cache
def load_rules(language_dir: Path) -> Rules:
    data = yaml.load((language_dir / RULES_FILE).read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    return Rules(
        max_words=int(data["max_words"]),
        acronyms={key: tuple(words) for key, words in data["acronyms"].items()},
        common_acronyms=tuple(data["common_acronyms"]),
        banned=dict(data["banned"]),
        shouted_banned=dict(data["shouted_banned"]),
        shouted_allowed=dict(data.get("shouted_allowed") or {}),
    )


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_OPTION = re.compile(r"^\s*\d+\s*[.)]\s")  # "1. Oui": a choice, not a sentence
_WORD = re.compile(r"[^\W\d_][\w'’-]*")  # a word starts with a letter: numbers, times and prices don't count
_SEPARATOR = re.compile(r"^[\s(:,–-]+")  # between an acronym and its expansion: "CEJ (", "CEJ : ", "CEJ - "
_ARTICLE = re.compile(r"^(l|la|le|les|un|une) ")


@dataclass(frozen=True)
class Finding:
    rule: str
    sentence: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}\n    « {self.sentence} »"


def sentences(text: str) -> list[str]:
    """Sentences split on . ! ? and line breaks; numbered choices left out."""
    found: list[str] = []
    for line in text.splitlines():
        if _OPTION.match(line):
            continue
        found += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return found


def word_count(sentence: str) -> int:
    return len(_WORD.findall(sentence))


def _acronym_findings(text: str, shown_before: str, rules: Rules) -> list[Finding]:
    findings = []
    for acronym, expansions in rules.acronyms.items():
        pattern = re.compile(rf"(?<![\w-]){re.escape(acronym)}(?![\w-])")
        first = pattern.search(text)
        if first is None:
            continue
        before = fold(shown_before + "\n" + text[: first.start()])
        after = _ARTICLE.sub("", fold(_SEPARATOR.sub("", text[first.end() :])[:120]))
        if not any(fold(e) in before or after.startswith(fold(e)) for e in expansions):
            detail = f"{acronym} is not spelled out before it, nor just after it ({expansions[0]})"
            sentence = next(s for s in [*sentences(text), *text.splitlines()] if pattern.search(s))
            findings.append(Finding("acronym", sentence, detail))
    return findings


def _banned_findings(text: str, rules: Rules, name: str) -> list[Finding]:
    findings = []
    folded_sentences = [(s, f" {fold(s)} ") for s in sentences(text)]
    for word, instead in rules.banned.items():
        for sentence, folded in folded_sentences:
            if f" {fold(word)} " in folded:
                findings.append(Finding("banned word", sentence, f"« {word} »: write « {instead} »"))
    for word, instead in rules.shouted_banned.items():
        if rules.shouted_allowed.get(name) == word:
            continue
        for sentence in sentences(text):
            if re.search(rf"\b{word}\b", sentence):
                findings.append(Finding("banned word", sentence, f"« {word} »: write « {instead} »"))
    return findings


def check(text: str, rules: Rules, shown_before: str = "", name: str = "") -> list[Finding]:
    """What breaks the plain-words rules in `text`. `shown_before`: what the resident read just above it
    (a scheme's name above its summary), which may spell out an acronym; `name`: the text's template name
    with its channel ("common/stopped.sms.j2"), for the words a provider makes a text show (shouted_allowed)."""
    findings = [
        Finding("long sentence", s, f"{n} words (at most {rules.max_words})")
        for s in sentences(text)
        if (n := word_count(s)) > rules.max_words
    ]
    return findings + _acronym_findings(text, shown_before, rules) + _banned_findings(text, rules, name)


_MARKERS = re.compile(
    r"\b(a confirmer|a verifier|a reverifier|non verifiee?s?|a identifier|supposee?s?|fictif|fictive|todo|"
    r"none|null|xxx+|tbd)\b"
)
_RAW_MARKERS = re.compile(r"\{\{|\}\}|\{%|%\}|\?\?|\(\s*\?\s*\)|:\s*\?(?!\S)")


def internal_markers(text: str) -> list[str]:
    """Notes for staff or template leftovers that must never reach a resident (accents and case ignored)."""
    return [m.group(0) for m in _MARKERS.finditer(fold(text))] + [m.group(0) for m in _RAW_MARKERS.finditer(text)]
