"""Where the program itself sends a resident into a flow (a keyword, a command): declared once, here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EntryPoint:
    flow: str
    step: str
    # Conversation data the step needs (none for the entry points below)
    data: tuple[str, ...] = ()


# "/rendezvous", "mes rendez-vous" (keywords.yaml, group `appointments`): the resident's appointments
MY_APPOINTMENTS = EntryPoint("my_appointments", "list")
