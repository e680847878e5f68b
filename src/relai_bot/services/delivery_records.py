"""What the channels record, as a service handed to them: each method runs one transaction.

Channels speak their provider's protocol and never touch the store: they say what happened (a provider
took a message, refused it, reported on it later; an address stopped working, or works again) and this
records it through the modules that own each rule: the message log (services.message_log), delivery
reports and the failure counter (services.delivery_reports), residents (stop, reachable), and the
handled-once guard (services.dedup). Synchronous: an async channel calls it with asyncio.to_thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlmodel import Session

from relai_bot.clock import Clock
from relai_bot.services import dedup, delivery_reports, message_log, reply_journal, residents
from relai_bot.services.message_log import NotSent, StatusUpdate
from relai_bot.store.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

# What a provider says about an address: the person opted out at the provider ("stopped"); the address
# is gone for good ("unreachable"); it works ("reachable": unblocked, or a message was delivered); one
# delivery failed ("failed_delivery": a few in a row make it unreachable)
AddressEvent = Literal["stopped", "unreachable", "reachable", "failed_delivery"]


@dataclass(frozen=True)
class Sent:
    """One message a provider took: the log rows it stands for (the first holds its id), and its cost."""

    log_ids: tuple[int, ...]
    provider_message_id: str
    status: str = "sent"
    encoding: str | None = None
    segments: int | None = None


class DeliveryRecords:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def _run(self, work: Callable[[Session], T]) -> T:
        with self.db.transaction() as session:
            return work(session)

    # -- the message log --------------------------------------------------------------------------
    def record_sent(self, *sent: Sent, settled: Sequence[reply_journal.Settled] = ()) -> None:
        """Messages the provider took, and how the sending of turns' reply rows went (services.reply_journal):
        several of each at once, in one transaction (SQLite has one writer: one write after a turn, not two)."""
        sent = tuple(s for s in sent if s.log_ids)
        if not sent and not settled:
            return

        def work(session: Session) -> None:
            for one in sent:
                message_log.record_sent(
                    session,
                    one.log_ids,
                    provider_message_id=one.provider_message_id,
                    status=one.status,
                    encoding=one.encoding,
                    segments=one.segments,
                )
            if settled:
                reply_journal.settle(session, settled, self.clock.now())

        self._run(work)

    def record_not_sent(self, log_ids: Sequence[int], status: NotSent, error_code: str | None = None) -> None:
        """Messages the provider did not take: "failed", "unknown" (no answer in time) or "suppressed"."""
        if log_ids:
            self._run(lambda s: message_log.record_not_sent(s, log_ids, status=status, error_code=error_code))

    def record_report(
        self,
        channel: str,
        provider_message_id: str,
        status: str,
        error_code: str | None,
        *,
        address: str | None = None,
        event: AddressEvent | None = None,
    ) -> StatusUpdate:
        """A delivery report; when it changed the message's status, `event` is noted on `address` too."""

        def work(session: Session) -> StatusUpdate:
            update = delivery_reports.record_status(
                session,
                channel=channel,
                provider_message_id=provider_message_id,
                status=status,
                error_code=error_code,
                now=self.clock.now(),
            )
            if update.changed and address is not None and event is not None:
                self._note(session, channel, address, event)
            return update

        return self._run(work)

    # -- addresses and residents ------------------------------------------------------------------
    def note_address(self, channel: str, address: str, event: AddressEvent) -> bool:
        """What a provider says about an address; True when the address is (now) unreachable."""
        return self._run(lambda s: self._note(s, channel, address, event))

    def _note(self, session: Session, channel: str, address: str, event: AddressEvent) -> bool:
        now = self.clock.now()
        if event == "stopped":
            resident = residents.find_by_address(session, channel, address)
            if resident is not None:
                residents.stop(session, resident, now)
            return False
        if event == "unreachable":
            residents.mark_unreachable(session, channel, address, now)
            return True
        if event == "reachable":
            delivery_reports.note_delivery_success(session, channel, address)
            return False
        gone = delivery_reports.note_delivery_failure(session, channel, address, now)
        if gone:
            who = residents.address_tag(channel, address)
            log.info("address unreachable channel=%s who=%s", channel, who, extra={"channel": channel, "who": who})
        return gone

    def is_stopped(self, channel: str, address: str) -> bool:
        """Did the resident at this address say stop (nothing is sent on the service's own initiative)?"""

        def work(session: Session) -> bool:
            resident = residents.find_by_address(session, channel, address)
            return resident is not None and resident.stopped_at is not None

        return self._run(work)

    # -- markers ----------------------------------------------------------------------------------
    def first_time(self, channel: str, key: str) -> bool:
        """True the first time a channel's marker is seen (services.dedup, shared by every instance)."""
        return self._run(lambda s: dedup.first_time(s, channel, key, self.clock.now()))
