"""The one "handled once" guard (services.dedup): the engine's provider message ids and the channels' markers."""

from __future__ import annotations

from relai_bot.services import dedup
from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.wiring import Runtime


def test_a_key_is_new_once_per_channel(any_runtime: Runtime) -> None:
    now = any_runtime.clock.now()
    with any_runtime.db.transaction() as session:
        assert dedup.first_time(session, "sms", "SM1", now)
        assert not dedup.first_time(session, "sms", "SM1", now)
        assert dedup.first_time(session, "telegram", "SM1", now)
    with any_runtime.db.transaction() as session:  # and it stays known in later transactions
        assert not dedup.first_time(session, "sms", "SM1", now)


def test_a_long_key_counts_by_its_first_characters(any_runtime: Runtime) -> None:
    now = any_runtime.clock.now()
    long = "x" * dedup.KEY_CHARS
    with any_runtime.db.transaction() as session:
        assert dedup.first_time(session, "telegram", long + "-a", now)
        assert not dedup.first_time(session, "telegram", long + "-b", now)


def test_channels_and_the_engine_share_the_guard(any_runtime: Runtime) -> None:
    records = DeliveryRecords(any_runtime.db, any_runtime.clock)
    assert records.first_time("telegram", "private-only:-100")
    assert not records.first_time("telegram", "private-only:-100")
    with any_runtime.db.transaction() as session:
        assert not dedup.first_time(session, "telegram", "private-only:-100", any_runtime.clock.now())
