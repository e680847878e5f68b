"""When the service may write to residents on its own initiative.

RELAI_QUIET_HOURS gives the sending window in local time ("08:00-20:00"); outside it messages are held.
Broadcasts are also held on Sundays and La Réunion's public holidays (France, subdivision RE: 20 December
included), as the operators' rules for bulk SMS ask. Reminders, waitlist offers and notifications only
respect the daily window (a Sunday-evening reminder of Monday's appointment is what the resident needs),
and a reminder of an appointment on the same local day passes at any hour. "off" holds nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from relai_bot.services.agenda import public_holidays
from relai_bot.time_settings import SendingWindow

# Kinds held on Sundays and public holidays too (bulk messages)
BULK_KINDS = frozenset({"broadcast"})


@lru_cache(maxsize=8)
def _holidays(year: int) -> frozenset[date]:
    return frozenset(public_holidays(range(year, year + 1)).keys())


def is_rest_day(day: date) -> bool:
    """Sundays and La Réunion's public holidays."""
    return day.weekday() == 6 or day in _holidays(day.year)


def next_opening(now: datetime, tz: ZoneInfo, window: SendingWindow, *, bulk: bool) -> datetime | None:
    """None when a message may go now; otherwise the first moment (UTC) it may."""
    if window.off:
        return None
    assert window.start is not None
    local = now.astimezone(tz)
    day = local.date()
    for _ in range(30):
        if not (bulk and is_rest_day(day)):
            opening = datetime.combine(day, window.start, tzinfo=tz)
            if day == local.date() and window.contains(local):
                return None
            if opening > local:
                return opening.astimezone(now.tzinfo)
        day += timedelta(days=1)
    raise RuntimeError("no sending day within 30 days")  # pragma: no cover (holidays are not that many)


def held_until(
    kind: str,
    now: datetime,
    tz: ZoneInfo,
    window: SendingWindow,
    *,
    appointment_start: datetime | None = None,
    staff: bool = False,
) -> datetime | None:
    """When a message held by the rules may go (None: it may go now). Staff (advisers) are never held."""
    if staff:
        return None
    same_day = appointment_start is not None and appointment_start.astimezone(tz).date() == now.astimezone(tz).date()
    if kind == "reminder" and same_day:
        return None  # the same day's appointment: the reminder passes
    return next_opening(now, tz, window, bulk=kind in BULK_KINDS)
