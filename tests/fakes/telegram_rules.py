"""What Telegram's Bot API accepts: schema-driven parameter decoding and per-method limits.

Used by :mod:`tests.fakes.telegram_api`; no server or pytest code here.  Text formatting (parse_mode) lives
in :mod:`tests.fakes.telegram_formatting`.  The schema is the compact one
committed in ``specs/telegram_bot_api.json`` (regenerate with ``tools/derive_telegram_schema.py``).

Deliberately stricter than Telegram (to catch bugs early):
* unknown request parameters and unknown fields inside JSON objects are refused (Telegram ignores them);
* Boolean fields inside JSON objects must be JSON booleans;
* Boolean parameters accept only ``true/false/1/0`` (any case).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .telegram_formatting import (
    EntityParseError,
    FormattedText,
    UnsupportedParseMode,
    format_text,
    utf16_len,
)

SCHEMA_PATH = Path(__file__).resolve().parent / "specs" / "telegram_bot_api.json"

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200
CALLBACK_DATA_MAX_BYTES = 64
MAX_KEYBOARD_BUTTONS = 100
MAX_BUTTONS_PER_ROW = 8
MAX_BOT_COMMANDS = 100
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_INT_RE = re.compile(r"\s*[+-]?\d+\s*")
_FLOAT_RE = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_ATTACH_RE = re.compile(r"attach://([A-Za-z0-9_.-]+)")
_PRIMITIVES = ("Integer", "Float", "Boolean", "String", "InputFile")
INT64_MAX = 2**63 - 1


class ApiError(Exception):
    """A refusal, rendered as a Bot API error response (``description`` mimics Telegram's wording)."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        detail: str = "",
        retry_after: int | None = None,
        kind: str = "validation",
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.detail = detail or description
        self.retry_after = retry_after
        self.kind = kind

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram would answer."""
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(message: str, detail: str = "", kind: str = "validation") -> ApiError:
    """A 400 error with Telegram's ``Bad Request: `` prefix."""
    return ApiError(400, f"Bad Request: {message}", detail=detail, kind=kind)


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)


def _describe(types: Iterable[str]) -> str:
    return " or ".join(types)


# --------------------------------------------------------------------------------------------------
# Schema and validation
# --------------------------------------------------------------------------------------------------


