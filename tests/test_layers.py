"""Architecture rules, read from the source: providers stay at the edge, dependencies point inward,
and the words residents read live in templates/, not in Python."""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import PACKAGE

PROVIDER_LIBRARIES = {"telegram", "twilio", "starlette", "uvicorn", "fastapi", "aiohttp"}
# Where provider libraries may be imported: the channel adapters, the web app, the CLI and test helpers.
EDGE = ("channels/", "web/", "cli.py", "testing/")
INNER = ("services/", "store/")
OUTER_PACKAGES = ("relai_bot.conversation", "relai_bot.channels", "relai_bot.web")
FRENCH_FREE = ("services/", "conversation/")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def package_of(path: Path) -> list[str]:
    """The dotted package a module belongs to, e.g. ['relai_bot', 'services'] (for relative imports)."""
    return ["relai_bot", *path.relative_to(PACKAGE).parent.parts]


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in a module, relative ones resolved."""
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_of(path)
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from relai_bot import web` imports relai_bot.web
                yield node.lineno, f"{module}.{alias.name}"


def within(module: str, packages: set[str] | tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_package_is_found() -> None:
    names = {relative(p) for p in modules()}
    assert {"cli.py", "config.py", "services/booking.py", "conversation/engine.py"} <= names


def test_the_import_scan_sees_imports() -> None:
    found = {module for _, module in imports(PACKAGE / "web" / "app.py")}
    assert {"starlette.applications", "relai_bot.wiring.Runtime"} <= found


def test_relative_imports_are_resolved() -> None:
    assert package_of(PACKAGE / "services" / "booking.py") == ["relai_bot", "services"]
    assert package_of(PACKAGE / "services" / "__init__.py") == ["relai_bot", "services"]


def test_provider_libraries_stay_at_the_edge() -> None:
    found = [
        f"{relative(path)}:{line} imports {module}"
        for path in modules()
        if not relative(path).startswith(EDGE)
        for line, module in imports(path)
        if within(module, PROVIDER_LIBRARIES)
    ]
    assert found == []


def test_services_and_store_do_not_depend_on_outer_layers() -> None:
    found = [
        f"{relative(path)}:{line} imports {module}"
        for path in modules()
        if relative(path).startswith(INNER)
        for line, module in imports(path)
        if within(module, OUTER_PACKAGES)
    ]
    assert found == []


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
        f"{relative(path)}:{line}: {text!r}"
        for path in modules()
        if relative(path).startswith(folder)
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


# Channels speak their provider's protocol; what they record goes through a service handed to them
STORE_ACCESS = ("relai_bot.store", "relai_bot.wiring", "sqlalchemy", "sqlmodel")


def test_channels_do_not_touch_the_store() -> None:
    found = [
        f"{relative(path)}:{line} imports {module}"
        for path in modules()
        if relative(path).startswith("channels/")
        for line, module in imports(path)
        if within(module, STORE_ACCESS)
    ]
    assert found == []


def module_name(path: Path) -> str:
    return ".".join(package_of(path) + ([] if path.name == "__init__.py" else [path.stem]))


def test_the_package_has_no_import_cycle() -> None:
    """TYPE_CHECKING imports count too: a cycle there is two modules that need each other all the same."""
    graph: dict[str, set[str]] = {}
    paths = {module_name(path): path for path in modules()}
    for name, path in paths.items():
        graph[name] = set()
        for _, module in imports(path):
            while module and module not in paths:
                module = module.rpartition(".")[0]
            if module and module != name:
                graph[name].add(module)
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str], done: set[str]) -> None:
        for other in sorted(graph[name]):
            if other in trail:
                cycles.append([*trail[trail.index(other) :], other])
            elif other not in done:
                visit(other, [*trail, other], done)
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name], done)
    assert cycles == []


# Tables with one writer: rows are created or updated in this module only (deleting them is another matter)
ONE_WRITER = {"MessageLog": "services/message_log.py", "ProcessedMessage": "services/dedup.py"}
_WRITES = {"update", "insert", "pg_insert", "sqlite_insert"}


def writes(path: Path) -> Iterator[tuple[int, str]]:
    """(line, model) of each `Model(...)`, `update(Model)` or `insert(Model)` in a module."""
    for node in ast.walk(parse(path)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in ONE_WRITER:
            yield node.lineno, name
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Name) and first.id in ONE_WRITER and (name in _WRITES or isinstance(func, ast.Call)):
            yield node.lineno, first.id


def test_the_message_log_and_the_handled_once_guard_have_one_writer() -> None:
    found = [
        f"{relative(path)}:{line} writes {model}"
        for path in modules()
        if not relative(path).startswith("store/")
        for line, model in writes(path)
        if relative(path) != ONE_WRITER[model]
    ]
    assert found == []


def test_the_write_scan_sees_writes(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    source = """
        row = MessageLog(body="x")
        session.execute(update(MessageLog).values(status="sent"))
        session.execute(_insert(session)(ProcessedMessage).values())
        session.get(MessageLog, 1)
    """
    sample.write_text(textwrap.dedent(source), encoding="utf-8")
    assert list(writes(sample)) == [(2, "MessageLog"), (3, "MessageLog"), (4, "ProcessedMessage")]
