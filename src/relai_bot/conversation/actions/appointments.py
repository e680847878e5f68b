"""Booking an appointment, and the resident's own appointments: list, cancel, move."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from relai_bot.conversation.actions.discovery import scheme_item
from relai_bot.conversation.context import Context, action
from relai_bot.services import booking, geo, schemes
from relai_bot.services.booking import AppointmentView, SlotView
from relai_bot.services.calendar_ics import appointment_ics
from relai_bot.store.models import District, Venue, id_of
from relai_bot.turns import Attachment

# When a resident has no idea which scheme, they meet a general adviser about this one
GENERAL_SCHEME = "accompagnement-france-travail"


def _horizon(ctx: Context) -> timedelta:
    return timedelta(days=ctx.settings.booking_horizon_days)


def _scheme_id(ctx: Context) -> int | None:
    code = ctx.data.get("scheme_code")
    return schemes.get_scheme(ctx.session, str(code)).id if code else None


def slot_item(view: SlotView) -> dict[str, Any]:
    slot = view.slot
    return {
        "id": slot.id,
        "starts_at": slot.starts_at,
        "ends_at": slot.ends_at,
        "venue": view.venue.name,
        "remote": view.venue.remote,
        "address": view.venue.address,
        "adviser": view.adviser.name,
        "group": slot.capacity > 1,
    }


def appointment_item(view: AppointmentView, language: str | None) -> dict[str, Any]:
    """An appointment as templates read it, its scheme named in `language` (the resident's)."""
    appointment = view.appointment
    return {
        "id": appointment.id,
        "starts_at": appointment.starts_at,
        "venue": view.venue.name,
        "remote": view.venue.remote,
        "address": view.venue.address,
        "town": view.venue.town,
        "adviser": view.adviser.name,
        "scheme": scheme_item(view.scheme, language) if view.scheme else None,
    }


@action("booking_schemes", outcomes=("chosen",), provides=("schemes", "general_scheme"))
def booking_schemes(ctx: Context) -> str | None:
    """Which scheme is the appointment about? Skip the question when it is known already."""
    if ctx.data.get("scheme_code"):
        return "chosen"
    profile = schemes.profile_of(ctx.session, ctx.resident)
    ranked = schemes.rank_schemes(ctx.session, profile, limit=6)
    # The ranking lists only what may be booked (schemes.shown_to_residents)
    bookable = [r.scheme for r in ranked if r.scheme.code != GENERAL_SCHEME]
    ctx.vars["schemes"] = [scheme_item(s, ctx.language) for s in bookable][:5]
    ctx.vars["general_scheme"] = GENERAL_SCHEME
    return None


@action("venue_choices", outcomes=("none", "one"), provides=("venues",), writes=("venue_id",))
def venue_choices(ctx: Context) -> str | None:
    """The places with free slots for the chosen scheme; the only one is chosen at once."""
    choices = booking.venues_with_free_slots(ctx.session, ctx.now, scheme_id=_scheme_id(ctx), horizon=_horizon(ctx))
    ctx.vars["venues"] = [
        {
            "id": c.venue.id,
            "name": c.venue.name,
            "remote": c.venue.remote,
            "first_start": c.first_start,
            "free": c.free_slots,
        }
        for c in choices
    ]
    if not choices:
        return "none"
    if len(choices) == 1:
        ctx.data["venue_id"] = choices[0].venue.id
        return "one"
    return None


@action("free_slots", outcomes=("none",), provides=("slots",))
def free_slots(ctx: Context) -> str | None:
    """The next free slots at the chosen place (or anywhere), for the chosen scheme."""
    exclude = ctx.data.get("moving_slot_id")
    wanted = ctx.settings.slots_offered
    views = booking.free_slots(
        ctx.session,
        ctx.now,
        scheme_id=_scheme_id(ctx),
        venue_id=ctx.data.get("venue_id"),
        limit=wanted * 4,
        horizon=_horizon(ctx),
        exclude_slot_id=int(exclude) if exclude else None,
    )
    views = _nearest_first(ctx, views)[:wanted]
    ctx.vars["slots"] = [slot_item(v) for v in views]
    return None if views else "none"


def _nearest_first(ctx: Context, views: list[SlotView]) -> list[SlotView]:
    """Meetings in person first; phone slots first for residents far from every venue (Mafate, the Hauts)."""
    resident = ctx.resident
    district = ctx.session.get(District, resident.district_id) if resident and resident.district_id else None
    far = False
    if district is not None and district.lat is not None and district.lon is not None:
        in_person = ctx.session.exec(select(Venue).where(Venue.remote == False)).all()  # noqa: E712
        closest = geo.nearest(district.lat, district.lon, in_person)
        far = closest is None or closest[1] > geo.FAR_FROM_VENUES_KM
    return sorted(views, key=lambda v: (v.venue.remote != far, v.slot.starts_at, v.slot.id))


@action("chosen_slot", outcomes=("gone",), provides=("slot", "scheme"), reads=("slot_id",))
def chosen_slot(ctx: Context) -> str | None:
    """The slot the resident picked, to read back before they confirm."""
    views = booking.free_slots(ctx.session, ctx.now, limit=1, horizon=_horizon(ctx), slot_id=int(ctx.data["slot_id"]))
    if not views:
        return "gone"
    ctx.vars["slot"] = slot_item(views[0])
    scheme_code = ctx.data.get("scheme_code")
    ctx.vars["scheme"] = (
        scheme_item(schemes.get_scheme(ctx.session, scheme_code), ctx.language) if scheme_code else None
    )
    return None


def _ics(ctx: Context, view: AppointmentView) -> Attachment:
    item = appointment_item(view, ctx.language)
    content = appointment_ics(
        uid=f"appointment-{view.appointment.id}@relai-bot",
        starts_at=view.appointment.starts_at,
        ends_at=view.appointment.ends_at,
        summary=ctx.render("booking/ics_summary", appointment=item),
        location=ctx.render("booking/ics_location", appointment=item),
        description=ctx.render("booking/ics_description", appointment=item),
        stamp=ctx.now,
    )
    return Attachment(filename="rendez-vous.ics", media_type="text/calendar", content=content)


@action("book", provides=("appointment",), reads=("slot_id",), irreversible=True)
def book(ctx: Context) -> str | None:
    """Book the chosen slot; the confirmation carries a calendar file."""
    resident = ctx.require_resident()
    appointment = booking.book_slot(
        ctx.session,
        resident_id=id_of(resident),
        slot_id=int(ctx.data["slot_id"]),
        scheme_id=_scheme_id(ctx),
        channel=ctx.channel,
        now=ctx.now,
    )
    view = booking.appointment_view(ctx.session, id_of(appointment))
    ctx.vars["appointment"] = appointment_item(view, ctx.language)
    ctx.attachments.append(_ics(ctx, view))
    ctx.drop("slot_id", "venue_id", "scheme_code")
    return None


@action("list_appointments", outcomes=("none",), provides=("appointments",))
def list_appointments(ctx: Context) -> str | None:
    """The resident's upcoming appointments."""
    views = booking.upcoming_appointments(ctx.session, id_of(ctx.require_resident()), ctx.now)
    ctx.vars["appointments"] = [appointment_item(v, ctx.language) for v in views]
    return None if views else "none"


@action(
    "appointment_detail",
    outcomes=("gone",),
    provides=("appointment",),
    reads=("appointment_id",),
    writes=("moving_slot_id", "scheme_code"),
)
def appointment_detail(ctx: Context) -> str | None:
    """One of the resident's booked appointments (data.appointment_id), to show, cancel or move."""
    view = booking.appointment_view(ctx.session, int(ctx.data["appointment_id"]))
    if view.appointment.resident_id != ctx.require_resident().id or view.appointment.status != "booked":
        return "gone"
    ctx.vars["appointment"] = appointment_item(view, ctx.language)
    ctx.data["moving_slot_id"] = view.appointment.slot_id
    ctx.data["scheme_code"] = view.scheme.code if view.scheme else None
    return None


@action("cancel_appointment", provides=("appointment",), reads=("appointment_id",), irreversible=True)
def cancel_appointment(ctx: Context) -> str | None:
    """Cancel the appointment in data.appointment_id; its place goes back to others."""
    resident = ctx.require_resident()
    appointment = booking.cancel_appointment(
        ctx.session,
        appointment_id=int(ctx.data["appointment_id"]),
        resident_id=id_of(resident),
        now=ctx.now,
    )
    ctx.vars["appointment"] = appointment_item(booking.appointment_view(ctx.session, id_of(appointment)), ctx.language)
    _forget_booking(ctx)
    return None


@action("move_appointment", provides=("appointment",), reads=("appointment_id", "slot_id"), irreversible=True)
def move_appointment(ctx: Context) -> str | None:
    """Move the appointment in data.appointment_id to the slot in data.slot_id."""
    resident = ctx.require_resident()
    moved = booking.move_appointment(
        ctx.session,
        appointment_id=int(ctx.data["appointment_id"]),
        resident_id=id_of(resident),
        new_slot_id=int(ctx.data["slot_id"]),
        now=ctx.now,
    )
    view = booking.appointment_view(ctx.session, id_of(moved))
    ctx.vars["appointment"] = appointment_item(view, ctx.language)
    ctx.attachments.append(_ics(ctx, view))
    _forget_booking(ctx)
    return None


@action("forget_booking")
def forget_booking(ctx: Context) -> str | None:
    """Forget a booking's answers: scheme, place, slot, and an appointment being moved."""
    _forget_booking(ctx)
    return None


def _forget_booking(ctx: Context) -> None:
    ctx.drop("slot_id", "venue_id", "scheme_code", "appointment_id", "moving_slot_id")
