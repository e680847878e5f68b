"""What a resident shares instead of typing: their contact card, their position.

A channel that offers them (Telegram) turns them into an `Inbound` of kind "contact" ({"phone", "own"}) or
"location" ({"lat", "lon"}); what they mean depends on where the resident stands, so it is decided here:

contact   someone else's contact: say we need the resident's own. A step asking for a phone number: the
          number is the answer. Not a number: say so. Nobody consented yet: not needed here. Otherwise
          the number becomes the resident's SMS address (services.linking: a resident who wrote from it
          before is merged into this one), and a one-tap offer to share it is withdrawn.
location  a step asking for a district: the nearest district is the answer, as if its name was typed.
          Elsewhere: the nearest district and meeting place (nothing is stored).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from relai_bot.conversation.context import Context
from relai_bot.conversation.flows import StepSpec
from relai_bot.services import geo, linking
from relai_bot.services.phones import normalise_phone
from relai_bot.services.residents import address_tag
from relai_bot.turns import SharePhone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sharing:
    """The engine's answer to something shared: the step's answer, or a text to say."""

    # The answer to the step: `parsed` goes to the step's parser, `typed` is read as if the resident typed it
    parsed: str | None = None
    typed: str | None = None
    # Otherwise this template (with its context), then the step's options again if `reprompt`
    say: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    reprompt: bool = False
    share_phone: SharePhone | None = None


def _asks(step: StepSpec, parse: str) -> bool:
    return step.input is not None and step.input.parse == parse


def contact(ctx: Context, step: StepSpec) -> Sharing:
    payload = ctx.inbound.payload
    phone = str(payload.get("phone") or "")
    if not payload.get("own"):
        return Sharing(say="account/contact_not_yours")
    if _asks(step, "phone"):
        return Sharing(parsed=phone)  # an unreadable number gets the step's own explanation
    if normalise_phone(phone) is None:
        return Sharing(say="account/phone_invalid", share_phone="withdraw")
    if ctx.resident is None or ctx.resident.id is None:
        return Sharing(say="common/unsupported_contact", reprompt=True)
    result = linking.link_phone(ctx.session, ctx.resident.id, phone, ctx.now)
    who = address_tag(ctx.channel, ctx.inbound.address)
    context = {"channel": ctx.channel, "who": who, "outcome": result.outcome}
    log.info("phone linked who=%s outcome=%s", who, result.outcome, extra=context)
    return Sharing(say="account/phone_linked", context={"merged": result.outcome == "merged"}, share_phone="withdraw")


def _point(payload: dict[str, Any]) -> tuple[float, float] | None:
    try:
        lat, lon = float(payload["lat"]), float(payload["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        return None
    return lat, lon


def location(ctx: Context, step: StepSpec) -> Sharing:
    point = _point(ctx.inbound.payload)
    if point is None:
        return Sharing(say="common/unsupported_location", reprompt=True)
    near = geo.nearby(ctx.session, *point)
    if _asks(step, "district") and near.district is not None:
        return Sharing(typed=near.district)
    context = {
        "district_name": near.district,
        "venue_name": near.venue,
        "venue_address": near.venue_address,
        "venue_km": near.venue_km,
    }
    return Sharing(say="common/nearest_places", context=context, reprompt=True)
