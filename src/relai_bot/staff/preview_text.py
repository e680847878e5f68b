"""A broadcast preview and report as plain text lines, for a terminal (`relai-bot broadcast --dry-run`,
`relai-bot broadcast report`) and a future Telegram /diffuser. The back-office renders the same
BroadcastPreview in its own templates. Operator words in English like the rest of the CLI; the messages
are shown exactly as residents receive them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from relai_bot.services.broadcast_reports import BroadcastReport
from relai_bot.staff.compose import BroadcastPreview


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
