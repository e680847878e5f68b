"""Normalising what a person typed: case, accents, punctuation, emoji."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

_NON_WORD = re.compile(r"[^a-z0-9+]+")


def fold(text: str) -> str:
    """Lower case, accents removed, anything but letters and digits turned into single spaces.

    "  Créer   l'entreprise ! 😀" -> "creer l entreprise"
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = stripped.replace("œ", "oe").replace("æ", "ae")
    return _NON_WORD.sub(" ", stripped).strip()


def words(text: str) -> list[str]:
    return fold(text).split()


def replace_words(folded: str, lexicon: Mapping[str, str]) -> str:
    """Each word of a folded text replaced by its entry in `lexicon` (folded words: "zanfan" -> "enfant"),
    an entry of "" dropping the word. "aide pou mon zanfan" -> "aide pour mon enfant"."""
    return " ".join(w for w in (lexicon.get(word, word) for word in folded.split()) if w)
