"""The house's plain-words (FALC) rules, as a linter for texts residents read (docs/plain-words.md says why).

`check(text)` returns what breaks a rule: a sentence too long, an acronym not spelled out, a banned word;
`internal_markers(text)` finds notes meant for staff ("à confirmer", "TODO", a "{{" left over). The tests run
both over every template, label and scheme text; the back-office may run them over what staff write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relai_bot.services.text import fold

MAX_WORDS = 15  # per sentence, as the house's writing guide says (FALC guidance: 10 to 15 words)

# Acronyms a resident may not know, each with the plain words that spell it out (accents and case ignored).
ACRONYMS: dict[str, tuple[str, ...]] = {
    "ACI": ("atelier et chantier d'insertion", "ateliers et chantiers d'insertion", "chantier d'insertion"),
    "ACRE": ("aide à la création ou à la reprise d'entreprise",),
    "ADIE": ("association pour le droit à l'initiative économique",),
    "AFPR": ("action de formation préalable au recrutement",),
    "AI": ("association intermédiaire",),
    "ASS": ("allocation de solidarité spécifique",),
    "CAF": ("caisse d'allocations familiales",),
    "CAPE": ("contrat d'appui au projet d'entreprise",),
    "CDDI": ("contrat à durée déterminée d'insertion",),
    "CEJ": ("contrat d'engagement jeune",),
    "CFA": ("centre de formation d'apprentis",),
    "E2C": ("école de la deuxième chance",),
    "EI": ("entreprise d'insertion",),
    "EPIDE": ("établissement pour l'insertion dans l'emploi",),
    "ETTI": ("entreprise de travail temporaire d'insertion",),
    "FSE": ("fonds social européen",),
    "LADOM": ("agence de l'outre-mer pour la mobilité",),
    "MDPH": ("maison départementale des personnes handicapées",),
    "MIO": ("mission intercommunale de l'ouest",),
    "PEC": ("parcours emploi compétences",),
    "PLIE": ("plan local pour l'insertion et l'emploi",),
    "PMFP": ("passeport pour la mobilité de la formation professionnelle", "passeport mobilité formation"),
    "POEI": ("préparation opérationnelle à l'emploi individuelle",),
    "QPV": ("quartier prioritaire",),
    "RQTH": ("reconnaissance de la qualité de travailleur handicapé", "travailleur handicapé"),
    "RSMA": ("service militaire adapté",),
    "RSMA-R": ("régiment du service militaire adapté", "service militaire adapté"),
    "SIRET": ("numéro d'entreprise",),
    "SMIC": ("salaire minimum",),
    "TCO": ("territoire de la côte ouest",),
    "Urssaf": ("organisme des cotisations sociales", "qui collecte les cotisations"),
}
# Known well enough to need no expansion (docs/plain-words.md): they are how residents themselves say it.
COMMON_ACRONYMS = ("SMS", "CV", "RSA")

# Banned words and what to write instead (matched on whole words, accents and case ignored; START only as
# written, in capitals: the word a resident would be told to type).
BANNED: dict[str, str] = {
    "jours ouvrés": "jours, sauf samedi et dimanche",
    "jours ouvrables": "jours, sauf dimanche",
    "éligible": "vous y avez droit",
    "éligibilité": "qui y a droit",
    "prescripteur": "le conseiller qui vous oriente",
    "prescription": "un conseiller vous propose",
    "dispositif": "aide",
    "dispositifs": "aides",
    "cf": "voir",
    "etc": "par exemple …",
    "via": "par",
    "modalités": "comment faire",
    "solliciter": "demander",
}
SHOUTED_BANNED = {"START": "REPRENDRE"}

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


def _acronym_findings(text: str, shown_before: str) -> list[Finding]:
    findings = []
    for acronym, expansions in ACRONYMS.items():
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


def _banned_findings(text: str) -> list[Finding]:
    findings = []
    folded_sentences = [(s, f" {fold(s)} ") for s in sentences(text)]
    for word, instead in BANNED.items():
        for sentence, folded in folded_sentences:
            if f" {fold(word)} " in folded:
                findings.append(Finding("banned word", sentence, f"« {word} »: write « {instead} »"))
    for word, instead in SHOUTED_BANNED.items():
        for sentence in sentences(text):
            if re.search(rf"\b{word}\b", sentence):
                findings.append(Finding("banned word", sentence, f"« {word} »: write « {instead} »"))
    return findings


def check(text: str, shown_before: str = "") -> list[Finding]:
    """What breaks the plain-words rules in `text`. `shown_before`: what the resident read just above it
    (a scheme's name above its summary), which may spell out an acronym."""
    findings = [
        Finding("long sentence", s, f"{n} words (at most {MAX_WORDS})")
        for s in sentences(text)
        if (n := word_count(s)) > MAX_WORDS
    ]
    return findings + _acronym_findings(text, shown_before) + _banned_findings(text)


_MARKERS = re.compile(
    r"\b(a confirmer|a verifier|a reverifier|non verifiee?s?|a identifier|supposee?s?|fictif|fictive|todo|"
    r"none|null|xxx+|tbd)\b"
)
_RAW_MARKERS = re.compile(r"\{\{|\}\}|\{%|%\}|\?\?|\(\s*\?\s*\)|:\s*\?(?!\S)")


def internal_markers(text: str) -> list[str]:
    """Notes for staff or template leftovers that must never reach a resident (accents and case ignored)."""
    return [m.group(0) for m in _MARKERS.finditer(fold(text))] + [m.group(0) for m in _RAW_MARKERS.finditer(text)]
