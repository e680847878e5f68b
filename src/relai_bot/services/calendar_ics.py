"""An iCalendar (.ics) file for an appointment, so it lands in the phone's calendar."""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event


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
    calendar = Calendar()
    calendar.add("prodid", "-//relai_bot//La Possession//FR")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", starts_at)
    event.add("dtend", ends_at)
    event.add("summary", summary)
    event.add("location", location)
    event.add("description", description)
    calendar.add_component(event)
    ics: bytes = calendar.to_ical()  # icalendar leaves to_ical() unannotated
    return ics
