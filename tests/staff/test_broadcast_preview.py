"""The broadcast composer's preview: it agrees with what is enqueued and with what the provider receives."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from relai_bot.cli import _wait_for_delivery, app
from relai_bot.clock import FrozenClock
from relai_bot.delivery.claims import claim_jobs
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.services import accounts, broadcasts, outbox
from relai_bot.services.broadcast_text import BroadcastTextError
from relai_bot.services.errors import OutOfScope
from relai_bot.staff import compose
from relai_bot.staff.preview_text import preview_lines
from relai_bot.store.db import Database
from relai_bot.store.models import Broadcast, ChannelAddress, OutboxMessage, Resident, StaffUser
from relai_bot.wiring import Runtime
from tests.conftest import make_runtime
from tests.delivery_support import add_residents
from tests.sms_harness import sms_stack

TZ = ZoneInfo("Indian/Reunion")
Draft = broadcasts.BroadcastDraft


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ).astimezone(UTC)


def people(runtime: Runtime, *, sms_names: tuple[str | None, ...] = (None, None)) -> None:
    """Saint-Laurent: 3 on Telegram (one aged 18-25), SMS residents aged 18-25 (named as given, numbers
    +262692000001, ...), one who said no, one at the weekly cap (3 broadcasts received this week)."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        telegram = add_residents(session, 3, now)
        sms = add_residents(session, len(sms_names), now, channel="sms", first_address=262692000001)
        for row in session.exec(select(ChannelAddress).where(col(ChannelAddress.resident_id).in_(sms))):
            row.address = "+" + row.address
        for rid, name in zip(sms, sms_names, strict=True):
            resident = session.get(Resident, rid)
            assert resident is not None
            resident.display_name, resident.age_bracket = name, "18-25"
        young = session.get(Resident, telegram[0])
        assert young is not None
        young.age_bracket = "18-25"
        add_residents(session, 1, now, first_address=20_000, opportunities=False)
        (capped,) = add_residents(session, 1, now, first_address=20_001)
        received = [
            {
                **outbox.message_row(key=f"old{n}", kind="broadcast", channel="telegram", address="20001", now=now),
                "resident_id": capped,
                "status": "sent",
                "sent_at": now - timedelta(days=1),
            }
            for n in range(3)
        ]
        outbox.enqueue_many(session, received)


def preview(runtime: Runtime, draft: broadcasts.BroadcastDraft) -> compose.BroadcastPreview:
    with runtime.db.transaction() as session:
        return compose.preview(
            session, draft, renderer=runtime.renderer, settings=runtime.settings, now=runtime.clock.now()
        )


def submit(runtime: Runtime, draft: broadcasts.BroadcastDraft, author_id: int | None = None) -> compose.Submitted:
    with runtime.db.transaction() as session:
        return compose.submit(
            session,
            draft,
            renderer=runtime.renderer,
            settings=runtime.settings,
            now=runtime.clock.now(),
            created_by="t",
            author=accounts.get_account(session, author_id) if author_id is not None else None,
        )


@pytest.mark.parametrize(
    "draft",
    [
        Draft(districts=["saint-laurent"], text="Atelier CV mardi"),
        Draft(districts=["saint-laurent", "pichette"], text="Bonjour {{ prenom }}", age_brackets=["18-25"]),
    ],
    ids=["all", "filtered"],
)
def test_the_preview_and_the_enqueue_agree(any_runtime: Runtime, draft: broadcasts.BroadcastDraft) -> None:
    people(any_runtime)
    shown = preview(any_runtime, draft)
    done = submit(any_runtime, draft)
    assert done.preview == shown
    assert done.broadcast.recipients == shown.recipients and done.broadcast.excluded == shown.excluded
    with any_runtime.db.transaction() as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == done.broadcast.id)).all()
    by_channel: dict[str, int] = {}
    for row in rows:
        by_channel[row.channel] = by_channel.get(row.channel, 0) + 1
    assert by_channel == shown.by_channel
    if draft.age_brackets:
        assert shown.by_channel == {"telegram": 1, "sms": 2} and shown.excluded == {}
    else:
        assert shown.by_channel == {"telegram": 3, "sms": 2}
        assert shown.excluded == {"no_opportunities": 1, "weekly_cap": 1}


