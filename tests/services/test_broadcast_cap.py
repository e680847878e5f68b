"""The weekly cap: one rule, counted the same way when a broadcast is enqueued and when each row goes."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from relai_bot.delivery.claims import claim_jobs
from relai_bot.services import broadcasts, outbox
from relai_bot.store.models import OutboxMessage
from relai_bot.wiring import Runtime
from tests.delivery_support import add_residents

CAP = 3


def _row(rid: int, key: str, now, **fields) -> dict:  # type: ignore[no-untyped-def]
    row = outbox.message_row(key=key, kind="broadcast", channel="telegram", address="10000", now=now, body="x")
    row.update({"resident_id": rid, "sent_at": None, **fields})
    return row


def test_received_broadcasts_count_by_when_they_went_out(any_runtime: Runtime) -> None:
    now = any_runtime.clock.now()
    with any_runtime.db.transaction() as session:
        (rid,) = add_residents(session, 1, now)
        outbox.enqueue_many(
            session,
            [
                # enqueued 10 days ago, held, sent 6 days ago: the resident got it this week
                _row(rid, "held", now - timedelta(days=10), status="sent", sent_at=now - timedelta(days=6)),
                # sent 8 days ago: last week
                _row(rid, "old", now - timedelta(days=9), status="sent", sent_at=now - timedelta(days=8)),
                # reached nobody
                _row(rid, "skipped", now - timedelta(days=1), status="skipped"),
                _row(rid, "failed", now - timedelta(days=1), status="failed", sent_at=now - timedelta(days=1)),
                # still waiting, a long time after it was enqueued: it is about to arrive
                _row(rid, "waiting", now - timedelta(days=12)),
            ],
        )
        assert broadcasts.broadcasts_in_week(session, [rid], now)[rid] == 2


def test_enqueue_and_send_agree_on_who_is_over_the_cap(any_runtime: Runtime) -> None:
    """Two received this week; one more may come. Enqueueing says so, and sending keeps to it."""
    runtime = any_runtime
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        (rid,) = add_residents(session, 1, now)
        outbox.enqueue_many(
            session, [_row(rid, f"sent{n}", now, status="sent", sent_at=now - timedelta(days=n + 1)) for n in range(2)]
        )
        first = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent"], text="un"),
            created_by="t",
            now=now,
            per_week=CAP,
        )
        second = broadcasts.create_broadcast(
            session,
            broadcasts.BroadcastDraft(districts=["saint-laurent"], text="deux"),
            created_by="t",
            now=now,
            per_week=CAP,
        )
        # Forced in behind the enqueue-time check (two staff at once): the send-time check must catch it
        outbox.enqueue_many(session, [_row(rid, "forced", now)])
    assert (first.recipients, second.recipients) == (1, 0)
    jobs, claimed = claim_jobs(runtime, "telegram", "w", 10)
    assert claimed == 2 and [job.reply.text.split("\n")[0] for job in jobs] == ["un"]
    with runtime.db.transaction() as session:
        forced = session.exec(select(OutboxMessage).where(OutboxMessage.key == "forced")).one()
        assert (forced.status, forced.error) == ("skipped", "weekly_cap")
