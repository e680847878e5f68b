"""Journeys a resident makes, written once against the `Chat` interface (relai_bot.testing.driver).

tests/conversation/test_journeys.py runs them on every channel; the channel tests run them too, then check
what only their channel shows (Telegram's buttons, the SMS segments and log). No pytest import.
"""

from __future__ import annotations

from relai_bot.testing.driver import Chat


async def consent_and_settle_in(chat: Chat) -> None:
    """A new resident says hello, consents, accepts the offers, gives the district, skips the questions."""
    await chat.send("bonjour")
    assert "Êtes-vous d'accord ?" in chat.text
    await chat.tap("Oui, je suis d'accord")
    assert "offres de votre quartier" in chat.text
    await chat.tap("Oui")
    assert "Dans quel quartier" in chat.text
    await chat.tap("Saint-Laurent")
    await chat.tap("Plus tard")
    assert "Que voulez-vous faire ?" in chat.text


async def find_a_scheme(chat: Chat) -> None:
    """From the menu: three questions, then the best schemes; the CEJ's page."""
    await chat.tap("Trouver une aide")
    await chat.tap("Répondre à 3 questions")
    await chat.tap("18 à 25 ans")
    await chat.tap("Jeune, ni emploi ni études")
    await chat.tap("Trouver un emploi")
    assert "Voici les aides qui vous vont le mieux" in chat.text
    assert any(label.startswith("CEJ") for label in chat.labels[:3]), chat.labels
    await chat.tap("CEJ")
    assert "Contrat d'engagement jeune" in chat.text


async def book_the_first_slot(chat: Chat) -> str:
    """From a list of free slots: take the first one; returns its label."""
    assert "prochains rendez-vous libres" in chat.text
    first = chat.labels[0]
    await chat.tap(1)
    assert "Je réserve ?" in chat.text
    await chat.tap("Oui, je réserve")
    assert "C'est réservé !" in chat.text
    assert first.split(",")[0] in chat.text  # "mardi 1er décembre à 11 h" read back
    return first


async def see_then_cancel_the_appointment(chat: Chat) -> None:
    """Just after booking: "Mes rendez-vous" shows it; cancel it."""
    await chat.tap("Mes rendez-vous")
    assert "Vous avez 1 rendez-vous." in chat.text
    await chat.tap(1)
    await chat.tap("Annuler ce rendez-vous")
    assert "Vous voulez vraiment annuler" in chat.text
    await chat.tap("Oui, j'annule")
    assert "C'est annulé" in chat.text
    assert chat.labels == ["Prendre un autre rendez-vous", "Revenir au menu"]


async def whole_journey(chat: Chat) -> None:
    """Onboarding with consent -> find a scheme -> book it -> my appointments -> cancel."""
    await consent_and_settle_in(chat)
    await find_a_scheme(chat)
    await chat.tap("Prendre rendez-vous")
    await book_the_first_slot(chat)
    await see_then_cancel_the_appointment(chat)


async def book_in_creole(chat: Chat) -> str:
    """The issue's journey: a first message in Creole, answered in Creole, consent, the three questions, the
    CEJ, the first free slot booked; returns the slot's label (its date written in Creole)."""
    await chat.send("bonjour, mi rode in travay")
    assert "Ou lé dakor ?" in chat.text
    assert "Fransé" in chat.labels  # the way back to French, next to the answers
    await chat.tap("Wi, mi lé dakor")
    # "mi rode in travay" was a wish to find a scheme: straight there after consent
    await chat.tap("Réponn 3 kestyon")
    await chat.tap("18 a 25 an")
    await chat.tap("Zèn, ni travay ni lékol")
    await chat.tap("Trouv in travay")
    assert "Vla bann lèd lé mié pou ou" in chat.text
    await chat.tap("CEJ")
    await chat.tap("Pran randévou")
    assert "prosin randévou lib" in chat.text
    first = chat.labels[0]
    assert "désanm" in first, first  # "zédi 3 désanm a 9 h 15, ..."
    await chat.tap(1)
    assert "Mi rézèrv ?" in chat.text
    await chat.tap("Wi, mi rézèrv")
    assert "Lé rézèrvé !" in chat.text
    assert first.split(",")[0] in chat.text
    return first
