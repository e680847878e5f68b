"""All tables; importing this package registers them on SQLModel.metadata."""

from relai_bot.store.models.agenda import (
    APPOINTMENT_STATUSES,
    Absence,
    Appointment,
    CallbackRequest,
    Opening,
    Slot,
)
from relai_bot.store.models.audit import AuditEvent, LoginThrottle, StaffSession
from relai_bot.store.models.catalog import SCHEME_EVENT_KINDS, AdviserScheme, Scheme, SchemeEvent, SchemeVenue, Venue
from relai_bot.store.models.delivery import AdviserAddress, Broadcast, OutboxMessage, WaitlistEntry
from relai_bot.store.models.ids import id_of
from relai_bot.store.models.messaging import Conversation, MessageLog, ProcessedMessage
from relai_bot.store.models.people import (
    Adviser,
    ChannelAddress,
    District,
    Resident,
    StaffChat,
    StaffDistrict,
    StaffUser,
)

__all__ = [
    "APPOINTMENT_STATUSES",
    "SCHEME_EVENT_KINDS",
    "Absence",
    "Adviser",
    "AdviserAddress",
    "AdviserScheme",
    "Appointment",
    "AuditEvent",
    "Broadcast",
    "CallbackRequest",
    "ChannelAddress",
    "Conversation",
    "District",
    "LoginThrottle",
    "MessageLog",
    "Opening",
    "OutboxMessage",
    "ProcessedMessage",
    "Resident",
    "Scheme",
    "SchemeEvent",
    "SchemeVenue",
    "Slot",
    "StaffChat",
    "StaffDistrict",
    "StaffSession",
    "StaffUser",
    "Venue",
    "WaitlistEntry",
    "id_of",
]
