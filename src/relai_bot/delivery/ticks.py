"""The scheduler's jobs: stateless ticks over the database, safe on several instances (scheduler.py
registers them, and says when each runs).

Each tick is idempotent (outbox keys are unique, waitlist offers are taken with conditional updates
under a slot lock), so a restart repeats nothing and two `serve` processes may both run them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col

from relai_bot.delivery.adviser_messages import notify_adviser
from relai_bot.services import digest, quiet_hours, reminders, retention, waitlist
from relai_bot.services.agenda import SLOT_WEEKS_AHEAD, extend_slots
from relai_bot.store.models import Conversation, ProcessedMessage, id_of
from relai_bot.wiring import Runtime

log = logging.getLogger(__name__)

# Provider message ids are kept this long to recognise a message delivered twice
DEDUP_WINDOW = timedelta(hours=48)
# A person who never answered the consent question is forgotten after this
ABANDONED_ONBOARDING = timedelta(days=2)


def reminders_tick(runtime: Runtime) -> int:
    """Enqueue the reminders of upcoming appointments (each one once)."""
    offsets = runtime.settings.reminder_schedule
    with runtime.db.transaction() as session:
        created = reminders.schedule_reminders(session, runtime.clock.now(), runtime.settings.tz, offsets)
    if created:
        log.info("reminders enqueued=%d", created)
    return created


def waitlist_tick(runtime: Runtime) -> dict[str, int]:
    """Lapse offers past their time limit, then offer free places to the next in line.

    Offers are made only within the daily sending window: their time limit must not run out at night.
    """
    now = runtime.clock.now()
    window = runtime.settings.sending_window
    with runtime.db.transaction() as session:
        expired = waitlist.expire_offers(session, now)
        offers = []
        if quiet_hours.next_opening(now, runtime.settings.tz, window, bulk=False) is None:
            offers = waitlist.make_offers(session, now, minutes=runtime.settings.waitlist_offer_minutes)
    counts = {"expired": expired, "offered": len(offers)}
    if expired or offers:
        log.info("waitlist %s", counts)
    return counts


def digest_tick(runtime: Runtime) -> int:
    """Each adviser with a linked account gets the day's appointments (once a day)."""
    now = runtime.clock.now()
    tz = runtime.settings.tz
    today = now.astimezone(tz).date()
    sent = 0
    with runtime.db.transaction() as session:
        for adviser in digest.advisers_with_account(session):
            lines = digest.adviser_day(session, id_of(adviser), today, tz)
            if not lines:
                continue
            sent += notify_adviser(
                runtime,
                session,
                id_of(adviser),
                key=f"digest:{adviser.id}:{today.isoformat()}",
                kind="digest",
                template="staff/digest",
                context={"adviser": adviser.name, "day": now, "lines": lines},
                now=now,
            )
    log.info("digest enqueued=%d", sent)
    return sent


def retention_tick(runtime: Runtime) -> dict[str, int]:
    """Delete what is older than the retention period; the counts go to the log."""
    with runtime.db.transaction() as session:
        counts = retention.purge_expired(session, runtime.clock.now(), runtime.settings.retention_months)
    log.info("retention deleted %s", counts)
    return counts


def purge_transient(runtime: Runtime) -> dict[str, int]:
    """Forget de-duplication keys and onboarding conversations of people who never consented."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        keys = session.exec(delete(ProcessedMessage).where(col(ProcessedMessage.received_at) < now - DEDUP_WINDOW))
        abandoned = session.exec(
            delete(Conversation).where(
                col(Conversation.resident_id).is_(None),
                col(Conversation.updated_at) < now - ABANDONED_ONBOARDING,
            )
        )
    counts = {"dedup_keys": keys.rowcount or 0, "abandoned_onboardings": abandoned.rowcount or 0}
    log.info("purge_transient %s", counts)
    return counts


def roll_slots(runtime: Runtime) -> int:
    """Keep advisers' agendas open some weeks ahead."""
    with runtime.db.transaction() as session:
        created = extend_slots(session, now=runtime.clock.now(), tz=runtime.settings.tz, weeks=SLOT_WEEKS_AHEAD)
    log.info("roll_slots created=%d", created)
    return created