async def test_the_sms_preview_is_what_twilio_receives(sqlite_url: str, clock: FrozenClock) -> None:
    settings: dict[str, object] = {"twilio_one_way_from": "MAIRIE", "sms_opt_out_mention": "STOP au 36111"}
    async with sms_stack(sqlite_url, clock, **settings) as stack:
        runtime = stack.runtime
        people(runtime, sms_names=("Marie-Thérèse", None))
        draft = Draft(
            districts=["saint-laurent"],
            title="Forum de l’emploi",
            text="Bonjour {{ prenom }} ! « Venez » à la médiathèque de {{ quartier }}, c’est ouvert à tous…",
            venue="mediatheque-heva",
            event_at=local(2026, 12, 5, 9, 0),
        )
        done = submit(runtime, draft)
        shown = done.preview
        worker = DeliveryWorker(runtime, {"sms": stack.channel}, poll_seconds=0.01)
        await worker.drain()
        await worker.stop()
        received = {m.to: m for m in stack.srv.messages}
        first = received["+262692000001"]
        assert [first.body] == shown.sms.messages
        assert (
            'Bonjour Marie-Thérèse ! "Venez"' in first.body
            and "tous..." in first.body
            and first.body.endswith("STOP au 36111")
        )
        assert (first.encoding, first.segments) == (shown.sms.encoding, shown.sms.segments)
        assert first.from_ == "MAIRIE"
        assert shown.sms_estimate.segments_max == max(m.segments for m in received.values())
        assert shown.sms_estimate.segments_total == sum(m.segments for m in received.values())
        assert shown.sms_estimate.cost == Decimal(shown.sms_estimate.segments_total) * Decimal("0.07")
        assert stack.srv.violations == []


def test_the_largest_segment_count_over_the_audience_is_shown(runtime: Runtime) -> None:
    people(runtime, sms_names=("Jo", "Marie-Christine-Angélique-Bénédicte"))
    text = "Bonjour {{ prenom }}, " + "x" * (160 - len("Bonjour Jo, "))
    shown = preview(runtime, Draft(districts=["saint-laurent"], text=text))
    assert shown.sms.segments == 1  # the sample: the first SMS recipient, Jo
    assert (shown.sms_estimate.segments_max, shown.sms_estimate.segments_total) == (2, 3)
    assert shown.sms_estimate.cost == Decimal("0.21")


def test_approval_above_a_size_or_a_cost(sqlite_url: str, clock: FrozenClock) -> None:
    runtime = make_runtime(sqlite_url, clock, broadcast_approval_above=4, broadcast_approval_cost=Decimal("0.10"))
    try:
        people(runtime)
        with runtime.db.transaction() as session:
            author = StaffUser(login="alice", name="Alice", role="admin")
            session.add(author)
            session.flush()
            author_id = author.id
        small = submit(runtime, Draft(districts=["saint-laurent"], text="x", age_brackets=["18-25"]))
        assert small.preview.approval == ["SMS cost 0.14 EUR > RELAI_BROADCAST_APPROVAL_COST=0.10"]
        big = submit(runtime, Draft(districts=["saint-laurent"], text="x"), author_id=author_id)
        assert big.preview.approval[0] == "5 recipients > RELAI_BROADCAST_APPROVAL_ABOVE=4"
        assert big.broadcast.status == "pending_approval" and big.broadcast.recipients == 0
        with runtime.db.transaction() as session:
            assert session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == big.broadcast.id)).all() == []
        assert compose.approval_reasons(4, Decimal("0.10"), runtime.settings) == []
    finally:
        runtime.close()


def test_scheduling_respects_quiet_hours_sundays_and_holidays(runtime: Runtime) -> None:
    people(runtime)
    saturday_night = local(2026, 12, 5, 21, 0)
    shown = preview(runtime, Draft(districts=["saint-laurent"], text="x", scheduled_at=saturday_night))
    assert shown.starts_at == local(2026, 12, 7, 8, 0)  # Monday morning
    assert preview(runtime, Draft(districts=["saint-laurent"], text="x")).starts_at == runtime.clock.now()
    christmas = preview(runtime, Draft(districts=["saint-laurent"], text="x", scheduled_at=local(2026, 12, 25, 10, 0)))
    assert christmas.starts_at == local(2026, 12, 26, 8, 0)
    done = submit(runtime, Draft(districts=["saint-laurent"], text="x", scheduled_at=saturday_night))
    assert claim_jobs(runtime, "telegram", "w", 50)[0] == []  # not due before its time
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    clock.set(saturday_night)
    assert claim_jobs(runtime, "telegram", "w", 50)[0] == []  # due, held by the rest day
    with runtime.db.transaction() as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == done.broadcast.id)).all()
        assert {r.next_attempt_at for r in rows if r.channel == "telegram"} == {shown.starts_at}
    with pytest.raises(BroadcastTextError, match="déjà passée"):
        preview(runtime, Draft(districts=["saint-laurent"], text="x", scheduled_at=local(2026, 12, 1, 8, 0)))


