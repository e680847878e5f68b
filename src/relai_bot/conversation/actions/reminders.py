"""Answers to the messages the delivery engine sends: a reminder's "je confirme", waitlist offers."""

from __future__ import annotations

from datetime import timedelta

from relai_bot.conversation.actions.appointments import appointment_item, slot_item
from relai_bot.conversation.context import Context, action
from relai_bot.services import booking, reminders, schemes, waitlist
from relai_bot.services.errors import NotFound
from relai_bot.store.models import id_of


@action("confirm_appointment", provides=("appointment",), reads=("appointment_id",), irreversible=True)
def confirm_appointment(ctx: Context) -> str | None:
    """The resident confirms, from a reminder, that they will come."""
    resident = ctx.require_resident()
    appointment = reminders.confirm_appointment(
        ctx.session,
        appointment_id=int(ctx.data["appointment_id"]),
        resident_id=id_of(resident),
        now=ctx.now,
    )
    ctx.vars["appointment"] = appointment_item(booking.appointment_view(ctx.session, id_of(appointment)), ctx.language)
    return None


# -- the waitlist ------------------------------------------------------------------------------------
@action("join_waitlist", provides=("offer_minutes",), irreversible=True)
def join_waitlist(ctx: Context) -> str | None:
    """Wait for a place in data.slot_id, or in the next slots of data.scheme_code."""
    resident = ctx.require_resident()
    slot_id = ctx.data.get("slot_id")
    code = ctx.data.get("scheme_code")
    waitlist.join(
        ctx.session,
        resident_id=id_of(resident),
        channel=ctx.channel,
        now=ctx.now,
        slot_id=int(slot_id) if slot_id else None,
        scheme_id=schemes.get_scheme(ctx.session, str(code)).id if code and not slot_id else None,
    )
    ctx.vars["offer_minutes"] = ctx.settings.waitlist_offer_minutes
    ctx.drop("slot_id", "venue_id", "scheme_code")
    return None


@action("waitlist_offer", outcomes=("gone",), provides=("slot", "expires_at"), reads=("waitlist_entry_id",))
def waitlist_offer(ctx: Context) -> str | None:
    """The place offered to the resident (data.waitlist_entry_id), unless it has gone meanwhile."""
    try:
        entry, slot = waitlist.current_offer(
            ctx.session,
            int(ctx.data["waitlist_entry_id"]),
            id_of(ctx.require_resident()),
            ctx.now,
        )
    except NotFound:
        return "gone"
    views = booking.free_slots(ctx.session, ctx.now, slot_id=slot.id, limit=1, horizon=timedelta(days=365))
    if not views:
        return "gone"
    ctx.vars["slot"] = slot_item(views[0])
    ctx.vars["expires_at"] = entry.offer_expires_at
    return None


@action("accept_offer", provides=("appointment",), reads=("waitlist_entry_id",), irreversible=True)
def accept_offer(ctx: Context) -> str | None:
    """The resident takes the place offered from the waitlist: it is booked for them."""
    resident = ctx.require_resident()
    appointment = waitlist.accept(
        ctx.session,
        entry_id=int(ctx.data["waitlist_entry_id"]),
        resident_id=id_of(resident),
        channel=ctx.channel,
        now=ctx.now,
    )
    ctx.vars["appointment"] = appointment_item(booking.appointment_view(ctx.session, id_of(appointment)), ctx.language)
    ctx.data.pop("waitlist_entry_id", None)
    return None


@action("decline_offer", reads=("waitlist_entry_id",), irreversible=True)
def decline_offer(ctx: Context) -> str | None:
    """The resident turns down the place offered; it goes to the next one waiting."""
    waitlist.decline(
        ctx.session,
        entry_id=int(ctx.data.pop("waitlist_entry_id")),
        resident_id=id_of(ctx.require_resident()),
        now=ctx.now,
    )
    return None
