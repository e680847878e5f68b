"""A broadcast preview and report as plain text: lines for a terminal (`relai-bot broadcast --dry-run`,
`relai-bot broadcast report`; operator words in English like the rest of the CLI) and the French message
of the Telegram /diffuser exchange (`staff_preview`, words in templates/staff/telegram/preview.j2). The
back-office renders the same BroadcastPreview in its own templates. The messages are shown exactly as
residents receive them."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from relai_bot.config import Settings
from relai_bot.services import timefmt
from relai_bot.services.broadcast_reports import BroadcastReport
from relai_bot.staff.compose import BroadcastPreview
from relai_bot.staff.texts import StaffTexts

# A start this close to now is "right away"
RIGHT_AWAY = timedelta(minutes=1)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key}={n}" for key, n in counts.items()) or "nobody"


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M (%A)")


def preview_lines(preview: BroadcastPreview, tz: ZoneInfo) -> list[str]:
    sms = preview.sms_estimate
    lines = [
        f"recipients: {preview.recipients} ({_counts(preview.by_channel)})",
        f"by district: {_counts(preview.by_district)}",
        f"left out: {_counts(preview.excluded)}",
        f"versions: {_counts(preview.versions.read)}"
        + (
            f" (chose another language, get French: {_counts(preview.versions.in_french)})"
            if preview.versions.in_french
            else ""
        ),
        f"starts: {_local(preview.starts_at, tz)}",
        f"sms: {sms.recipients} recipient(s), {sms.segments_max} segment(s) at most each, "
        f"{sms.segments_total} in all, estimated cost {sms.cost} {sms.currency}",
        "approval: " + ("needed (" + "; ".join(preview.approval) + ")" if preview.approval else "not needed"),
        "",
        f"--- Telegram ({len(preview.telegram.messages)} message(s), {preview.telegram.characters} characters)",
        *preview.telegram.messages,
        "",
        f"--- SMS ({len(preview.sms.messages)} SMS, {preview.sms.encoding}, {preview.sms.characters} characters, "
        f"{preview.sms.segments} segment(s))",
    ]
    for number, part in enumerate(preview.sms.messages, 1):
        if len(preview.sms.messages) > 1:
            lines.append(f"[SMS {number}]")
        lines.append(part)
    for language, version in preview.translations.items():
        lines += [
            "",
            f"--- Telegram, {language} ({version.telegram.characters} characters)",
            *version.telegram.messages,
        ]
        lines += ["", f"--- SMS, {language} ({version.sms.encoding}, {version.sms.segments} segment(s))"]
        lines += version.sms.messages
    return lines


def report_lines(report: BroadcastReport) -> list[str]:
    lines = [
        f"broadcast {report.broadcast_id}: {report.state}; {report.settled}/{report.total} settled",
        f"status: {_counts(report.by_status)}",
    ]
    lines += [f"district {name}: {_counts(counts)}" for name, counts in report.by_district.items()]
    lines += [f"channel {name}: {_counts(counts)}" for name, counts in report.by_channel.items()]
    lines.append(f"left out: {_counts(report.excluded)}")
    return lines


def start_words(starts_at: datetime, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """When a broadcast starts, for the staff templates: `later` (not right away), its day and clock time."""
    return {
        "later": starts_at > now + RIGHT_AWAY,
        "starts_day": timefmt.format_day(starts_at, tz),
        "starts_clock": timefmt.format_clock(starts_at, tz),
    }


def staff_preview(
    preview: BroadcastPreview, texts: StaffTexts, *, districts: Sequence[str], now: datetime, settings: Settings
) -> str:
    """The preview as the staff member reads it on Telegram (French): counts, who is left out and why, SMS
    segments and cost, when it starts, whether it waits for approval, and the Telegram message as residents
    will see it (the channel's HTML turned back into the text it shows; the staff reply is escaped again)."""
    return texts.render(
        "preview",
        preview=preview,
        districts=list(districts),
        sms=preview.sms_estimate,
        telegram="\n\n".join(html.unescape(message) for message in preview.telegram.messages),
        per_week=settings.broadcasts_per_week,
        approval_above=settings.broadcast_approval_above,
        approval_cost=settings.broadcast_approval_cost,
        **start_words(preview.starts_at, now, settings.tz),
    )
