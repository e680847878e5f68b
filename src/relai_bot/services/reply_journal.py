"""A turn's replies go through the outbox: written in the turn's transaction, sent after its commit.

The one owner of that policy. The dispatcher writes the turn's replies as one outbox row of kind
"reply", claimed at once by this process (`instance.REPLIES`, for `reply_lease_seconds`), in the same
transaction as the turn: if the turn commits, its replies are on record. The channel then sends them at
once, as before, and says how it went (`settle`, a few at a time): all sent, the row goes (nothing of
the conversation is kept beyond the message log, which holds what a consenting resident was told); some
could not go for a moment (a provider outage past the inline retries), the rest goes back to the
outbox, to be tried again by the outbox's rule for replies (sending.retry.REPLY_OUTBOX: never after an
ambiguous failure, as inline); refused for good, the row is marked failed and its text cleared.

If the process dies between the commit and the send, the row stays "sending" until its lease runs out
(or at once, when the same host restarts the service: instance.is_gone), and the outbox worker sends it,
reply lane first (priority -1). A resident who writes again before that gets the waiting replies first,
in the new turn: `write` takes them over, so the order of what they read is the order it was decided.
Only what was in flight at a crash may arrive twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, insert, or_, update
from sqlmodel import Session, col, select

from relai_bot import instance
from relai_bot.sending.contract import SendFailure
from relai_bot.sending.retry import REPLY_OUTBOX
from relai_bot.services import outbox
from relai_bot.store.models import OutboxMessage
from relai_bot.turns import Reply, Turn, reply_data, reply_from_data

KIND = "reply"
# A reply that could not go for this long (a provider or the service down for a day) answers a
# conversation the resident has left: it is skipped ("expired") rather than sent out of the blue
EXPIRES_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class Settled:
    """How the sending of one reply row went: `unsent` the replies that did not go (none: all went, or
    none were to go), `failure` why not."""

    row_id: int
    unsent: Sequence[Reply] = field(default_factory=tuple)
    failure: SendFailure | None = None


def _waiting(channel: str, address: str, now: datetime) -> list[ColumnElement[bool]]:
    """The address's reply rows nobody is sending: pending, or claimed by a process gone or past its lease;
    not the expired ones (the outbox skips those)."""
    return [
        col(OutboxMessage.kind) == KIND,
        col(OutboxMessage.channel) == channel,
        col(OutboxMessage.address) == address,
        col(OutboxMessage.expires_at) > now,
        or_(
            col(OutboxMessage.status) == "pending",
            and_(col(OutboxMessage.status) == "sending", col(OutboxMessage.claimed_until) < now),
        ),
    ]


def write(
    session: Session,
    channel: str,
    address: str,
    message_id: str | None,
    turn: Turn,
    now: datetime,
    *,
    lease_seconds: float,
) -> int:
    """Hold the turn's replies in the outbox, claimed by this process; the replies still waiting for this
    address come first (they are put in front of `turn.replies`). Returns the row's id."""
    waiting = list(
        session.exec(
            select(OutboxMessage)
            .where(*_waiting(channel, address, now))
            .order_by(col(OutboxMessage.id))
            .with_for_update(skip_locked=True)
        )
    )
    earlier = [reply_from_data(data) for row in waiting for data in row.replies or []]
    if waiting:
        session.exec(delete(OutboxMessage).where(col(OutboxMessage.id).in_([row.id for row in waiting])))
        turn.replies[:0] = earlier
    # The key only has to be unique: the turn's own transaction is what makes the row once
    key = f"{KIND}:{channel}:{message_id or '-'}:{uuid.uuid4().hex[:12]}"
    row = outbox.message_row(
        key=key,
        kind=KIND,
        channel=channel,
        address=address,
        now=now,
        resident_id=turn.resident_id,
        expires_at=now + EXPIRES_AFTER,
    )
    row |= {
        "replies": [reply_data(reply) for reply in turn.replies],
        "status": "sending",
        "claimed_by": instance.REPLIES,
        "claimed_until": now + timedelta(seconds=lease_seconds),
    }
    return int(session.execute(insert(OutboxMessage).values(row).returning(col(OutboxMessage.id))).scalar_one())


def settle(session: Session, settled: Sequence[Settled], now: datetime) -> None:
    """What the channels said about the rows they sent (several at once: one transaction)."""
    mine = and_(
        col(OutboxMessage.kind) == KIND,
        col(OutboxMessage.status) == "sending",
        col(OutboxMessage.claimed_by) == instance.REPLIES,
    )
    done = [s.row_id for s in settled if not s.unsent]
    if done:
        session.exec(delete(OutboxMessage).where(col(OutboxMessage.id).in_(done), mine))
    for outcome in settled:
        if not outcome.unsent:
            continue
        failure = outcome.failure or SendFailure("retry", "not sent")
        detail = f"{failure.kind}: {failure.detail}"[:200]
        decision = REPLY_OUTBOX.decide(failure, 0)
        values: dict[str, object] = {"claimed_by": None, "claimed_until": None, "updated_at": now, "error": detail}
        values["error_code"] = failure.code[:16] if failure.code else None
        if decision.retry:  # the outbox tries the rest again, by its own rule
            values |= {
                "status": "pending",
                "replies": [reply_data(reply) for reply in outcome.unsent],
                "attempts": 1 if decision.counted else 0,
                "next_attempt_at": now + timedelta(seconds=decision.delay),
            }
        else:
            values |= {"status": "failed", "replies": None}
        session.exec(update(OutboxMessage).where(col(OutboxMessage.id) == outcome.row_id, mine).values(**values))


def as_reply(row: OutboxMessage) -> Reply | None:
    """The replies of a row the outbox worker sends, as one message (the last one's options and
    attachment); None when there is nothing left in it."""
    replies = [reply_from_data(data) for data in row.replies or []]
    if not replies:
        return None
    last = replies[-1]
    attachment = next((r.attachment for r in reversed(replies) if r.attachment is not None), None)
    log_id = next((r.log_id for r in replies if r.log_id is not None), None)
    return Reply(
        text="\n\n".join(r.text for r in replies if r.text),
        options=last.options,
        attachment=attachment,
        log_id=log_id,
        kind=KIND,
        language=last.language,
    )