class Schema:
    """The compact Bot API schema, with decoding and validation of method parameters and objects."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.source: dict[str, Any] = raw.get("source", {})
        self.methods: dict[str, Any] = raw["methods"]
        self.types: dict[str, Any] = raw["types"]
        self._by_lower = {name.lower(): name for name in self.methods}

    @classmethod
    def load(cls, path: Path | str | None = None) -> Schema:
        """Load (and cache) the schema; default is the committed ``specs/telegram_bot_api.json``."""
        return _load_schema(str(path or SCHEMA_PATH))

    @property
    def version(self) -> str:
        """Bot API version of the spec, e.g. ``Bot API 10.1``."""
        return str(self.source.get("version", ""))

    def resolve_method(self, name: str) -> str | None:
        """Canonical method name (Telegram method names are case-insensitive), or ``None``."""
        return self._by_lower.get(name.lower())

    def returns(self, method: str) -> list[str]:
        """Return types of a method."""
        return list(self.methods[method].get("returns", []))

    # -- request parameters ---------------------------------------------------------------------

    def decode_params(self, method: str, raw: dict[str, Any]) -> dict[str, Any]:
        """Decode request values (strings or uploaded files) into typed values, refusing what's wrong."""
        spec: dict[str, Any] = self.methods[method]["params"]
        files = {k: v for k, v in raw.items() if isinstance(v, UploadedFile)}
        attached = {m for v in raw.values() if isinstance(v, str) for m in _ATTACH_RE.findall(v)}
        for name, value in raw.items():
            if name not in spec and not (isinstance(value, UploadedFile) and name in attached):
                raise bad_request(f"unknown parameter {name}", f"{method}: parameter {name!r} not in spec")
        for name, pspec in spec.items():
            if pspec["required"] and (name not in raw or raw[name] == ""):
                message = "message text is empty" if name == "text" else f"{name} is empty"
                raise bad_request(message, f"{method}: required parameter {name!r} missing")
        ctx = _Ctx(files)
        decoded: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in spec:
                decoded[name] = value  # an attach:// file part
                continue
            if value == "":
                continue  # Telegram treats an empty parameter as absent
            decoded[name] = self._decode_top(spec[name]["types"], value, name, ctx)
        missing = sorted(ctx.referenced - set(files))
        if missing:
            raise bad_request(f'can\'t find attached file "{missing[0]}"', f"{method}: attach://{missing[0]}")
        return decoded

    def _decode_top(self, types: list[str], value: Any, name: str, ctx: _Ctx) -> Any:
        if isinstance(value, UploadedFile):
            if "InputFile" in types:
                return value
            raise bad_request(f"{name} is empty", f"{name}: a file was uploaded, expected {_describe(types)}")
        complex_types = [t for t in types if t not in _PRIMITIVES]
        for t in sorted(types, key=_type_priority):
            if t == "Integer" and _INT_RE.fullmatch(value):
                number = int(value)
                if abs(number) <= INT64_MAX:
                    return number
            elif t == "Float" and _FLOAT_RE.fullmatch(value):
                return float(value)
            elif t == "Boolean" and value.strip().lower() in ("true", "false", "1", "0"):
                return value.strip().lower() in ("true", "1")
            elif t == "InputFile":
                if m := _ATTACH_RE.fullmatch(value):
                    ctx.referenced.add(m.group(1))
                    return ctx.files.get(m.group(1), value)
                if value.strip():
                    return value
            elif t == "String" and not complex_types:
                return _check_utf8(value, name)
        if complex_types:
            try:
                parsed = json.loads(value)
            except ValueError:
                if "String" in types:
                    return _check_utf8(value, name)
                raise bad_request(
                    f"can't parse {name} JSON object", f"{name}: not JSON for {_describe(types)}"
                ) from None
            if "String" in types and isinstance(parsed, str | int | float):
                return _check_utf8(value, name)
            return self.check_value(complex_types, parsed, name, ctx)
        raise bad_request(
            f"wrong parameter {name} in request",
            f"{name}: {value!r} is not {_describe(types)}",
        )

    # -- JSON values ----------------------------------------------------------------------------

    def check_value(self, types: list[str], value: Any, path: str, ctx: _Ctx | None = None) -> Any:
        """Validate a decoded JSON value against a union of spec types; returns it (ints normalised)."""
        ctx = ctx or _Ctx({})
        errors: list[tuple[int, ApiError]] = []
        for t in types:
            try:
                return self._check_one(t, value, path, ctx)
            except ApiError as exc:
                errors.append((self._affinity(t, value), exc))
        best = max(errors, key=lambda item: item[0])
        raise best[1]

    def check_object(self, type_name: str, value: Any, path: str = "") -> Any:
        """Validate an object (e.g. an ``Update`` built by a test) against a spec type."""
        return self.check_value([type_name], value, path or type_name)

    def _affinity(self, type_name: str, value: Any) -> int:
        spec = self.types.get(type_name)
        if spec is None or not isinstance(value, dict):
            return 0
        if "subtypes" in spec:
            return max((self._affinity(s, value) for s in spec["subtypes"]), default=0)
        fields = spec["fields"]
        for fname, fspec in fields.items():
            if "const" in fspec and value.get(fname) != fspec["const"]:
                return 1
        required_ok = all(f in value for f, s in fields.items() if s["required"])
        known_ok = all(k in fields for k in value)
        return 2 + required_ok + known_ok

    def _check_one(self, t: str, value: Any, path: str, ctx: _Ctx) -> Any:
        if t.startswith("Array of "):
            if not isinstance(value, list):
                raise _type_error(path, t, value)
            inner = [t.removeprefix("Array of ")]
            return [self.check_value(inner, item, f"{path}[{i}]", ctx) for i, item in enumerate(value)]
        if t == "Integer":
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= INT64_MAX:
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and _INT_RE.fullmatch(value):
                return int(value)
            raise _type_error(path, t, value)
        if t == "Float":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            raise _type_error(path, t, value)
        if t == "Boolean":
            if isinstance(value, bool):
                return value
            raise _type_error(path, t, value)
        if t == "String":
            if isinstance(value, str):
                return _check_utf8(value, path)
            raise _type_error(path, t, value)
        if t == "InputFile":
            if isinstance(value, str) and value.strip():
                if m := _ATTACH_RE.fullmatch(value):
                    ctx.referenced.add(m.group(1))
                return value
            raise _type_error(path, t, value)
        spec = self.types.get(t)
        if spec is None:
            return value
        if "subtypes" in spec:
            return self.check_value(spec["subtypes"], value, path, ctx)
        if not isinstance(value, dict):
            raise _type_error(path, t, value)
        fields = spec["fields"]
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key not in fields:
                raise bad_request(
                    f'can\'t parse {_human(t)}: unknown field "{key}"', f"{path}.{key}: not a field of {t}"
                )
            out[key] = self.check_value(fields[key]["types"], item, f"{path}.{key}", ctx)
        for fname, fspec in fields.items():
            if fspec["required"] and fname not in value:
                raise bad_request(
                    f'can\'t parse {_human(t)}: field "{fname}" must be present',
                    f"{path}.{fname}: required field of {t} missing",
                )
            if "const" in fspec and value.get(fname) != fspec["const"]:
                raise bad_request(
                    f'can\'t parse {_human(t)}: wrong {fname} "{value.get(fname)}"',
                    f"{path}.{fname}: expected {fspec['const']!r} for {t}",
                )
        rule = _TYPE_RULES.get(t)
        if rule is not None:
            rule(out, path)
        return out

    # -- responses ------------------------------------------------------------------------------

    def skeleton(self, type_name: str, _depth: int = 0) -> Any:
        """A minimal valid value of a spec type (required fields only), for generic responses."""
        if type_name.startswith("Array of "):
            return []
        defaults = {"Integer": 0, "Float": 0.0, "Boolean": True, "String": "", "InputFile": ""}
        if type_name in defaults:
            return defaults[type_name]
        spec = self.types.get(type_name)
        if spec is None or _depth > 6:
            return {}
        if "subtypes" in spec:
            return self.skeleton(spec["subtypes"][0], _depth + 1)
        out: dict[str, Any] = {}
        for fname, fspec in spec["fields"].items():
            if "const" in fspec:
                out[fname] = fspec["const"]
            elif fspec["required"]:
                value = self.skeleton(fspec["types"][0], _depth + 1)
                out[fname] = False if value is True and fname.startswith("is_") else value
        return out


