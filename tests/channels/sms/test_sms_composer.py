"""How the SMS composer turns replies into SMS: options whole with their question, grouped by the ending
they share, labels shortened only when a list cannot fit, the text before split at its boundaries.

Pure text work with the real templates (channel/sms_options*.j2) and the default settings (2 segments).
"""

from __future__ import annotations

import pytest

from relai_bot.channels.sms.encoding import measure
from relai_bot.channels.sms.render import MIN_LABEL, SmsComposer, group_options, shorten
from relai_bot.config import load_settings
from relai_bot.turns import Option, Reply
from relai_bot.wiring import load_content

YES_NO = [Option("1.1", "Oui", 1), Option("1.2", "Non", 2)]
HELP = (
    "Voici comment faire. Répondez avec le numéro d'un choix. Écrivez menu pour revenir au menu, retour pour "
    "revenir en arrière, stop pour ne plus recevoir de messages. Besoin d'une personne ? Menu, puis Être "
    "rappelé. Un conseiller vous répond du lundi au vendredi."
)  # two segments by itself


def options(*labels: str) -> list[Option]:
    return [Option(f"1.{n}", label, n) for n, label in enumerate(labels, start=1)]


@pytest.fixture(scope="module")
def composer() -> SmsComposer:
    settings = load_settings()
    return SmsComposer(load_content(settings)[1], settings)


def parts(composer: SmsComposer, text: str, offered: list[Option], flow: str = "booking") -> list[str]:
    return composer.reply_parts(Reply(text=text, options=offered), language=None, one_way=False, flow=flow)


def test_the_default_budget_is_two_segments(composer: SmsComposer) -> None:
    assert composer.max_segments == 2
    assert measure(composer.prepare(HELP)).segments == 2


def test_a_short_reply_is_one_sms_with_its_options(composer: SmsComposer) -> None:
    assert parts(composer, "Je réserve ?", YES_NO) == ["Je réserve ?\n1. Oui\n2. Non\nRépondez 1 ou 2. 0 = menu"]
    # in the menu, or when an option goes back to it, no "0 = menu"
    assert parts(composer, "Et maintenant ?", options("Oui", "Revenir au menu"))[0].endswith("Répondez 1 ou 2.")
    assert parts(composer, "Que voulez-vous faire ?", YES_NO, flow="menu")[0].endswith("Répondez 1 ou 2.")


def test_help_too_long_for_one_sms_goes_first_and_the_options_whole_in_the_next(composer: SmsComposer) -> None:
    offered = options("Trouver une aide", "Prendre rendez-vous", "Mes rendez-vous", "Être rappelé", "Mon compte")
    sent = parts(composer, HELP, offered, flow="menu")
    assert len(sent) == 2
    assert sent[0] == composer.prepare(HELP)
    assert sent[1].startswith("1. Trouver une aide\n") and sent[1].endswith("Répondez un numéro de 1 à 5.")
    assert all(measure(text).segments <= 2 for text in sent)


def test_the_question_travels_with_its_options(composer: SmsComposer) -> None:
    text = HELP + "\n\nVous venez ?"
    sent = parts(composer, text, YES_NO)
    assert sent[-1] == "Vous venez ?\n1. Oui\n2. Non\nRépondez 1 ou 2. 0 = menu"
    assert "Vous venez ?" not in sent[0]
    # a last line that asks, or leads to the list, goes with it too
    sent = parts(composer, HELP + "\nVoici les rendez-vous libres :", YES_NO)
    assert sent[-1].startswith("Voici les rendez-vous libres :\n1. Oui")


def test_a_long_text_before_the_options_is_split_at_sentences(composer: SmsComposer) -> None:
    text = " ".join([HELP] * 3)
    sent = parts(composer, text, YES_NO)
    assert len(sent) >= 3 and all(measure(part).segments <= 2 for part in sent)
    assert all(part.rstrip().endswith((".", "?")) for part in sent[:-1])
    assert sent[-1].endswith("1. Oui\n2. Non\nRépondez 1 ou 2. 0 = menu")
    assert sum(part.count("1. Oui") for part in sent) == 1


