"""Wiring: settings -> database, flows, templates, engine, dispatcher. Built by commands and the app factory."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from relai_bot.clock import Clock, SystemClock
from relai_bot.config import Settings
from relai_bot.conversation.content import content_root
from relai_bot.conversation.dispatcher import Dispatcher
from relai_bot.conversation.engine import Engine
from relai_bot.conversation.flows import FlowSet, load_flows
from relai_bot.conversation.render import Renderer
from relai_bot.services.residents import count_residents
from relai_bot.store.db import Database, is_empty, upgrade
from relai_bot.store.models import Scheme

if TYPE_CHECKING:  # the demo data is loaded into an empty database only: imported then
    from relai_bot.seed.demo_activity import ActivityReport
    from relai_bot.seed.load import SeedReport

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    db: Database
    renderer: Renderer
    flows: FlowSet
    engine: Engine
    dispatcher: Dispatcher

    def close(self) -> None:
        self.db.dispose()


def load_content(settings: Settings) -> tuple[FlowSet, Renderer]:
    root = content_root(settings.content_dir)
    renderer = Renderer(root / "templates", settings.tz, retention_months=settings.retention_months)
    flows = load_flows(root / "conversations")
    return flows, renderer


def build_runtime(settings: Settings, clock: Clock | None = None, *, strict: bool = False) -> Runtime:
    """Everything a command or the web app needs; flows are validated here (start-up stops on a problem)."""
    clock = clock or SystemClock()
    flows, renderer = load_content(settings)
    engine = Engine(flows, renderer, settings, clock, strict=strict)
    db = Database(settings.database_url)
    dispatcher = Dispatcher(db, engine, strict=strict, reply_lease_seconds=settings.reply_lease_seconds)
    return Runtime(settings, clock, db, renderer, flows, engine, dispatcher)


def migrate(runtime: Runtime) -> None:
    if runtime.settings.is_sqlite:
        path = runtime.settings.database_url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    upgrade(runtime.db)


def seed_demo(runtime: Runtime) -> SeedReport:
    from relai_bot.seed.load import load_seed, read_seed

    with runtime.db.transaction() as session:
        return load_seed(session, read_seed(), now=runtime.clock.now(), tz=runtime.settings.tz)


def prepare_embedded(runtime: Runtime) -> SeedReport | None:
    """On the embedded SQLite database: migrate, and load the demo data into an empty database (its fictional
    residents only with RELAI_DEMO_ACTIVITY, the default)."""
    was_empty = is_empty(runtime.db)
    migrate(runtime)
    with runtime.db.transaction() as session:
        has_schemes = session.query(Scheme).first() is not None
        residents = count_residents(session)
    if was_empty or (not has_schemes and residents == 0):
        report = seed_demo(runtime)
        log.info("demo data loaded: %s", report)
        if runtime.settings.demo_activity:
            activity = seed_demo_activity(runtime)
            log.info("demo activity loaded: %s", activity)
        return report
    return None


def seed_demo_activity(runtime: Runtime) -> ActivityReport:
    """Fictional residents and appointments around today (seed/demo_activity.py): an empty database only."""
    from relai_bot.seed.demo_activity import load_demo_activity

    with runtime.db.transaction() as session:
        return load_demo_activity(session, now=runtime.clock.now(), tz=runtime.settings.tz)
