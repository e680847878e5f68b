"""Settings that describe times: the sending window (RELAI_QUIET_HOURS) and the reminder offsets
(RELAI_REMINDER_OFFSETS), their written form and their parsed form.

A leaf module (standard library only): config.py validates the settings with these parsers and exposes
the parsed values (`Settings.sending_window`, `Settings.reminder_schedule`); services use the values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAY_AT = re.compile(r"^(\d{1,2})d@(\d{1,2}):(\d{2})$")
_BEFORE = re.compile(r"^(\d{1,3})(h|m)$")


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


@dataclass(frozen=True)
class ReminderOffset:
    """ "1d@18:00": N days before at a local time; "2h" / "30m": that long before."""

    label: str
    days: int = 0
    at: time | None = None
    before: timedelta | None = None

    def due(self, starts_at: datetime, tz: ZoneInfo) -> datetime:
        if self.before is not None:
            return starts_at - self.before
        assert self.at is not None
        day = starts_at.astimezone(tz).date() - timedelta(days=self.days)
        return datetime.combine(day, self.at, tzinfo=tz).astimezone(starts_at.tzinfo)


def parse_offsets(value: str) -> list[ReminderOffset]:
    """ "1d@18:00,2h" -> two offsets; "" or "off" -> none. Raises ValueError."""
    offsets: list[ReminderOffset] = []
    if value.strip().lower() in ("", "off", "none"):
        return offsets
    for raw in value.split(","):
        item = raw.strip().lower().replace(" ", "")
        day_at, before = _DAY_AT.match(item), _BEFORE.match(item)
        if day_at:
            days, hour, minute = (int(g) for g in day_at.groups())
            if not (1 <= days <= 14 and hour <= 23 and minute <= 59):
                raise ValueError(f"{raw.strip()!r}: 1 to 14 days before, at HH:MM")
            offsets.append(ReminderOffset(item, days=days, at=time(hour, minute)))
        elif before:
            amount, unit = int(before.group(1)), before.group(2)
            delta = timedelta(hours=amount) if unit == "h" else timedelta(minutes=amount)
            if not timedelta(minutes=5) <= delta <= timedelta(days=14):
                raise ValueError(f"{raw.strip()!r}: between 5 minutes and 14 days before")
            offsets.append(ReminderOffset(item, before=delta))
        else:
            raise ValueError(f"{raw.strip()!r}: write 1d@18:00 (the day before at 18:00) or 2h or 30m")
    if len({o.label for o in offsets}) != len(offsets):
        raise ValueError("an offset is given twice")
    return offsets
