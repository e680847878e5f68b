"""`relai-bot` commands: serve, chat, seed, db, flows, broadcast, doctor."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from relai_bot.config import Settings, SettingsError, load_settings
from relai_bot.conversation.flows import FlowError

if TYPE_CHECKING:
    from sqlmodel import Session
    from starlette.applications import Starlette

    from relai_bot.channels.base import ChannelAdapter
    from relai_bot.conversation.flows import FlowSet
    from relai_bot.conversation.render import Renderer
    from relai_bot.services.accounts import Account
    from relai_bot.wiring import Runtime

app = typer.Typer(
    help="Relai territorial de La Possession: the insertion chatbot.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
flows_app = typer.Typer(help="Conversation flows (conversations/*.yaml).", no_args_is_help=True)
users_app = typer.Typer(help="Back-office accounts (/admin).", no_args_is_help=True)
app.add_typer(db_app, name="db")
broadcast_app = typer.Typer(help="Broadcasts to the residents of districts.")
app.add_typer(flows_app, name="flows")
app.add_typer(broadcast_app, name="broadcast")
app.add_typer(users_app, name="users")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        typer.echo(f"relai-bot: {error}", err=True)
        raise typer.Exit(2) from None


def _runtime(settings: Settings) -> Runtime:
    from relai_bot.wiring import build_runtime

    try:
        return build_runtime(settings)
    except FlowError as error:
        typer.echo(f"relai-bot: the conversation flows are invalid:\n{error}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def _database_errors() -> Iterator[None]:
    """A database that does not answer is one line for the operator, not a traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()[0]
        typer.echo(f"relai-bot: the database (RELAI_DATABASE_URL) does not answer: {reason}", err=True)
        raise typer.Exit(2) from None


def _prepare_database(runtime: Runtime) -> None:
    """Embedded SQLite: migrate and load the demo data if empty. Elsewhere the schema must be at head already
    (several instances must not race to migrate: run `relai-bot db upgrade` once per deployment)."""
    from relai_bot.store.db import current_revision, head_revision
    from relai_bot.wiring import prepare_embedded

    with _database_errors():
        if runtime.settings.is_sqlite:
            prepare_embedded(runtime)
            return
        current = current_revision(runtime.db)
    if current != head_revision():
        typer.echo(
            f"relai-bot: the database schema is at {current}, not {head_revision()}: run relai-bot db upgrade", err=True
        )
        raise typer.Exit(2)


def _logging(settings: Settings) -> None:
    """One line per event on stderr, as text or JSON (RELAI_LOG_FORMAT), uvicorn's lines included."""
    from relai_bot.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format, sys.stderr)
    # Alembic reports every schema look-up (each /healthz) at INFO: keep its warnings only
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))


# The event loop and HTTP parser `serve` runs on (both dependencies: a missing one stops the start, rather
# than uvicorn falling back quietly to the slower pure-Python ones); uvloop does not exist on Windows
SERVER_LOOP = "asyncio" if sys.platform == "win32" else "uvloop"
SERVER_HTTP = "httptools"


@contextmanager
def _start_up() -> Iterator[None]:
    """The cyclic garbage collector pauses while `serve` starts, and what the start built stays out of its
    reach after (gc.freeze). The start makes some 190,000 long-lived objects (modules, models, templates,
    flows) and next to no garbage: collecting meanwhile is about a tenth of the start, and every full
    collection afterwards would scan them all again on the event loop."""
    gc.disable()
    # httpx (python-telegram-bot's client) loads its command-line client when it can, which brings rich's
    # console and pygments: 80 modules, 4 MiB and some 40 ms a start, for a command `serve` never runs.
    # An entry of None makes that import fail, and httpx then defines a `main` that only says so.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@app.command()
