"""`relai-bot schemes`: the first page a resident with these answers gets, as they read it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from relai_bot.cli import app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"RELAI_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3"}


def test_a_young_job_seeker_reads_the_cej_first(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["schemes", "--age", "19", "--situation", "demandeur_emploi", "--goal", "emploi"], env=env
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "1. CEJ - Contrat d'engagement jeune"
    assert lines[2] == "Pour les personnes qui cherchent un emploi, de 16 à 25 ans."
    assert "5. " in result.stdout and "6. " not in result.stdout  # one page: five


def test_the_disability_extension_shows_in_the_age_range(env: dict[str, str]) -> None:
    args = ["schemes", "--age", "28", "--situation", "demandeur_emploi", "--goal", "emploi", "--rqth"]
    result = CliRunner().invoke(app, args, env=env)
    assert "de 16 à 29 ans" in result.stdout
    without = CliRunner().invoke(app, args[:-1], env=env)
    assert "Contrat d'engagement jeune" not in without.stdout


def test_the_next_page_and_the_wrong_codes(env: dict[str, str]) -> None:
    first = CliRunner().invoke(app, ["schemes", "--age", "47", "--situation", "beneficiaire_rsa"], env=env)
    second = CliRunner().invoke(
        app, ["schemes", "--age", "47", "--situation", "beneficiaire_rsa", "--page", "2"], env=env
    )
    assert second.stdout.startswith("Voici d'autres aides")
    names = {line for line in first.stdout.splitlines() if line[:2] in {"1.", "2.", "3.", "4.", "5."}}
    assert names and not names & set(second.stdout.splitlines())
    wrong = CliRunner().invoke(app, ["schemes", "--situation", "chomeur"], env=env)
    assert wrong.exit_code == 2 and "unknown situation 'chomeur'" in wrong.stderr
