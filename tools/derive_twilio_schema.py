"""Derive the compact Messages schema used by the fake Twilio server from Twilio's OpenAPI spec.

Usage (from the repository root)::

    .venv/bin/python tools/derive_twilio_schema.py [SPEC] [--output PATH]

SPEC defaults to ``../shared/specs/twilio/twilio_api_v2010.json`` relative to the repository root
(the spec of twilio/twilio-oai, ``spec/json/twilio_api_v2010.json``); the commit is read from the
``SOURCE.md`` beside it. The output (default ``tests/fakes/specs/twilio_messages.json``) is committed,
so the tests never need the spec itself. The output is deterministic: same spec, same bytes.

What is kept:

* ``create_message``: POST ``/2010-04-01/Accounts/{AccountSid}/Messages.json``, the form parameters of
  ``CreateMessageRequest`` (type, format, enum values, pattern, min/max, required), the
  ``x-twilio.conditional`` groups (one of From/MessagingServiceSid, one of Body/MediaUrl/ContentSid)
  and the limits the spec only states in prose (Body up to 1,600 characters, ValidityPeriod 1..36000),
  marked ``"limits_from": "description"``;
* ``fetch_message``: GET ``/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` and its path parameters;
* ``message_resource``: the fields of ``api.v2010.account.message`` (type, format, nullable, enum);
* ``message_enum_status``: the message status values;
* ``fetch_account`` and ``account_resource``: GET ``/2010-04-01/Accounts/{Sid}.json`` and the fields of
  ``api.v2010.account`` (what ``relai-bot doctor`` reads to check the credentials);
* ``list_incoming_phone_numbers`` and ``incoming_phone_number_resource``: GET
  ``/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json``, its query parameters and page fields, and
  the fields of ``api.v2010.account.incoming_phone_number`` (the doctor looks RELAI_TWILIO_FROM up there);
* ``source``: repository, file, commit, sha256 of the spec.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO_ROOT.parent / "shared" / "specs" / "twilio" / "twilio_api_v2010.json"
DEFAULT_OUTPUT = REPO_ROOT / "tests" / "fakes" / "specs" / "twilio_messages.json"

CREATE_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
FETCH_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json"
MESSAGE_SCHEMA = "api.v2010.account.message"
STATUS_ENUM = "message_enum_status"
ACCOUNT_PATH = "/2010-04-01/Accounts/{Sid}.json"
NUMBERS_PATH = "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"

# JSON-schema keywords copied as they are (renamed to snake_case in the output).
_KEYWORDS = {
    "type": "type",
    "format": "format",
    "pattern": "pattern",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minimum": "minimum",
    "maximum": "maximum",
    "nullable": "nullable",
}

# Limits the spec gives only in the description text.
_UP_TO_CHARS = re.compile(r"up to ([\d,]+) characters", re.IGNORECASE)
_INTEGERS_FROM_TO = re.compile(r"integers from `?([\d,]+)`? to `?([\d,]+)`?", re.IGNORECASE)


class SpecError(RuntimeError):
    """The spec does not have the shape this tool expects."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Follow a local $ref; return the target and the name of the referenced schema (if any)."""
    ref = node.get("$ref")
    if ref is None:
        return node, None
    prefix = "#/components/schemas/"
    if not ref.startswith(prefix):
        raise SpecError(f"unsupported $ref {ref!r}")
    name = ref[len(prefix) :]
    return spec["components"]["schemas"][name], name


