"""The message log's one set of rules (services.message_log), whoever reports: a channel, the delivery engine
or a provider's delivery report. Through DeliveryRecords, the service the channels are handed."""

from __future__ import annotations

import itertools

import pytest
from sqlmodel import select

from relai_bot.services import message_log, residents
from relai_bot.services.delivery_records import DeliveryRecords, Sent
from relai_bot.services.message_log import moves_forward
from relai_bot.store.models import MessageLog
from relai_bot.wiring import Runtime

_addresses = itertools.count(1)


@pytest.fixture
def records(any_runtime: Runtime) -> DeliveryRecords:
    return DeliveryRecords(any_runtime.db, any_runtime.clock)


def logged(runtime: Runtime, channel: str, count: int = 1) -> list[int]:
    """Out rows of a fresh resident, as a turn writes them before sending."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        resident = residents.create_resident(session, channel, f"address-{next(_addresses)}", now)
        assert resident.id is not None
        bodies = [f"message {n}" for n in range(count)]
        return message_log.log_outbound(session, resident_id=resident.id, channel=channel, bodies=bodies, now=now)


def row(runtime: Runtime, log_id: int) -> MessageLog:
    with runtime.db.transaction() as session:
        found = session.get(MessageLog, log_id)
        assert found is not None
        session.expunge(found)
        return found


def accepted_by_the_outbox(runtime: Runtime, log_id: int, provider_id: str) -> None:
    """What the delivery engine writes when a send succeeded (delivery/results.py)."""
    with runtime.db.transaction() as session:
        message_log.record_sent(session, [log_id], provider_message_id=provider_id, status="accepted")


def test_a_status_never_moves_back() -> None:
    assert moves_forward(None, "queued") and moves_forward("accepted", "sent") and moves_forward("sent", "delivered")
    assert not moves_forward("sent", "queued") and not moves_forward("sent", "accepted")
    assert not moves_forward("delivered", "sent") and not moves_forward("failed", "delivered")
    assert moves_forward("delivered", "read")


def test_a_late_sent_after_delivered_changes_nothing_whoever_reports_it(
    any_runtime: Runtime, records: DeliveryRecords
) -> None:
    [log_id] = logged(any_runtime, "sms")
    records.record_sent(Sent((log_id,), "SM1", "queued", "GSM-7", 1))
    assert records.record_report("sms", "SM1", "delivered", None).changed
    records.record_sent(Sent((log_id,), "SM1", "sent"))  # the channel again
    accepted_by_the_outbox(any_runtime, log_id, "SM1")  # the delivery engine
    late = records.record_report("sms", "SM1", "sent", None)  # the provider, out of order
    assert late.found and not late.changed
    found = row(any_runtime, log_id)
    assert (found.status, found.provider_message_id, found.encoding, found.segments) == ("delivered", "SM1", "GSM-7", 1)


def test_a_provider_id_is_written_once(any_runtime: Runtime, records: DeliveryRecords) -> None:
    [log_id] = logged(any_runtime, "telegram")
    accepted_by_the_outbox(any_runtime, log_id, "42:7")
    assert row(any_runtime, log_id).status == "accepted"
    records.record_sent(Sent((log_id,), "42:7"))  # the channel's own record comes after: the status moves on
    records.record_sent(Sent((log_id,), "42:8"))  # another id for the same row: ignored
    found = row(any_runtime, log_id)
    assert (found.provider_message_id, found.status) == ("42:7", "sent")


def test_an_attempt_that_failed_is_replaced_when_the_provider_takes_the_message(
    any_runtime: Runtime, records: DeliveryRecords
) -> None:
    [log_id] = logged(any_runtime, "sms")
    records.record_not_sent([log_id], "failed", "30008")
    assert (row(any_runtime, log_id).status, row(any_runtime, log_id).error_code) == ("failed", "30008")
    records.record_sent(Sent((log_id,), "SM2", "queued", "GSM-7", 1))  # a retry went through
    assert (row(any_runtime, log_id).status, row(any_runtime, log_id).provider_message_id) == ("queued", "SM2")
    records.record_not_sent([log_id], "unknown", "timeout")  # too late: the provider has it
    assert row(any_runtime, log_id).status == "queued"


def test_replies_sent_as_one_message_are_merged_into_the_first(any_runtime: Runtime, records: DeliveryRecords) -> None:
    first, second, third = logged(any_runtime, "sms", count=3)
    records.record_sent(Sent((first, second, third), "SM3", "queued", "UCS-2", 2))
    merged = [row(any_runtime, log_id) for log_id in (second, third)]
    assert [(r.status, r.segments, r.provider_message_id, r.encoding) for r in merged] == [
        ("merged", 0, None, "UCS-2")
    ] * 2
    records.record_not_sent([second, third], "failed", "not_tried")
    assert {row(any_runtime, log_id).status for log_id in (second, third)} == {"merged"}
    assert row(any_runtime, first).segments == 2


def test_not_sent_marks_only_rows_the_provider_did_not_take(any_runtime: Runtime, records: DeliveryRecords) -> None:
    taken, untaken, suppressed = logged(any_runtime, "telegram", count=3)
    records.record_sent(Sent((taken,), "42:9"))
    records.record_not_sent([taken, untaken], "failed", "403")
    records.record_not_sent([suppressed], "suppressed")
    assert [row(any_runtime, i).status for i in (taken, untaken, suppressed)] == ["sent", "failed", "suppressed"]
    assert row(any_runtime, untaken).error_code == "403" and row(any_runtime, taken).error_code is None


def test_inbound_messages_keep_the_provider_id_apart(any_runtime: Runtime) -> None:
    now = any_runtime.clock.now()
    with any_runtime.db.transaction() as session:
        resident = residents.create_resident(session, "sms", "+262692123456", now)
        assert resident.id is not None
        message_log.log_inbound(
            session, resident_id=resident.id, channel="sms", body="bonjour", now=now, message_id="SM4"
        )
        message_log.log_outbound(session, resident_id=resident.id, channel="sms", bodies=["Bonjour !"], now=now)
    with any_runtime.db.transaction() as session:
        rows = session.exec(select(MessageLog).order_by(MessageLog.id)).all()  # type: ignore[arg-type]
        assert [(r.direction, r.provider_message_id) for r in rows] == [("in", "in:SM4"), ("out", None)]
