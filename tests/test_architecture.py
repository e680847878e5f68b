"""Architecture rules. The import contracts live in pyproject.toml ([tool.importlinter]) and are checked
by import-linter (`lint-imports`, run by `make test` and here); this file checks that every module is
covered by them, and that the words residents read live in templates/, not in Python."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import PACKAGE, REPO

FRENCH_FREE = ("services/", "conversation/", "delivery/")


def contracts() -> list[dict]:  # type: ignore[type-arg]
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def layered_modules() -> set[str]:
    layers = next(c for c in contracts() if c["type"] == "layers")["layers"]
    return {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}


def test_the_import_contracts_hold() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:]


def test_every_module_of_the_package_sits_in_a_layer() -> None:
    top = {f"relai_bot.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    top |= {f"relai_bot.{p.parent.name}" for p in PACKAGE.glob("*/__init__.py")}
    assert sorted(top - layered_modules()) == [], "add these to a layer in pyproject.toml [tool.importlinter]"


def test_the_contracts_cover_cycles_channels_and_providers() -> None:
    types = {c["type"] for c in contracts()}
    assert {"layers", "independence", "forbidden", "acyclic_siblings"} <= types


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def docstrings(tree: ast.Module) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def french_strings(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of the string literals, docstrings aside, that address a resident as "vous"."""
    tree = parse(path)
    skip = docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and ("vous " in node.value or "Vous " in node.value)
        ):
            yield node.lineno, node.value


@pytest.mark.parametrize("folder", FRENCH_FREE)
def test_resident_facing_french_lives_in_templates(folder: str) -> None:
    found = [
        f"{path.relative_to(PACKAGE).as_posix()}:{line}: {text!r}"
        for path in sorted((PACKAGE / folder).rglob("*.py"))
        for line, text in french_strings(path)
    ]
    assert found == [], "move these texts to templates/messages/fr/"


def test_the_french_heuristic_sees_strings_but_not_docstrings(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    source = '''
        """Module: vous êtes ici."""
        def f():
            """Vous aussi."""
            return f"Merci, vous êtes inscrit {1}"
    '''
    sample.write_text(textwrap.dedent(source), encoding="utf-8")
    assert list(french_strings(sample)) == [(5, "Merci, vous êtes inscrit ")]


# Tables with one writer: rows are created or updated in this module only (deleting them is another matter)
ONE_WRITER = {
    "MessageLog": "services/message_log.py",
    "ProcessedMessage": "services/dedup.py",
    "AuditEvent": "services/audit.py",
}
_WRITES = {"update", "insert", "insert_new"}


def writes(path: Path) -> Iterator[tuple[int, str]]:
    """(line, model) of each `Model(...)`, `update(Model)`, `insert(Model)` or `insert_new(session, Model, …)`."""
    for node in ast.walk(parse(path)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in ONE_WRITER:
            yield node.lineno, name
        elif name in _WRITES:
            for argument in node.args:
                if isinstance(argument, ast.Name) and argument.id in ONE_WRITER:
                    yield node.lineno, argument.id


def test_the_message_log_the_handled_once_guard_and_the_audit_log_have_one_writer() -> None:
    found = [
        f"{path.relative_to(PACKAGE).as_posix()}:{line} writes {model}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not path.relative_to(PACKAGE).as_posix().startswith("store/")
        for line, model in writes(path)
        if path.relative_to(PACKAGE).as_posix() != ONE_WRITER[model]
    ]
    assert found == []


def test_the_write_scan_sees_writes(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    source = """
        row = MessageLog(body="x")
        session.execute(update(MessageLog).values(status="sent"))
        session.execute(insert_new(session, ProcessedMessage, {}))
        session.get(MessageLog, 1)
    """
    sample.write_text(textwrap.dedent(source), encoding="utf-8")
    assert sorted(writes(sample)) == [(2, "MessageLog"), (3, "MessageLog"), (4, "ProcessedMessage")]
