"""Intents in sentences (conversation/intents.py, keywords.yaml `intents`): the phrase table, what must not
trigger anything, and where each intent leads from a step, on the real engine.

The table is written by hand: what people type and what they mean. A test checks that every phrase of
keywords.yaml appears in it, so a new phrase comes with its line here."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlmodel import select

from relai_bot.conversation.engine import INTENT_ENTRIES
from relai_bot.conversation.intents import IntentMatcher
from relai_bot.conversation.render import Renderer
from relai_bot.services.text import fold, replace_words
from relai_bot.store.models import Conversation, Resident
from relai_bot.testing.driver import Driver

REPO = Path(__file__).resolve().parents[2]

# (what a person types, the intent it means)
PHRASES: list[tuple[str, str]] = [
    # book: common French, SMS, Creole
    ("rdv", "book"),
    ("rendez-vous", "book"),
    ("rendezvous", "book"),
    ("Prendre RDV", "book"),
    ("prendre rendez-vous", "book"),
    ("je veux un rdv", "book"),
    ("Je voudrais un RDV svp", "book"),
    ("jveu 1 rdv", "book"),
    ("jveux un rdv", "book"),
    ("jvoudrai un rdv", "book"),
    ("rdv stp", "book"),
    ("rdv svp", "book"),
    ("je voudrais voir un conseiller", "book"),
    ("voir une conseillère", "book"),
    ("je veux parler à un conseiller", "book"),
    ("mi vé in rdv", "book"),
    ("mi vé in randévou", "book"),
    ("mi ve in rendez-vous", "book"),
    ("randévou", "book"),
    ("randé vou", "book"),
    ("mi vé oir in konséyé", "book"),
    ("mi vé pran rdv", "book"),
    ("moin na bézoin in rdv", "book"),
    ("bonjour je voudrais prendre un rendez vous", "book"),
    ("rdv pour un emploi", "book"),  # a wish beats a topic
    # appointments
    ("mes rdv", "appointments"),
    ("mes rendez-vous", "appointments"),
    ("mon rdv", "appointments"),
    ("mon rendez-vous", "appointments"),
    ("kan mon rdv", "appointments"),
    ("quand mon rdv", "appointments"),
    ("c quand mon rdv", "appointments"),
    ("c'est quand mon rdv ?", "appointments"),
    ("à quelle heure mon rdv", "appointments"),
    ("voir mes rdv", "appointments"),
    ("mon randévou", "appointments"),
    ("kan mon randévou", "appointments"),
    ("mon rdv lé kan", "appointments"),
    ("ki lér mon rdv", "appointments"),
    # cancel_appointment
    ("annuler rdv", "cancel_appointment"),
    ("je veux annuler mon rdv", "cancel_appointment"),
    ("annuler le rendez-vous", "cancel_appointment"),
    ("annuler rendez-vous", "cancel_appointment"),
    ("supprimer rdv", "cancel_appointment"),
    ("anile rdv", "cancel_appointment"),
    ("déplacer rdv", "cancel_appointment"),
    ("décaler rdv", "cancel_appointment"),
    ("annuler randévou", "cancel_appointment"),
    ("annule rdv", "cancel_appointment"),
    ("supprimer mon rdv", "cancel_appointment"),
    ("je viendrai pas", "cancel_appointment"),
    ("je ne peux pas venir", "cancel_appointment"),
    ("je peux pas venir", "cancel_appointment"),
    ("jpeu pa venir", "cancel_appointment"),
    ("jpeux pas venir demain", "cancel_appointment"),
    ("mi pé pa vni", "cancel_appointment"),
    ("mi sra pa la", "cancel_appointment"),
    ("mi vien pa", "cancel_appointment"),
    ("anil rdv", "cancel_appointment"),
    ("anile mon rdv", "cancel_appointment"),
    ("déplacer mon rdv", "cancel_appointment"),
    ("changer rdv", "cancel_appointment"),
    ("décaler le rdv", "cancel_appointment"),
    # callback
    ("rappelez-moi", "callback"),
    ("rappeler moi svp", "callback"),
    ("pouvez-vous me rappeler", "callback"),
    ("appelez-moi", "callback"),
    ("appeler moi", "callback"),
    ("rapel moi", "callback"),
    ("rappel moi stp", "callback"),
    ("pouvez vous m'appeler", "callback"),
    ("on peut m'appeler ?", "callback"),
    ("je voudrais être rappelé", "callback"),
    ("je veux parler à quelqu'un", "callback"),
    ("par téléphone", "callback"),
    ("rapel amoin", "callback"),
    ("apel amoin", "callback"),
    ("téléfone amoin", "callback"),
    ("kriyé amoin", "callback"),
    # help
    ("je comprends pas", "help"),
    ("je comprend pas", "help"),
    ("jcomprend pa", "help"),
    ("jcomprends pas", "help"),
    ("j'ai pas compris", "help"),
    ("pas compris", "help"),
    ("comment ça marche ?", "help"),
    ("je sais pas quoi faire", "help"),
    ("jsp quoi faire", "help"),
    ("chui perdu", "help"),
    ("je suis perdue", "help"),
    ("je suis perdu", "help"),
    ("pk ça marche pas", "help"),
    ("ça marche pas", "help"),
    ("moin la pa konpri", "help"),
    ("mi konpran pa", "help"),
    ("mi koné pa", "help"),
    ("mi koné pa kosa i fo fé", "help"),
    ("kosa i fo fé", "help"),
    ("kosa mi fé", "help"),
    ("koman i fé", "help"),
    ("aidez-moi", "help"),
    ("aide moi", "help"),
    ("éd amoin", "help"),
    ("aid amoin", "help"),
    # stop (asks first: only the exact keywords stop at once)
    ("stop", "stop"),
    ("stop les messages", "stop"),
    ("arrêter les messages", "stop"),
    ("arrêtez les messages svp", "stop"),
    ("arrêter les sms", "stop"),
    ("arrêtez les sms", "stop"),
    ("je veux ne plus recevoir vos messages", "stop"),
    ("plus de messages", "stop"),
    ("plus de sms merci", "stop"),
    ("je veux plus de messages", "stop"),
    ("je veux me désabonner", "stop"),
    ("me désinscrire", "stop"),
    ("laissez-moi tranquille", "stop"),
    ("arèt", "stop"),
    ("arrête les messages", "stop"),
    ("arèt voye message", "stop"),
    ("arèt anvoye", "stop"),
    ("mi vé pu message", "stop"),
    ("pu de message", "stop"),
    # find: a topic
    ("je cherche du travail", "find"),
    ("cherche travail", "find"),
    ("je cherche un emploi", "find"),
    ("chercher un job", "find"),
    ("trouver du travail", "find"),
    ("trouver un travail", "find"),
    ("travail", "find"),
    ("emploi", "find"),
    ("boulot", "find"),
    ("job", "find"),
    ("formation", "find"),
    ("une formasion", "find"),
    ("permis", "find"),
    ("le permis de conduire", "find"),
    ("apprentissage", "find"),
    ("alternance", "find"),
    ("stage", "find"),
    ("créer mon entreprise", "find"),
    ("créer une entreprise", "find"),
    ("mi rode travay", "find"),
    ("mi rod travay", "find"),
    ("travay", "find"),
    ("mi rode in formasion", "find"),
    ("formasion", "find"),
    ("mi vé travay", "find"),
    ("permi", "find"),
    ("mi vé fé le permi", "find"),
    ("lékol", "find"),
    ("aide pour mon enfant", "find"),
    ("aide pou mon zanfan", "find"),
    ("les aides", "find"),
    ("quelles aides ?", "find"),
    ("kel éd", "find"),
]

# Sentences that must mean nothing (the step's own answer or search takes them, or "not understood")
NOTHING = [
    "je veux arrêter de fumer",  # "arrêter" alone is not asking to stop the messages
    "arrête de fumer",
    "bonjour",
    "merci",
    "je ne veux pas de rdv",  # a negation before a wish cancels it
    "je veux pas annuler mon rdv",
    "pas besoin d'aide",
    "je n'ai plus besoin de rendez-vous",
    "stoppé",  # close to "stop", but stop phrases take no close spelling
    "0692 12 34 56",
    "22 ans",
    "",
    "😀",
]

CONSENT: list[tuple[str, str | None]] = [
    ("oui je veux bien", "oui"),
    ("ok d'accord", "oui"),
    ("wi", "oui"),
    ("Ouais", "oui"),
    ("bien sûr", "oui"),
    ("c'est bon", "oui"),
    ("lé bon", "oui"),
    ("dakor", "oui"),
    ("pas d'accord", "non"),
    ("je suis pas d'accord", "non"),
    ("non merci", "non"),
    ("mi vé pa", "non"),
    ("je ne veux pas", "non"),
    ("pas maintenant", "non"),
    ("oui mais non", None),  # both: not an answer
]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(REPO / "templates", ZoneInfo("Indian/Reunion"))


@pytest.mark.parametrize(("typed", "intent"), PHRASES)
def test_each_phrase_means_its_intent(renderer: Renderer, typed: str, intent: str) -> None:
    assert renderer.intents.match(typed) == intent, renderer.intents.found(typed)


@pytest.mark.parametrize("typed", NOTHING)
def test_these_sentences_mean_no_intent(renderer: Renderer, typed: str) -> None:
    assert renderer.intents.match(typed) is None, renderer.intents.found(typed)


@pytest.mark.parametrize(("typed", "answer"), CONSENT)
def test_yes_and_no_in_a_sentence(renderer: Renderer, typed: str, answer: str | None) -> None:
    found = {f.intent for f in renderer.consent.found(typed)}
    assert (found.pop() if len(found) == 1 else None) == answer, found


def test_every_phrase_of_the_word_list_is_in_the_table() -> None:
    """Each phrase of keywords.yaml is in PHRASES, alone or with words around it, under the same intent."""
    listed = yaml.load((REPO / "templates/messages/fr/keywords.yaml").read_text(), Loader=yaml.BaseLoader)
    table = [(f" {fold(typed)} ", intent) for typed, intent in PHRASES]
    missing = [
        (intent, phrase)
        for intent, phrases in listed["intents"].items()
        for phrase in phrases
        if not any(f" {fold(phrase)} " in typed and intent == meant for typed, meant in table)
    ]
    assert missing == []


def test_every_intent_leads_somewhere(renderer: Renderer) -> None:
    assert renderer.intents.intents - {"help"} == set(INTENT_ENTRIES)


def test_the_longer_phrase_wins_and_ties_follow_the_order() -> None:
    matcher = IntentMatcher({"book": ["rdv"], "appointments": ["mon rdv"], "stop": ["zz"], "help": ["zz"]})
    assert matcher.match("c'est quand mon rdv") == "appointments"
    assert matcher.match("zz") == "stop"  # same length: ORDER puts stop (a question) first
    assert matcher.match("rdv") == "book"


def test_a_typo_in_a_long_word_is_forgiven_not_in_a_short_one(renderer: Renderer) -> None:
    assert renderer.intents.match("je cherche une formaton") == "find"
    assert renderer.intents.match("rapellez moi") == "callback"
    assert renderer.intents.match("rdb") is None


# -- on the engine: where an intent leads, step by step -------------------------------------------------


def conversation_data(driver: Driver) -> dict[str, object]:
    with driver.runtime.db.transaction() as session:
        return dict(session.exec(select(Conversation)).one().data)


async def test_at_the_menu_a_wish_to_book_books_and_a_word_still_searches(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.send("je veux un rdv")
    assert "C'est pour quelle aide ?" in chat.text
    await chat.send("menu")
    await chat.send("permis")
    assert "Voici ce que j'ai trouvé" in chat.text
    assert "Aide au permis de conduire B" in chat.text


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("kan mon rdv", "Vous n'avez pas de rendez-vous prévu."),
        ("annuler mon rdv", "Vous n'avez pas de rendez-vous prévu."),
        ("rappelez-moi svp", "À quel numéro pouvons-nous vous appeler ?"),
        ("moin la pa konpri", "Choisissez l'aide dont vous voulez parler."),  # the step's own help
        ("mi rode travay", "Voici ce que j'ai trouvé"),
        ("je veux plus recevoir de messages", "Vous êtes sûr ?"),
    ],
)
async def test_each_intent_leads_where_its_keyword_or_entry_point_does(
    driver: Driver, typed: str, expected: str
) -> None:
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")  # a step with choices and no input of its own
    await chat.send(typed)
    assert expected in chat.text


async def test_a_stop_sentence_only_asks_the_exact_word_stops(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.send("arrêtez les messages svp")
    assert "Vous êtes sûr ?" in chat.text
    with driver.runtime.db.transaction() as session:
        assert session.exec(select(Resident)).one().stopped_at is None
    await chat.send("non")
    await chat.send("STOP")
    with driver.runtime.db.transaction() as session:
        assert session.exec(select(Resident)).one().stopped_at is not None


async def test_arreter_de_fumer_is_a_search_not_a_stop(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.send("je veux arrêter de fumer")
    assert "Vous êtes sûr ?" not in chat.text
    with driver.runtime.db.transaction() as session:
        assert session.exec(select(Resident)).one().stopped_at is None


async def test_a_step_expecting_a_phone_number_takes_it_and_a_wish_still_works(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Être rappelé")
    assert "À quel numéro" in chat.text
    await chat.send("je veux un rdv")  # not a number: the wish
    assert "C'est pour quelle aide ?" in chat.text
    await chat.send("menu")
    await chat.tap("Être rappelé")
    await chat.send("0692 12 34 56")
    assert "Quand préférez-vous être appelé ?" in chat.text


async def test_after_a_long_pause_a_wish_is_answered(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Trouver une aide")
    driver.clock.advance(days=3)  # type: ignore[attr-defined]
    await chat.send("jveu 1 rdv")
    assert "C'est pour quelle aide ?" in chat.text


# -- under 16 ------------------------------------------------------------------------------------------


async def test_a_fifteen_year_old_in_the_questionnaire_is_told_who_can_help(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Trouver une aide")
    await chat.tap("Répondre à 3 questions")
    labels = chat.labels
    await chat.send("15")
    assert "pas compris" not in chat.text
    assert "16 ans" in chat.text and "Mission intercommunale de l'Ouest (MIO)" in chat.text
    assert "école" in chat.text and "famille" in chat.text
    assert chat.labels == labels  # the choices are still there
    await chat.send("menu")
    assert "Que voulez-vous faire ?" in chat.text


async def test_a_fifteen_year_old_at_onboarding_can_go_on(driver: Driver) -> None:
    chat = driver.resident()
    await chat.send("bonjour")
    await chat.tap("Oui, je suis d'accord")
    await chat.tap("Non")
    await chat.tap("Saint-Laurent")
    await chat.tap("Oui")
    await chat.send("j'ai 15 ans")
    assert "Mission intercommunale de l'Ouest (MIO)" in chat.text
    await chat.tap("Passer")
    assert "Quelle est votre situation ?" in chat.text
    with driver.runtime.db.transaction() as session:
        assert session.exec(select(Resident)).one().age_bracket is None


@pytest.mark.parametrize(("typed", "bracket"), [("16", "16-17"), ("22", "18-25"), ("110", "50+")])
async def test_ages_from_16_still_give_their_bracket(driver: Driver, typed: str, bracket: str) -> None:
    chat = await driver.onboarded()
    await chat.tap("Trouver une aide")
    await chat.tap("Répondre à 3 questions")
    await chat.send(typed)
    assert conversation_data(driver).get("age_bracket") == bracket


# -- search words: Creole and SMS spellings before a scheme search ----------------------------------------


def test_search_spellings_become_french_words(renderer: Renderer) -> None:
    assert replace_words(fold("Aide pou mon zanfan"), renderer.search_words) == "aide pour mon enfant"
    assert replace_words(fold("mi rode travay"), renderer.search_words) == "je chercher travail"
    assert replace_words("zanfan", {"zanfan": ""}) == ""  # an entry of "" drops the word


@pytest.mark.parametrize(
    ("typed", "scheme"),
    [
        ("aide pou mon zanfan", "RSA et contrat d'engagement"),  # its support covers childcare steps
        ("garde d'enfant", "RSA et contrat d'engagement"),
        ("permi", "Aide au permis de conduire B"),
        ("jveu fé le permi", "Aide au permis de conduire B"),
        ("lékol", "École de la deuxième chance"),
        ("mi rode travay", "Accompagnement France Travail"),
        ("formasion", "Contrat d'apprentissage"),
    ],
)
async def test_a_creole_or_sms_search_finds_a_sensible_scheme(driver: Driver, typed: str, scheme: str) -> None:
    chat = await driver.onboarded()
    await chat.send(typed)
    assert "Voici ce que j'ai trouvé" in chat.text
    assert any(scheme in label for label in chat.labels), chat.labels
