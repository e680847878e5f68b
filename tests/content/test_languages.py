"""Every language has every resident text, label and keyword group of French, with the same variables.

Run one folder while translating: `pytest tests/content/test_languages.py -k onboarding`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from relai_bot.conversation.languages import (
    completeness,
    label_placeholders,
    resident_templates,
    shape_environment,
    template_shape,
)
from tests.paths import REPO

MESSAGES = REPO / "templates" / "messages"
DEFAULT = "fr"
OTHERS = sorted(p.name for p in MESSAGES.iterdir() if p.is_dir() and p.name != DEFAULT)
FRENCH = resident_templates(MESSAGES, DEFAULT)
ENV = shape_environment()


@pytest.mark.parametrize("language", OTHERS)
@pytest.mark.parametrize("name", FRENCH)
def test_template_exists_with_the_same_variables(language: str, name: str) -> None:
    ours = MESSAGES / language / name
    assert ours.is_file(), f"{language}/{name} is missing"
    french = template_shape(ENV, (MESSAGES / DEFAULT / name).read_text(encoding="utf-8"))
    shape = template_shape(ENV, ours.read_text(encoding="utf-8"))
    assert shape[0] == french[0], f"{language}/{name} reads {sorted(shape[0])}, French reads {sorted(french[0])}"
    assert shape[1] == french[1]


@pytest.mark.parametrize("language", OTHERS)
def test_language_is_complete(language: str) -> None:
    reports = {r.language: r for r in completeness(MESSAGES, DEFAULT, [DEFAULT, language])}
    assert reports[DEFAULT].complete, reports[DEFAULT].line()
    assert reports[language].complete, reports[language].line()


# -- the checker itself catches each kind of gap -------------------------------------------------------
def _folder(root: Path, language: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / language / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


BASE = {
    "labels.yaml": 'a.yes: "Oui"\na.when: "Le {{ day }}"\n',
    "keywords.yaml": "menu: [menu]\nintents:\n  book: [rdv]\n",
    "plain_words.yaml": "max_words: 15\n",
    "greet/hello.j2": "Bonjour {{ name }}",
    "greet/hello.sms.j2": "Bjr {{ name }}",
    "staff/digest.j2": "Pour le conseiller {{ adviser }}",
}


def _problems(tmp_path: Path, other: dict[str, str | None], language: str = "es") -> list[str]:
    _folder(tmp_path, "fr", BASE)
    files = {k: v for k, v in {**BASE, **other}.items() if v is not None and not k.startswith("staff/")}
    _folder(tmp_path, language, files)
    reports = completeness(tmp_path, "fr", ["fr", language])
    assert reports[0].complete, reports[0].line()
    return reports[1].problems


def test_a_complete_language_has_no_problem(tmp_path: Path) -> None:
    assert _problems(tmp_path, {"greet/hello.j2": "Hola {{ name }}"}) == []


def test_a_missing_variant_is_found(tmp_path: Path) -> None:
    assert _problems(tmp_path, {"greet/hello.sms.j2": None}) == ["greet/hello.sms.j2: missing"]


def test_a_text_only_in_the_other_language_is_found(tmp_path: Path) -> None:
    assert _problems(tmp_path, {"greet/bye.j2": "Adios"}) == ["greet/bye.j2: not in fr"]


def test_other_variables_are_found(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path, {"greet/hello.j2": "Hola {{ nombre }}"})
    assert "variables ['name', 'nombre']" in problem


def test_labels_must_match_with_their_placeholders(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {"labels.yaml": 'a.when: "El {{ dia }}"\n'})
    assert problems == ["labels.yaml: a.yes missing", "labels.yaml: a.when uses other placeholders than fr"]


def test_keyword_groups_and_intent_names_must_match(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {"keywords.yaml": "menu: []\nintents:\n  cancel: [anular]\n"})
    assert problems == [
        "keywords.yaml: menu is empty",
        "keywords.yaml: intents.book missing",
        "keywords.yaml: intents.cancel not in fr",
    ]


def test_a_language_babel_does_not_know_needs_its_dates(tmp_path: Path) -> None:
    assert _problems(tmp_path, {}, language="rcf") == [
        "dates.yaml is missing (day and month names: Babel has no locale for it)"
    ]
    _folder(tmp_path, "rcf", {"dates.yaml": "days: []\n"})
    assert completeness(tmp_path, "fr", ["fr", "rcf"])[1].complete


def test_staff_texts_are_in_the_default_language_only(tmp_path: Path) -> None:
    _folder(tmp_path, "fr", BASE)
    assert "staff/digest.j2" not in resident_templates(tmp_path, "fr")


def test_label_placeholders() -> None:
    assert label_placeholders("{{ item.name }} le {{day|day}}") == {"item", "day"}


def test_texts_command_shows_each_creole_text_under_its_french(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from relai_bot.cli import app

    env = {"RELAI_DATABASE_URL": f"sqlite:///{tmp_path}/texts.sqlite3"}
    result = CliRunner().invoke(app, ["texts", "--language", "rcf"], env=env)
    assert result.exit_code == 0, result.output
    for name in FRENCH:
        assert f"## {name.removesuffix('.j2')}\n" in result.output
    assert "Ou lé dakor ?" in result.output and "Êtes-vous d'accord ?" in result.output
    assert "common.yes: Oui  ->  Wi" in result.output
    # the catalog's schemes, each in both languages (the demo data: all have Creole texts)
    assert "### cej\nfr:\n    Contrat d'engagement jeune\n" in result.output
    assert "no rcf text" not in result.output
    assert CliRunner().invoke(app, ["texts", "--language", "xx"]).exit_code == 2


def test_flows_validate_reports_every_language_complete() -> None:
    from typer.testing import CliRunner

    from relai_bot.cli import app

    result = CliRunner().invoke(app, ["flows", "validate"])
    assert result.exit_code == 0, result.output
    assert "fr: " in result.output and "rcf: " in result.output
    assert result.output.count(": complete") == len(OTHERS) + 1


def test_creole_is_offered() -> None:
    assert "rcf" in OTHERS
