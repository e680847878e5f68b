"""The composer's preview of a broadcast with a Réunion Creole version: both messages on both channels,
who reads which, the SMS cost of each version, and the Creole SMS as Twilio receives it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import select
from typer.testing import CliRunner

from relai_bot.cli import app
from relai_bot.clock import FrozenClock
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.services import broadcasts
from relai_bot.staff import compose
from relai_bot.staff.preview_text import staff_preview
from relai_bot.staff.texts import StaffTexts
from relai_bot.store.db import Database
from relai_bot.store.models import Broadcast
from relai_bot.wiring import Runtime
from tests.conftest import make_runtime
from tests.creole_broadcast_support import CREOLE, FR_PHONE, FRENCH, RCF_PHONE, population
from tests.sms_harness import sms_stack

Draft = broadcasts.BroadcastDraft


def preview(runtime: Runtime, draft: broadcasts.BroadcastDraft) -> compose.BroadcastPreview:
    with runtime.db.transaction() as session:
        return compose.preview(
            session, draft, renderer=runtime.renderer, settings=runtime.settings, now=runtime.clock.now()
        )


def test_the_preview_shows_both_versions_and_who_reads_which(runtime: Runtime) -> None:
    population(runtime)
    shown = preview(runtime, Draft(districts=["saint-laurent"], text=FRENCH, texts={"rcf": CREOLE}))
    assert shown.recipients == 5
    assert (shown.versions.read, shown.versions.in_french) == ({"fr": 3, "rcf": 2}, {})
    assert list(shown.translations) == ["rcf"]
    creole = shown.translations["rcf"]
    # Each version is shown as a resident who reads it gets it: Marie in French, Jo in Creole
    assert "Bonjour Marie ! Forum de l'emploi samedi à Saint-Laurent." in shown.telegram.messages[0]
    assert "Bonzour Jo ! Néna in forom travay sanmdi dan Saint-Laurent." in creole.telegram.messages[0]
    assert "Bonjour ! Forum de l'emploi samedi" in shown.sms.messages[0]
    assert "Bonzour ! Néna in forom travay sanmdi" in creole.sms.messages[0]  # é is in the SMS alphabet
    assert creole.sms.segments == 1 and creole.sms.encoding == "GSM-7"


def test_without_a_creole_version_the_preview_counts_who_reads_french_instead(runtime: Runtime) -> None:
    population(runtime)
    shown = preview(runtime, Draft(districts=["saint-laurent"], text=FRENCH))
    assert shown.translations == {}
    assert (shown.versions.read, shown.versions.in_french) == ({"fr": 5}, {"rcf": 2})
    assert "Bonjour Marie !" in shown.telegram.messages[0]  # the French sample is one who chose French


def test_the_sms_cost_counts_each_versions_own_segments(runtime: Runtime) -> None:
    population(runtime)
    long_creole = "Bonzour ! " + "Néna in forom travay sanmdi. " * 8  # over 160 characters: 2 SMS parts
    shown = preview(runtime, Draft(districts=["saint-laurent"], text="Forum samedi.", texts={"rcf": long_creole}))
    assert shown.sms.segments == 1 and shown.translations["rcf"].sms.segments == 2
    assert (shown.sms_estimate.segments_max, shown.sms_estimate.segments_total) == (2, 3)
    assert shown.sms_estimate.cost == Decimal("0.21")


async def test_each_sms_is_what_the_preview_showed_for_its_version(sqlite_url: str, clock: FrozenClock) -> None:
    async with sms_stack(sqlite_url, clock) as stack:
        runtime = stack.runtime
        population(runtime)
        with runtime.db.transaction() as session:
            done = compose.submit(
                session,
                Draft(districts=["saint-laurent"], text=FRENCH, texts={"rcf": CREOLE}),
                renderer=runtime.renderer,
                settings=runtime.settings,
                now=runtime.clock.now(),
                created_by="t",
            )
        shown = done.preview
        worker = DeliveryWorker(runtime, {"sms": stack.channel}, poll_seconds=0.01)
        await worker.drain()
        await worker.stop()
        received = {m.to: m.body for m in stack.srv.messages}
        assert [received[RCF_PHONE]] == shown.translations["rcf"].sms.messages
        assert [received[FR_PHONE]] == shown.sms.messages
        assert "Bonzour ! Néna in forom" in received[RCF_PHONE] and "Bonjour ! Forum" in received[FR_PHONE]
        assert shown.sms_estimate.segments_total == sum(m.segments for m in stack.srv.messages)
        assert stack.srv.violations == []


def test_the_telegram_desk_says_how_many_creole_readers_get_french(runtime: Runtime) -> None:
    population(runtime)
    options = {"districts": ["Saint-Laurent"], "now": runtime.clock.now(), "settings": runtime.settings}
    french_only = staff_preview(
        preview(runtime, Draft(districts=["saint-laurent"], text=FRENCH)), StaffTexts(), **options
    )
    assert (
        "Destinataires : 5 (Telegram 3, SMS 2).\nDont 2 qui lisent le kréol : ils recevront le texte en français"
        in (french_only)
    )
    both = preview(runtime, Draft(districts=["saint-laurent"], text=FRENCH, texts={"rcf": CREOLE}))
    assert "kréol" not in staff_preview(both, StaffTexts(), **options)


def test_the_command_line_takes_a_creole_version_and_its_dry_run_shows_it(sqlite_url: str) -> None:
    env = {"RELAI_DATABASE_URL": sqlite_url}
    runner = CliRunner()
    assert runner.invoke(app, ["seed", "--demo"], env=env).exit_code == 0
    runtime = make_runtime(sqlite_url, FrozenClock(datetime.now(UTC)))
    try:
        population(runtime)
    finally:
        runtime.close()
    command = ["broadcast", "--district", "saint-laurent", "--text", FRENCH]
    french_only = runner.invoke(app, [*command, "--dry-run"], env=env)
    assert "versions: fr=5 (chose another language, get French: rcf=2)" in french_only.stdout
    both = runner.invoke(app, [*command, "--text-rcf", CREOLE, "--dry-run"], env=env)
    assert both.exit_code == 0, both.output
    assert "versions: fr=3, rcf=2\n" in both.stdout
    assert "--- Telegram, rcf" in both.stdout and "Bonzour Jo ! Néna in forom travay sanmdi" in both.stdout
    refused = runner.invoke(app, [*command, "--text-rcf", "Bonzour {{ nom }}"], env=env)
    assert refused.exit_code == 2 and "Texte en kréol : Champ inconnu : {{ nom }}" in refused.stderr
    sent = runner.invoke(app, [*command, "--text-rcf", CREOLE], env=env)
    assert sent.exit_code == 0, sent.output
    db = Database(sqlite_url)
    with db.transaction() as session:
        assert [b.texts for b in session.exec(select(Broadcast))] == [{"rcf": CREOLE}]
    db.dispose()