def test_options_ending_the_same_way_share_a_heading() -> None:
    offered = options(
        "mardi 1er décembre à 9 h, Médiathèque Heva",
        "mardi 1er décembre à 9 h 30, Médiathèque Heva",
        "mardi 1er décembre à 10 h, par téléphone",
        "mercredi 2 décembre à 8 h 30, par téléphone",
        "Oui, je suis d'accord",
        "Choisir le lieu",
    )
    groups = group_options(offered)
    assert [g["heading"] for g in groups] == ["Médiathèque Heva", "Par téléphone", None, None]
    assert [o["label"] for o in groups[0]["options"]] == ["mardi 1er décembre à 9 h", "mardi 1er décembre à 9 h 30"]
    assert [o["number"] for g in groups for o in g["options"]] == [1, 2, 3, 4, 5, 6]
    assert groups[2]["options"][0]["label"] == "Oui, je suis d'accord"  # alone: its label as it is


def test_the_heading_is_written_once_in_the_sms(composer: SmsComposer) -> None:
    offered = options(*(f"jeudi {d} décembre à 9 h, Mairie annexe de la Ravine à Malheur" for d in (3, 10, 17)))
    (sms,) = parts(composer, "Les prochains rendez-vous libres :", offered)
    assert sms.count("Mairie annexe de la Ravine à Malheur") == 1
    assert "Mairie annexe de la Ravine à Malheur :\n1. jeudi 3 décembre à 9 h\n2. jeudi 10 décembre à 9 h\n" in sms


def test_shorten_cuts_at_a_word() -> None:
    label = "RSMA-R - Régiment du service militaire adapté de La Réunion"
    assert shorten(label, 100) == label
    assert shorten(label, 30) == "RSMA-R - Régiment du..."
    assert len(shorten(label, 30)) <= 30
    assert shorten("Anticonstitutionnellement", 12) == "Anticonst..."


def test_labels_are_shortened_only_when_the_list_cannot_fit(composer: SmsComposer) -> None:
    long = [
        "RSMA-R - Régiment du service militaire adapté de La Réunion",
        "POEI - Préparation opérationnelle à l'emploi individuelle",
        "CAPE - Contrat d'appui au projet d'entreprise (couveuse)",
        "ACRE - Aide à la création ou à la reprise d'entreprise",
        "PLIE - Plan local pour l'insertion et l'emploi du TCO",
        "Chercher par un mot",
        "Revenir au menu",
    ]
    (sms,) = parts(composer, "Voici les aides pour vous :", options(*long))
    assert measure(sms).segments == 2 and "..." in sms
    lines = [line for line in sms.splitlines() if line[:1].isdigit()]
    assert len(lines) == 7 and all(len(line.split(". ", 1)[1]) >= MIN_LABEL or "..." not in line for line in lines)
    assert "6. Chercher par un mot" in sms and "7. Revenir au menu" in sms  # short labels kept whole
    # a list that fits is never shortened
    (sms,) = parts(composer, "Voici :", options(*long[:3]))
    assert "..." not in sms


def test_a_list_too_long_even_shortened_is_cut_between_two_options(composer: SmsComposer) -> None:
    many = options(*(f"Quartier numéro {n} de la commune de La Possession" for n in range(1, 16)))
    sent = parts(composer, "Dans quel quartier habitez-vous ?", many)
    assert len(sent) >= 2 and all(measure(part).segments <= 2 for part in sent)
    option_lines = [line for part in sent for line in part.splitlines() if line[:1].isdigit()]
    assert [int(line.split(".")[0]) for line in option_lines] == list(range(1, 16))


def test_replies_of_one_turn_share_an_sms_when_it_costs_nothing_more(composer: SmsComposer) -> None:
    replies = [Reply(text="C'est noté."), Reply(text="Que voulez-vous faire ?", options=YES_NO)]
    (batch,) = composer.batches(replies, flow="menu")
    assert batch.parts == ["C'est noté.\n\nQue voulez-vous faire ?\n1. Oui\n2. Non\nRépondez 1 ou 2."]
    # a long first reply and a list: the list is never cut to fill the first SMS
    replies = [Reply(text=HELP), Reply(text="Que voulez-vous faire ?", options=YES_NO)]
    batches = composer.batches(replies, flow="menu")
    assert [len(b.parts) for b in batches] == [1, 1]
    assert batches[1].parts[0].startswith("Que voulez-vous faire ?\n1. Oui")


def test_the_opt_out_mention_ends_a_broadcast(sqlite_url: str) -> None:
    settings = load_settings(sms_opt_out_mention="STOP au 36111")
    composer = SmsComposer(load_content(settings)[1], settings)
    (batch,) = composer.batches([Reply(text="Forum emploi samedi.", kind="broadcast")], proactive=True)
    assert batch.parts == ["Forum emploi samedi.\nSTOP au 36111"]
    (batch,) = composer.batches([Reply(text="Forum emploi samedi.", kind="broadcast")])
    assert batch.parts == ["Forum emploi samedi."]
