"""The Dockerfile and compose.yaml, read rather than run: this machine has no Docker engine, so the image is
never built here. What they must keep: the locked dependencies, the content folders inside the image, a user
that is not root, the health check, no secret baked in, PostgreSQL healthy and migrated before the app.
And every RELAI_* name the deployment files write is a setting the app reads."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from relai_bot.config import Settings
from tests.paths import REPO

SETTINGS = {f"RELAI_{name.upper()}": field for name, field in Settings.model_fields.items()}
SECRET_SETTINGS = {name for name, field in SETTINGS.items() if SecretStr in getattr(field.annotation, "__args__", ())}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments left out."""
    joined, current = [], ""
    for line in dockerfile.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            joined.append(current)
            current = ""
    return [(item.split(None, 1)[0].upper(), item.split(None, 1)[1].strip()) for item in joined]


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (name, _) in enumerate(steps) if name == "FROM")
    return steps[last_from:]


def env_pairs(arguments: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in shlex.split(arguments))


STEPS = instructions(REPO / "Dockerfile")
FINAL = final_stage(STEPS)


def test_the_image_is_a_slim_python_3_11_debian() -> None:
    bases = [arguments.split()[0] for name, arguments in STEPS if name == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11-slim-(bookworm|trixie)", base) for base in bases), bases


def test_the_image_installs_the_locked_dependencies_then_the_package_alone() -> None:
    runs = [(i, arguments) for i, (name, arguments) in enumerate(STEPS) if name == "RUN"]
    locked = [i for i, command in runs if re.search(r"pip install (.* )?-r requirements\.lock", command)]
    package = [i for i, command in runs if re.search(r"pip install (.* )?--no-deps \.(\s|$)", command)]
    copied_lock = [
        i for i, (name, arguments) in enumerate(STEPS) if name == "COPY" and "requirements.lock" in arguments
    ]
    assert locked and package and copied_lock, "pip install -r requirements.lock, then pip install --no-deps ."
    assert copied_lock[0] < locked[0] < package[0]
    # nothing else is installed with pip: every pip install is one of the two
    pip = [i for i, command in runs if "pip install" in command]
    assert sorted(set(locked + package)) == pip


def test_the_content_folders_go_into_the_package_the_image_installs() -> None:
    """The wheel carries conversations/ and templates/ (hatch's force-include): the build must have them."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert set(shipped) == {"conversations", "templates"}
    copied = {
        source.rstrip("/")
        for name, arguments in STEPS
        if name == "COPY" and not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    }
    assert set(shipped) | {"src", "pyproject.toml", "README.md"} <= copied, copied
    assert (REPO / "LICENSE").exists() and "LICENSE" in copied


def test_it_runs_serve_as_a_user_that_is_not_root_on_every_address() -> None:
    users = [arguments.split(":")[0] for name, arguments in FINAL if name == "USER"]
    cmd_at = max(i for i, (name, _) in enumerate(FINAL) if name == "CMD")
    user_at = max(i for i, (name, _) in enumerate(FINAL) if name == "USER")
    assert users and users[-1] not in ("root", "0") and user_at < cmd_at
    # the user exists in the image: made by name, or by the number USER gives
    made = [arguments for name, arguments in FINAL[:user_at] if name == "RUN" and "useradd" in arguments]
    assert made and re.search(rf"useradd .*(--uid {users[-1]}\b|\b{users[-1]}$)", made[0]), made
    assert json.loads(FINAL[cmd_at][1]) == ["relai-bot", "serve"]
    environment: dict[str, str] = {}
    for name, arguments in FINAL:
        if name == "ENV":
            environment |= env_pairs(arguments)
    assert environment["RELAI_HOST"] == "0.0.0.0"
    exposed = [arguments for name, arguments in FINAL if name == "EXPOSE"]
    assert exposed == [environment["RELAI_PORT"]]


def test_the_database_stays_outside_the_image() -> None:
    environment: dict[str, str] = {}
    for name, arguments in FINAL:
        if name == "ENV":
            environment |= env_pairs(arguments)
    database = environment["RELAI_DATABASE_URL"]
    assert database.startswith("sqlite:////")
    volumes = [json.loads(arguments) for name, arguments in FINAL if name == "VOLUME"]
    folder = str(Path(database.removeprefix("sqlite:///")).parent)
    assert [folder] in volumes, (folder, volumes)


def test_the_health_check_asks_healthz() -> None:
    [check] = [arguments for name, arguments in FINAL if name == "HEALTHCHECK"]
    assert "/healthz" in check and "CMD" in check


def test_no_secret_is_baked_into_the_image() -> None:
    named = [
        word.split("=", 1)[0] for name, arguments in STEPS if name in ("ENV", "ARG") for word in shlex.split(arguments)
    ]
    assert not [n for n in named if re.search(r"TOKEN|SECRET|PASSWORD|KEY|SID", n, re.IGNORECASE)], named
    assert not SECRET_SETTINGS & set(named)
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert ignored[next(i for i, line in enumerate(ignored) if not line.startswith("#"))] == "*"  # allow-list
    assert {"**/.env", "**/*.sqlite3", "**/*.admin-secret"} <= set(ignored)


# --- compose.yaml --------------------------------------------------------------------------------------
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_runs_postgres_then_the_migration_then_the_app() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "app"}
    db, migrate, app = services["db"], services["migrate"], services["app"]
    assert db["image"].startswith("postgres:") and "pg_isready" in db["healthcheck"]["test"]
    [volume] = db["volumes"]
    assert volume.split(":")[0] in compose()["volumes"] and volume.endswith(":/var/lib/postgresql/data")
    assert migrate["command"] == ["relai-bot", "db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert app["command"] == ["relai-bot", "serve"]
    assert app["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    for service in (migrate, app):
        assert service["build"] == "." and service["env_file"] == ".env"
        assert service["environment"]["RELAI_DATABASE_URL"].startswith("postgresql://relai:${POSTGRES_PASSWORD")
        assert service["environment"]["RELAI_DATABASE_URL"].endswith("@db:5432/relai")
    # published on the host's loopback only: TLS is the proxy's
    assert app["ports"] == ["127.0.0.1:8000:8000"]


def test_compose_takes_its_secrets_from_the_env_file_only() -> None:
    text = (REPO / "compose.yaml").read_text()
    services = compose()["services"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    for service in services.values():
        for name in service.get("environment", {}):
            assert name not in SECRET_SETTINGS, f"{name} belongs in .env"
    interpolated = set(re.findall(r"\$\{(\w+)", text))
    example = (REPO / ".env.example").read_text()
    assert interpolated and all(re.search(rf"^#? ?{name}=", example, re.MULTILINE) for name in interpolated)
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


# --- every setting named by the deployment files exists ------------------------------------------------
DEPLOYMENT_FILES = [
    "Dockerfile",
    "compose.yaml",
    "docs/deploy-debian.md",
    *(str(path.relative_to(REPO)) for path in sorted((REPO / "deploy").iterdir())),
]


@pytest.mark.parametrize("name", DEPLOYMENT_FILES)
def test_the_settings_a_deployment_file_names_exist(name: str) -> None:
    named = set(re.findall(r"\bRELAI_[A-Z0-9_]+", (REPO / name).read_text()))
    assert not named - set(SETTINGS), f"{name} names settings that do not exist: {sorted(named - set(SETTINGS))}"


def test_the_guide_installs_every_shipped_file_and_only_those() -> None:
    guide = (REPO / "docs" / "deploy-debian.md").read_text()
    installed = set(re.findall(r"/opt/relai-bot/deploy/([\w.-]+)", guide))
    shipped = {path.name for path in (REPO / "deploy").iterdir()}
    assert installed == shipped, (installed, shipped)
