"""The one place that registers scheduled jobs: APScheduler ticks inside `relai-bot serve`.

Each job is a stateless pass over the database (its body is in delivery/ticks.py); nothing is kept in
the scheduler, so a restart loses and repeats nothing, and several instances may run the same jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from relai_bot.delivery import ticks
from relai_bot.wiring import Runtime

RETENTION_AT = time(3, 30)
ROLL_SLOTS_AT = time(2, 15)


@dataclass(frozen=True)
class Job:
    id: str
    run: Callable[[Runtime], Any]
    trigger: BaseTrigger
    # How late a missed run may still start (seconds); None: APScheduler's default
    grace: int | None = None


def jobs(runtime: Runtime) -> list[Job]:
    """Every scheduled job, and when it runs (local times in the commune's time zone)."""
    tz = runtime.settings.tz
    digest_at = time.fromisoformat(runtime.settings.digest_time)

    def daily(at: time) -> CronTrigger:
        return CronTrigger(hour=at.hour, minute=at.minute, timezone=tz)

    return [
        Job("reminders", ticks.reminders_tick, IntervalTrigger(minutes=1)),
        Job("waitlist", ticks.waitlist_tick, IntervalTrigger(minutes=1)),
        Job("purge_transient", ticks.purge_transient, IntervalTrigger(hours=1)),
        Job("digest", ticks.digest_tick, daily(digest_at), grace=3600),
        Job("roll_slots", ticks.roll_slots, daily(ROLL_SLOTS_AT), grace=6 * 3600),
        Job("retention", ticks.retention_tick, daily(RETENTION_AT), grace=6 * 3600),
    ]


def build_scheduler(runtime: Runtime) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=runtime.settings.tz)
    for job in jobs(runtime):
        options: dict[str, Any] = {"coalesce": True, "max_instances": 1}
        if job.grace is not None:
            options["misfire_grace_time"] = job.grace
        scheduler.add_job(job.run, job.trigger, args=[runtime], id=job.id, **options)
    return scheduler
