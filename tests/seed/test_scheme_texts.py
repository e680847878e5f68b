"""A scheme's texts in the other languages of the seed file (`texts`): there for every scheme and every
language the relai speaks, checked like the French ones, stored by the loader, and written in the Creole
spelling of docs/creole.md."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from sqlmodel import select

from relai_bot.seed.load import read_seed
from relai_bot.seed.schema import SchemeSeed
from relai_bot.services import plain_words
from relai_bot.services.schemes import TEXT_LANGUAGES
from relai_bot.store.models import Scheme
from relai_bot.wiring import Runtime
from tests.paths import PACKAGE, REPO

LANGUAGES = sorted(p.name for p in (REPO / "templates" / "messages").iterdir() if p.is_dir() and p.name != "fr")
# The Creole spelling writes two accents only, both in the GSM-7 alphabet (docs/creole.md)
NOT_CREOLE = re.compile(r"[^\x00-\x7f€éèÉ]")


def test_every_scheme_has_its_texts_in_every_language_of_the_relai() -> None:
    """Each language folder of templates/messages/ but French, and each language the form edits."""
    languages = sorted({*LANGUAGES, *TEXT_LANGUAGES})
    assert "rcf" in languages
    missing = [
        f"{scheme.code}: {language}"
        for scheme in read_seed().schemes
        for language in languages
        if language not in scheme.texts
    ]
    assert missing == []


def test_the_back_office_edits_every_language_of_the_relai() -> None:
    assert set(LANGUAGES) <= set(TEXT_LANGUAGES)


def test_creole_texts_use_the_creole_spelling_and_keep_amounts_out() -> None:
    for scheme in read_seed().schemes:
        text = scheme.texts["rcf"]
        for field in ("name", "summary", "details"):
            value = getattr(text, field)
            assert NOT_CREOLE.findall(value) == [], f"{scheme.code} {field}: {value}"
            assert "€" not in value, f"{scheme.code} {field}: the amount stays in `amount`, in French"
        assert text.summary != scheme.summary and text.details != scheme.details, scheme.code
        if scheme.acronym and scheme.acronym in scheme.name:
            assert scheme.acronym in text.name, scheme.code  # a name that is an acronym stays one


@pytest.mark.parametrize("language", sorted({*LANGUAGES, *TEXT_LANGUAGES}))
def test_the_texts_follow_the_plain_words_rules_of_their_language(language: str) -> None:
    """Sentences short, acronyms spelled out (the title above the summary may do it), no jargon, no note
    meant for staff (templates/messages/<language>/plain_words.yaml)."""
    folder = REPO / "templates" / "messages" / language
    if not (folder / plain_words.RULES_FILE).is_file():
        pytest.skip(f"no plain-words rules for {language} yet")
    rules = plain_words.load_rules(folder)
    found = []
    for scheme in read_seed().schemes:
        text = scheme.texts[language]
        title = f"{text.name} ({scheme.acronym})" if scheme.acronym else text.name
        for field, value, before in (
            ("name", text.name, ""),
            ("summary", text.summary, title),
            ("details", text.details, f"{title}\n{text.summary}"),
        ):
            found += [f"{scheme.code} {field}: {f}" for f in plain_words.check(value, rules, shown_before=before)]
            found += [f"{scheme.code} {field}: {m}" for m in plain_words.internal_markers(value)]
    assert found == []


def _scheme(**changes: Any) -> dict[str, Any]:
    raw = yaml.safe_load((PACKAGE / "seed" / "demo.yaml").read_text(encoding="utf-8"))
    return {**raw["schemes"][0], **changes}


@pytest.mark.parametrize(
    "texts",
    [
        {"rcf": {"name": "Parkour", "summary": "x" * 161, "details": "Détay."}},  # the SMS budget, as in French
        {"rcf": {"name": "x" * 161, "summary": "Rézimé.", "details": "Détay."}},
        {"rcf": {"name": "Parkour", "summary": "", "details": "Détay."}},
        {"rcf": {"name": "Parkour", "details": "Détay."}},
        {"rcf": {"name": "Parkour", "summary": "Rézimé.", "details": "Détay.", "amount": "560 €"}},
        {"fr": {"name": "Parcours", "summary": "Résumé.", "details": "Détail."}},  # French: the columns
        {"Kréol": {"name": "Parkour", "summary": "Rézimé.", "details": "Détay."}},
    ],
)
def test_the_seed_file_refuses_texts_the_form_would_refuse(texts: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SchemeSeed.model_validate(_scheme(texts=texts))


def test_the_loader_stores_the_texts(runtime: Runtime) -> None:
    seed = {s.code: s for s in read_seed().schemes}
    with runtime.db.transaction() as session:
        stored = {s.code: s.texts for s in session.exec(select(Scheme))}
    assert stored["cej"]["rcf"] == seed["cej"].texts["rcf"].model_dump()
    assert all(texts.keys() == seed[code].texts.keys() for code, texts in stored.items())
