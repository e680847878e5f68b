"""The broadcast composer's services: one audience rule, placeholders, approval, interruption, report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from relai_bot.delivery.claims import claim_jobs
from relai_bot.services import audit, broadcast_reports, broadcasts, outbox
from relai_bot.services.broadcast_text import BroadcastTextError, Personal, check_text, personalise
from relai_bot.services.errors import ApprovalRefused, BroadcastClosed, NotFound
from relai_bot.store.models import Broadcast, OutboxMessage, Resident, StaffUser
from relai_bot.wiring import Runtime
from tests.delivery_support import add_residents

CAP = 3


def _staff(session: Session, login: str, role: str = "admin") -> int:
    user = StaffUser(login=login, name=login, role=role)
    session.add(user)
    session.flush()
    assert user.id is not None
    return user.id


def population(runtime: Runtime) -> dict[str, list[int]]:
    """Saint-Laurent: 3 on Telegram (one 18-25 job seeker named Marie), 2 by SMS, one who said no, one
    stopped, one at the weekly cap; Moulin Joli: 2 on Telegram."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        telegram = add_residents(session, 3, now)
        sms = add_residents(session, 2, now, channel="sms", first_address=692_000_000)
        no = add_residents(session, 1, now, first_address=20_000, opportunities=False)
        stopped = add_residents(session, 1, now, first_address=20_001)
        capped = add_residents(session, 1, now, first_address=20_002)
        elsewhere = add_residents(session, 2, now, district="moulin-joli", first_address=30_000)
        marie = session.get(Resident, telegram[0])
        assert marie is not None
        marie.display_name, marie.age_bracket, marie.situation = "Marie", "18-25", "demandeur_emploi"
        for rid in sms:
            resident = session.get(Resident, rid)
            assert resident is not None
            resident.age_bracket = "18-25"
        resident = session.get(Resident, stopped[0])
        assert resident is not None
        resident.stopped_at = now
        for n in range(CAP):
            broadcasts.create_broadcast(
                session,
                broadcasts.BroadcastDraft(districts=["moulin-joli"], text=f"old {n}"),
                created_by="t",
                now=now,
                per_week=CAP,
            )
        session.execute(update(OutboxMessage).values(resident_id=capped[0]))
    return {"telegram": telegram, "sms": sms, "no": no, "stopped": stopped, "capped": capped, "elsewhere": elsewhere}


def test_the_audience_and_the_enqueue_agree(any_runtime: Runtime) -> None:
    runtime = any_runtime
    ids = population(runtime)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        found = broadcasts.audience(session, districts=["Saint-Laurent"], now=now, per_week=CAP)
        assert found.by_channel == {"telegram": 3, "sms": 2}
        assert found.excluded == {"no_opportunities": 1, "stopped": 1, "weekly_cap": 1}
        assert found.matched == 8
        young = broadcasts.audience(session, districts=["saint-laurent"], age_brackets=["18-25"], now=now, per_week=CAP)
        assert young.by_channel == {"telegram": 1, "sms": 2} and young.excluded == {}
        seekers = broadcasts.audience(
            session, districts=["saint-laurent", "moulin-joli"], situations=["demandeur_emploi"], now=now, per_week=CAP
        )
        assert [r.resident_id for r in seekers.recipients] == [ids["telegram"][0]]
        both = broadcasts.audience(session, districts=["saint-laurent", "moulin-joli"], now=now, per_week=CAP)
        assert both.by_district == {"Saint-Laurent": 5, "Moulin Joli": 2}
    draft = broadcasts.BroadcastDraft(districts=["saint-laurent"], text="Atelier CV", age_brackets=["18-25"])
    with runtime.db.transaction() as session:
        preview = broadcasts.audience(
            session, districts=draft.districts, age_brackets=draft.age_brackets, now=now, per_week=CAP
        )
        sent = broadcasts.create_broadcast(session, draft, created_by="t", now=now, per_week=CAP)
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == sent.id)).all()
        assert sent.filters == {"age_brackets": ["18-25"]}
    assert sent.recipients == len(preview.recipients) == 3 and sent.excluded == preview.excluded
    assert sorted((r.resident_id, r.channel) for r in rows) == sorted(
        (r.resident_id, r.channel) for r in preview.recipients
    )


