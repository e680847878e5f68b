"""Scheduler jobs of the delivery engine: stateless ticks over the database, safe on several instances.

Each tick is idempotent (outbox keys are unique, waitlist offers are taken with conditional updates
under a slot lock), so a restart repeats nothing and two `serve` processes may both run them.
"""

from __future__ import annotations

import logging
from datetime import time, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from relai_bot.delivery.adviser_messages import notify_adviser
from relai_bot.services import digest, quiet_hours, reminders, retention, waitlist
from relai_bot.wiring import Runtime

log = logging.getLogger(__name__)

REMINDER_TICK = timedelta(minutes=1)
WAITLIST_TICK = timedelta(minutes=1)
RETENTION_AT = time(3, 30)


def reminders_tick(runtime: Runtime) -> int:
    """Enqueue the reminders of upcoming appointments (each one once)."""
    offsets = reminders.parse_offsets(runtime.settings.reminder_offsets)
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
    window = quiet_hours.parse_window(runtime.settings.quiet_hours)
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
            lines = digest.adviser_day(session, adviser.id, today, tz)  # type: ignore[arg-type]
            if not lines:
                continue
            sent += notify_adviser(
                runtime,
                session,
                adviser.id,  # type: ignore[arg-type]
                key=f"digest:{adviser.id}:{today.isoformat()}",
                kind="digest",
                template="digest/day",
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


def add_delivery_jobs(scheduler: BaseScheduler, runtime: Runtime) -> None:
    tz = runtime.settings.tz
    digest_at = time.fromisoformat(runtime.settings.digest_time)
    scheduler.add_job(
        reminders_tick,
        "interval",
        seconds=REMINDER_TICK.total_seconds(),
        args=[runtime],
        id="reminders",
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        waitlist_tick,
        "interval",
        seconds=WAITLIST_TICK.total_seconds(),
        args=[runtime],
        id="waitlist",
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        digest_tick,
        CronTrigger(hour=digest_at.hour, minute=digest_at.minute, timezone=tz),
        args=[runtime],
        id="digest",
        coalesce=True,
        misfire_grace_time=3600,
    )
    scheduler.add_job(
        retention_tick,
        CronTrigger(hour=RETENTION_AT.hour, minute=RETENTION_AT.minute, timezone=tz),
        args=[runtime],
        id="retention",
        coalesce=True,
        misfire_grace_time=6 * 3600,
    )
