"""`relai-bot users create`, `reset-password`, `list` and `disable`, then signing in with what they printed."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from relai_bot.cli import _first_admin_hint, app
from relai_bot.clock import FrozenClock
from relai_bot.services import accounts, audit
from relai_bot.wiring import Runtime
from tests.conftest import make_runtime

ONE_TIME = re.compile(r"one-time password \(shown once, [^)]*\): (\S+)")


@pytest.fixture
def env(sqlite_url: str) -> dict[str, str]:
    return {"RELAI_DATABASE_URL": sqlite_url}


@pytest.fixture
def database(sqlite_url: str, clock: FrozenClock) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_url, clock)
    yield runtime
    runtime.close()


def sign_in(runtime: Runtime, email: str, password: str) -> accounts.Account | None:
    with runtime.db.transaction() as session:
        return accounts.sign_in(session, email, password, now=runtime.clock.now()).account


def test_create_the_first_admin_then_sign_in(env: dict[str, str], database: Runtime) -> None:
    result = CliRunner().invoke(app, ["users", "create", "--role", "admin", "--email", "Chef@Mairie.re"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("account chef@mairie.re created: role=admin\n")
    found = ONE_TIME.search(result.stdout)
    assert found is not None
    account = sign_in(database, "chef@mairie.re", found.group(1))
    assert account is not None and account.must_change_password
    with database.db.transaction() as session:
        (event,) = audit.list_events(session, audit.AuditFilter(action=audit.ACCOUNT_CREATED))
    assert (event.actor, event.target) == ("cli", "chef@mairie.re")


def test_create_staff_with_districts_and_a_password_from_stdin(env: dict[str, str], database: Runtime) -> None:
    args = ["users", "create", "--role", "staff", "--email", "agent@mairie.re", "--name", "M. Maillot"]
    args += ["--district", "Saint-Laurent", "--district", "pichette", "--password-stdin"]
    result = CliRunner().invoke(app, args, env=env, input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "account agent@mairie.re created: role=staff districts=pichette,saint-laurent\n"
    account = sign_in(database, "agent@mairie.re", "correct horse battery")
    assert account is not None and not account.must_change_password and account.name == "M. Maillot"


def test_create_an_adviser_linked_to_their_agenda(env: dict[str, str], database: Runtime) -> None:
    args = ["users", "create", "--role", "adviser", "--email", "payet@mairie.re", "--adviser", "payet"]
    assert CliRunner().invoke(app, args, env=env).exit_code == 0
    with database.db.transaction() as session:
        account = accounts.find_account(session, "payet@mairie.re")
    assert account is not None and account.adviser_id is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "admin", "--email", "nope"], "'nope' is not an e-mail address"),
        (["--role", "boss", "--email", "a@b.re"], "unknown role 'boss': use admin, staff or adviser"),
        (["--role", "staff", "--email", "a@b.re"], "a staff account needs at least one --district"),
        (["--role", "staff", "--email", "a@b.re", "--district", "Atlantis"], "district 'Atlantis' does not exist"),
        (["--role", "admin", "--email", "a@b.re", "--password-stdin"], "the password is too weak: at least 12"),
    ],
)
def test_create_refuses_in_one_line(env: dict[str, str], database: Runtime, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["users", "create", *args], env=env, input="short\n")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"relai-bot: {message}") and result.stderr.count("\n") == 1


def test_an_address_is_taken_once(env: dict[str, str], database: Runtime) -> None:
    args = ["users", "create", "--role", "admin", "--email", "a@b.re"]
    assert CliRunner().invoke(app, args, env=env).exit_code == 0
    again = CliRunner().invoke(app, [*args[:-1], "A@B.RE"], env=env)
    assert again.exit_code == 2 and "exists already" in again.stderr


def test_reset_password(env: dict[str, str], database: Runtime) -> None:
    args = ["users", "create", "--role", "admin", "--email", "a@b.re", "--password-stdin"]
    assert CliRunner().invoke(app, args, env=env, input="correct horse battery\n").exit_code == 0
    result = CliRunner().invoke(app, ["users", "reset-password", "A@b.re"], env=env)
    assert result.exit_code == 0, result.output
    found = ONE_TIME.search(result.stdout)
    assert found is not None
    assert sign_in(database, "a@b.re", "correct horse battery") is None
    account = sign_in(database, "a@b.re", found.group(1))
    assert account is not None and account.must_change_password
    missing = CliRunner().invoke(app, ["users", "reset-password", "nobody@b.re"], env=env)
    assert missing.exit_code == 2 and missing.stderr == "relai-bot: no account nobody@b.re\n"


def test_serve_says_how_to_create_the_first_admin(database: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    _first_admin_hint(database)  # the demo data's placeholder accounts have no password
    assert capsys.readouterr().err == (
        "relai-bot: no administrator can sign in to /admin yet: create one with "
        "relai-bot users create --role admin --email YOUR@ADDRESS\n"
    )
    with database.db.transaction() as session:
        accounts.create_account(session, email="a@b.re", name="A", role="admin", now=database.clock.now())
    _first_admin_hint(database)
    assert capsys.readouterr().err == ""


def test_list_shows_every_account_without_passwords(env: dict[str, str], database: Runtime) -> None:
    with database.db.transaction() as session:
        accounts.create_account(
            session, email="chef@mairie.re", name="Chef", role="admin", now=database.clock.now(), password="x" * 12
        )
        accounts.create_account(
            session,
            email="agent@mairie.re",
            name="M. Maillot",
            role="staff",
            districts=["pichette", "saint-laurent"],
            now=database.clock.now(),
        )
    sign_in(database, "chef@mairie.re", "x" * 12)
    result = CliRunner().invoke(app, ["users", "list"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["login", "name", "role", "districts", "active", "last", "sign-in"]
    chef = next(line for line in lines if line.startswith("chef@mairie.re"))
    agent = next(line for line in lines if line.startswith("agent@mairie.re"))
    assert chef.split()[1:] == ["Chef", "admin", "-", "yes", "2026-12-01", "10:00"]  # local time, La Réunion
    assert agent.split()[1:] == ["M.", "Maillot", "staff", "pichette,saint-laurent", "yes", "-"]
    assert "argon2" not in result.stdout


def test_disable_an_account_but_never_the_last_admin(env: dict[str, str], database: Runtime) -> None:
    for email in ("chef@mairie.re", "adjoint@mairie.re"):
        args = ["users", "create", "--role", "admin", "--email", email, "--password-stdin"]
        assert CliRunner().invoke(app, args, env=env, input="correct horse battery\n").exit_code == 0
    result = CliRunner().invoke(app, ["users", "disable", "Adjoint@mairie.re"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout == "account adjoint@mairie.re disabled\n"
    assert sign_in(database, "adjoint@mairie.re", "correct horse battery") is None
    last = CliRunner().invoke(app, ["users", "disable", "chef@mairie.re"], env=env)
    assert last.exit_code == 2 and "last active administrator" in last.stderr and last.stderr.count("\n") == 1
    assert sign_in(database, "chef@mairie.re", "correct horse battery") is not None
    missing = CliRunner().invoke(app, ["users", "disable", "nobody@b.re"], env=env)
    assert missing.exit_code == 2 and missing.stderr == "relai-bot: no account nobody@b.re\n"
    with database.db.transaction() as session:
        (event,) = audit.list_events(session, audit.AuditFilter(action=audit.ACCOUNT_DISABLED))
    assert (event.actor, event.target) == ("cli", "adjoint@mairie.re")
    listed = CliRunner().invoke(app, ["users", "list"], env=env).stdout
    assert next(line for line in listed.splitlines() if line.startswith("adjoint@")).split()[4] == "no"
