"""A resident who reads Creole sees the schemes' Creole names, summaries and details (Scheme.texts), in the
list and on the scheme's page (bookings and appointments: tests/services/test_scheme_texts.py); a French
reader the French ones. The templates are the language's (French until the Creole ones exist): the scheme's
words come from services.schemes.scheme_text."""

from __future__ import annotations

from sqlmodel import select

from relai_bot.store.models import Resident, Scheme
from relai_bot.testing.driver import Chat, Driver


def _speaks(driver: Driver, language: str) -> None:
    with driver.runtime.db.transaction() as session:
        resident = session.exec(select(Resident)).one()
        resident.language = language


def _creole(driver: Driver, code: str) -> dict[str, str]:
    with driver.runtime.db.transaction() as session:
        return dict(session.exec(select(Scheme).where(Scheme.code == code)).one().texts["rcf"])


async def _cej_page(driver: Driver, language: str) -> Chat:
    chat = await driver.onboarded()
    await chat.send("CEJ")  # free text at the menu searches
    _speaks(driver, language)
    await chat.tap(chat.labels.index(next(label for label in chat.labels if label.startswith("CEJ"))) + 1)
    return chat


async def test_a_creole_reader_gets_the_schemes_page_in_creole(driver: Driver) -> None:
    creole = _creole(driver, "cej")
    chat = await _cej_page(driver, "rcf")
    assert f"{creole['name']} (CEJ)" in chat.text
    assert creole["summary"] in chat.text
    assert "Contrat d'engagement jeune" not in chat.text
    assert "Un conseiller vous accompagne" not in chat.text


async def test_a_french_reader_gets_it_in_french(driver: Driver) -> None:
    creole = _creole(driver, "cej")
    chat = await _cej_page(driver, "fr")
    assert "Contrat d'engagement jeune (CEJ)" in chat.text
    assert creole["name"] not in chat.text and creole["summary"] not in chat.text


async def test_the_list_names_the_schemes_in_the_readers_language(driver: Driver) -> None:
    creole = _creole(driver, "cej")
    chat = await driver.onboarded()
    _speaks(driver, "rcf")
    await chat.send("CEJ")
    assert f"CEJ - {creole['name']}" in chat.labels, chat.labels
    assert not any("Contrat d'engagement jeune" in label for label in chat.labels)


async def test_a_scheme_without_creole_is_shown_in_french(driver: Driver) -> None:
    with driver.runtime.db.transaction() as session:
        session.exec(select(Scheme).where(Scheme.code == "cej")).one().texts = {}
    chat = await _cej_page(driver, "rcf")
    assert "Contrat d'engagement jeune (CEJ)" in chat.text