def test_filters_must_be_answers_residents_could_give(runtime: Runtime) -> None:
    with pytest.raises(
        BroadcastTextError, match=re.escape("Valeur inconnue pour age : '99-120'. Valeurs possibles : 16-17")
    ):
        preview(runtime, Draft(districts=["saint-laurent"], text="x", age_brackets=["99-120"]))
    with pytest.raises(BroadcastTextError, match=re.escape("Champ inconnu : {{ nom }}")):
        preview(runtime, Draft(districts=["saint-laurent"], text="Bonjour {{ nom }}"))
    with pytest.raises(BroadcastTextError, match=re.escape("Valeur inconnue pour goal : 'peche'")):
        preview(runtime, Draft(districts=["saint-laurent"], text="x", goals=["peche"]))


def test_the_goal_filter_keeps_who_answered_it(runtime: Runtime) -> None:
    people(runtime)
    with runtime.db.transaction() as session:
        first = session.exec(select(Resident).order_by(col(Resident.id))).first()
        assert first is not None
        first.goal = "formation"
    shown = preview(runtime, Draft(districts=["saint-laurent"], text="x", goals=["formation"]))
    assert shown.recipients == shown.matched == 1
    done = submit(runtime, Draft(districts=["saint-laurent"], text="x", goals=["formation"]))
    assert done.broadcast.recipients == 1 and done.broadcast.filters == {"goals": ["formation"]}


def test_staff_preview_and_send_to_their_own_districts_only(runtime: Runtime) -> None:
    people(runtime)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        agent, _ = accounts.create_account(
            session, email="agent@mairie.re", name="A", role="staff", districts=["saint-laurent"], now=now
        )
        adviser, _ = accounts.create_account(session, email="c@mairie.re", name="C", role="adviser", now=now)
        admin, _ = accounts.create_account(session, email="a@mairie.re", name="B", role="admin", now=now)
    own = Draft(districts=["saint-laurent"], text="x")
    both = Draft(districts=["saint-laurent", "pichette"], text="x")
    settings = runtime.settings
    with runtime.db.transaction() as session:
        options = {"renderer": runtime.renderer, "settings": settings, "now": now}
        assert compose.preview(session, own, account=agent, **options).recipients == 5
        with pytest.raises(OutOfScope, match="Pichette"):
            compose.preview(session, both, account=agent, **options)
        with pytest.raises(OutOfScope):
            compose.submit(session, own, created_by="c", author=adviser, **options)
        assert compose.submit(session, both, created_by="a", author=admin, **options).broadcast.author_id == admin.id
        assert session.exec(select(Broadcast).where(Broadcast.author_id == agent.id)).all() == []


def test_dry_run_prints_the_preview_and_sends_nothing(sqlite_url: str) -> None:
    env = {"RELAI_DATABASE_URL": sqlite_url}
    runner = CliRunner()
    assert runner.invoke(app, ["seed", "--demo"], env=env).exit_code == 0
    db = Database(sqlite_url)
    with db.transaction() as session:
        add_residents(session, 2, datetime.now(UTC))
        add_residents(session, 1, datetime.now(UTC), channel="sms", first_address=262692000001)
    command = [
        "broadcast",
        "--district",
        "Saint-Laurent",
        "--text",
        "Forum {{ quartier }}",
        "--title",
        "Forum",
        "--schedule",
        "2030-01-05 21:00",
        "--dry-run",
    ]
    result = runner.invoke(app, command, env=env)
    assert result.exit_code == 0, result.output
    runtime = make_runtime(sqlite_url, FrozenClock(datetime.now(UTC)))
    try:
        draft = Draft(
            districts=["Saint-Laurent"],
            text="Forum {{ quartier }}",
            title="Forum",
            scheduled_at=local(2030, 1, 5, 21, 0),
        )
        shown = preview(runtime, draft)
    finally:
        runtime.close()
    assert result.stdout == "\n".join(preview_lines(shown, TZ)) + "\n"
    assert "starts: 2030-01-07 08:00 (Monday)" in result.stdout and "Forum Saint-Laurent" in result.stdout
    with db.transaction() as session:
        assert session.exec(select(Broadcast)).all() == [] and session.exec(select(OutboxMessage)).all() == []
    db.dispose()


