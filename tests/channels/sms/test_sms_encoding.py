"""GSM-7 / UCS-2 measurement, French transliteration and SMS splitting."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relai_bot.channels.sms.encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SmsMeasure,
    is_gsm7,
    measure,
    split_for_sms,
    to_gsm7,
)

# Real municipal wording, GSM-7 only (é è à ù are in the basic table).
FRENCH_GSM = (
    "Bonjour, la mairie de La Possession vous informe que la permanence emploi du relais de "
    "Sainte-Thérèse aura lieu mardi de 8h30 à 12h. Apportez votre pièce d'identité et votre CV. "
    "Les conseillers de la Mission locale et de France Travail seront présents pour répondre à vos "
    "questions sur la formation, l'apprentissage et la création d'entreprise. Pour annuler, "
    "répondez ANNULER. Pour ne plus recevoir de messages, écrivez STOP au service. Bonne journée à "
    "tous et à mardi au relais ! Renseignements à l'accueil de la mairie annexe du Bas de la "
    "Rivière des Galets, du lundi au vendredi."
)


def _gsm_text(n: int) -> str:
    text = FRENCH_GSM * (n // len(FRENCH_GSM) + 1)
    return text[:n]


# ---------------------------------------------------------------------------------------------- tables


def test_tables_have_the_gsm_03_38_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 code points minus ESC
    assert len(GSM7_EXTENSION) == 10  # form feed ^ { } \ [ ~ ] | €
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize("ch", list("éèùìòàÉÇäöüÄÖÜæÆñÑßÅåØø@£$¥¤§¡¿_ΔΦΓΛΩΠΨΣΘΞ\n\r"))
def test_in_basic_table(ch: str) -> None:
    assert ch in GSM7_BASIC
    assert measure(ch) == SmsMeasure("GSM-7", 1, 1, 1)


@pytest.mark.parametrize(
    "ch",
    [*"çêâîôûëïÿœŒÀÈÙÊÂÎÔÛ’‘“”«»…–—`😀", "\u00a0", "\u202f", "\t"],
)
def test_not_gsm7_switches_to_ucs2(ch: str) -> None:
    assert not is_gsm7(ch)
    assert measure("Bonjour " + ch).encoding == "UCS-2"


@pytest.mark.parametrize("ch", ["€", "[", "]", "{", "}", "\\", "^", "~", "|", "\f"])
def test_extension_chars_count_two_septets(ch: str) -> None:
    assert ch in GSM7_EXTENSION
    assert measure("Prix " + ch) == SmsMeasure("GSM-7", 7, 1, 6)


# ------------------------------------------------------------------------------------------- segments


@pytest.mark.parametrize(
    ("length", "segments"),
    [(0, 0), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4), (1530, 10)],
)
def test_gsm7_segments(length: int, segments: int) -> None:
    text = _gsm_text(length)
    assert is_gsm7(text)
    m = measure(text)
    assert (m.encoding, m.units, m.segments, m.characters) == ("GSM-7", length, segments, length)


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_one_e_circumflex_switches_to_ucs2(length: int, segments: int) -> None:
    text = "Fête" + _gsm_text(length - 4) if length >= 4 else "ê" * length
    assert text.count("ê") == 1 or length < 4
    m = measure(text)
    assert (m.encoding, m.units, m.segments, m.characters) == ("UCS-2", length, segments, length)


def test_euro_counts_two_septets() -> None:
    assert measure("Tarif : 5 €").units == 12
    assert measure("€" * 80) == SmsMeasure("GSM-7", 160, 1, 80)
    assert measure("€" * 81).segments == 2


def test_extension_char_is_not_split_across_parts() -> None:
    # 306 septets would fit in 2 x 153, but the € at septets 153-154 cannot straddle two parts.
    text = "a" * 152 + "€" + "a" * 152
    assert measure(text) == SmsMeasure("GSM-7", 306, 3, 305)
    assert measure("a" * 151 + "€" + "a" * 153).segments == 2


def test_emoji_counts_two_utf16_units() -> None:
    assert measure("👍") == SmsMeasure("UCS-2", 2, 1, 1)
    assert measure("Merci 👍") == SmsMeasure("UCS-2", 8, 1, 7)
    assert measure("😀" * 35).segments == 1
    assert measure("😀" * 36) == SmsMeasure("UCS-2", 72, 2, 36)


def test_surrogate_pair_is_not_split_across_parts() -> None:
    text = "a" * 66 + "😀" + "a" * 66  # 134 units = 2 x 67, but the emoji cannot straddle
    assert measure(text) == SmsMeasure("UCS-2", 134, 3, 133)
    assert measure("a" * 65 + "😀" + "a" * 67).segments == 2


def test_real_french_ucs2_text() -> None:
    text = "Bonjour ! La fête de l’été aura lieu à la salle Daniel Narcisse, entrée libre."
    m = measure(text)
    assert m.encoding == "UCS-2"
    assert m.units == len(text) == 78
    assert m.segments == 2
    converted = to_gsm7(text)
    assert converted == "Bonjour ! La fete de l'été aura lieu à la salle Daniel Narcisse, entrée libre."
    assert measure(converted) == SmsMeasure("GSM-7", 78, 1, 78)


# ------------------------------------------------------------------------------------- transliteration


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("l’équipe", "l'équipe"),
        ("‘oui’ ‛non", "'oui' 'non"),
        ("“Bonjour”", '"Bonjour"'),
        ("« Bonjour »", '"Bonjour"'),
        ("«\u00a0Bonjour\u00a0»", '"Bonjour"'),
        ("«\u202fRSA\u202f» et «APL»", '"RSA" et "APL"'),
        ("Attendez…", "Attendez..."),
        ("8h30 – 12h — fin", "8h30 - 12h - fin"),
        ("Bonjour\u00a0!", "Bonjour !"),
        ("Quoi\u202f?", "Quoi ?"),
        ("10\u2009000 €", "10 000 €"),
        ("cœur", "coeur"),
        ("ŒUVRE", "OEUVRE"),
        ("Œuvre", "Oeuvre"),
        ("Lætitia Æ", "Lætitia Æ"),
        ("fête Noël", "fete Noel"),
        ("âge mäh", "age mäh"),
        ("île maïs", "ile mais"),
        ("hôtel Köln", "hotel Köln"),
        ("sûr über", "sur über"),
        ("ça Ça", "ca Ça"),
        ("À bientôt", "A bientot"),
        ("È Ê Ë É", "E E E É"),
        ("Ù Û Ü", "U U Ü"),
        ("Î Ï Ô Â", "I I O A"),
        ("ÿ Ÿ", "y Y"),
        ("été où là è ì ò", "été où là è ì ò"),
        ("n°12", "no12"),
        ("1ᵉʳ étage", "1er étage"),
        ("½ litre", "1/2 litre"),
        ("e\u0301te\u0301", "été"),  # decomposed accents are recomposed, not stripped
        ("Merci 👍 !", "Merci !"),
        ("👋 Bonjour", "Bonjour"),
        ("Bonjour 👋", "Bonjour"),
        ("Bravo 👏👏 à tous", "Bravo à tous"),
        ("Ligne 1 😀\nLigne 2", "Ligne 1\nLigne 2"),
        ("tab\there", "tab here"),
        ("mot\u200bcollé", "motcollé"),
        ("ok\ufe0f", "ok"),
        ("Δ Ω Σ", "Δ Ω Σ"),
        ("日本", ""),
    ],
)
def test_to_gsm7_table(source: str, expected: str) -> None:
    result = to_gsm7(source)
    assert result == expected
    assert is_gsm7(result)


def test_to_gsm7_keeps_gsm7_text_identical() -> None:
    assert to_gsm7(FRENCH_GSM) is FRENCH_GSM
    assert to_gsm7("[{€}] ~ | ^ \\") == "[{€}] ~ | ^ \\"


any_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)),
        st.sampled_from(list("çêâîôûëïœŒ’«»…–—\u00a0\u202f\u2009😀👍🇷🇪\u0301\ufe0f")),
    ),
    max_size=200,
)
gsm_text = st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)), max_size=300)


@given(any_text)
def test_to_gsm7_always_yields_gsm7(text: str) -> None:
    result = to_gsm7(text)
    assert is_gsm7(result)
    assert measure(result).encoding == "GSM-7"


@given(any_text)
def test_to_gsm7_is_idempotent(text: str) -> None:
    once = to_gsm7(text)
    assert to_gsm7(once) == once


@given(gsm_text)
def test_to_gsm7_leaves_gsm7_unchanged(text: str) -> None:
    assert to_gsm7(text) == text


# ------------------------------------------------------------------------------------------- splitting

_NON_SPACE = re.compile(r"\S")


def _non_space(text: str) -> str:
    return "".join(_NON_SPACE.findall(text))


def _check_split(text: str, parts: list[str], max_segments: int) -> None:
    assert parts
    assert all(part for part in parts)
    assert all(measure(part).segments <= max_segments for part in parts)
    assert _non_space("".join(parts)) == _non_space(text)


def test_fitting_text_is_returned_whole() -> None:
    text = _gsm_text(459)
    assert split_for_sms(text) == [text]
    assert split_for_sms("") == [""]
    assert split_for_sms("  x  ") == ["  x  "]


def test_max_segments_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_for_sms("x", max_segments=0)


def test_split_prefers_paragraph_breaks() -> None:
    first = _gsm_text(300).rstrip()
    second = "Deuxième paragraphe : les horaires changent pendant les vacances scolaires."
    third = _gsm_text(400).rstrip()
    text = f"{first}\n\n{second}\n\n{third}"
    parts = split_for_sms(text)
    assert parts == [f"{first}\n\n{second}", third]


def test_split_at_line_break_when_no_paragraph() -> None:
    lines = [f"Ligne {i} : atelier CV au relais le mardi {i} à 9h, entrée libre." for i in range(12)]
    text = "\n".join(lines)
    parts = split_for_sms(text, max_segments=2)
    _check_split(text, parts, 2)
    assert len(parts) == 3
    for part in parts:
        assert set(part.split("\n")) <= set(lines)  # only whole lines


def test_split_at_sentence_end_then_space() -> None:
    sentences = [f"Phrase numéro {i} sur les démarches d'insertion." for i in range(30)]
    text = " ".join(sentences)
    parts = split_for_sms(text, max_segments=1)
    _check_split(text, parts, 1)
    assert all(part.endswith(".") for part in parts)

    words = " ".join(["insertion"] * 100)
    parts = split_for_sms(words, max_segments=1)
    _check_split(words, parts, 1)
    assert all(set(part.split(" ")) == {"insertion"} for part in parts)


def test_split_ucs2_text_counts_in_ucs2_units() -> None:
    text = " ".join(["Fête de l’été à la Possession, venez nombreux !"] * 20)
    parts = split_for_sms(text, max_segments=2)
    _check_split(text, parts, 2)
    assert all(measure(part).encoding == "UCS-2" for part in parts)
    assert all(measure(part).units <= 134 for part in parts)


def test_split_does_not_break_at_no_break_space() -> None:
    text = ("Attention\u00a0! " * 100).strip()
    parts = split_for_sms(text, max_segments=1)
    _check_split(text, parts, 1)
    assert all(not part.startswith("!") for part in parts)


def test_word_longer_than_a_message_is_cut_hard() -> None:
    url = "https://example.org/" + "a" * 600
    text = f"Lien : {url} merci"
    parts = split_for_sms(text, max_segments=1)
    _check_split(text, parts, 1)
    assert parts[0] == "Lien :"
    assert all(len(part) == 160 for part in parts[1:4])


def test_split_keeps_emoji_whole() -> None:
    text = "😀" * 200
    parts = split_for_sms(text, max_segments=1)
    _check_split(text, parts, 1)
    assert "".join(parts) == text
    assert [len(part) for part in parts] == [35] * 5 + [25]


WORD_CHARS = [*"abcdeéèàùêçœ€[]😀ABZ0129'-,;:", "🇷🇪"]
words_text = st.lists(
    st.tuples(
        st.lists(st.sampled_from(WORD_CHARS), min_size=1, max_size=25).map("".join),
        st.sampled_from([" ", " ", " ", "\n", "\n\n", ". ", "! ", " \n \n ", "\u00a0", "\t"]),
    ),
    max_size=250,
).map(lambda pairs: "".join(word + sep for word, sep in pairs))


@settings(max_examples=150, deadline=None)
@given(words_text, st.integers(min_value=1, max_value=4))
def test_split_parts_fit_and_keep_every_character(text: str, max_segments: int) -> None:
    parts = split_for_sms(text, max_segments)
    if measure(text).segments <= max_segments:
        assert parts == [text]
        return
    _check_split(text, parts, max_segments)
    # every cut is at breakable whitespace (no word here is longer than a message)
    position = 0
    for part in parts[:-1]:
        start = text.index(part, position)
        end = start + len(part)
        assert text[end] in " \t\n", (part, text[end : end + 5])
        position = end


@settings(max_examples=100, deadline=None)
@given(any_text.map(lambda t: t * 8), st.integers(min_value=1, max_value=3))
def test_split_any_text(text: str, max_segments: int) -> None:
    parts = split_for_sms(text, max_segments)
    if parts == [text]:
        assert measure(text).segments <= max_segments
    else:
        _check_split(text, parts, max_segments)
