"""Answers to the notices the service sends when it changed an appointment: cancelled by the service,
moved (an adviser's absence), or the resident did not come (services/appointment_status.py)."""

from __future__ import annotations

from relai_bot.conversation.actions.appointments import appointment_item, slot_item
from relai_bot.conversation.context import Context, action
from relai_bot.services import booking
from relai_bot.services.booking import AppointmentView
from relai_bot.services.errors import NotFound

# Slots offered at once with a notice (more with "Voir d'autres horaires"): a short message, also by SMS
NOTICE_SLOTS = 3


def _own(ctx: Context) -> AppointmentView | None:
    """The appointment the notice is about, if it is the resident's own (whatever its status)."""
    try:
        view = booking.appointment_view(ctx.session, int(ctx.data["appointment_id"]))
    except NotFound:
        return None
    return view if view.appointment.resident_id == ctx.require_resident().id else None


@action("notice_detail", outcomes=("gone",), provides=("appointment",), reads=("appointment_id",))
def notice_detail(ctx: Context) -> str | None:
    """The appointment the notice is about."""
    view = _own(ctx)
    if view is None:
        return "gone"
    ctx.vars["appointment"] = appointment_item(view, ctx.language)
    return None


@action(
    "notice_with_slots",
    outcomes=("gone", "none"),
    provides=("appointment", "slots"),
    reads=("appointment_id",),
    writes=("scheme_code",),
)
def notice_with_slots(ctx: Context) -> str | None:
    """The appointment the notice is about, and the next free slots of the same scheme to book again
    ("none": there are none right now)."""
    view = _own(ctx)
    if view is None:
        return "gone"
    ctx.vars["appointment"] = appointment_item(view, ctx.language)
    ctx.data["scheme_code"] = view.scheme.code if view.scheme else None
    slots = booking.free_slots(
        ctx.session,
        ctx.now,
        scheme_id=view.scheme.id if view.scheme else None,
        limit=NOTICE_SLOTS,
        exclude_slot_id=view.appointment.slot_id,
    )
    ctx.vars["slots"] = [slot_item(v) for v in slots]
    return None if slots else "none"
