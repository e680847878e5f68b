"""What Twilio's answers mean for the records: error codes become consequences for an address, and delivery
reports that come too early are parked. The writing itself is services.delivery_records' (synchronous:
called in worker threads).

A delivery report may come before we wrote the message's sid (Twilio can call back before its answer to
our send reaches us): it is parked in memory and applied when the sid is written.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from relai_bot.channels.sms.render import SmsBatch
from relai_bot.channels.sms.twilio_api import NOT_MOBILE_CODES, STOPPED_CODES, UNREACHABLE_CODES
from relai_bot.sending.contract import SendFailure
from relai_bot.services.delivery_records import AddressEvent, DeliveryRecords, Sent
from relai_bot.services.delivery_reports import FAILED_STATUSES
from relai_bot.services.message_log import NotSent
from relai_bot.services.reply_journal import Settled

CHANNEL = "sms"
MAX_PARKED = 10_000
Report = tuple[str, str | None, str | None]  # status, error code, address
Taken = tuple[SmsBatch, str, str | None]  # what Twilio took: the batch, its sid and the status it gave


def error_code(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def address_event(status: str, code: int | None) -> AddressEvent | None:
    """What a delivery report (or a refusal, status "failed") says about the number it went to."""
    if code in STOPPED_CODES:
        return "stopped"
    if code in NOT_MOBILE_CODES:
        return "unreachable"
    if status in FAILED_STATUSES and code in UNREACHABLE_CODES:
        return "failed_delivery"
    if status == "delivered":
        return "reachable"
    return None


class SmsRecords:
    def __init__(self, records: DeliveryRecords) -> None:
        self.records = records
        self._parked: OrderedDict[str, list[Report]] = OrderedDict()
        self._park_lock = threading.Lock()

    # -- delivery reports -------------------------------------------------------------------------
    def _apply(self, sid: str, status: str, code: str | None, address: str | None) -> bool:
        event = address_event(status, error_code(code)) if address is not None else None
        update = self.records.record_report(CHANNEL, sid, status, code, address=address, event=event)
        return update.found

    def report_or_park(self, sid: str, status: str, code: str | None, address: str | None) -> None:
        """A status callback: update the message's row, or keep the report until its sid is written."""
        if self._apply(sid, status, code, address):
            return
        with self._park_lock:  # our own write of this sid may be on its way: look again, or park
            if not self._apply(sid, status, code, address):
                self._parked.setdefault(sid, []).append((status, code, address))
                while len(self._parked) > MAX_PARKED:
                    self._parked.popitem(last=False)

    # -- sends ------------------------------------------------------------------------------------
    def record_taken(self, items: Sequence[Taken | Settled]) -> None:
        """Messages Twilio took (their sids on the log rows) and the turns' reply rows settled, in one
        transaction; then the delivery reports that came for those messages before."""
        taken = [item for item in items if not isinstance(item, Settled)]
        settled = [item for item in items if isinstance(item, Settled)]
        sent = [
            Sent(tuple(batch.log_ids), sid, status or "queued", batch.encoding, batch.segments)
            for batch, sid, status in taken
            if batch.log_ids
        ]
        self.records.record_sent(*sent, settled=settled)
        if not sent:
            return
        with self._park_lock:
            parked = [(one.provider_message_id, self._parked.pop(one.provider_message_id, [])) for one in sent]
        for sid, reports in parked:
            for report in reports:
                self._apply(sid, *report)

    def record_not_sent(self, log_ids: list[int], status: NotSent, code: str | None = None) -> None:
        self.records.record_not_sent(log_ids, status, code)

    def on_refusal(self, address: str, failure: SendFailure) -> SendFailure:
        """What Twilio's refusal says about the resident; returns the failure to report."""
        event = address_event("failed", error_code(failure.code))
        if event in ("stopped", "unreachable"):
            self.records.note_address(CHANNEL, address, event)
        elif event == "failed_delivery" and not self.records.note_address(CHANNEL, address, event):
            # not yet three in a row: worth another try later
            return SendFailure("retry", failure.detail, code=failure.code)
        return failure

    def is_stopped(self, address: str) -> bool:
        return self.records.is_stopped(CHANNEL, address)