def test_placeholders_are_filled_in_for_each_recipient(any_runtime: Runtime) -> None:
    runtime = any_runtime
    ids = population(runtime)
    with runtime.db.transaction() as session:
        sent = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent"], text="Bonjour {{ prenom }}, forum à {{quartier}} !"),
            created_by="t",
            now=runtime.clock.now(),
            per_week=CAP,
        )
        bodies = {
            r.resident_id: r.body
            for r in session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == sent.id))
        }
    assert bodies[ids["telegram"][0]] == "Bonjour Marie, forum à Saint-Laurent !"
    assert bodies[ids["sms"][0]] == "Bonjour, forum à Saint-Laurent !"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Bonjour {{ nom }}", "Champ inconnu : {{ nom }}. Champs possibles : {{ prenom }}, {{ quartier }}."),
        ("{% include 'broadcast/message.j2' %}", "Les balises {% ... %} ne sont pas acceptées."),
        ("{{ prenom.__class__ }}", "Seuls des champs simples sont acceptés"),
        ("{{ prenom | upper }}", "Seuls des champs simples sont acceptés"),
        ("Bonjour {{ prenom", "Accolades mal formées ligne 1"),
        ("   ", "Le texte est vide."),
    ],
)
def test_placeholder_errors_name_the_problem_in_french(text: str, error: str) -> None:
    with pytest.raises(BroadcastTextError) as raised:
        check_text(text)
    assert str(raised.value).startswith(error)


def test_personalise_drops_an_unknown_first_name_with_its_space() -> None:
    assert personalise("Bonjour {{ prenom }} !", Personal(None, "Pichette")) == "Bonjour !"
    assert personalise("{{ prenom }}, à {{ quartier }}", Personal("Léa", "Pichette")) == "Léa, à Pichette"
    assert personalise("Rien à remplacer { }", Personal(None, "x")) == "Rien à remplacer { }"


def test_a_draft_with_an_unknown_scheme_or_a_bad_link_is_refused(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        with pytest.raises(NotFound):
            broadcasts.check_draft(session, broadcasts.BroadcastDraft(districts=["pichette"], text="x", scheme="zzz"))
        with pytest.raises(BroadcastTextError, match="https://"):
            broadcasts.check_draft(session, broadcasts.BroadcastDraft(districts=["pichette"], text="x", link="ftp:x"))
        with pytest.raises(BroadcastTextError, match="quartier"):
            broadcasts.check_draft(session, broadcasts.BroadcastDraft(districts=[], text="x"))


def test_approval_holds_the_broadcast_and_refuses_its_author(any_runtime: Runtime) -> None:
    runtime = any_runtime
    population(runtime)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        author, other, staff = _staff(session, "alice"), _staff(session, "bob"), _staff(session, "carl", "staff")
        held = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent"], text="Grand forum"),
            created_by="alice",
            author_id=author,
            now=now,
            per_week=CAP,
            hold_for_approval=True,
        )
        assert held.id is not None and held.status == "pending_approval" and held.recipients == 0
        assert session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == held.id)).all() == []
        with pytest.raises(ApprovalRefused, match="another admin"):
            broadcasts.approve(session, held.id, author, now, per_week=CAP)
        with pytest.raises(ApprovalRefused, match="not an admin"):
            broadcasts.approve(session, held.id, staff, now, per_week=CAP)
        with pytest.raises(NotFound):
            broadcasts.approve(session, 999, other, now, per_week=CAP)
    later = now + timedelta(hours=1)
    with runtime.db.transaction() as session:
        approved = broadcasts.approve(session, held.id, other, later, per_week=CAP)
        assert (approved.status, approved.approved_by_id, approved.approved_at) == ("queued", other, later)
        assert approved.recipients == 5
        with pytest.raises(ApprovalRefused, match="not waiting"):
            broadcasts.approve(session, held.id, other, later, per_week=CAP)


def test_interrupt_skips_the_pending_rows_only(any_runtime: Runtime) -> None:
    runtime = any_runtime
    population(runtime)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        sent = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent"], text="x"),
            created_by="t",
            now=now,
            per_week=CAP,
        )
        assert sent.id is not None
        broadcast_id = sent.id
    jobs, _ = claim_jobs(runtime, "sms", "w", 1)  # one SMS in flight
    assert len(jobs) == 1
    with runtime.db.transaction() as session:
        assert broadcasts.interrupt(session, broadcast_id, now) == 4
        with pytest.raises(BroadcastClosed):
            broadcasts.interrupt(session, broadcast_id, now)
    with runtime.db.transaction() as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id)).all()
        assert sorted((r.status, r.error) for r in rows) == [("sending", None)] + [("skipped", "interrupted")] * 4
        report = broadcast_reports.broadcast_report(session, broadcast_id, now)
        assert report.state == "interrupted" and report.by_status == {"sending": 1, "skipped": 4}
        broadcast = session.get(Broadcast, broadcast_id)
        assert broadcast is not None and broadcast.interrupted_at == now
    # the SMS in flight comes back to be tried again (its worker stopped): it does not go any more
    with runtime.db.transaction() as session:
        outbox.release(session, [jobs[0].row_id], now)
    assert claim_jobs(runtime, "sms", "w", 5)[0] == []
    with runtime.db.transaction() as session:
        assert broadcast_reports.broadcast_report(session, broadcast_id, now).by_status == {"skipped": 5}


