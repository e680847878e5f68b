"""Domain errors: raised by services, turned into kind answers by the conversation engine."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base of the errors a flow may branch on (by class name)."""


class NotFound(DomainError):
    pass


class SlotFull(DomainError):
    """The last place of the slot was just taken."""


class SlotInPast(DomainError):
    """The slot has started or is too close to start to be booked."""


class AlreadyBooked(DomainError):
    """The resident already holds an appointment at an overlapping time."""


class AppointmentNotActive(DomainError):
    """The appointment was already cancelled or has taken place."""


class ApprovalRefused(DomainError):
    """A broadcast cannot be approved by this person, or is not waiting for approval."""


class BroadcastClosed(DomainError):
    """The broadcast was interrupted already, or holds nothing that could still be stopped."""


class OutOfScope(DomainError):
    """A staff member acted on a district not assigned to them (or an adviser tried to broadcast)."""


class FieldErrors(DomainError):
    """A form cannot be saved: `errors` maps each field at fault to what to do (French, for staff)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = dict(errors)

    @property
    def field(self) -> str:
        """The first field at fault."""
        return next(iter(self.errors))
