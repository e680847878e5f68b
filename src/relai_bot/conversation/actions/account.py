"""The resident's own data and contact: call-back request, opportunities, export, erasure, stop."""

from __future__ import annotations

import json

from relai_bot.conversation.context import Context, action
from relai_bot.services import callbacks, linking, residents
from relai_bot.store.models import id_of
from relai_bot.turns import Attachment, texts_channel


@action("callback_phone", outcomes=("known",), writes=("callback_phone",))
def callback_phone(ctx: Context) -> str | None:
    """By SMS we already know the number to call; elsewhere we ask for it."""
    if ctx.channel == "sms":
        ctx.data["callback_phone"] = ctx.inbound.address
        return "known"
    return None


@action("offer_phone_share")
def offer_phone_share(ctx: Context) -> str | None:
    """After a booking: offer to share the phone number (reminders by SMS too), unless we have it already."""
    resident = ctx.require_resident()
    if ctx.channel != linking.SMS and not linking.has_phone(ctx.session, id_of(resident)):
        ctx.share_phone = "offer"
    return None


@action("request_callback", irreversible=True)
def request_callback(ctx: Context, preferred_time: str) -> str | None:
    """Ask for a call back at the preferred time; staff see the request."""
    resident = ctx.require_resident()
    callbacks.request_callback(
        ctx.session,
        resident_id=id_of(resident),
        phone=ctx.data.pop("callback_phone", None),
        preferred_time=preferred_time,
        topic=ctx.data.get("scheme_code"),
        now=ctx.now,
    )
    return None


@action("export_data", provides=("exported",))
def export_data(ctx: Context) -> str | None:
    """A copy of everything kept about the resident, as a JSON file (not by SMS, which cannot carry one).

    By SMS the text (account/exported.sms) says how to get it: staff export it from the back-office."""
    resident = ctx.require_resident()
    data = residents.export_resident(ctx.session, id_of(resident), ctx.settings.timezone)
    if texts_channel(ctx.channel) != linking.SMS:
        content = json.dumps(data, ensure_ascii=False, indent=2).encode()
        ctx.attachments.append(Attachment("mes-donnees.json", "application/json", content))
    ctx.vars["exported"] = data
    return None


@action("erase_me", irreversible=True)
def erase_me(ctx: Context) -> str | None:
    """Forget the resident entirely; their future places go back to others."""
    resident = ctx.require_resident()
    residents.erase_resident(ctx.session, id_of(resident), ctx.now)
    ctx.resident = None
    ctx.forget = True
    return None


@action("stop_messages", irreversible=True)
def stop_messages(ctx: Context) -> str | None:
    """No more messages to the resident until they say start again."""
    resident = ctx.require_resident()
    residents.stop(ctx.session, resident, ctx.now)
    return None
