"""APScheduler ticks inside `relai-bot serve`: each job is a stateless pass over the database."""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import delete

from relai_bot.delivery.ticks import add_delivery_jobs
from relai_bot.services.agenda import extend_slots
from relai_bot.store.models import Conversation, ProcessedMessage
from relai_bot.wiring import Runtime

log = logging.getLogger(__name__)

# Provider message ids are kept this long to recognise a message delivered twice
DEDUP_WINDOW = timedelta(hours=48)
# A person who never answered the consent question is forgotten after this
ABANDONED_ONBOARDING = timedelta(days=2)
SLOT_WEEKS_AHEAD = 6


def purge_transient(runtime: Runtime) -> dict[str, int]:
    """Forget de-duplication keys and onboarding conversations of people who never consented."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        keys = session.execute(delete(ProcessedMessage).where(ProcessedMessage.received_at < now - DEDUP_WINDOW))
        abandoned = session.execute(
            delete(Conversation).where(
                Conversation.resident_id.is_(None),  # type: ignore[union-attr]
                Conversation.updated_at < now - ABANDONED_ONBOARDING,
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


def build_scheduler(runtime: Runtime) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=runtime.settings.tz)
    scheduler.add_job(purge_transient, "interval", hours=1, args=[runtime], id="purge_transient", coalesce=True)
    scheduler.add_job(
        roll_slots,
        CronTrigger(hour=2, minute=15, timezone=runtime.settings.tz),
        args=[runtime],
        id="roll_slots",
    )
    add_delivery_jobs(scheduler, runtime)  # reminders, waitlist, advisers' digest, retention
    return scheduler
