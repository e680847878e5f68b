"""Telegram text formatting: HTML, MarkdownV2 and legacy Markdown parsing, as the Bot API does it.

``format_text`` returns the text Telegram would store (tags removed, entities decoded, outer whitespace
trimmed) with its entities (offsets and lengths in UTF-16 code units), or raises ``EntityParseError`` whose
message follows Telegram's "can't parse entities: ..." explanations.

HTML: only ``b strong i em u ins s strike del span.tg-spoiler tg-spoiler a[href] tg-emoji[emoji-id]
tg-time[unix] code pre blockquote[expandable]``; entities ``&lt; &gt; &amp; &quot;`` and numeric ones.  An
unknown named entity (``&nbsp;``) is refused, which is stricter than Telegram (it would print it as is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the way Telegram counts."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


@dataclass
class FormattedText:
    """Text after entity parsing: what Telegram stores and shows."""

    text: str
    entities: list[dict[str, Any]]

    @property
    def length(self) -> int:
        """Length in UTF-16 code units."""
        return utf16_len(self.text)


def format_text(text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None = None) -> FormattedText:
    """Parse ``text`` like Telegram does for ``parse_mode`` (HTML, MarkdownV2, Markdown or none).

    Raises ``EntityParseError`` on malformed input and ``UnsupportedParseMode`` on an unknown mode.
    """
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain, found = parse_html(text)
    elif mode == "markdownv2":
        plain, found = parse_markdown_v2(text)
    elif mode == "markdown":
        plain, found = parse_markdown(text)
    elif mode == "":
        plain, found = text, [dict(e) for e in entities or []]
    else:
        raise UnsupportedParseMode(parse_mode)
    return _strip(plain, found)


def _strip(text: str, entities: list[dict[str, Any]]) -> FormattedText:
    """Telegram trims leading/trailing whitespace and drops empty entities."""
    left = len(text) - len(text.lstrip())
    stripped = text.strip()
    shift = utf16_len(text[:left])
    total = utf16_len(stripped)
    out = []
    for ent in entities:
        start = max(ent["offset"] - shift, 0)
        end = min(ent["offset"] + ent["length"] - shift, total)
        if end > start:
            out.append({**ent, "offset": start, "length": end - start})
    out.sort(key=lambda e: (e["offset"], -e["length"]))
    return FormattedText(stripped, out)


class EntityParseError(ValueError):
    """Malformed formatted text (the message after "can't parse entities: ")."""


class UnsupportedParseMode(ValueError):
    """``parse_mode`` is not HTML, MarkdownV2 or Markdown."""


class _Out:
    """Accumulates parsed text and tracks the UTF-16 offset."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.pos += utf16_len(s)

    def text(self) -> str:
        return "".join(self.parts)


# -- HTML -------------------------------------------------------------------------------------------

_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]*));")
_TIME_FORMAT_RE = re.compile(r"r|w?[dD]?[tT]?")


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start: int
    byte: int


def _decode_entity(text: str, i: int) -> tuple[str | None, int]:
    """Decode an HTML entity at ``text[i] == '&'``; ``(None, i)`` when it is a bare ``&``."""
    m = _ENTITY_RE.match(text, i)
    if not m:
        return None, i
    dec, hexa, name = m.groups()
    if name is not None:
        if name not in _NAMED_ENTITIES:
            raise EntityParseError(f'Unsupported HTML entity "&{name};" at byte offset {_byte_offset(text, i)}')
        return _NAMED_ENTITIES[name], m.end()
    code = int(dec) if dec is not None else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None, i
    return chr(code), m.end()


def _read_tag(text: str, i: int) -> tuple[str, dict[str, str], int]:
    """Read a start tag at ``text[i] == '<'``; returns (name, attributes, index after '>')."""
    n = len(text)
    begin = _byte_offset(text, i)
    j = i + 1
    while j < n and not text[j].isspace() and text[j] not in "/>":
        j += 1
    name = text[i + 1 : j].lower()
    if name not in _HTML_TAGS:
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {begin}')
    attrs: dict[str, str] = {}
    while True:
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        if text[j] == ">":
            return name, attrs, j + 1
        if text[j] == "/":
            raise EntityParseError(f'Self-closing tag "{name}" is not supported at byte offset {begin}')
        k = j
        while k < n and not text[k].isspace() and text[k] not in "=/>":
            k += 1
        attr = text[j:k].lower()
        if not attr:
            raise EntityParseError(f'Empty attribute name in the tag "{name}" at byte offset {begin}')
        j = k
        while j < n and text[j].isspace():
            j += 1
        value = ""
        if j < n and text[j] == "=":
            j += 1
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            if text[j] in "\"'":
                end = text.find(text[j], j + 1)
                if end < 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                raw, j = text[j + 1 : end], end + 1
            else:
                k = j
                while k < n and not text[k].isspace() and text[k] != ">":
                    k += 1
                raw, j = text[j:k], k
            value = _decode_attr(raw)
        attrs[attr] = value


