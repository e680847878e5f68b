"""Which language a resident reads: chosen, detected in a first message, or the default.

The choice is the resident's (`Resident.language`, kept across Telegram and SMS by linking); before consent
nothing is stored about the person, so the conversation keeps it (`data["language"]`) and consent copies it.

Two things of each language's keywords.yaml decide:
- `switch_to`: what a person writes, alone, to ask for that language ("kréol", "français"), at any step;
- `detect`: words scored in a first message ("mi": 2, "travay": 3). The first message is in a language
  when its words there score at least DETECT_MIN and DETECT_MARGIN more than in any other. Words are
  compared in lower case *with* their accents: Creole "lé" is not French "le".
A client's own language setting (Telegram's `language_code`) is a hint, used only when the words decide
nothing and when there are texts in that language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from relai_bot.services.text import fold

LANGUAGE_KEY = "language"
DETECT_MIN = 3
DETECT_MARGIN = 2
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Lower-case words, accents kept (NFC): "Bonjour, mi rode in travay !" -> [bonjour, mi, rode, in, travay]"""
    return _WORD.findall(unicodedata.normalize("NFC", text.casefold()))


@dataclass(frozen=True)
class LanguageWords:
    switch_to: Mapping[str, frozenset[str]]
    detect: Mapping[str, Mapping[str, int]]

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, Mapping[str, Any]]) -> LanguageWords:
        switch = {lang: frozenset(fold(w) for w in kw.get("switch_to") or []) for lang, kw in keywords.items()}
        detect: dict[str, dict[str, int]] = {}
        for lang, kw in keywords.items():
            weights = kw.get("detect") or {}
            if not isinstance(weights, Mapping):
                raise ValueError(f"keywords.yaml of {lang}: detect must map words to weights")
            detect[lang] = {unicodedata.normalize("NFC", str(w).casefold()): int(v) for w, v in weights.items()}
        return cls(switch, detect)

    def requested(self, text: str) -> str | None:
        """The language a message asks for by itself ("kréol", "en français"), or None."""
        folded = fold(text)
        return next((lang for lang, words in self.switch_to.items() if folded and folded in words), None)

    def scores(self, text: str) -> dict[str, int]:
        words = tokens(text)
        pairs = [f"{a} {b}" for a, b in pairwise(words)]
        return {
            lang: sum(weights.get(w, 0) for w in words) + sum(weights.get(p, 0) for p in pairs)
            for lang, weights in self.detect.items()
        }

    def detected(self, text: str) -> str | None:
        """The language a message is clearly written in, or None when its words do not say."""
        ranked = sorted(self.scores(text).items(), key=lambda item: item[1], reverse=True)
        if not ranked or ranked[0][1] < DETECT_MIN:
            return None
        runner_up = ranked[1][1] if len(ranked) > 1 else 0
        return ranked[0][0] if ranked[0][1] - runner_up >= DETECT_MARGIN else None
