"""The process's log lines: one line per event, as text for a terminal or as JSON for a log collector.

    text  2026-12-01 10:00:00,123 INFO relai_bot.conversation.dispatcher turn channel=sms who=3f2a... ...
    json  {"time": "2026-12-01T06:00:00.123+00:00", "level": "INFO", "logger": "...", "message": "turn ...",
           "channel": "sms", "who": "3f2a...", "flow": "menu", ...}

The JSON line carries the event's context fields as fields of their own: what a module passed with
`extra=` (the ids of a turn, a channel, a flow, an outbox row, a broadcast). A traceback is the text of one
field, `exception`, so an error stays one line. Nothing here adds personal data: the fields are what the
callers pass, and they pass tags and ids only (never a phone number, a name or a message body).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import IO, Any, Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# The record's own attributes under the names the JSON line gives them
JSON_NAMES = {"levelname": "level", "name": "logger", "exc_info": "exception", "stack_info": "stack"}
# Provider libraries whose DEBUG records carry personal data: python-telegram-bot writes every Bot API
# call and update whole (chat ids, names, texts). They stay at INFO even when RELAI_LOG_LEVEL=DEBUG.
TALKATIVE = ("telegram",)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler configure_logging installs on the root logger (and replaces when called again)."""


def json_formatter() -> logging.Formatter:
    """A formatter writing each record as one JSON object: time (ISO 8601, UTC), level, logger, message,
    the context fields given with `extra=`, and the exception's traceback in one string."""
    from pythonjsonlogger.json import JsonFormatter

    class Formatter(JsonFormatter):
        def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
            # first, for a reader: the collector sorts on it, a person reads it before the rest
            log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            super().add_fields(log_data, record, message_dict)

    return Formatter(["levelname", "name", "message"], rename_fields=JSON_NAMES, json_ensure_ascii=False)


def configure_logging(level: str, log_format: LogFormat, stream: IO[str]) -> logging.Handler:
    """Send every record at `level` and above, from every logger that propagates (uvicorn's too, when it
    is given no logging config of its own), to `stream` in `log_format`. Called again, it replaces the
    handler it installed before; handlers installed by others (a test's capture) stay."""
    root = logging.getLogger()
    for old in [handler for handler in root.handlers if isinstance(handler, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(stream)
    handler.setFormatter(json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in TALKATIVE:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    return handler
