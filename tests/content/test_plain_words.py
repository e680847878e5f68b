"""Every resident text follows the plain-words rules of docs/plain-words.md: short sentences, acronyms spelled
out the first time, none of the banned words. Each language (each folder of templates/messages) with its own
rules file, templates/messages/<lang>/plain_words.yaml. Run with -s to see what was checked."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from relai_bot.services import plain_words
from tests.content.resident_texts import Text, labels, rendered_templates, renderer, scheme_texts
from tests.paths import REPO
from tests.template_samples import LANGUAGE, LANGUAGES

# Written to advisers, not residents (they know the schemes' acronyms): checked for internal notes only
STAFF_TEXTS = ("staff/digest", "staff/adviser_unreached")
# Files whose findings are known and allowed for now, each with its reason. Remove a line once its file passes.
# Empty today: e.g. "discovery/results.sms.j2": "owned by the results/SMS work, fixed at merge".
OWNED_ELSEWHERE: dict[str, str] = {}


def _rules(language: str = LANGUAGE) -> plain_words.Rules:
    return plain_words.load_rules(Path(renderer().root) / language)


def _template(text: Text) -> str:
    """discovery/detail.sms.j2 [scheme cej] -> discovery/detail"""
    return text.where.split(" ")[0].split(".")[0]


def _suffix(text: Text) -> str:
    return text.where.split(" ")[0].removeprefix(_template(text))


def _findings(texts: list[Text], language: str = LANGUAGE) -> list[tuple[Text, plain_words.Finding]]:
    rules = _rules(language)
    return [(t, f) for t in texts for f in plain_words.check(t.text, rules, t.shown_before, _template(t) + _suffix(t))]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (
            "Vous pouvez venir avec votre CV, votre pièce d'identité, votre carte Vitale et votre dernier avis "
            "d'imposition.",
            "long sentence",
        ),
        ("Vous signez un CDDI avec l'association.", "acronym"),
        ("Le PLIE vous aide. Le plan local pour l'insertion et l'emploi est gratuit.", "acronym"),
        ("Une personne vous appelle dans les 2 jours ouvrés.", "banned word"),
        ("Pour reprendre, écrivez START.", "banned word"),
        ("Vous êtes éligible à cette aide.", "banned word"),
        ("Ateliers, chantiers, etc.", "banned word"),
    ],
)
def test_the_lint_catches_each_rule(text: str, rule: str) -> None:
    assert rule in {f.rule for f in plain_words.check(text, _rules())}, text


@pytest.mark.parametrize(
    "text",
    [
        "Le plan local pour l'insertion et l'emploi (PLIE) vous aide.",
        "PLIE (plan local pour l'insertion et l'emploi) : un référent vous suit.",
        "CEJ - Contrat d'engagement jeune",
        "Envoyez votre CV par SMS. Vous touchez le RSA ?",
        "1. Une option très longue qui compte bien plus de quinze mots mais qui reste un choix numéroté",
        "Le 12 décembre 2026 à 14 h 30, 25 rue Évariste de Parny, 97419 La Possession.",
        "Pour reprendre, écrivez REPRENDRE. Le rendez-vous démarre à 9 h.",
    ],
)
def test_the_lint_leaves_plain_texts_alone(text: str) -> None:
    assert plain_words.check(text, _rules()) == []


# The same rules with the Réunion Creole words (templates/messages/rcf/plain_words.yaml, docs/creole.md)
@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (
            "Ou pé vni avèk out CV, out papié idantité, out kart Vitale é out dèrnié avi d'inpozisyon osi.",
            "long sentence",
        ),
        ("Ou signe in CDDI avèk lasosiasyon.", "acronym"),
        ("Le PLIE i èd aou. Le plan lokal pou linsersyon é le travay lé gratis.", "acronym"),
        ("In moun va apel aou dann 2 zour ouvré.", "banned word"),
        ("Dann 2 jours ouvrés.", "banned word"),  # the French jargon stays banned in a Creole text
        ("Ou lé élizib pou lèd-la.", "banned word"),
        ("Ou lé éligible.", "banned word"),
        ("Sa in dispozitif pou bann zèn.", "banned word"),
        ("Pou ropran, ékri START.", "banned word"),
    ],
)
def test_the_creole_lint_catches_each_rule(text: str, rule: str) -> None:
    assert rule in {f.rule for f in plain_words.check(text, _rules("rcf"))}, text


@pytest.mark.parametrize(
    "text",
    [
        "Le plan lokal pou linsersyon é le travay (PLIE) i èd aou.",
        "CEJ - Contrat d'engagement jeune",  # a scheme's name kept in French
        "CEJ : kontra d'angazman zèn.",
        "Anvoy out CV par SMS. Ou tous le RSA ?",
        "1. In swa bien lon ki néna plis ke kinz mo mé lé in swa avèk in niméro, pa in fraz",
        "Le 12 désanm 2026 a 14 h 30, 25 rue Évariste de Parny, 97419 La Possession.",
        "Pou ropran, ékri REPRENDRE. Le randévou i komans a 9 h.",
    ],
)
def test_the_creole_lint_leaves_plain_texts_alone(text: str) -> None:
    assert plain_words.check(text, _rules("rcf")) == []


def test_every_language_has_its_own_rules() -> None:
    assert LANGUAGES[0] == LANGUAGE and "rcf" in LANGUAGES
    for language in LANGUAGES:
        assert (Path(renderer().root) / language / plain_words.RULES_FILE).is_file(), language
    assert _rules("rcf").banned != _rules(LANGUAGE).banned  # not the French file read twice


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_resident_text_is_in_plain_words(language: str) -> None:
    everything = [*rendered_templates(language), *labels(language), *scheme_texts(language)]
    texts = [t for t in everything if _template(t) not in STAFF_TEXTS]
    findings = _findings(texts, language)
    known = [(t, f) for t, f in findings if _template(t) + _suffix(t) in OWNED_ELSEWHERE]
    failing = [(t, f) for t, f in findings if (t, f) not in known]
    sentences = sum(len(plain_words.sentences(t.text)) for t in texts)
    counts, rules = Counter(f.rule for _, f in failing), _rules(language)
    print(
        f"plain words [{language}]: {len(texts)} texts, {sentences} sentences checked "
        f"(at most {rules.max_words} words, {len(rules.acronyms)} acronyms, "
        f"{len(rules.banned) + len(rules.shouted_banned)} banned words); "
        f"{len(known)} known findings in files owned elsewhere; failing: {dict(counts) or 'none'}"
    )
    assert len(texts) > 3000
    # one line per template and finding (the first scheme or venue it showed up with)
    first: dict[tuple[str, plain_words.Finding], str] = {}
    for t, f in failing:
        first.setdefault((t.where.split(" [")[0], f), t.where)
    lines = sorted(f"{where}\n  {finding}" for (_, finding), where in first.items())
    assert not lines, f"{len(lines)} plain-words findings [{language}]:\n" + "\n".join(lines)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_written_rules_list_every_banned_word_and_common_acronym(language: str) -> None:
    written = (REPO / "docs" / "plain-words.md").read_text(encoding="utf-8")
    rules = _rules(language)
    missing = [w for w in [*rules.banned, *rules.shouted_banned, *rules.common_acronyms] if w not in written]
    assert not missing, f"docs/plain-words.md does not list {missing} ({language}/plain_words.yaml)"


# How each language tells a stopped SMS number to send START
STOPPED_SMS_SAYS = {"fr": "envoyez START", "rcf": "anvoy START"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_after_stop_each_channel_shows_the_word_that_works_there(language: str) -> None:
    """By SMS Twilio blocks a number that sent STOP until it sends START: that word, and only by SMS."""
    shown = {
        channel: renderer().render("common/stopped", language=language, channel=channel, context={})
        for channel in ("sms", "telegram", "console")
    }
    assert STOPPED_SMS_SAYS.get(language, "START") in shown["sms"] and "REPRENDRE" not in shown["sms"]
    assert all("REPRENDRE" in shown[c] and "START" not in shown[c] for c in ("telegram", "console"))
    assert _rules(language).shouted_allowed == {"common/stopped.sms.j2": "START"}


# What the privacy notice says with RELAI_RETENTION_MONTHS=6, and must not say, in each language
RETENTION_SAYS = {
    "fr": ("6 mois après votre dernier message", "12 mois"),
    "rcf": ("6 mwa apré out dèrnié mésaz", "12 mwa"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_privacy_notice_states_the_retention_the_service_applies(language: str) -> None:
    """One owner: RELAI_RETENTION_MONTHS is what the purge applies and what the notice says, on every channel."""
    from relai_bot.conversation.render import Renderer

    assert language in RETENTION_SAYS, f"add what the privacy notice says in {language!r} to RETENTION_SAYS"
    said, not_said = RETENTION_SAYS[language]
    six = Renderer(REPO / "templates", renderer().tz, retention_months=6)
    for channel in ("sms", "telegram", "console"):
        text = six.render("onboarding/privacy", language=language, channel=channel, context={})
        assert said in text and not_said not in text, f"{language} {channel}:\n{text}"
