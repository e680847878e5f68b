"""Dates and times as residents read them: local time, written in full ("mardi 3 décembre à 9 h 30")."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz)


def format_clock(moment: datetime, tz: ZoneInfo, language: str = "fr") -> str:
    """9 h 30, 14 h (French); the locale's short time elsewhere."""
    at = local(moment, tz)
    if language == "fr":
        return f"{at.hour} h {at.minute:02d}" if at.minute else f"{at.hour} h"
    return format_time(at, format="short", locale=language)


def _day_and_month(day: date) -> str:
    """3 décembre, 1er juin (French)"""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {format_date(day, format='MMMM', locale='fr')}"


def format_day(moment: datetime, tz: ZoneInfo, language: str = "fr") -> str:
    """mardi 3 décembre, dimanche 1er juin"""
    day = local(moment, tz).date()
    if language == "fr":
        return f"{format_date(day, format='EEEE', locale='fr')} {_day_and_month(day)}"
    return format_date(day, format="EEEE d MMMM", locale=language)


def format_long_date(day: date, language: str = "fr") -> str:
    """A calendar date with its year, for what holds until a day: 31 décembre 2026, 1er avril 2027"""
    if language == "fr":
        return f"{_day_and_month(day)} {day.year}"
    return format_date(day, format="d MMMM y", locale=language)


def format_when(moment: datetime, tz: ZoneInfo, language: str = "fr", joiner: str = "à") -> str:
    """mardi 3 décembre à 9 h 30 — `joiner` comes from the language's templates."""
    return f"{format_day(moment, tz, language)} {joiner} {format_clock(moment, tz, language)}"
