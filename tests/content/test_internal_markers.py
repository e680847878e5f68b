"""Nothing meant for staff reaches a resident: no "à confirmer", no "TODO", no "None", no "{{" left over,
in any template of any language rendered for any scheme or venue of the seed, in any label, in any text field
of the seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from relai_bot.services.plain_words import internal_markers
from tests.content.resident_texts import Text, labels, rendered_templates, renderer, seed_fields
from tests.template_samples import LANGUAGES

# What a test of this kind must catch (so that it cannot pass by never looking)
CAUGHT = [
    "Montant à revérifier.",
    "Adresse : A CONFIRMER",
    "Lieu : Ouest - site à confirmer",
    "Les associations restent à identifier.",
    "Opérateur (à identifier)",
    "Horaires non vérifiés",
    "rue Waldeck Rochet (adresse supposée)",
    "Téléphone fictif",
    "TODO: relire",
    "Lieu : None",
    "Adresse : null",
    "Bonjour {{ name }}",
    "Adresse : ?",
    "Ouvert (?) le lundi",
]
FINE = ["Êtes-vous d'accord ?", "Vous touchez le RSA ? Un conseiller vous aide.", "Vérifiez votre numéro."]


@pytest.mark.parametrize("text", CAUGHT)
def test_the_markers_catch_internal_notes(text: str) -> None:
    assert internal_markers(text), text


@pytest.mark.parametrize("text", FINE)
def test_the_markers_leave_plain_texts_alone(text: str) -> None:
    assert internal_markers(text) == []


def _failures(texts: list[Text]) -> list[str]:
    return [f"{t.where}: {markers}\n{t.text}" for t in texts if (markers := internal_markers(t.text))]


# The same notes, written in Creole by a translator (the markers are French: these show that a Creole text
# is looked at the same way, not that every Creole spelling of a note is known)
CAUGHT_IN_CREOLE = ["Ladrès : A CONFIRMER", "TODO: rolir", "Landroi : None", "Bonzour {{ name }}", "Ladrès : ?"]


@pytest.mark.parametrize("text", CAUGHT_IN_CREOLE)
def test_the_markers_catch_internal_notes_in_a_creole_text(text: str) -> None:
    assert internal_markers(text), text


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_resident_text_carries_an_internal_note(language: str) -> None:
    templates, label_texts = list(rendered_templates(language)), list(labels(language))
    fields = list(seed_fields(language))
    print(
        f"[{language}] checked {len(templates)} rendered templates, {len(label_texts)} labels, "
        f"{len(fields)} seed text fields"
    )
    assert len(templates) > 3000 and len(label_texts) > 80 and len(fields) > 150
    failures = _failures(templates + label_texts + fields)
    assert not failures, f"{len(failures)} texts carry an internal note:\n\n" + "\n\n".join(failures[:20])


# Partials an action renders into a value that a template shows (tests/template_samples.py renders them so)
RENDERED_INTO_VALUES = {"discovery/_why.j2": "actions.discovery.result_items: each result's `why`"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_partial_is_rendered_through_a_template_that_shows_it(language: str) -> None:
    """Partials (_*.j2) are left out of the names rendered: each is included by a template that is not, or
    rendered into a value such a template shows."""
    root = Path(renderer().root) / language
    templates = [p for p in root.rglob("*.j2") if not p.name.startswith("_")]
    for partial in root.rglob("_*.j2"):
        name = partial.relative_to(root).as_posix()
        included = any(name in p.read_text(encoding="utf-8") for p in templates)
        assert included or name in RENDERED_INTO_VALUES, f"{name} is shown nowhere"