@lru_cache(maxsize=4)
def _load_schema(path: str) -> Schema:
    return Schema(json.loads(Path(path).read_text(encoding="utf-8")))


@dataclass
class _Ctx:
    files: dict[str, UploadedFile]
    referenced: set[str] = field(default_factory=set)


def _type_priority(t: str) -> int:
    order = {"Integer": 0, "Float": 1, "Boolean": 2, "InputFile": 3, "String": 5}
    return order.get(t, 4)


def _human(type_name: str) -> str:
    """``InlineKeyboardButton`` -> ``inline keyboard button`` (Telegram's error style)."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type_name).lower()


def _type_error(path: str, expected: str, value: Any) -> ApiError:
    got = type(value).__name__ if value is not None else "null"
    return bad_request(
        f"can't parse {path}: field must be of type {expected}", f"{path}: expected {expected}, got {got}"
    )


def _check_utf8(value: str, path: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request("strings must be encoded in UTF-8", f"{path}: lone surrogate") from None
    return value


# -- rules on objects -------------------------------------------------------------------------------


def _check_keyboard(rows: list[list[Any]], path: str) -> None:
    total = sum(len(row) for row in rows)
    if total > MAX_KEYBOARD_BUTTONS:
        raise bad_request("BUTTONS_TOO_MUCH", f"{path}: {total} buttons (at most {MAX_KEYBOARD_BUTTONS})")
    for i, row in enumerate(rows):
        if len(row) > MAX_BUTTONS_PER_ROW:
            raise bad_request(
                "BUTTONS_TOO_MUCH",
                f"{path}[{i}]: {len(row)} buttons in a row (at most {MAX_BUTTONS_PER_ROW})",
            )


def _rule_inline_keyboard(obj: dict[str, Any], path: str) -> None:
    _check_keyboard(obj["inline_keyboard"], f"{path}.inline_keyboard")


def _rule_reply_keyboard(obj: dict[str, Any], path: str) -> None:
    _check_keyboard(obj["keyboard"], f"{path}.keyboard")
    placeholder = obj.get("input_field_placeholder")
    if placeholder is not None and not 1 <= len(placeholder) <= 64:
        raise bad_request("input field placeholder is too long", f"{path}: placeholder must be 1-64 chars")


def _rule_inline_button(obj: dict[str, Any], path: str) -> None:
    if not obj["text"].strip():
        raise bad_request("BUTTON_TEXT_EMPTY", f"{path}.text is empty")
    actions = [a for a in _INLINE_BUTTON_ACTIONS if a in obj]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
            f"{path}: no action field",
        )
    if len(actions) > 1:
        raise bad_request(
            "can't parse inline keyboard button: exactly one of the optional fields must be used",
            f"{path}: several actions {actions}",
        )
    data = obj.get("callback_data")
    if data is not None and not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES:
        raise bad_request(
            "BUTTON_DATA_INVALID",
            f"{path}.callback_data is {len(data.encode('utf-8'))} bytes (1-{CALLBACK_DATA_MAX_BYTES})",
        )
    url = obj.get("url")
    if url is not None and not url.strip():
        raise bad_request("BUTTON_URL_INVALID", f"{path}.url is empty")


def _rule_keyboard_button(obj: dict[str, Any], path: str) -> None:
    if not obj["text"].strip():
        raise bad_request("BUTTON_TEXT_EMPTY", f"{path}.text is empty")


def _rule_bot_command(obj: dict[str, Any], path: str) -> None:
    if not _BOT_COMMAND_RE.fullmatch(obj["command"]):
        raise bad_request("BOT_COMMAND_INVALID", f"{path}.command {obj['command']!r}: 1-32 chars [a-z0-9_]")
    if not 1 <= len(obj["description"]) <= 256:
        raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID", f"{path}.description must be 1-256 chars")


_TYPE_RULES: dict[str, Callable[[dict[str, Any], str], None]] = {
    "InlineKeyboardMarkup": _rule_inline_keyboard,
    "ReplyKeyboardMarkup": _rule_reply_keyboard,
    "InlineKeyboardButton": _rule_inline_button,
    "KeyboardButton": _rule_keyboard_button,
    "BotCommand": _rule_bot_command,
}


# -- rules on methods -------------------------------------------------------------------------------


def check_method_rules(method: str, params: dict[str, Any]) -> dict[str, FormattedText]:
    """Apply the per-method limits; returns the parsed ``text``/``caption`` (keyed by parameter name)."""
    formatted: dict[str, FormattedText] = {}
    if "chat_id" in params:
        check_chat_id(params["chat_id"])
    if method in ("sendMessage", "editMessageText") and "rich_message" not in params:
        if "text" not in params:
            raise bad_request("message text is empty", f"{method}: no text")
        parsed = parse_text(params["text"], params.get("parse_mode"), params.get("entities"))
        if not parsed.text:
            raise bad_request("message text is empty", f"{method}: text is empty after entity parsing")
        if parsed.length > TEXT_LIMIT:
            raise bad_request(
                "message is too long", f"{method}: text is {parsed.length} UTF-16 units (max {TEXT_LIMIT})"
            )
        formatted["text"] = parsed
    if "caption" in params:
        parsed = parse_text(params["caption"], params.get("parse_mode"), params.get("caption_entities"))
        if parsed.length > CAPTION_LIMIT:
            raise bad_request(
                "message caption is too long",
                f"{method}: caption is {parsed.length} UTF-16 units (max {CAPTION_LIMIT})",
            )
        formatted["caption"] = parsed
    if method.startswith("editMessage") and "inline_message_id" not in params:
        if "chat_id" not in params:
            raise bad_request("chat_id is empty", f"{method}: need chat_id+message_id or inline_message_id")
        if "message_id" not in params:
            raise bad_request("message identifier is not specified", f"{method}: no message_id")
    if method == "answerCallbackQuery":
        text = params.get("text", "")
        if utf16_len(text) > CALLBACK_ANSWER_LIMIT:
            raise bad_request("MESSAGE_TOO_LONG", f"answerCallbackQuery: text is {utf16_len(text)} chars (max 200)")
    if method == "setWebhook" and not _SECRET_TOKEN_RE.fullmatch(params.get("secret_token", "x")):
        raise bad_request(
            "secret token contains unallowed characters or has a wrong length",
            "setWebhook: secret_token must be 1-256 chars of [A-Za-z0-9_-]",
        )
    if method == "sendChatAction" and params["action"] not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request", f"sendChatAction: {params['action']!r}")
    if method == "setMyCommands" and len(params["commands"]) > MAX_BOT_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH", f"setMyCommands: {len(params['commands'])} commands")
    if method == "sendMediaGroup" and not 2 <= len(params["media"]) <= 10:
        raise bad_request("wrong number of media in the group", "sendMediaGroup: 2-10 items")
    return formatted


def parse_text(text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None) -> FormattedText:
    """``format_text`` with Telegram's error responses."""
    try:
        return format_text(text, parse_mode, entities)
    except UnsupportedParseMode:
        raise bad_request("unsupported parse_mode", f"parse_mode {parse_mode!r}") from None
    except EntityParseError as exc:
        raise bad_request(f"can't parse entities: {exc}", f"{parse_mode}: {exc}") from None


def check_chat_id(chat_id: Any) -> None:
    """A chat_id is an integer or an ``@username``; anything else is a chat Telegram can't find."""
    if isinstance(chat_id, int):
        return
    if not (isinstance(chat_id, str) and re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", chat_id)):
        raise bad_request("chat not found", f"chat_id {chat_id!r} is neither an integer nor an @username")
