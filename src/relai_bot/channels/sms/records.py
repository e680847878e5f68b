"""What the SMS channel writes down: sids, encoding and segments on the message log, delivery reports, and
what Twilio's refusals say about a resident (stopped, unreachable). Synchronous: called in worker threads.

A delivery report may come before we wrote the message's sid (Twilio can call back before its answer to
our send reaches us): it is parked in memory and applied when the sid is written.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from sqlmodel import Session

from relai_bot.channels.sms.render import SmsBatch
from relai_bot.channels.sms.twilio_api import NOT_MOBILE_CODES, STOPPED_CODES, UNREACHABLE_CODES
from relai_bot.sending.contract import SendFailure
from relai_bot.services import delivery_reports, message_log, residents
from relai_bot.services.message_log import NotSent
from relai_bot.wiring import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNEL = "sms"
MAX_PARKED = 10_000
Report = tuple[str, str | None, str | None]  # status, error code, address


def error_code(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


class SmsRecords:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._parked: OrderedDict[str, list[Report]] = OrderedDict()
        self._park_lock = threading.Lock()

    def _transaction(self, work: Callable[[Session], T]) -> T:
        with self.runtime.db.transaction() as session:
            return work(session)

    # -- delivery reports -------------------------------------------------------------------------
    def _apply(self, session: Session, sid: str, status: str, code: str | None, address: str | None) -> bool:
        update = delivery_reports.record_status(
            session,
            channel=CHANNEL,
            provider_message_id=sid,
            status=status,
            error_code=code,
            now=self.runtime.clock.now(),
        )
        if update.changed and address is not None:
            self._consequences(session, address, status, error_code(code))
        return update.found

    def _consequences(self, session: Session, address: str, status: str, code: int | None) -> None:
        now = self.runtime.clock.now()
        if code in STOPPED_CODES:
            resident = residents.find_by_address(session, CHANNEL, address)
            if resident is not None:
                residents.stop(session, resident, now)
        elif code in NOT_MOBILE_CODES:
            residents.mark_unreachable(session, CHANNEL, address, now)
        elif status in delivery_reports.FAILED_STATUSES and code in UNREACHABLE_CODES:
            if delivery_reports.note_delivery_failure(session, CHANNEL, address, now):
                log.info("sms address unreachable who=%s", residents.address_tag(CHANNEL, address))
        elif status == "delivered":
            delivery_reports.note_delivery_success(session, CHANNEL, address)

    def report_or_park(self, sid: str, status: str, code: str | None, address: str | None) -> None:
        """A status callback: update the message's row, or keep the report until its sid is written."""
        if self._transaction(lambda s: self._apply(s, sid, status, code, address)):
            return
        with self._park_lock:  # our own write of this sid may be on its way: look again, or park
            if not self._transaction(lambda s: self._apply(s, sid, status, code, address)):
                self._parked.setdefault(sid, []).append((status, code, address))
                while len(self._parked) > MAX_PARKED:
                    self._parked.popitem(last=False)

    # -- sends ------------------------------------------------------------------------------------
    def record_sent(self, batch: SmsBatch, sid: str, status: str | None) -> None:
        if not batch.log_ids:
            return
        self._transaction(
            lambda s: message_log.record_sent(
                s,
                batch.log_ids,
                provider_message_id=sid,
                status=status or "queued",
                encoding=batch.encoding,
                segments=batch.segments,
            )
        )
        with self._park_lock:
            parked = self._parked.pop(sid, [])
        if parked:
            self._transaction(lambda s: [self._apply(s, sid, *report) for report in parked])

    def record_not_sent(self, log_ids: list[int], status: NotSent, code: str | None = None) -> None:
        if log_ids:
            self._transaction(lambda s: message_log.record_not_sent(s, log_ids, status=status, error_code=code))

    def on_refusal(self, address: str, failure: SendFailure) -> SendFailure:
        """What Twilio's refusal says about the resident; returns the failure to report."""
        code = error_code(failure.code)
        if code in STOPPED_CODES or code in NOT_MOBILE_CODES:
            self._transaction(lambda s: self._consequences(s, address, "failed", code))
        elif code in UNREACHABLE_CODES:
            now = self.runtime.clock.now()
            gone = self._transaction(lambda s: delivery_reports.note_delivery_failure(s, CHANNEL, address, now))
            if not gone:  # not yet three in a row: worth another try later
                return SendFailure("retry", failure.detail, code=failure.code)
        return failure

    def is_stopped(self, address: str) -> bool:
        def check(session: Session) -> bool:
            resident = residents.find_by_address(session, CHANNEL, address)
            return resident is not None and resident.stopped_at is not None

        return self._transaction(check)
