"""Derive the compact Telegram Bot API schema used by the fake Bot API server.

Reads the machine-readable spec (``api.min.json`` from PaulSonOfLars/telegram-bot-api-spec) and writes
``tests/fakes/specs/telegram_bot_api.json``: every method and every type, with parameter/field types and
the ``required`` flag, descriptions dropped.  Two derived facts are kept because the fake server needs them:

* ``returns`` of each method (to shape default responses);
* ``subtypes`` of abstract types (``BotCommandScope``, ``InputMedia``, ...) and, for their subtypes, the
  ``const`` value of the discriminator field (``"type": "chat"``, ``"status": "member"``...), parsed from
  the field description ("must be chat", 'always "member"').

Usage::

    python tools/derive_telegram_schema.py [SPEC_JSON] [--source SOURCE_MD] [--output OUT_JSON]

The output is deterministic (sorted keys, fixed indentation), so re-running it gives an identical file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO_ROOT / ".." / "shared" / "specs" / "telegram" / "api.min.json"
DEFAULT_OUTPUT = REPO_ROOT / "tests" / "fakes" / "specs" / "telegram_bot_api.json"

_CONST_RE = re.compile(r"(?:must be|always)\s+[\"“]?([A-Za-z0-9_-]+)[\"”]?\s*\.?\s*$")


def _fields(entries: list[dict[str, Any]], *, with_const: bool) -> dict[str, dict[str, Any]]:
    """Compact a list of spec fields into ``{name: {"types": [...], "required": bool}}``."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        field: dict[str, Any] = {"types": list(entry["types"]), "required": bool(entry["required"])}
        if with_const and entry["types"] == ["String"] and entry["required"]:
            match = _CONST_RE.search(entry.get("description", ""))
            if match:
                field["const"] = match.group(1)
        out[entry["name"]] = field
    return out


def parse_source_md(path: Path) -> dict[str, str]:
    """Extract upstream repository, commit and licence from the ``SOURCE.md`` next to the spec."""
    info: dict[str, str] = {}
    if not path.is_file():
        return info
    text = path.read_text(encoding="utf-8")
    if m := re.search(r"Repository:\s*(\S+)", text):
        info["repository"] = m.group(1)
    if m := re.search(r"Commit:\s*([0-9a-f]{40})[ \t]*(.*)", text):
        info["commit"] = m.group(1)
        if d := re.search(r"\d{4}-\d{2}-\d{2}", m.group(2)):
            info["commit_date"] = d.group(0)
        if t := re.search(r'"(.+)"', m.group(2)):
            info["commit_message"] = t.group(1)
    if m := re.search(r"License:\s*([^,\n]+)", text):
        info["license"] = m.group(1).strip()
    return info


def derive(spec: dict[str, Any], upstream: dict[str, str]) -> dict[str, Any]:
    """Build the compact schema from the full spec."""
    methods: dict[str, Any] = {}
    for name, method in spec["methods"].items():
        methods[name] = {
            "params": _fields(method.get("fields", []), with_const=False),
            "returns": list(method.get("returns", [])),
        }
    types: dict[str, Any] = {}
    for name, type_ in spec["types"].items():
        entry: dict[str, Any] = {
            "fields": _fields(type_.get("fields", []), with_const="subtype_of" in type_),
        }
        if "subtypes" in type_:
            entry["subtypes"] = list(type_["subtypes"])
        types[name] = entry
    source = {
        "version": spec.get("version", ""),
        "release_date": spec.get("release_date", ""),
        "changelog": spec.get("changelog", ""),
        "upstream": upstream,
        "generator": "tools/derive_telegram_schema.py",
    }
    return {"source": source, "methods": methods, "types": types}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, default=DEFAULT_SPEC, help="path to api.min.json")
    parser.add_argument("--source", type=Path, default=None, help="SOURCE.md (default: next to the spec)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="compact schema to write")
    args = parser.parse_args(argv)

    spec_path: Path = args.spec
    if not spec_path.is_file():
        print(f"spec not found: {spec_path}", file=sys.stderr)
        return 1
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    upstream = parse_source_md(args.source or spec_path.with_name("SOURCE.md"))
    compact = derive(spec, upstream)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(compact, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    args.output.write_text(text, encoding="utf-8")
    print(
        f"wrote {args.output} ({len(compact['methods'])} methods, {len(compact['types'])} types, "
        f"{compact['source']['version']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