def _describe(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Compact description of one schema node (a parameter or a resource field)."""
    target, ref_name = _resolve(spec, node)
    out: dict[str, Any] = {}
    if ref_name is not None:
        out["enum_ref"] = ref_name
    for key, new_key in _KEYWORDS.items():
        if key in target:
            out[new_key] = target[key]
        if key in node and key != "$ref":
            out[new_key] = node[key]
    if "enum" in target:
        out["enum"] = list(target["enum"])
    if target.get("type") == "array":
        out["items"] = _describe(spec, target.get("items", {}))
    ignore_format = (target.get("x-twilio") or {}).get("ignoreFormat")
    if ignore_format:
        out["ignore_format"] = True
    return out


def _prose_limits(description: str) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    match = _UP_TO_CHARS.search(description)
    if match:
        limits["max_length"] = _number(match.group(1))
    match = _INTEGERS_FROM_TO.search(description)
    if match:
        limits["minimum"] = _number(match.group(1))
        limits["maximum"] = _number(match.group(2))
    if limits:
        limits["limits_from"] = "description"
    return limits


def _path_params(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for param in operation.get("parameters", []):
        if param.get("in") != "path":
            continue
        entry = _describe(spec, param.get("schema", {}))
        entry["required"] = bool(param.get("required"))
        params[param["name"]] = entry
    return params


def _query_params(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for param in operation.get("parameters", []):
        if param.get("in") != "query":
            continue
        entry = _describe(spec, param.get("schema", {}))
        entry["required"] = bool(param.get("required"))
        params[param["name"]] = entry
    return params


def _resource(spec: dict[str, Any], name: str) -> dict[str, Any]:
    node = spec["components"]["schemas"][name]
    return {"schema": name, "fields": {field: _describe(spec, item) for field, item in node["properties"].items()}}


def _reads(spec: dict[str, Any]) -> dict[str, Any]:
    """The two reads of the doctor: the account, and the page of the account's incoming phone numbers."""
    account = _operation(spec, ACCOUNT_PATH, "get")
    account_ok = next(code for code in sorted(account["responses"]) if code.startswith("2"))
    account_ref = account["responses"][account_ok]["content"]["application/json"]["schema"]["$ref"]
    numbers = _operation(spec, NUMBERS_PATH, "get")
    numbers_ok = next(code for code in sorted(numbers["responses"]) if code.startswith("2"))
    page = numbers["responses"][numbers_ok]["content"]["application/json"]["schema"]
    items_key = next(name for name, node in page["properties"].items() if node.get("type") == "array")
    item_ref = page["properties"][items_key]["items"]["$ref"].rsplit("/", 1)[-1]
    return {
        "fetch_account": {
            "method": "GET",
            "path": ACCOUNT_PATH,
            "operation_id": account.get("operationId"),
            "path_params": _path_params(spec, account),
            "response_status": int(account_ok),
            "response_schema": account_ref.rsplit("/", 1)[-1],
        },
        "account_resource": _resource(spec, account_ref.rsplit("/", 1)[-1]),
        "list_incoming_phone_numbers": {
            "method": "GET",
            "path": NUMBERS_PATH,
            "operation_id": numbers.get("operationId"),
            "path_params": _path_params(spec, numbers),
            "query_params": _query_params(spec, numbers),
            "response_status": int(numbers_ok),
            "page_fields": {
                name: _describe(spec, node) for name, node in page["properties"].items() if name != items_key
            },
            "items_key": items_key,
            "response_schema": item_ref,
        },
        "incoming_phone_number_resource": _resource(spec, item_ref),
    }


def _operation(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    try:
        return spec["paths"][path][method]
    except KeyError as exc:
        raise SpecError(f"{method.upper()} {path} not found in the spec") from exc


def derive(spec: dict[str, Any]) -> dict[str, Any]:
    """Build the compact schema from the parsed OpenAPI document."""
    create = _operation(spec, CREATE_PATH, "post")
    content = create["requestBody"]["content"]
    content_type = "application/x-www-form-urlencoded"
    if content_type not in content:
        raise SpecError(f"CreateMessage has no {content_type} body")
    body_schema = content[content_type]["schema"]
    if body_schema.get("title") != "CreateMessageRequest":
        raise SpecError(f"unexpected request schema title {body_schema.get('title')!r}")
    required = set(body_schema.get("required", []))

    params: dict[str, Any] = {}
    by_snake: dict[str, str] = {}
    for name, node in body_schema["properties"].items():
        entry = _describe(spec, node)
        entry.update(_prose_limits(node.get("description", "")))
        entry["required"] = name in required
        params[name] = entry
        by_snake[_snake(name)] = name

    conditional = [
        [by_snake.get(item, item) for item in group] for group in (create.get("x-twilio") or {}).get("conditional", [])
    ]
    success = next(code for code in sorted(create["responses"]) if code.startswith("2"))
    response_ref = create["responses"][success]["content"]["application/json"]["schema"]["$ref"]

    fetch = _operation(spec, FETCH_PATH, "get")
    fetch_ok = next(code for code in sorted(fetch["responses"]) if code.startswith("2"))

    schemas = spec["components"]["schemas"]
    message = schemas[MESSAGE_SCHEMA]
    fields = {name: _describe(spec, node) for name, node in message["properties"].items()}

    security = spec.get("components", {}).get("securitySchemes", {})
    return {
        "create_message": {
            "method": "POST",
            "path": CREATE_PATH,
            "operation_id": create.get("operationId"),
            "content_type": content_type,
            "path_params": _path_params(spec, create),
            "params": params,
            "required": sorted(required),
            "conditional": conditional,
            "response_status": int(success),
            "response_schema": response_ref.rsplit("/", 1)[-1],
        },
        "fetch_message": {
            "method": "GET",
            "path": FETCH_PATH,
            "operation_id": fetch.get("operationId"),
            "path_params": _path_params(spec, fetch),
            "response_status": int(fetch_ok),
            "response_schema": fetch["responses"][fetch_ok]["content"]["application/json"]["schema"]["$ref"].rsplit(
                "/", 1
            )[-1],
            "other_methods": sorted(
                m.upper() for m in spec["paths"][FETCH_PATH] if m in {"delete", "post", "put", "patch"}
            ),
        },
        "message_resource": {"schema": MESSAGE_SCHEMA, "fields": fields},
        "message_enum_status": list(schemas[STATUS_ENUM]["enum"]),
        "security": {name: scheme for name, scheme in sorted(security.items())},
        **_reads(spec),
    }


def read_commit(source_md: Path) -> str | None:
    """The 40-hex commit named in SOURCE.md beside the spec, if any."""
    if not source_md.is_file():
        return None
    match = re.search(r"Commit:\s*`?([0-9a-f]{40})`?", source_md.read_text(encoding="utf-8"))
    return match.group(1) if match else None


def build(spec_path: Path) -> dict[str, Any]:
    raw = spec_path.read_bytes()
    spec = json.loads(raw)
    result = derive(spec)
    info = spec.get("info", {})
    result["source"] = {
        "repository": "https://github.com/twilio/twilio-oai",
        "file": "spec/json/" + spec_path.name,
        "commit": read_commit(spec_path.parent / "SOURCE.md"),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "openapi": spec.get("openapi"),
        "info_title": info.get("title"),
        "info_version": info.get("version"),
        "license": "MIT (twilio/twilio-oai LICENSE, Copyright (C) 2023, Twilio, Inc.)",
        "generated_by": "tools/derive_twilio_schema.py",
    }
    return result


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, default=DEFAULT_SPEC, help="twilio_api_v2010.json")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the schema")
    parser.add_argument(
        "--check", action="store_true", help="do not write; exit 1 if the committed file is out of date"
    )
    args = parser.parse_args(argv)
    if not args.spec.is_file():
        print(f"spec not found: {args.spec}", file=sys.stderr)
        return 2
    text = dumps(build(args.spec))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
        if current != text:
            print(f"{args.output} is out of date; run tools/derive_twilio_schema.py", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