def serve() -> None:
    """Start the web app (GET /healthz) and the scheduler. An empty SQLite database gets the demo data."""
    import uvicorn

    from relai_bot.turns import SIMULATED_CHANNELS

    with _start_up():
        settings = _settings()
        _logging(settings)
        runtime = _runtime(settings)
        _prepare_database(runtime)
        app_, channels = _serving_app(runtime)
        providers = [channel.name for channel in channels if channel.name not in SIMULATED_CHANNELS]
        names = ", ".join(providers) or "none (set RELAI_TELEGRAM_TOKEN or RELAI_TWILIO_*)"
        names += "; the simulator at /admin/simulator"
        typer.echo(
            f"relai-bot: listening on http://{settings.host}:{settings.port} (GET /healthz, /admin); channels: {names}",
            err=True,
        )
        _first_admin_hint(runtime)
    uvicorn.run(app_, host=settings.host, port=settings.port, **_server_options(settings))


def _server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options besides the address. Its loggers keep no handler of their own (log_config=None):
    their records reach the root logger, in RELAI_LOG_FORMAT; no access log. X-Forwarded-For and
    X-Forwarded-Proto count only from RELAI_FORWARDED_ALLOW_IPS (uvicorn would otherwise trust 127.0.0.1)."""
    return {
        "log_config": None,
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_networks,
        "loop": SERVER_LOOP,
        "http": SERVER_HTTP,
    }


def _serving_app(runtime: Runtime) -> tuple[Starlette, list[ChannelAdapter]]:
    """The app `serve` runs and its channels: those whose settings are set, and only their code is imported
    (python-telegram-bot and the staff desk with a Telegram token, twilio with Twilio's settings)."""
    from relai_bot.channels.registry import build_channels
    from relai_bot.services.delivery_records import DeliveryRecords
    from relai_bot.web.app import create_app

    settings = runtime.settings
    try:
        records = DeliveryRecords(runtime.db, runtime.clock)
        desk = None
        if settings.telegram_token is not None:  # /lier and /diffuser for linked staff, the rest as before
            from relai_bot.staff.telegram_desk import StaffDesk

            desk = StaffDesk(runtime.dispatcher)
        channels = build_channels(settings, runtime.dispatcher, runtime.renderer, records, telegram_dispatcher=desk)
    except SettingsError as error:  # e.g. an SMS channel without RELAI_PUBLIC_URL
        typer.echo(f"relai-bot: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        return create_app(runtime, channels=channels), channels
    except SettingsError as error:  # e.g. PostgreSQL without RELAI_ADMIN_SECRET_KEY
        typer.echo(f"relai-bot: {error}", err=True)
        raise typer.Exit(2) from None


def _first_admin_hint(runtime: Runtime) -> None:
    """With nobody able to sign in as an administrator, one line says how to create the first one."""
    from relai_bot.services.accounts import has_usable_admin

    with runtime.db.transaction() as session:
        if has_usable_admin(session):
            return
    typer.echo(
        "relai-bot: no administrator can sign in to /admin yet: create one with "
        "relai-bot users create --role admin --email YOUR@ADDRESS",
        err=True,
    )


@app.command()
def chat(
    name: Annotated[str, typer.Option(help="Who you are in the terminal (a new name = a new resident).")] = "",
    save_attachments: Annotated[Path | None, typer.Option(help="Folder where .ics and other files go.")] = None,
    first: Annotated[str, typer.Option(help='The first message ("bonjour, mi rode in travay").')] = "bonjour",
) -> None:
    """Talk to the bot in the terminal as a resident; answer with the option numbers."""
    from relai_bot.channels.console import render_reply
    from relai_bot.turns import Inbound

    settings = _settings()
    logging.basicConfig(level=logging.WARNING)
    runtime = _runtime(settings)
    _prepare_database(runtime)
    address = name or f"terminal-{uuid.uuid4().hex[:8]}"
    typer.echo("(Ctrl-D pour quitter)\n", err=True)

    async def talk() -> None:
        text = first
        if not sys.stdin.isatty():
            typer.echo(f"> {text}")
        while True:
            turn = await runtime.dispatcher.handle(Inbound(channel="console", address=address, text=text))
            for reply in turn.replies:
                typer.echo(render_reply(reply, save_attachments) + "\n")
            try:
                text = input("> ")
            except EOFError:
                return
            if not sys.stdin.isatty():
                typer.echo(text)  # piped input: show it, so the output reads as a transcript

    try:
        asyncio.run(talk())
    finally:
        runtime.close()


@app.command()
def texts(
    language: Annotated[str, typer.Option(help="The language to review (a folder of templates/messages/).")] = "rcf",
) -> None:
    """Every resident text of a language under its French original, then the buttons: for a review by a
    native speaker before going live (docs/creole.md)."""
    from relai_bot.conversation.languages import side_by_side

    _, renderer = _checked_content()
    if language not in renderer.languages:
        typer.echo(f"relai-bot: no texts in {language!r} (languages: {', '.join(renderer.languages)})", err=True)
        raise typer.Exit(2)
    typer.echo("\n".join(side_by_side(renderer.root, renderer.default_language, language)))
    from sqlmodel import select

    from relai_bot.services.schemes import scheme_text
    from relai_bot.store.models import Scheme

    runtime = _runtime(_settings())
    _prepare_database(runtime)
    typer.echo("\n## Schemes (the catalog as residents read it: name, summary, details)\n")
    with runtime.db.transaction() as session:
        for scheme in session.exec(select(Scheme).order_by(Scheme.code)):
            own = (scheme.texts or {}).get(language)
            typer.echo(f"### {scheme.code}{'' if own else f' (no {language} text: residents read French)'}")
            for lang in (renderer.default_language, language):
                text = scheme_text(scheme, lang)
                typer.echo(f"{lang}:\n    {text.name}\n    {text.summary}\n    {text.details}")
            typer.echo("")
    runtime.close()


@app.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Load La Possession's demo data.")] = False,
    activity: Annotated[
        bool,
        typer.Option(
            "--activity", help="Also fictional residents and appointments around today (a database without residents)."
        ),
    ] = False,
) -> None:
    """Load reference data (idempotent)."""
    from relai_bot.wiring import migrate, seed_demo, seed_demo_activity

    if not demo:
        typer.echo("relai-bot: say what to load: --demo", err=True)
        raise typer.Exit(2)
    runtime = _runtime(_settings())
    migrate(runtime)
    report = seed_demo(runtime)
    typer.echo(
        f"districts={report.districts} venues={report.venues} schemes={report.schemes} "
        f"advisers={report.advisers} staff={report.staff} new_slots={report.slots_created}"
    )
    if activity:
        done = seed_demo_activity(runtime)
        if not done.residents:
            typer.echo("relai-bot: residents exist already: no demo activity added", err=True)
        typer.echo(f"demo residents={done.residents} appointments={done.appointments} reminders={done.reminders}")
    runtime.close()


@app.command()
def schemes(
    age: Annotated[int | None, typer.Option(help="The person's age.")] = None,
    situation: Annotated[str | None, typer.Option(help="A situation code, e.g. demandeur_emploi.")] = None,
    goal: Annotated[str | None, typer.Option(help="A goal code: emploi, formation, creation, orientation…")] = None,
    district: Annotated[str | None, typer.Option(help="A district code, e.g. saint-laurent.")] = None,
    rqth: Annotated[bool, typer.Option("--rqth", help="A recognised disability (RQTH).")] = False,
    page: Annotated[int, typer.Option(help="Which page of five (1 = the first a resident gets).")] = 1,
) -> None:
    """The schemes a resident with these answers gets, as they read them (the questionnaire's results)."""
    from sqlmodel import select

    from relai_bot.conversation.actions.discovery import PAGE, result_items
    from relai_bot.services import schemes as scheme_service
    from relai_bot.services.vocabulary import GOALS, SITUATIONS
    from relai_bot.store.models import District

    if situation is not None and situation not in SITUATIONS:
        _fail(f"unknown situation {situation!r}: one of {', '.join(SITUATIONS)}")
    if goal is not None and goal not in GOALS:
        _fail(f"unknown goal {goal!r}: one of {', '.join(GOALS)}")
    runtime = _runtime(_settings())
    _prepare_database(runtime)
    with runtime.db.transaction() as session:
        found = session.exec(select(District).where(District.code == district)).first() if district else None
        if district and found is None:
            _fail(f"unknown district {district!r}")
        profile = scheme_service.Profile(
            age_bracket=scheme_service.bracket_for_age(age) if age is not None else None,
            situation=situation,
            goal=goal,
            district_code=district,
            qpv=found.qpv if found else None,
            disabled=rqth,
        )
        ranked = scheme_service.rank_schemes(session, profile, limit=PAGE, offset=(max(page, 1) - 1) * PAGE)

        def render(name: str, **context: object) -> str:
            return runtime.renderer.render(name, language=None, channel="console", context=context)

        items = result_items(ranked, render, None)
        typer.echo(render("discovery/results", results=items, page=page - 1) if items else "(nothing)")
    runtime.close()


@broadcast_app.callback(invoke_without_command=True)
def broadcast(
    ctx: typer.Context,
    district: Annotated[list[str] | None, typer.Option(help="A district (name or code); repeat for several.")] = None,
    text: Annotated[
        str | None, typer.Option(help="The message; {{ prenom }} and {{ quartier }} are filled in.")
    ] = None,
    file: Annotated[Path | None, typer.Option(help="Read the message from this file (UTF-8).")] = None,
    text_rcf: Annotated[
        str | None, typer.Option(help="The same message in Réunion Creole, for the residents who chose it.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="A title, shown first.")] = None,
    link: Annotated[str | None, typer.Option(help="A link (https://...).")] = None,
    scheme: Annotated[str | None, typer.Option(help="The scheme it is about (code, e.g. pec).")] = None,
    venue: Annotated[str | None, typer.Option(help="Where the event is (venue code).")] = None,
    event_at: Annotated[str | None, typer.Option(help="When the event is, local time: 2026-12-05 09:30.")] = None,
    age: Annotated[list[str] | None, typer.Option(help="Only residents of this age bracket (e.g. 18-25).")] = None,
    situation: Annotated[list[str] | None, typer.Option(help="Only residents in this situation.")] = None,
    goal: Annotated[list[str] | None, typer.Option(help="Only residents with this goal (e.g. formation).")] = None,
    schedule: Annotated[str | None, typer.Option(help="Send at this local time (2026-12-05 09:30), not now.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the preview; send nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Show a progress bar until delivery ends.")] = False,
    by: Annotated[str, typer.Option(help="Who sends it: a staff login, kept with the broadcast.")] = "cli",
) -> None:
    """Compose a broadcast to the residents of districts who said yes to opportunities (`serve` delivers it).

    Subcommands approve, interrupt and report act on a broadcast already composed."""
    from relai_bot.services import accounts
    from relai_bot.services.broadcasts import BroadcastDraft
    from relai_bot.staff import compose
    from relai_bot.staff.preview_text import preview_lines

    if ctx.invoked_subcommand is not None:
        return
    if not district or (text is None) == (file is None):
        typer.echo("relai-bot: say where and what: --district NAME and --text TEXT (or --file FILE)", err=True)
        raise typer.Exit(2)
    settings = _settings()
    try:
        message = text if text is not None else file.read_text(encoding="utf-8") if file else ""
    except OSError as error:
        typer.echo(f"relai-bot: nothing sent: {error}", err=True)
        raise typer.Exit(2) from None
    runtime = _runtime(settings)
    _migrate(runtime)
    try:
        with _staff_errors(), runtime.db.transaction() as session:
            draft = BroadcastDraft(
                districts=district,
                text=message,
                texts={"rcf": text_rcf} if text_rcf else {},
                title=title,
                link=link,
                scheme=scheme,
                venue=venue,
                event_at=compose.local_time(event_at, settings.tz) if event_at else None,
                age_brackets=age or (),
                situations=situation or (),
                goals=goal or (),
                scheduled_at=compose.local_time(schedule, settings.tz) if schedule else None,
            )
            now = runtime.clock.now()
            if dry_run:
                shown = compose.preview(session, draft, renderer=runtime.renderer, settings=settings, now=now)
                typer.echo("\n".join(preview_lines(shown, settings.tz)))
                return
            author = accounts.find_account(session, by)
            done = compose.submit(
                session,
                draft,
                renderer=runtime.renderer,
                settings=settings,
                now=now,
                created_by=by,
                author=author,
            )
        sent = done.broadcast
        if sent.status == "pending_approval":
            reasons = "; ".join(done.preview.approval)
            typer.echo(f"broadcast {sent.id}: waiting for approval by an admin other than its author ({reasons})")
        else:
            left_out = ", ".join(f"{reason}={n}" for reason, n in sent.excluded.items()) or "nobody"
            starts = ""
            if done.preview.starts_at > now:
                starts = "; starts " + done.preview.starts_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
            typer.echo(f"broadcast {sent.id}: {sent.recipients} recipients enqueued; left out: {left_out}{starts}")
        if wait and sent.id is not None:
            _wait_for_delivery(runtime, sent.id)
    finally:
        runtime.close()


def _migrate(runtime: Runtime) -> None:
    from relai_bot.wiring import migrate

    migrate(runtime)


@contextmanager
def _staff_errors() -> Iterator[None]:
    """What staff got wrong is one line (in French for the broadcast's own text), never a traceback."""
    from relai_bot.services.errors import DomainError

    try:
        yield
    except (DomainError, ValueError) as error:
        typer.echo(f"relai-bot: nothing done: {error}", err=True)
        raise typer.Exit(2) from None


def _wait_for_delivery(runtime: Runtime, broadcast_id: int, sleep: Callable[[float], None] | None = None) -> None:
    """A progress bar over the broadcast's rows until none is waiting (Ctrl-C leaves; delivery goes on)."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from relai_bot.services.broadcast_reports import broadcast_report

    pause = sleep or time.sleep
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()) as bar:
        task = bar.add_task(f"broadcast {broadcast_id}", total=None)
        while True:
            with runtime.db.transaction() as session:
                report = broadcast_report(session, broadcast_id, runtime.clock.now())
            bar.update(
                task,
                completed=report.settled,
                total=report.total,
                description=f"broadcast {broadcast_id}: {report.state}",
            )
            if report.state in ("done", "interrupted"):
                break
            pause(1.0)
    typer.echo(
        f"broadcast {broadcast_id}: {report.state}; rows: "
        + (", ".join(f"{k}={n}" for k, n in report.by_status.items()) or "none")
    )


@broadcast_app.command("approve")
def broadcast_approve(
    broadcast_id: Annotated[int, typer.Argument(metavar="ID", help="The broadcast's number.")],
    by: Annotated[str, typer.Option(help="The approving admin's login (not the author's).")],
) -> None:
    """Let a broadcast that waits for approval go: an admin other than its author approves it."""
    from relai_bot.services import accounts
    from relai_bot.services.broadcasts import approve

    settings = _settings()
    runtime = _runtime(settings)
    _migrate(runtime)
    try:
        with _staff_errors(), runtime.db.transaction() as session:
            approver = accounts.find_account(session, by)
            if approver is None:
                typer.echo(f"relai-bot: no staff user {by!r}", err=True)
                raise typer.Exit(2)
            done = approve(
                session, broadcast_id, approver.id, runtime.clock.now(), per_week=settings.broadcasts_per_week
            )
    finally:
        runtime.close()
    left_out = ", ".join(f"{reason}={n}" for reason, n in done.excluded.items()) or "nobody"
    typer.echo(
        f"broadcast {broadcast_id}: approved by {by}; {done.recipients} recipients enqueued; left out: {left_out}"
    )


@broadcast_app.command("interrupt")
def broadcast_interrupt(
    broadcast_id: Annotated[int, typer.Argument(metavar="ID", help="The broadcast's number.")],
) -> None:
    """Stop a broadcast: what is not sent yet is skipped; messages already on their way finish."""
    from relai_bot.services.broadcasts import interrupt

    runtime = _runtime(_settings())
    _migrate(runtime)
    try:
        with _staff_errors(), runtime.db.transaction() as session:
            skipped = interrupt(session, broadcast_id, runtime.clock.now(), actor="cli")
    finally:
        runtime.close()
    typer.echo(f"broadcast {broadcast_id}: interrupted; {skipped} messages not sent")


@broadcast_app.command("report")
def broadcast_report_command(
    broadcast_id: Annotated[int, typer.Argument(metavar="ID", help="The broadcast's number.")],
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Also write the counts to this CSV file.")] = None,
) -> None:
    """Where a broadcast stands: messages by status, district and channel (counts only, no one's number)."""
    import csv

    from relai_bot.services.broadcast_reports import CSV_HEADER, broadcast_report
    from relai_bot.staff.preview_text import report_lines

    runtime = _runtime(_settings())
    _migrate(runtime)
    try:
        with _staff_errors(), runtime.db.transaction() as session:
            report = broadcast_report(session, broadcast_id, runtime.clock.now())
    finally:
        runtime.close()
    typer.echo("\n".join(report_lines(report)))
    if csv_file is not None:
        with csv_file.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(CSV_HEADER)
            writer.writerows(report.csv_rows())
        typer.echo(f"written to {csv_file}")


@app.command("link-adviser")
def link_adviser(
    code: Annotated[str, typer.Argument(help="The adviser's code, e.g. payet")],
    telegram: Annotated[str, typer.Option(help="The adviser's Telegram chat id (digest and alerts go there).")],
) -> None:
    """Link an adviser's Telegram account: the 07:30 digest and "reminder not received" alerts go there."""
    from relai_bot.services.advisers import link_adviser as link
    from relai_bot.services.errors import NotFound
    from relai_bot.wiring import migrate

    runtime = _runtime(_settings())
    migrate(runtime)
    try:
        with runtime.db.transaction() as session:
            link(session, code=code, channel="telegram", address=telegram.strip(), now=runtime.clock.now())
    except NotFound as error:
        typer.echo(f"relai-bot: {error} does not exist", err=True)
        raise typer.Exit(2) from None
    finally:
        runtime.close()
    typer.echo(f"adviser {code}: Telegram linked")


@users_app.command("create")
def users_create(
    role: Annotated[str, typer.Option(help="admin, staff or adviser.")],
    email: Annotated[str, typer.Option(help="The person's e-mail address: their login.")],
    name: Annotated[str, typer.Option(help="The name shown in the back-office.")] = "",
    district: Annotated[
        list[str] | None, typer.Option(help="A district (code or name) of a staff account; repeat.")
    ] = None,
    adviser: Annotated[str | None, typer.Option(help="The adviser's code, for an adviser account.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Create a back-office account; prints a one-time password to change at the first sign-in."""
    from relai_bot.services import accounts, passwords
    from relai_bot.services.errors import NotFound
    from relai_bot.wiring import migrate

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    runtime = _runtime(_settings())
    migrate(runtime)
    try:
        with runtime.db.transaction() as session:
            account, one_time = accounts.create_account(
                session,
                email=email,
                name=name,
                role=role,
                districts=district or [],
                adviser=adviser,
                password=password,
                now=runtime.clock.now(),
                actor="cli",
            )
    except accounts.InvalidEmail:
        _fail(f"{email!r} is not an e-mail address")
    except accounts.LoginTaken:
        _fail(f"an account {email.strip().lower()} exists already (relai-bot users reset-password to reset it)")
    except accounts.InvalidRole:
        _fail(f"unknown role {role!r}: use admin, staff or adviser")
    except accounts.DistrictsMisused:
        _fail("a staff account needs at least one --district; other roles take none")
    except passwords.WeakPassword as error:
        _fail(f"the password is too weak: {error}")
    except NotFound as error:
        _fail(f"{error} does not exist")
    finally:
        runtime.close()
    districts = f" districts={','.join(account.district_codes)}" if account.district_codes else ""
    typer.echo(f"account {account.login} created: role={account.role}{districts}")
    if one_time is not None:
        typer.echo(f"one-time password (shown once, to change at the first sign-in): {one_time}")


@users_app.command("reset-password")
def users_reset_password(email: Annotated[str, typer.Argument(help="The account's e-mail address.")]) -> None:
    """Give an account a new one-time password (shown once); the next sign-in must change it."""
    from relai_bot.services import accounts

    with _account_by_email(email) as (runtime, session, account):
        one_time = accounts.reset_password(session, account.id, now=runtime.clock.now(), actor="cli")
    typer.echo(f"account {account.login}: one-time password (shown once, to change at the next sign-in): {one_time}")


@users_app.command("list")
def users_list() -> None:
    """Every back-office account: login, name, role, districts, active, last sign-in (local time)."""
    from relai_bot.services import accounts
    from relai_bot.wiring import migrate

    runtime = _runtime(_settings())
    migrate(runtime)
    try:
        with runtime.db.transaction() as session:
            found = accounts.list_accounts(session)
    finally:
        runtime.close()
    tz = runtime.settings.tz
    rows = [("login", "name", "role", "districts", "active", "last sign-in")]
    for account in found:
        seen = account.last_login_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if account.last_login_at else "-"
        active = "yes" if account.active else "no"
        rows.append((account.login, account.name, account.role, ",".join(account.district_codes) or "-", active, seen))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Argument(help="The account's e-mail address.")]) -> None:
    """Disable an account: it can no longer sign in, its sessions end (the last usable admin stays)."""
    from relai_bot.services import accounts

    try:
        with _account_by_email(email) as (runtime, session, account):
            accounts.disable_account(session, account.id, actor_id=None, now=runtime.clock.now(), actor="cli")
    except accounts.LastAdmin:
        _fail(f"{email.strip().lower()} is the last active administrator who can sign in: create another one first")
    typer.echo(f"account {account.login} disabled")


@contextmanager
def _account_by_email(email: str) -> Iterator[tuple[Runtime, Session, Account]]:
    """The runtime, one transaction and the account of that e-mail address (the command fails when there is
    none); the runtime closes when the block ends."""
    from relai_bot.services import accounts
    from relai_bot.wiring import migrate

    runtime = _runtime(_settings())
    migrate(runtime)
    try:
        with runtime.db.transaction() as session:
            account = accounts.find_account(session, email)
            if account is None:
                _fail(f"no account {email.strip().lower()}")
            yield runtime, session, account
    finally:
        runtime.close()


def _fail(message: str) -> NoReturn:
    typer.echo(f"relai-bot: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def doctor() -> None:
    """Check the installation: settings, database, Telegram, Twilio, the public URL, the clock; one line per
    check and how to fix each problem (exit 1 when one fails)."""
    try:
        settings = load_settings()
    except SettingsError as error:
        typer.echo(f"problem  settings: {error}\n            fix: correct that setting (environment or .env)")
        raise typer.Exit(2) from None
    from relai_bot.doctor import run

    report = run(settings)
    typer.echo("\n".join(report.lines()))
    if not report.ok:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the database migrations."""
    from relai_bot.store.db import Database, current_revision, upgrade

    settings = _settings()
    file = settings.database_url.removeprefix("sqlite:///") if settings.is_sqlite else ""
    if file not in ("", ":memory:", settings.database_url):
        Path(file).parent.mkdir(parents=True, exist_ok=True)  # as `serve` does for its SQLite file
    db = Database(settings.database_url)
    with _database_errors():
        upgrade(db, revision)
        typer.echo(f"schema at revision {current_revision(db)}")
    db.dispose()


def _rows(rows: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in rows.items())


@app.command()
def backup(
    to: Annotated[
        Path | None, typer.Option(help="Where to write the copy (default: beside the database, dated).")
    ] = None,
) -> None:
    """A consistent copy of the embedded SQLite database, taken while serve runs (PostgreSQL: pg_dump)."""
    from datetime import UTC, datetime

    from relai_bot.store.backup import BackupError, default_destination, sqlite_file
    from relai_bot.store.backup import backup as make_backup

    settings = _settings()
    try:
        destination = to or default_destination(sqlite_file(settings.database_url), datetime.now(UTC))
        made = make_backup(settings.database_url, destination)
    except BackupError as error:
        _fail(str(error))
    typer.echo(f"backup written: {made.path} ({made.size // 1024} KiB, schema {made.revision}): {_rows(made.rows)}")
    typer.echo(
        "store a copy off this server; the key beside the database (<database>.admin-secret) signs staff"
        " sessions: without it after a restore, staff just sign in again"
    )


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A file made by relai-bot backup.")],
    yes: Annotated[bool, typer.Option("--yes", help="Replace the database: stop relai-bot serve first.")] = False,
) -> None:
    """Bring a backup back over the embedded SQLite database (what was there is copied aside first)."""
    from datetime import UTC, datetime

    from relai_bot.store.backup import BackupError, describe, sqlite_file
    from relai_bot.store.backup import restore as restore_backup

    settings = _settings()
    try:
        target = sqlite_file(settings.database_url)
        found = describe(source)
    except BackupError as error:
        _fail(str(error))
    typer.echo(f"{source}: schema {found.revision}: {_rows(found.rows)}")
    if not yes:
        _fail(f"this replaces {target}: stop relai-bot serve, then run again with --yes")
    keep = target.with_name(f"{target.stem}-before-restore-{datetime.now(UTC):%Y%m%d-%H%M%S}.sqlite3")
    try:
        restored = restore_backup(settings.database_url, source, keep=keep)
    except BackupError as error:
        _fail(str(error))
    if keep.exists():
        typer.echo(f"the database as it was: {keep}")
    typer.echo(f"restored {target}: {_rows(restored.rows)}; serve brings the schema up to date when it starts")


def _checked_content() -> tuple[FlowSet, Renderer]:
    """The flows and templates, validated as at start-up; problems are printed and exit with 1."""
    from relai_bot.conversation.engine import Engine
    from relai_bot.conversation.flow_checks import validate
    from relai_bot.wiring import load_content

    settings = _settings()
    try:
        flows, renderer = load_content(settings)
        validate(flows, Engine.checks(renderer))
    except FlowError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    return flows, renderer


def _edge_label(renderer: Renderer) -> Callable[[str], str]:
    """How a diagram names an edge: a choice's label in the default language, other edges as they are."""
    return lambda key: renderer.label(key, None) if renderer.label_exists(key) else key


@flows_app.command("validate")
def flows_validate() -> None:
    """Check every flow file (steps, gotos, templates, labels, actions and their declarations, entry points)
    and that every language has every text, label and keyword group of the default one."""
    from relai_bot.conversation.languages import completeness

    flows, renderer = _checked_content()
    steps = sum(len(f.steps) for f in flows.flows.values())
    typer.echo(f"{len(flows.flows)} flows, {steps} steps: valid")
    reports = completeness(renderer.root, renderer.default_language, renderer.languages)
    for report in reports:
        typer.echo(report.line())
    if not all(r.complete for r in reports):
        raise typer.Exit(1)


@flows_app.command("graph")
def flows_graph(flow: Annotated[str, typer.Argument(help="A flow id, e.g. booking")]) -> None:
    """Print a Mermaid diagram of a flow."""
    flows, renderer = _checked_content()  # a goto to an unknown flow cannot be drawn
    if flow not in flows.flows:
        typer.echo(f"relai-bot: no flow {flow!r}; flows: {', '.join(sorted(flows.flows))}", err=True)
        raise typer.Exit(2)
    typer.echo(flows.mermaid(flow, label=_edge_label(renderer)))


@flows_app.command("docs")
def flows_docs() -> None:
    """Print docs/flows.md: every flow's diagram, the entry points, the actions' and parsers' declarations."""
    from relai_bot.conversation.engine import Engine
    from relai_bot.conversation.flow_docs import flows_page

    flows, renderer = _checked_content()
    typer.echo(flows_page(flows, Engine.checks(renderer), _edge_label(renderer)), nl=False)


if __name__ == "__main__":
    app()
