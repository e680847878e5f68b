"""The conversation's rows: the locked conversation row, its way back ("retour"), and the log rows of its
replies (services.message_log)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, col, select

from relai_bot.services import message_log, residents
from relai_bot.store.db import insert_new
from relai_bot.store.models import Conversation, Resident
from relai_bot.turns import Inbound, Reply


def lock_conversation(session: Session, channel: str, address: str, now: datetime) -> tuple[Conversation, bool]:
    """The address's conversation row, created if needed and locked for this turn (FOR UPDATE on PostgreSQL).

    Returns (row, created). The row is looked for first (every turn but the first finds it: one statement);
    a missing row is inserted with ON CONFLICT DO NOTHING, so two instances creating it at once end up
    with one row, then read again under the lock.
    """
    conversation = _locked(session, channel, address)
    if conversation is not None:
        return conversation, False
    row = {
        "channel": channel,
        "address": address,
        "flow": "",
        "step": "",
        "data": {},
        "stack": [],
        "options": [],
        "turn": 0,
        "updated_at": now,
    }
    created = session.execute(insert_new(session, Conversation, row).returning(col(Conversation.id))).first()
    conversation = _locked(session, channel, address)
    assert conversation is not None  # inserted now, or by another instance a moment before
    return conversation, created is not None


def _locked(session: Session, channel: str, address: str) -> Conversation | None:
    return session.exec(
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.address == address)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def resident_of(session: Session, conversation: Conversation, inbound: Inbound) -> Resident | None:
    if conversation.resident_id is not None:
        resident = session.get(Resident, conversation.resident_id)
        if resident is not None:
            return resident
    resident = residents.find_by_address(session, inbound.channel, inbound.address)
    conversation.resident_id = resident.id if resident else None
    return resident


def save(session: Session, conversation: Conversation, now: datetime) -> None:
    conversation.last_inbound_at = now
    conversation.updated_at = now
    flag_modified(conversation, "data")  # changed in place by actions and choices
    session.add(conversation)


def forget(session: Session, conversation: Conversation) -> None:
    """Consent refused or data erased: not even the position in the conversation is kept."""
    session.expunge(conversation)
    session.execute(
        delete(Conversation).where(
            col(Conversation.channel) == conversation.channel,
            col(Conversation.address) == conversation.address,
        )
    )


def log_replies(
    session: Session,
    resident: Resident,
    channel: str,
    replies: list[Reply],
    now: datetime,
    *,
    received: message_log.Received | None = None,
) -> None:
    """Log what the resident is sent (after what they sent, if given); each reply learns its log row
    (channels record delivery on it)."""
    assert resident.id is not None
    bodies = [reply.text for reply in replies]
    ids = message_log.log_exchange(
        session, resident_id=resident.id, channel=channel, now=now, inbound=received, bodies=bodies
    )
    for reply, log_id in zip(replies, ids, strict=True):
        reply.log_id = log_id


# -- the way back ("retour") ------------------------------------------------------------------------------
#
# `Conversation.stack` holds the questions the resident was shown, oldest first and the current one last:
# each is [flow, step, data], data being the answers kept (Conversation.data) as they were just before the
# step was entered. "retour" leaves the current question for the one before it, with the answers it had
# then: the answer given there is forgotten, so a step that skips itself when its answer is known (the
# booking's scheme question) asks again; its action runs again, so a list is computed afresh.
#
# - Only questions are kept: a step that moves on by itself is passed through, never returned to.
# - A question shown again at once (a next page, another search, a step that leads to itself) is kept
#   once, with its latest answers: "retour" never shows the step being left. Otherwise the way is what the
#   resident saw, loops included (slots -> place -> slots: "retour" shows the places).
# - The menu starts the way afresh: "retour" at the menu shows the menu (nothing comes before it).
# - An irreversible action (an action declared `irreversible`: consent given, a booking made, a
#   cancellation, a call-back asked for) starts it afresh too: "retour" right after it leads to the menu,
#   never back to the question whose answer did it (going back neither undoes nor redoes it), and the
#   step that says it was done ("C'est réservé !") is not shown again by going back from a later step.
# - A message the service sends on its own (a reminder, a freed place) is a question like any other:
#   "retour" leads to the step the resident was at before it.
# - Rows written before the data was kept ([flow, step], the current step not included) still go back
#   to the step, with the answers as they are.

MAX_VISITS = 20
_DONE = "done"  # the mark a thing done leaves, until the step that follows is shown


@dataclass(frozen=True)
class Visit:
    """A question the resident was shown: where, and the answers kept just before it was entered."""

    flow: str
    step: str
    data: dict[str, Any] | None  # None: a row written before the answers were kept


def visits(conversation: Conversation) -> list[Visit]:
    """The way back, oldest first (the current question last)."""
    found = []
    for entry in conversation.stack:
        if isinstance(entry, list) and len(entry) >= 2 and all(isinstance(part, str) for part in entry[:2]):
            data = entry[2] if len(entry) > 2 and isinstance(entry[2], dict) else None
            found.append(Visit(entry[0], entry[1], data))
    return found


def _keep(conversation: Conversation, kept: list[Visit]) -> None:
    # Always a new list: the JSON column only sees a change of value, not a change in place
    conversation.stack = [
        [visit.flow, visit.step] if visit.data is None else [visit.flow, visit.step, visit.data]
        for visit in kept[-MAX_VISITS:]
    ]


def record_visit(conversation: Conversation, flow: str, step: str, data: dict[str, Any], *, first: bool) -> None:
    """The resident is shown the question `flow`/`step`, entered with `data`; `first` (the menu) starts the way."""
    if not first and conversation.stack == [[_DONE]]:
        conversation.stack = []  # the step that follows a thing done is not returned to
        return
    kept = [] if first else visits(conversation)
    if kept and (kept[-1].flow, kept[-1].step) == (flow, step):
        kept.pop()  # the same question again (a next page, another search): kept once
    _keep(conversation, [*kept, Visit(flow, step, data)])


def forget_visits(conversation: Conversation) -> None:
    """Something was done that going back must not undo nor redo: the way back starts after the step that
    follows (which says it was done, with what the action found: it is not shown again by going back)."""
    conversation.stack = [[_DONE]]


def step_back(conversation: Conversation, exists: Callable[[str, str], bool]) -> Visit | None:
    """Take the question before the current one off the way back (it is recorded again once shown), and
    put the answers back as they were when it was entered; None when there is none (the menu comes next).
    Steps that no longer exist (flows changed) are skipped."""
    kept = visits(conversation)
    here = (conversation.flow, conversation.step)
    while kept and ((kept[-1].flow, kept[-1].step) == here or not exists(kept[-1].flow, kept[-1].step)):
        kept.pop()
    if not kept:
        _keep(conversation, [])
        return None
    previous = kept.pop()
    _keep(conversation, kept)
    if previous.data is not None:
        conversation.data = copy.deepcopy(previous.data)
    return previous
