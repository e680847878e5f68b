"""What a person means in a sentence: "jveu 1 rdv", "mi rode travay", "kan mon rdv".

The phrases are data (templates/messages/<lang>/keywords.yaml, section `intents`); no language model.
How a sentence is read:
- the message and each phrase are folded (services.text.fold) and cut into words;
- a phrase is found when its words appear in the message in the same order, each word equal, or, for
  words of 5 letters or more on both sides, a close spelling (rapidfuzz ratio >= 85); one or two other
  words may come between two words of the phrase ("annuler rdv" is found in "annuler mon rdv");
- the words of `stop` phrases (EXACT_ONLY) must be typed as listed: no close spellings;
- a phrase that says no itself ("je peux pas venir") is kept as is; any other phrase is dropped when a
  negation ("pas", "plus", "pa", "ne"…) comes among the three words before it or between its words
  ("je ne veux pas de rdv" is not a wish to book);
- the intent of the best phrase found wins. Best is: a wish to do something before a topic (`find`,
  TOPICS below, comes last: "rdv pour un emploi" is a booking), then the longer phrase (more specific:
  "annuler rdv" beats "rdv"), then exact words before close spellings, then the order of ORDER below
  (on a true tie, asking whether to stop is the careful reading).
The matcher only reads: the engine decides where an intent leads (conversation/engine.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from relai_bot.services.text import fold

# Ties between phrases as long as each other: the first of this list wins
ORDER = ("stop", "cancel_appointment", "appointments", "callback", "book", "help", "find")
# Intents that name a subject rather than something to do: only when no other intent is found
TOPICS = frozenset({"find"})
# Intents whose words must be typed as listed, without close spellings: "arrêter de fumer" never comes
# near asking whether to stop the messages
EXACT_ONLY = frozenset({"stop"})
NEGATIONS = frozenset({"ne", "n", "pas", "pa", "plus", "pu", "jamais", "non", "sans"})
MAX_WORDS = 40  # a longer message is read up to here
MAX_GAP = 2  # words allowed between two words of a phrase
LOOK_BEHIND = 3  # words before a phrase where a negation cancels it
FUZZY_WORD = 85
FUZZY_MIN_LENGTH = 5


@dataclass(frozen=True)
class Found:
    intent: str
    phrase: str
    exact: bool


@dataclass(frozen=True)
class _Phrase:
    intent: str
    text: str
    words: tuple[str, ...]
    negative: bool  # the phrase says no itself
    exact_only: bool


def _same(word: str, typed: str, exact_only: bool = False) -> int:
    """100 for the same word, the closeness of two long words when close enough, else 0."""
    if word == typed:
        return 100
    if not exact_only and len(word) >= FUZZY_MIN_LENGTH and len(typed) >= FUZZY_MIN_LENGTH:
        ratio = fuzz.ratio(word, typed)
        if ratio >= FUZZY_WORD:
            return int(ratio)
    return 0


class IntentMatcher:
    def __init__(self, phrases: Mapping[str, Iterable[str]], order: Sequence[str] = ORDER) -> None:
        self.order = {intent: n for n, intent in enumerate(order)}
        self.phrases: list[_Phrase] = []
        for intent, texts in phrases.items():
            for text in texts:
                words = tuple(fold(text).split())
                if words:
                    negative = any(w in NEGATIONS for w in words)
                    self.phrases.append(_Phrase(intent, " ".join(words), words, negative, intent in EXACT_ONLY))

    @property
    def intents(self) -> frozenset[str]:
        return frozenset(p.intent for p in self.phrases)

    def found(self, text: str) -> list[Found]:
        """Every intent found in `text`, best first (see the module's docstring), one entry per intent."""
        typed = fold(text).split()[:MAX_WORDS]
        best: dict[str, tuple[tuple[int, int, int, int], Found]] = {}
        for phrase in self.phrases if typed else ():
            closeness = _find(phrase, typed)
            if closeness is None:
                continue
            exact = closeness == 100
            rank = (
                int(phrase.intent in TOPICS),
                -len(phrase.text),
                int(not exact),
                self.order.get(phrase.intent, len(self.order)),
            )
            if phrase.intent not in best or rank < best[phrase.intent][0]:
                best[phrase.intent] = (rank, Found(phrase.intent, phrase.text, exact))
        return [found for _, found in sorted(best.values(), key=lambda item: item[0])]

    def match(self, text: str) -> str | None:
        """The intent of `text`, or None."""
        found = self.found(text)
        return found[0].intent if found else None


def _find(phrase: _Phrase, typed: list[str]) -> int | None:
    """How close the first acceptable place where `phrase` appears in `typed` is (100: exact), or None."""
    for start, word in enumerate(typed):
        closeness = _same(phrase.words[0], word, phrase.exact_only)
        followed = _follow(phrase, typed, start, closeness) if closeness else None
        if followed is None:
            continue
        lowest, skipped = followed
        before = typed[max(0, start - LOOK_BEHIND) : start]
        if phrase.negative or not any(w in NEGATIONS for w in (*before, *skipped)):
            return lowest
    return None


def _follow(phrase: _Phrase, typed: list[str], position: int, lowest: int) -> tuple[int, list[str]] | None:
    """The words of `phrase` after its first, found at `position`, each word at most MAX_GAP words after the one before:
    (lowest closeness, the words skipped), or None."""
    skipped: list[str] = []
    for wanted in phrase.words[1:]:
        for at in range(position + 1, min(len(typed), position + MAX_GAP + 2)):
            close = _same(wanted, typed[at], phrase.exact_only)
            if close:
                skipped += typed[position + 1 : at]
                position, lowest = at, min(lowest, close)
                break
        else:
            return None
    return lowest, skipped
