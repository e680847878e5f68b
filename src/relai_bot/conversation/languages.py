"""Is every language complete? The one check of the texts a resident may get in each language.

A language folder (templates/messages/<lang>/) is complete when, compared with the default language's:
- it has the same resident texts: every template file, its channel variants and partials (texts for staff,
  under staff/, exist in the default language only);
- each template uses the same variables and includes the same partials (a Creole reminder that forgot the
  place, or read a variable the French one does not give, is caught here and not by a resident);
- it has the same labels, each with the same placeholders;
- it has the same keyword groups (menu, aide, stop…, the answers, intents and consent answers by name),
  none empty, and the same files beside (plain_words.yaml; dates.yaml where Babel has no locale).

`relai-bot flows validate` prints one line per language from `completeness`; tests/content/test_languages.py
fails on any gap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from relai_bot.conversation.render import DATE_FILTERS

STAFF_FOLDER = "staff"
# Not texts a resident reads in their language: Telegram sets its command menu per app language, and no
# Telegram app runs in Creole (channels/telegram/channel.py sets the menu for languages that have the file)
PER_APP_LANGUAGE = ("channel/telegram_commands.yaml",)
SIDE_FILES = ("labels.yaml", "keywords.yaml", "plain_words.yaml")
KEYWORD_SECTIONS_BY_NAME = ("answers", "intents", "consent")
_PLACEHOLDER = re.compile(r"{{\s*([a-zA-Z_][a-zA-Z0-9_]*)")


@dataclass
class LanguageReport:
    language: str
    templates: int
    labels: int
    keyword_groups: int
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems

    def line(self) -> str:
        counts = f"{self.templates} texts, {self.labels} labels, {self.keyword_groups} keyword groups"
        if self.complete:
            return f"{self.language}: {counts}: complete"
        return f"{self.language}: {counts}: {len(self.problems)} problem(s)\n  " + "\n  ".join(self.problems)


def resident_templates(root: Path, language: str) -> list[str]:
    """The template files of a language a resident may get (relative paths, variants and partials too)."""
    folder = root / language
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*.j2") if p.relative_to(folder).parts[0] != STAFF_FOLDER
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}
    return data if isinstance(data, dict) else {}


def shape_environment() -> SandboxedEnvironment:
    """An environment that parses the message templates: it knows their filters (what they do is not
    needed to read a template's variables)."""
    env = SandboxedEnvironment()
    env.filters.update(dict.fromkeys(DATE_FILTERS, str))
    return env


def template_shape(env: SandboxedEnvironment, source: str) -> tuple[frozenset[str], frozenset[str]]:
    """What a template reads (its free variables) and which partials it includes."""
    tree = env.parse(source)
    variables = frozenset(meta.find_undeclared_variables(tree))
    partials = frozenset(t for t in meta.find_referenced_templates(tree) if t is not None)
    return variables, partials


def label_placeholders(text: str) -> frozenset[str]:
    return frozenset(_PLACEHOLDER.findall(text))


def _keyword_groups(keywords: dict[str, Any]) -> dict[str, Any]:
    """Group name -> its words; the sections by name (answers, intents, consent) count each name."""
    groups: dict[str, Any] = {}
    for name, value in keywords.items():
        if name in KEYWORD_SECTIONS_BY_NAME and isinstance(value, dict):
            for sub, words in value.items():
                groups[f"{name}.{sub}"] = words
        else:
            groups[name] = value
    return groups


def completeness(root: Path, default: str, languages: list[str]) -> list[LanguageReport]:
    """One report per language, the default language first (its problems are those of its own files)."""
    env = shape_environment()
    base_templates = resident_templates(root, default)
    base_labels = _read_yaml(root / default / "labels.yaml")
    base_keywords = _keyword_groups(_read_yaml(root / default / "keywords.yaml"))
    reports = []
    for language in [default, *(lang for lang in languages if lang != default)]:
        folder = root / language
        templates = resident_templates(root, language)
        labels = _read_yaml(folder / "labels.yaml")
        keywords = _keyword_groups(_read_yaml(folder / "keywords.yaml"))
        report = LanguageReport(language, len(templates), len(labels), len(keywords))
        reports.append(report)
        problems = report.problems
        for name in SIDE_FILES:
            if not (folder / name).is_file():
                problems.append(f"{name} is missing")
        for group, words in keywords.items():
            if not words:
                problems.append(f"keywords.yaml: {group} is empty")
        if language == default:
            continue
        for name in sorted(set(base_templates) - set(templates)):
            problems.append(f"{name}: missing")
        for name in sorted(set(templates) - set(base_templates)):
            problems.append(f"{name}: not in {default}")
        for name in sorted(set(base_templates) & set(templates)):
            ours = template_shape(env, (folder / name).read_text(encoding="utf-8"))
            theirs = template_shape(env, (root / default / name).read_text(encoding="utf-8"))
            if ours[0] != theirs[0]:
                problems.append(f"{name}: variables {sorted(ours[0] ^ theirs[0])} differ from {default}")
            if {p.split("/", 1)[-1] for p in ours[1]} != {p.split("/", 1)[-1] for p in theirs[1]}:
                problems.append(f"{name}: includes {sorted(ours[1])}, {default} includes {sorted(theirs[1])}")
        for key in sorted(set(base_labels) - set(labels)):
            problems.append(f"labels.yaml: {key} missing")
        for key in sorted(set(labels) - set(base_labels)):
            problems.append(f"labels.yaml: {key} not in {default}")
        for key in sorted(set(base_labels) & set(labels)):
            if label_placeholders(str(labels[key])) != label_placeholders(str(base_labels[key])):
                problems.append(f"labels.yaml: {key} uses other placeholders than {default}")
        for group in sorted(set(base_keywords) - set(keywords)):
            problems.append(f"keywords.yaml: {group} missing")
        for group in sorted(set(keywords) - set(base_keywords)):
            problems.append(f"keywords.yaml: {group} not in {default}")
        if not _has_dates(folder, language):
            problems.append("dates.yaml is missing (day and month names: Babel has no locale for it)")
    return reports


def _has_dates(folder: Path, language: str) -> bool:
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return (folder / "dates.yaml").is_file()
    return True


def side_by_side(root: Path, default: str, language: str) -> list[str]:
    """Every resident text of `language` under its default-language original, then the labels, for a
    native speaker's review (`relai-bot texts --language rcf`). Template code shows as written."""
    lines = [f"# Texts in {language}, each under its {default} original", ""]
    for name in resident_templates(root, language):
        original = root / default / name
        lines += [f"## {name.removesuffix('.j2')}", ""]
        if original.is_file():
            lines += [f"{default}:", *_indented(original.read_text(encoding="utf-8"))]
        lines += [f"{language}:", *_indented((root / language / name).read_text(encoding="utf-8")), ""]
    labels, base = _read_yaml(root / language / "labels.yaml"), _read_yaml(root / default / "labels.yaml")
    lines += ["## Buttons and options (labels.yaml)", ""]
    lines += [f"{key}: {base.get(key, '')!s}  ->  {value!s}" for key, value in labels.items()]
    return lines


def _indented(text: str) -> list[str]:
    return ["    " + line for line in text.rstrip().splitlines()]
