"""Keywords that lead somewhere by themselves: "/rendezvous" (or "mes rendez-vous") opens the resident's
appointments from any step, unless the word is an answer where the resident stands."""

from __future__ import annotations

from relai_bot.testing.driver import Driver


async def test_rendezvous_from_the_middle_of_a_flow(driver: Driver) -> None:
    chat = await driver.onboarded(channel="telegram")
    await chat.book_first_slot()
    await chat.tap("Revenir au menu")
    await chat.tap("Trouver une aide")
    await chat.send("/rendezvous")
    assert len(chat.turn.replies) == 1 and "Vous avez 1 rendez-vous." in chat.text
    await chat.send("retour")  # back where the resident was
    assert "Répondre à 3 questions" in chat.labels


async def test_the_words_work_on_every_channel(driver: Driver) -> None:
    chat = await driver.onboarded(channel="sms")
    await chat.tap("Trouver une aide")
    await chat.send("mes rdv")
    assert "pas de rendez-vous" in chat.text


async def test_a_word_that_is_an_answer_here_stays_the_answer(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.send("rendezvous")  # in the menu, a way to say "Prendre rendez-vous"
    assert "C'est pour quelle aide ?" in chat.text
    await chat.send("menu")
    await chat.send("/rendezvous")  # a command is never an answer
    assert "pas de rendez-vous" in chat.text


async def test_after_a_long_pause_the_appointments_come_straight(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Trouver une aide")
    driver.clock.advance(hours=30)  # type: ignore[attr-defined]
    await chat.send("/rendezvous")
    assert "pas de rendez-vous" in chat.text and "Bon retour" not in chat.text


async def test_before_consent_it_leads_to_the_welcome(driver: Driver) -> None:
    chat = driver.resident(channel="telegram")
    await chat.send("/start")
    await chat.send("/rendezvous")
    assert "Êtes-vous d'accord ?" in chat.text