def _decode_attr(raw: str) -> str:
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "&":
            decoded, j = _decode_entity(raw, i)
            if decoded is not None:
                out.append(decoded)
                i = j
                continue
        out.append(raw[i])
        i += 1
    return "".join(out)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (plain text, entities); raises ``EntityParseError``."""
    out = _Out()
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            decoded, j = _decode_entity(text, i)
            if decoded is not None:
                out.add(decoded)
                i = j
                continue
            out.add(c)
            i += 1
            continue
        if c != "<":
            j = i
            while j < n and text[j] not in "<&":
                j += 1
            out.add(text[i:j])
            i = j
            continue
        byte = _byte_offset(text, i)
        if text.startswith("</", i):
            end = text.find(">", i)
            if end < 0:
                raise EntityParseError(f"Unclosed end tag at byte offset {byte}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise EntityParseError(f'Unexpected end tag "{name}" at byte offset {byte}')
            top = stack.pop()
            if name != top.name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {byte}, expected "</{top.name}>", found "</{name}>"'
                )
            _close_html(top, out.pos, stack, entities)
            i = end + 1
            continue
        name, attrs, j = _read_tag(text, i)
        _check_html_attrs(name, attrs, byte)
        stack.append(_OpenTag(name, attrs, out.pos, byte))
        i = j
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return out.text(), entities


def _check_html_attrs(name: str, attrs: dict[str, str], byte: int) -> None:
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {byte}')
    if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
        raise EntityParseError(f'Tag "tg-emoji" must have a numeric "emoji-id" at byte offset {byte}')
    if name == "tg-time":
        if not re.fullmatch(r"-?\d+", attrs.get("unix", "")):
            raise EntityParseError(f'Tag "tg-time" must have an integer "unix" attribute at byte offset {byte}')
        if not _TIME_FORMAT_RE.fullmatch(attrs.get("format", "")):
            raise EntityParseError(f'Invalid date-time format in "tg-time" at byte offset {byte}')


def _close_html(tag: _OpenTag, end: int, stack: list[_OpenTag], entities: list[dict[str, Any]]) -> None:
    kind = _HTML_TAGS[tag.name]
    entity: dict[str, Any] = {"type": kind, "offset": tag.start, "length": end - tag.start}
    if kind == "code" and stack and stack[-1].name == "pre":
        language = tag.attrs.get("class", "")
        if language.startswith("language-") and len(language) > len("language-"):
            stack[-1].attrs["language"] = language.removeprefix("language-")
        return  # <pre><code> is a single pre entity
    if kind == "pre" and tag.attrs.get("language"):
        entity["language"] = tag.attrs["language"]
    elif kind == "text_link":
        url = tag.attrs.get("href", "")
        if m := re.fullmatch(r"tg://user\?id=(\d+)", url):
            entity = {**entity, "type": "text_mention", "user": {"id": int(m.group(1)), "is_bot": False}}
            entity["user"]["first_name"] = ""
        elif url:
            entity["url"] = url
        else:
            return
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
    elif kind == "date_time":
        entity["unix_time"] = int(tag.attrs["unix"])
        if tag.attrs.get("format"):
            entity["date_time_format"] = tag.attrs["format"]
    elif kind == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    entities.append(entity)


# -- MarkdownV2 -------------------------------------------------------------------------------------

_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def _read_until(text: str, i: int, stop: str, kind: str, byte: int) -> tuple[str, int]:
    """Read escaped content up to the ``stop`` delimiter; returns (content, index after stop)."""
    out, n = [], len(text)
    while i < n:
        if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.append(text[i + 1])
            i += 2
            continue
        if text.startswith(stop, i):
            return "".join(out), i + len(stop)
        out.append(text[i])
        i += 1
    raise EntityParseError(f"Can't find end of {kind} entity at byte offset {byte}")


_MDV2_LINKS = ("text_link", "custom_emoji")


def _mdv2_token(text: str, i: int) -> tuple[str, int] | None:
    """The entity delimiter at ``text[i]`` as (kind, width); ``__`` is greedily underline."""
    if text.startswith("__", i):
        return "underline", 2
    if text.startswith("||", i):
        return "spoiler", 2
    if text.startswith("![", i):
        return "custom_emoji", 2
    return {"*": ("bold", 1), "_": ("italic", 1), "~": ("strikethrough", 1), "[": ("text_link", 1)}.get(text[i])


def _mdv2_code(text: str, i: int, pos: int, byte: int) -> tuple[dict[str, Any], str, int]:
    """Read `code` or ```pre``` at ``text[i]``; returns (entity, content, next index)."""
    if text.startswith("```", i):
        content, i = _read_until(text, i + 3, "```", "Pre", byte)
        entity: dict[str, Any] = {"type": "pre", "offset": pos}
        if "\n" in content:
            first, rest = content.split("\n", 1)
            if first and not any(ch.isspace() for ch in first):
                entity["language"], content = first, rest
    else:
        content, i = _read_until(text, i + 1, "`", "Code", byte)
        entity = {"type": "code", "offset": pos}
    entity["length"] = utf16_len(content)
    return entity, content, i


def _mdv2_link(entity: dict[str, Any], url: str, byte: int) -> bool:
    """Complete a text_link/custom_emoji entity with its URL; False when no entity results."""
    if entity["type"] == "custom_emoji":
        if not (m := re.fullmatch(r"tg://emoji\?id=(\d+)", url)):
            raise EntityParseError(f"Custom emoji entity must have a tg://emoji URL at byte offset {byte}")
        entity["custom_emoji_id"] = m.group(1)
        return True
    if m := re.fullmatch(r"tg://user\?id=(\d+)", url):
        entity["type"] = "text_mention"
        entity["user"] = {"id": int(m.group(1)), "is_bot": False, "first_name": ""}
        return True
    if url:
        entity["url"] = url
        return True
    return False


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram MarkdownV2 into (plain text, entities); raises ``EntityParseError``."""
    out = _Out()
    stack: list[tuple[str, int, int]] = []  # (kind, start, byte)
    entities: list[dict[str, Any]] = []
    quote: dict[str, Any] | None = None
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start:
            line_start = False
            marker = 3 if text.startswith("**>", i) else 1 if c == ">" else 0
            if marker:
                if quote is None:
                    kind = "expandable_blockquote" if marker == 3 else "blockquote"
                    quote = {"type": kind, "offset": out.pos, "length": 0}
                i += marker
                continue
            if quote is not None:
                entities.append(quote)
                quote = None
        if c == "\n":
            if quote is not None:
                quote["length"] = out.pos - quote["offset"]
            out.add(c)
            i += 1
            line_start = True
            continue
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        if c not in _MDV2_RESERVED:
            out.add(c)
            i += 1
            continue
        byte = _byte_offset(text, i)
        top = stack[-1][0] if stack else None
        if (
            quote is not None
            and quote["type"] == "expandable_blockquote"
            and text.startswith("||", i)
            and (i + 2 == n or text[i + 2] == "\n")
        ):
            quote["length"] = out.pos - quote["offset"]
            entities.append(quote)
            quote = None
            i += 2
            continue
        if c == "`":
            entity, content, i = _mdv2_code(text, i, out.pos, byte)
            out.add(content)
            entities.append(entity)
            continue
        token = _mdv2_token(text, i)
        closes = c == "]" if top in _MDV2_LINKS else token is not None and token[0] == top
        if closes:
            kind, start, sbyte = stack.pop()
            i += 1 if c == "]" else token[1]  # type: ignore[index]
            entity: dict[str, Any] = {"type": kind, "offset": start, "length": out.pos - start}
            if kind in _MDV2_LINKS:
                url = ""
                if i < n and text[i] == "(":
                    url, i = _read_until(text, i + 1, ")", "a URL", _byte_offset(text, i))
                if not _mdv2_link(entity, url, sbyte):
                    continue
            entities.append(entity)
            continue
        if token is None:
            raise EntityParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        kind, width = token
        if any(s[0] == kind for s in stack):
            raise EntityParseError(f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {stack[-1][2]}")
        stack.append((kind, out.pos, byte))
        i += width
    if stack:
        kind, _, byte = stack[-1]
        raise EntityParseError(f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {byte}")
    if quote is not None:
        quote["length"] = out.pos - quote["offset"]
        entities.append(quote)
    return out.text(), entities


# -- legacy Markdown --------------------------------------------------------------------------------


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Telegram Markdown (no nesting) into (plain text, entities)."""
    out = _Out()
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    kinds = {"*": "bold", "_": "italic"}
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.add(c)
            i += 1
            continue
        byte = _byte_offset(text, i)
        error = EntityParseError(f"Can't find end of the entity starting at byte offset {byte}")
        if c == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise error
            label = text[i + 1 : end]
            if end + 1 < n and text[end + 1] == "(":
                close = text.find(")", end + 2)
                if close < 0:
                    raise error
                url = text[end + 2 : close]
                entities.append({"type": "text_link", "offset": out.pos, "length": utf16_len(label), "url": url})
                out.add(label)
                i = close + 1
            else:
                out.add(text[i : end + 1])
                i = end + 1
            continue
        delim = "```" if text.startswith("```", i) else c
        end = text.find(delim, i + len(delim))
        if end < 0:
            raise error
        content = text[i + len(delim) : end]
        entity: dict[str, Any] = {"offset": out.pos}
        if delim == "```":
            if "\n" in content and content.split("\n", 1)[0].strip():
                language, content = content.split("\n", 1)
                entity["language"] = language.strip()
            entity["type"] = "pre"
        else:
            entity["type"] = kinds.get(c, "code")
        entity["length"] = utf16_len(content)
        out.add(content)
        entities.append(entity)
        i = end + len(delim)
    return out.text(), entities
