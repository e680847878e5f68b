"""The places in conversations/*.yaml that Python code sends residents to, declared once.

A leaf module (it imports nothing from relai_bot): services, the conversation engine and the channels may
all import it. The flow validator checks each entry point against the flow files: the flow and the step
exist, the data handed over covers what the step's actions read, and the option keys exist there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class EntryPoint:
    flow: str
    step: str = ""  # "" is the flow's start
    # The conversation data the code hands over when it puts a resident here
    data: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"flow:{self.flow}/{self.step}" if self.step else f"flow:{self.flow}"

    def target(self, **data: Any) -> tuple[str, str, dict[str, Any]]:
        """(flow, step, data) of an outbox row that puts the resident here; `data` is exactly what is declared."""
        if set(data) != set(self.data):
            raise ValueError(f"{self} takes data {sorted(self.data)}, not {sorted(data)}")
        return self.flow, self.step, data


HOME = EntryPoint("menu")
FIRST_CONTACT = EntryPoint("onboarding")
REMINDER = EntryPoint("reminder", "remind", data=("appointment_id",))
WAITLIST_OFFER = EntryPoint("waitlist_offer", "offer", data=("waitlist_entry_id", "offered_slot_id"))
# The service changed an appointment (services/appointment_status.py): the resident is told, with a way on
NOTICE_SERVICE_CANCELLED = EntryPoint("appointment_notice", "service_cancelled", data=("appointment_id",))
NOTICE_MOVED = EntryPoint("appointment_notice", "moved", data=("appointment_id",))
NOTICE_NO_SHOW = EntryPoint("appointment_notice", "no_show", data=("appointment_id",))
# "/rendezvous", "mes rendez-vous" (keywords.yaml, group `appointments`) lead here from anywhere
MY_APPOINTMENTS = EntryPoint("my_appointments")
# Where a sentence's intent leads (conversation/intents.py, engine.INTENT_ENTRIES)
BOOKING = EntryPoint("booking")
CALLBACK = EntryPoint("callback")
FIND_SCHEME = EntryPoint("find_scheme")
SEARCH_SCHEMES = EntryPoint("find_scheme", "search_results", data=("query",))
CONFIRM_STOP = EntryPoint("account", "confirm_stop")

ALL: Mapping[str, EntryPoint] = MappingProxyType(
    {
        "HOME": HOME,
        "FIRST_CONTACT": FIRST_CONTACT,
        "REMINDER": REMINDER,
        "WAITLIST_OFFER": WAITLIST_OFFER,
        "MY_APPOINTMENTS": MY_APPOINTMENTS,
        "NOTICE_SERVICE_CANCELLED": NOTICE_SERVICE_CANCELLED,
        "NOTICE_MOVED": NOTICE_MOVED,
        "NOTICE_NO_SHOW": NOTICE_NO_SHOW,
        "BOOKING": BOOKING,
        "CALLBACK": CALLBACK,
        "FIND_SCHEME": FIND_SCHEME,
        "SEARCH_SCHEMES": SEARCH_SCHEMES,
        "CONFIRM_STOP": CONFIRM_STOP,
    }
)
