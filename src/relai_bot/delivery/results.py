"""What happened to each send, written back to the outbox in batches (sync code).

sent: final, never sent again. retry (429, 5xx, timeout): back to pending when the outbox's retry policy
says (relai_bot.sending.retry.OUTBOX: exponential backoff with jitter, never sooner than the provider's
retry_after; a 429 does not count as an attempt), or given up as it says.
unreachable: the address is marked (broadcasts skip it), and a reminder or an offer tries the next
channel. stopped: the resident is stopped. invalid: failed (a reminder still tries the next channel).
A reminder that reaches no channel tells the appointment's adviser.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlmodel import Session

from relai_bot import metrics
from relai_bot.delivery.claims import FALLBACK_KINDS, Job, settle_unreachable
from relai_bot.sending.contract import SendFailure, SendResult
from relai_bot.sending.retry import OUTBOX, REPLY_OUTBOX
from relai_bot.services import message_log, outbox, reply_journal, residents
from relai_bot.store.models import OutboxMessage, Resident
from relai_bot.wiring import Runtime

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    job: Job
    result: SendResult | None = None
    failure: SendFailure | None = None
    # True: the job was never handed to the provider (the worker stopped): give the row back
    released: bool = False


def apply_outcomes(runtime: Runtime, outcomes: list[Outcome]) -> None:
    if not outcomes:
        return
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        released = [o.job.row_id for o in outcomes if o.released]
        outbox.release(session, released, now)
        for outcome in outcomes:
            if outcome.released:
                continue
            if outcome.result is not None:
                _sent(session, outcome.job, outcome.result, now)
            else:
                assert outcome.failure is not None
                _failed(runtime, session, outcome.job, outcome.failure, now)
    for outcome in outcomes:  # written: counted
        if not outcome.released:
            result = "sent" if outcome.result is not None else outcome.failure.kind if outcome.failure else "none"
            metrics.OUTBOX_SENDS.labels(outcome.job.kind, result).inc()


def _sent(session: Session, job: Job, result: SendResult, now: datetime) -> None:
    outbox.mark_sent(session, job.row_id, result.provider_message_id, now)
    if job.reply.log_id is not None and result.provider_message_id:
        # The channel may have recorded it already (then this changes nothing): "accepted" says no more
        message_log.record_sent(
            session, [job.reply.log_id], provider_message_id=result.provider_message_id, status="accepted"
        )


def _give_up(runtime: Runtime, session: Session, job: Job, now: datetime, error: str) -> None:
    row = session.get(OutboxMessage, job.row_id)
    appointment_id = row.appointment_id if row is not None else None
    settle_unreachable(
        runtime,
        session,
        job.row_id,
        job.kind,
        job.channel,
        job.resident_id,
        appointment_id,
        now,
        error,
        status="failed",
    )


def _failed(runtime: Runtime, session: Session, job: Job, failure: SendFailure, now: datetime) -> None:
    detail = f"{failure.kind}: {failure.detail}"[:200]
    log.info(
        "outbox send failed id=%s kind=%s channel=%s %s",
        job.row_id,
        job.kind,
        job.channel,
        failure.kind,
        extra={"outbox_id": job.row_id, "kind": job.kind, "channel": job.channel, "failure": failure.kind},
    )
    if failure.kind == "retry":
        policy = replace(
            REPLY_OUTBOX if job.kind == reply_journal.KIND else OUTBOX, attempts=runtime.settings.outbox_max_attempts
        )
        time_left = (job.expires_at - now).total_seconds() if job.expires_at is not None else None
        decision = policy.decide(failure, job.attempts, time_left=time_left)
        if decision.reason == "attempts":
            _give_up(runtime, session, job, now, f"{decision.tries} attempts, last {detail}")
            return
        if not decision.retry:
            _give_up(runtime, session, job, now, f"no time left to retry, last {detail}")
            return
        at = now + timedelta(seconds=decision.delay)
        outbox.reschedule(session, job.row_id, at, now, attempted=decision.counted, error=detail, code=failure.code)
    elif failure.kind == "unreachable":
        if job.resident_id is not None:
            residents.mark_unreachable(session, job.channel, job.address, now)
        _give_up(runtime, session, job, now, detail)
    elif failure.kind == "stopped":
        resident = session.get(Resident, job.resident_id) if job.resident_id is not None else None
        if resident is not None:
            residents.stop(session, resident, now)
        outbox.mark_final(session, job.row_id, "failed", now, detail, failure.code)
    elif job.kind in FALLBACK_KINDS:  # invalid: this address will not do, another channel may
        _give_up(runtime, session, job, now, detail)
    else:
        outbox.mark_final(session, job.row_id, "failed", now, detail, failure.code)
