"""Dates and times as residents read them: local time, written in full ("mardi 3 décembre à 9 h 30").

French takes its day and month names from Babel; a language Babel has no locale for (Réunion Creole) gives
them in templates/messages/<lang>/dates.yaml (`DateWords.load`). Both write the time "9 h 30".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from babel.dates import format_date, format_time, get_day_names, get_month_names

DATES_FILE = "dates.yaml"


@dataclass(frozen=True)
class DateWords:
    """A language's day names (Monday first), month names (January first), and how the 1st is written."""

    days: tuple[str, ...]
    months: tuple[str, ...]
    first: str = "1"

    def __post_init__(self) -> None:
        if len(self.days) != 7 or len(self.months) != 12 or not all(self.days + self.months):
            raise ValueError("dates: 7 day names and 12 month names are needed")

    @classmethod
    def load(cls, path: Path) -> DateWords:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}
        try:
            return cls(tuple(data["days"]), tuple(data["months"]), str(data.get("first", "1")))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None


@cache
def french() -> DateWords:
    days = get_day_names("wide", locale="fr")
    months = get_month_names("wide", locale="fr")
    return DateWords(tuple(days[i] for i in range(7)), tuple(months[i] for i in range(1, 13)), "1er")


def words_for(language: str, folder: Path | None = None) -> DateWords | None:
    """The language's own names when its folder gives them, French's, or None (Babel's locale then)."""
    if folder is not None and (folder / DATES_FILE).is_file():
        return DateWords.load(folder / DATES_FILE)
    return french() if language == "fr" else None


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz)


def format_clock(moment: datetime, tz: ZoneInfo, language: str = "fr", words: DateWords | None = None) -> str:
    """9 h 30, 14 h (French, and the languages with their own names); the locale's short time elsewhere."""
    at = local(moment, tz)
    if words is not None or language == "fr":
        return f"{at.hour} h {at.minute:02d}" if at.minute else f"{at.hour} h"
    return format_time(at, format="short", locale=language)


def _day_and_month(day: date, words: DateWords) -> str:
    """3 décembre, 1er juin"""
    number = words.first if day.day == 1 else str(day.day)
    return f"{number} {words.months[day.month - 1]}"


def format_day(moment: datetime, tz: ZoneInfo, language: str = "fr", words: DateWords | None = None) -> str:
    """mardi 3 décembre, dimanche 1er juin"""
    day = local(moment, tz).date()
    words = words or (french() if language == "fr" else None)
    if words is not None:
        return f"{words.days[day.weekday()]} {_day_and_month(day, words)}"
    return format_date(day, format="EEEE d MMMM", locale=language)


def format_long_date(day: date, language: str = "fr", words: DateWords | None = None) -> str:
    """A calendar date with its year, for what holds until a day: 31 décembre 2026, 1er avril 2027"""
    words = words or (french() if language == "fr" else None)
    if words is not None:
        return f"{_day_and_month(day, words)} {day.year}"
    return format_date(day, format="d MMMM y", locale=language)


def format_when(
    moment: datetime, tz: ZoneInfo, language: str = "fr", joiner: str = "à", words: DateWords | None = None
) -> str:
    """mardi 3 décembre à 9 h 30 — `joiner` comes from the language's templates."""
    return f"{format_day(moment, tz, language, words)} {joiner} {format_clock(moment, tz, language, words)}"