def test_the_report_counts_by_status_district_and_channel(any_runtime: Runtime) -> None:
    runtime = any_runtime
    population(runtime)
    now = runtime.clock.now()
    later = now + timedelta(days=1)
    with runtime.db.transaction() as session:
        sent = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent", "moulin-joli"], text="x", scheduled_at=later),
            created_by="t",
            now=now,
            per_week=CAP,
        )
        assert sent.id is not None
        broadcast_id = sent.id
        assert {
            r.due_at for r in session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id))
        } == {later}
        assert broadcast_reports.broadcast_report(session, broadcast_id, now).state == "scheduled"
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.broadcast_id) == broadcast_id, col(OutboxMessage.channel) == "sms")
            .values(status="delivered", sent_at=now)
        )
    with runtime.db.transaction() as session:
        report = broadcast_reports.broadcast_report(session, broadcast_id, later)
    assert report.state == "sending" and report.total == 7 and report.settled == 2
    assert report.by_status == {"pending": 5, "delivered": 2}
    assert report.by_district == {"Moulin Joli": {"pending": 2}, "Saint-Laurent": {"pending": 3, "delivered": 2}}
    assert report.by_channel == {"sms": {"delivered": 2}, "telegram": {"pending": 5}}
    assert report.csv_rows() == [
        ("status", "all", "pending", 5),
        ("status", "all", "delivered", 2),
        ("district", "Moulin Joli", "pending", 2),
        ("district", "Saint-Laurent", "pending", 3),
        ("district", "Saint-Laurent", "delivered", 2),
        ("channel", "sms", "delivered", 2),
        ("channel", "telegram", "pending", 5),
        ("excluded", "no_opportunities", "", 1),
        ("excluded", "stopped", "", 1),
        ("excluded", "weekly_cap", "", 1),
    ]
    with runtime.db.transaction() as session, pytest.raises(NotFound):
        broadcast_reports.broadcast_report(session, 999, now)


def test_the_content_reaches_the_message_as_sent(runtime: Runtime) -> None:
    population(runtime)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(
                districts=["saint-laurent"],
                text="Venez avec votre CV.",
                title="Job dating",
                link="https://lapossession.re/emploi",
                venue="mediatheque-heva",
                event_at=now + timedelta(days=3),
            ),
            created_by="t",
            now=now,
            per_week=CAP,
        )
    jobs, _ = claim_jobs(runtime, "telegram", "w", 20)
    [text, *_] = [job.reply.text for job in jobs if job.reply.text.startswith("Job dating")]
    assert text.startswith("Job dating\n\nVenez avec votre CV.\n\nQuand : vendredi 4 décembre à 10 h.")
    assert "Lieu : Médiathèque Heva" in text and "Plus d'infos : https://lapossession.re/emploi" in text


def test_broadcast_actions_go_to_the_audit_log_without_their_text(runtime: Runtime) -> None:
    population(runtime)
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        author, other = _staff(session, "alice"), _staff(session, "bob")
        held = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent"], text="Grand forum secret"),
            created_by="alice",
            author_id=author,
            now=now,
            per_week=CAP,
            hold_for_approval=True,
        )
        assert held.id is not None
        broadcasts.approve(session, held.id, other, now, per_week=CAP)
        broadcasts.interrupt(session, held.id, now, actor="cli")
        events = [
            e
            for e in audit.list_events(session, audit.AuditFilter(action="broadcast"))
            if e.target.endswith(f" {held.id}")
        ]
    assert [(e.action, e.actor_id, e.target) for e in reversed(events)] == [
        (audit.BROADCAST_CREATED, author, f"broadcast {held.id}"),
        (audit.BROADCAST_APPROVED, other, f"broadcast {held.id}"),
        (audit.BROADCAST_INTERRUPTED, None, f"broadcast {held.id}"),
    ]
    assert events[0].actor == "cli"
    assert all("secret" not in str(e.detail) for e in events)
