"""When the service may write to residents on its own initiative.

RELAI_QUIET_HOURS gives the sending window in local time ("08:00-20:00"); outside it messages are held.
Broadcasts are also held on Sundays and La Réunion's public holidays (France, subdivision RE: 20 December
included), as the operators' rules for bulk SMS ask. Reminders, waitlist offers and notifications only
respect the daily window (a Sunday-evening reminder of Monday's appointment is what the resident needs),
and a reminder of an appointment on the same local day passes at any hour. "off" holds nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from relai_bot.services.agenda import public_holidays

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# Kinds held on Sundays and public holidays too (bulk messages)
BULK_KINDS = frozenset({"broadcast"})


@dataclass(frozen=True)
class SendingWindow:
    """Local times between which messages may go; `start is None` means no quiet hours at all."""

    start: time | None = None
    end: time | None = None

    @property
    def off(self) -> bool:
        return self.start is None

    def contains(self, local: datetime) -> bool:
        if self.start is None or self.end is None:
            return True
        return self.start <= local.time() < self.end


def parse_window(value: str) -> SendingWindow:
    """ "08:00-20:00" or "off"; raises ValueError otherwise."""
    if value.strip().lower() in ("off", "none", ""):
        return SendingWindow()
    match = _WINDOW.match(value)
    if match is None:
        raise ValueError(f"{value!r}: write HH:MM-HH:MM (e.g. 08:00-20:00) or off")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"{value!r}: hours 00-23, minutes 00-59")
    start, end = time(h1, m1), time(h2, m2)
    if start >= end:
        raise ValueError(f"{value!r}: the window must start before it ends, within one day")
    return SendingWindow(start, end)


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
