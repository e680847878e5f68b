"""The terminal channel (`relai-bot chat`): a resident's conversation with numbered options."""

from __future__ import annotations

from pathlib import Path

from relai_bot.turns import Reply


def render_reply(reply: Reply, attachments_dir: Path | None = None) -> str:
    """A reply as the terminal shows it: the text, then one numbered line per option."""
    lines = [reply.text]
    if reply.options:
        lines.append("")
        lines += [f"  {option.number}. {option.label}" for option in reply.options]
    if reply.attachment is not None:
        where = ""
        if attachments_dir is not None:
            attachments_dir.mkdir(parents=True, exist_ok=True)
            path = attachments_dir / reply.attachment.filename
            path.write_bytes(reply.attachment.content)
            where = f" -> {path}"
        lines.append(f"  [{reply.attachment.filename}{where}]")
    return "\n".join(lines)
