"""SMS encoding: GSM-7 / UCS-2 detection, segment counting, French transliteration and splitting.

Pure Python, no Twilio import. Facts (platform.md §7, GSM 03.38):

* GSM-7 basic table: 128 characters, 1 septet each. Extension table (``ESC`` + char):
  form feed, ``^ { } \\ [ ~ ] | €``, 2 septets each.
* A message with any other character is sent as UCS-2 (UTF-16 code units; a character outside
  the BMP, such as an emoji, takes 2 units).
* One SMS holds 160 septets (GSM-7) or 70 units (UCS-2). A concatenated message loses room to the
  UDH header: 153 septets or 67 units per part. An extension character (ESC + char) or a UTF-16
  surrogate pair is never split across two parts, so a part may end one unit short.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "SmsMeasure",
    "is_gsm7",
    "measure",
    "split_for_sms",
    "to_gsm7",
]

# GSM 03.38 default alphabet, in code order 0x00..0x7F. 0x1B (ESC) is the escape to the extension
# table and is not a character of its own, so it is left out.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ"  # 0x10..0x1A, then ESC
    "ÆæßÉ"  # 0x1C..0x1F
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs ESC + the char, i.e. 2 septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")
_GSM7_ALL: frozenset[str] = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SmsMeasure:
    """What a text costs as one SMS message.

    ``units`` are septets for GSM-7 (extension chars count 2) and UTF-16 code units for UCS-2;
    ``segments`` is the number of SMS parts billed (0 for an empty text); ``characters`` is the
    number of Unicode code points.
    """

    encoding: Encoding
    units: int
    segments: int
    characters: int


def is_gsm7(text: str) -> bool:
    """True if every character of ``text`` is in the GSM-7 basic or extension table."""
    return all(ch in _GSM7_ALL for ch in text)


def _gsm7_cost(ch: str) -> int:
    return 2 if ch in GSM7_EXTENSION else 1


def _utf16_cost(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _count_parts(costs: list[int], single: int, part: int) -> int:
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    # Concatenated: fill each part greedily; a 2-unit char that does not fit goes whole to the next part.
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts += 1
            used = 0
        used += cost
    return parts


def measure(text: str) -> SmsMeasure:
    """Encoding, units, segment count and character count of ``text`` sent as one SMS message."""
    if is_gsm7(text):
        costs = [_gsm7_cost(ch) for ch in text]
        return SmsMeasure("GSM-7", sum(costs), _count_parts(costs, GSM7_SINGLE, GSM7_PART), len(text))
    costs = [_utf16_cost(ch) for ch in text]
    return SmsMeasure("UCS-2", sum(costs), _count_parts(costs, UCS2_SINGLE, UCS2_PART), len(text))


# --------------------------------------------------------------------------------------------------
# Transliteration

_SPACES = "\u00a0\u202f\u2009\u2007\u2002\u2003\u2004\u2005\u2006\u2008\u200a\u2000\u2001\u205f\u3000\t\v"

# Explicit replacements, checked before the generic "strip the accents" fallback.
_TRANSLIT: dict[str, str] = {
    **dict.fromkeys("’‘‛‚ʼʻ′´`‹›", "'"),  # apostrophes and single quotes
    **dict.fromkeys("“”„‟″«»", '"'),  # double quotes
    **dict.fromkeys("–—‒―‐‑−⁃•‣", "-"),  # dashes, hyphens, bullets
    **dict.fromkeys(_SPACES, " "),
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad\ufe0e\ufe0f", ""),  # invisible characters
    "\u2028": "\n",
    "\u2029": "\n\n",
    "…": "...",
    "·": ".",
    "⁄": "/",
    "¦": "|",
    # ligatures and letters without a decomposition
    "œ": "oe",
    "Œ": "OE",
    "ĳ": "ij",
    "Ĳ": "IJ",
    "ð": "d",
    "Ð": "D",
    "đ": "d",
    "Đ": "D",
    "ł": "l",
    "Ł": "L",
    "ŧ": "t",
    "Ŧ": "T",
    "þ": "th",
    "Þ": "TH",
    "ı": "i",
    "ſ": "s",
    "µ": "u",
    "μ": "u",
    # symbols
    "°": "o",
    "º": "o",
    "©": "(c)",
    "®": "(R)",
    "×": "x",
    "÷": "/",
    "±": "+/-",
    "¢": "c",
    "≤": "<=",
    "≥": ">=",
    "≠": "!=",
    "≈": "~",
    "→": "->",
    "←": "<-",
    "⇒": "=>",
    "↔": "<->",
}

# Spaces French typography puts inside guillemets: « Bonjour » -> "Bonjour".
_HSPACE = "[ " + _SPACES + "]*"
_OPEN_GUILLEMET = re.compile("«" + _HSPACE)
_CLOSE_GUILLEMET = re.compile(_HSPACE + "»")
_OE_CAPITAL_IN_WORD = re.compile(r"Œ(?=[^\W\d_])(?![A-ZÀ-ÖØ-ÞŒ])")
_DROPPED = "\x00"  # marks a dropped character until spacing around it is tidied
# a space before a dropped run that is followed by a space, a line end or the end; or a space after a
# dropped run that starts a line
_DROP_BETWEEN_SPACES = re.compile(r" \x00+(?=[ \n]|\Z)|(?:\A|(?<=\n))\x00+ ")


def _translit_char(ch: str) -> str:
    if ch in _GSM7_ALL:
        return ch
    if ch in _TRANSLIT:
        return _TRANSLIT[ch]
    out: list[str] = []
    for part in unicodedata.normalize("NFKD", ch):
        if part in _GSM7_ALL:
            out.append(part)
        elif unicodedata.combining(part):
            continue
        elif part in _TRANSLIT:
            out.append(_TRANSLIT[part])
    if out:
        return "".join(out)
    category = unicodedata.category(ch)
    if category == "Zs":
        return " "
    if category in ("Zl", "Zp"):
        return "\n"
    return _DROPPED


def to_gsm7(text: str) -> str:
    """Transliterate ``text`` into the GSM-7 alphabet for sending as a cheap SMS.

    Characters already in GSM-7 (é è à ù ì ò É Ç ä ö ü ñ æ ß €, ...) are kept as they are. Typographic
    quotes, dashes, ellipsis and special spaces get their ASCII forms (« Bonjour » -> "Bonjour"),
    œ -> oe, and other accented letters lose their accent (ê -> e, ç -> c, À -> A). Emoji and any
    other character with no GSM-7 form are dropped. ``measure(to_gsm7(t)).encoding`` is always
    "GSM-7", and the function is idempotent.
    """
    if is_gsm7(text):
        return text
    text = unicodedata.normalize("NFC", text)
    text = _OPEN_GUILLEMET.sub('"', text)
    text = _CLOSE_GUILLEMET.sub('"', text)
    text = _OE_CAPITAL_IN_WORD.sub("Oe", text)  # Œuvre -> Oeuvre, but ŒUVRE -> OEUVRE
    converted = "".join(_translit_char(ch) for ch in text)
    if _DROPPED in converted:
        # "Merci 👍 !" -> "Merci !" rather than "Merci  !"
        converted = _DROP_BETWEEN_SPACES.sub("", converted).replace(_DROPPED, "")
    return converted


# --------------------------------------------------------------------------------------------------
# Splitting

# Each pattern's "sep" group is the whitespace dropped at the cut, best kind of cut first.
_CUT_PATTERNS = (
    re.compile(r"(?P<sep>[^\S\n]*\n[^\S\n]*\n\s*)"),  # paragraph break (blank line)
    re.compile(r"(?P<sep>[^\S\n]*\n\s*)"),  # line break
    re.compile(r"[.!?…][\"'»”)\]]*(?P<sep>[^\S\u00a0\u202f\u2007]+)"),  # sentence end
    re.compile(r"(?P<sep>[^\S\u00a0\u202f\u2007]+)"),  # any breakable space (not a no-break space)
)


def _fits(text: str, max_segments: int) -> bool:
    return measure(text).segments <= max_segments


def _longest_fitting_prefix(text: str, max_segments: int) -> int:
    """Largest n such that text[:n] fits in max_segments (segment counts grow with the prefix)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _fits(text[:mid], max_segments):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _best_cut(text: str, limit: int) -> tuple[int, int]:
    """Where to cut ``text`` so that the part text[:end] has at most ``limit`` characters.

    Returns (end of the part, start of the rest); what lies between them is whitespace, dropped.
    Prefers the best kind of break that leaves the part at least half full, then any break.
    """
    for min_len in (limit // 2, 1):
        for pattern in _CUT_PATTERNS:
            best: tuple[int, int] | None = None
            for match in pattern.finditer(text):
                start, end = match.span("sep")
                if start > limit:
                    break
                if start >= min_len and text[:start].strip():
                    best = (start, end)
            if best is not None:
                return best
    # No break at all: a single word longer than a whole message. Cut it hard, but not just before a
    # combining mark.
    cut = max(limit, 1)
    while 1 < cut < len(text) and unicodedata.combining(text[cut]):
        cut -= 1
    return cut, cut


def split_for_sms(text: str, max_segments: int = 3) -> list[str]:
    """Cut ``text`` into messages of at most ``max_segments`` SMS segments each.

    A text that fits is returned as ``[text]``. Otherwise it is cut at paragraph breaks first, then
    line breaks, then sentence ends, then spaces (preferring a cut that keeps each part at least half
    full), and inside a word only when a single word does not fit in a whole message. The whitespace
    at each cut is dropped; no part is empty and no non-whitespace character is lost.
    """
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    if _fits(text, max_segments):
        return [text]
    parts: list[str] = []
    rest = text.lstrip()
    while rest:
        if _fits(rest, max_segments):
            parts.append(rest.rstrip())
            break
        limit = _longest_fitting_prefix(rest, max_segments)
        end, start = _best_cut(rest, limit)
        part = rest[:end].rstrip()
        parts.append(part)
        rest = rest[start:].lstrip()
    return parts