def test_the_commands_approve_interrupt_and_report(sqlite_url: str, tmp_path: Path) -> None:
    env = {"RELAI_DATABASE_URL": sqlite_url, "RELAI_BROADCAST_APPROVAL_ABOVE": "1"}
    runner = CliRunner()
    assert runner.invoke(app, ["seed", "--demo"], env=env).exit_code == 0
    db = Database(sqlite_url)
    with db.transaction() as session:
        add_residents(session, 2, datetime.now(UTC))
        session.add(StaffUser(login="alice", name="Alice", role="admin"))
    sent = runner.invoke(app, ["broadcast", "--district", "saint-laurent", "--text", "x", "--by", "admin"], env=env)
    assert sent.stdout == (
        "broadcast 1: waiting for approval by an admin other than its author "
        "(2 recipients > RELAI_BROADCAST_APPROVAL_ABOVE=1)\n"
    )
    refused = runner.invoke(app, ["broadcast", "approve", "1", "--by", "admin"], env=env)
    assert refused.exit_code == 2 and "another admin must approve it" in refused.stderr
    approved = runner.invoke(app, ["broadcast", "approve", "1", "--by", "alice"], env=env)
    assert approved.stdout == "broadcast 1: approved by alice; 2 recipients enqueued; left out: nobody\n"
    report = runner.invoke(app, ["broadcast", "report", "1", "--csv", str(tmp_path / "r.csv")], env=env)
    assert report.stdout.startswith("broadcast 1: sending; 0/2 settled\nstatus: pending=2\n")
    csv_text = (tmp_path / "r.csv").read_text(encoding="utf-8")
    assert csv_text.splitlines() == [
        "dimension,value,status,count",
        "status,all,pending,2",
        "district,Saint-Laurent,pending,2",
        "channel,telegram,pending,2",
    ]
    stopped = runner.invoke(app, ["broadcast", "interrupt", "1"], env=env)
    assert stopped.stdout == "broadcast 1: interrupted; 2 messages not sent\n"
    assert runner.invoke(app, ["broadcast", "report", "9"], env=env).exit_code == 2
    db.dispose()


def test_wait_shows_progress_until_delivery_ends(runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    people(runtime)
    done = submit(runtime, Draft(districts=["saint-laurent"], text="x"))
    assert done.broadcast.id is not None
    polls: list[float] = []

    def deliver_some(seconds: float) -> None:
        polls.append(seconds)
        with runtime.db.transaction() as session:
            row = session.exec(select(OutboxMessage).where(OutboxMessage.status == "pending")).first()
            assert row is not None
            row.status, row.sent_at = "sent", runtime.clock.now() + timedelta(seconds=len(polls))

    _wait_for_delivery(runtime, done.broadcast.id, deliver_some)
    assert len(polls) == 5
    assert capsys.readouterr().out.endswith(f"broadcast {done.broadcast.id}: done; rows: sent=5\n")


def test_the_text_may_come_from_a_file(sqlite_url: str, tmp_path: Path) -> None:
    env = {"RELAI_DATABASE_URL": sqlite_url}
    runner = CliRunner()
    assert runner.invoke(app, ["seed", "--demo"], env=env).exit_code == 0
    db = Database(sqlite_url)
    with db.transaction() as session:
        add_residents(session, 1, datetime.now(UTC))
    message = tmp_path / "forum.txt"
    message.write_text("Forum de l'emploi à {{ quartier }}.\nVenez nombreux.\n", encoding="utf-8")
    sent = runner.invoke(app, ["broadcast", "--district", "saint-laurent", "--file", str(message)], env=env)
    assert sent.exit_code == 0, sent.output
    with db.transaction() as session:
        assert [r.body for r in session.exec(select(OutboxMessage))] == [
            "Forum de l'emploi à Saint-Laurent.\nVenez nombreux."
        ]
    both = ["broadcast", "--district", "saint-laurent", "--file", str(message), "--text", "x"]
    assert runner.invoke(app, both, env=env).exit_code == 2
    missing = runner.invoke(app, ["broadcast", "--district", "saint-laurent", "--file", str(tmp_path / "no")], env=env)
    assert missing.exit_code == 2 and "nothing sent" in missing.stderr
    db.dispose()
