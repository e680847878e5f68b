"""iCalendar (.ics) files: one appointment for the resident's phone, or an adviser's private agenda feed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

PRODID = "-//relai_bot//La Possession//FR"


@dataclass(frozen=True)
class IcsEvent:
    """One event; texts come already written, times are aware (written in UTC)."""

    uid: str
    starts_at: datetime
    ends_at: datetime
    summary: str
    location: str
    description: str = ""


def appointment_ics(
    *,
    uid: str,
    starts_at: datetime,
    ends_at: datetime,
    summary: str,
    location: str,
    description: str,
    stamp: datetime,
) -> bytes:
    """Texts come already rendered from templates; times are aware (written in UTC)."""
    return events_ics([IcsEvent(uid, starts_at, ends_at, summary, location, description)], stamp=stamp)


def events_ics(events: Sequence[IcsEvent], *, stamp: datetime, name: str | None = None) -> bytes:
    """A calendar of several events (a feed a calendar application subscribes to, named `name`)."""
    from icalendar import Calendar, Event  # imported by the first calendar written, not at start

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    if name:
        calendar.add("x-wr-calname", name)
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", item.starts_at)
        event.add("dtend", item.ends_at)
        event.add("summary", item.summary)
        event.add("location", item.location)
        if item.description:
            event.add("description", item.description)
        calendar.add_component(event)
    ics: bytes = calendar.to_ical()  # icalendar leaves to_ical() unannotated
    return ics
