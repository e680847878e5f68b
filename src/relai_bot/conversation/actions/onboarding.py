"""Onboarding: consent, opportunities, district, optional profile; a first wish kept for after consent."""

from __future__ import annotations

from typing import Literal

from relai_bot.conversation.context import Context, action
from relai_bot.services import district_links, residents
from relai_bot.store.models import District

# Wishes a first message may carry through the consent question (conversations/onboarding.yaml,
# step `consented`, says where each leads); help and stop are answered there and then
FIRST_WISHES = ("book", "appointments", "cancel_appointment", "callback", "find")


@action("give_consent", writes=("district_code",), irreversible=True)
def give_consent(ctx: Context) -> str | None:
    """The person said yes: from now on, and only now, we store who they are."""
    language = ctx.language  # chosen or detected before consent
    resident = residents.create_resident(ctx.session, ctx.channel, ctx.inbound.address, ctx.now, language=language)
    ctx.resident = resident
    ctx.conversation.resident_id = resident.id
    ctx.data.pop("consent_unclear", None)
    payload = ctx.data.pop("start_payload", "")
    if payload and (district := district_links.district_of_start(ctx.session, payload)) is not None:
        ctx.data["district_code"] = district.code
    return None


@action("note_district_word", writes=("start_payload",))
def note_district_word(ctx: Context) -> str | None:
    """A first message naming a district (the word on a poster, sent by SMS) presets it like a deep link.
    Only a district's code is kept: what else the person wrote is not stored before they consent."""
    text = ctx.inbound.text or ""
    if ctx.inbound.kind == "text" and "start_payload" not in ctx.data:
        district = district_links.district_of_start(ctx.session, text)
        if district is not None:
            ctx.data["start_payload"] = district_links.start_payload(district.code)
    return None


def note_wish(ctx: Context, text: str) -> None:
    """Keep the code of a wish (an intent of FIRST_WISHES) found in `text`: never the words."""
    intent = ctx.renderer.intents.match(text)
    if intent in FIRST_WISHES:
        ctx.data["start_intent"] = intent


@action("note_intent", writes=("start_intent",))
def note_intent(ctx: Context) -> str | None:
    """A first message with a wish ("je veux un rdv", "mi rode travay"): its intent's code is kept for
    after consent (pending_intent). What the person wrote is not."""
    if ctx.inbound.kind == "text":
        note_wish(ctx, ctx.inbound.text or "")
    return None


@action("typed_consent", reads=("consent",), outcomes=("refused",), writes=("district_code",), irreversible=True)
def typed_consent(ctx: Context) -> str | None:
    """Consent said in a sentence (data.consent is "oui" or "non", from parse_consent)."""
    if ctx.data.pop("consent", None) == "oui":
        return give_consent(ctx)
    refuse_consent(ctx)
    return "refused"


@action("pending_intent", outcomes=FIRST_WISHES)
def pending_intent(ctx: Context) -> str | None:
    """Just after consent: the wish of the first message, if any, leads on (a preset district is kept on
    the way: the steps that would save it are skipped)."""
    intent = ctx.data.pop("start_intent", None)
    if intent not in FIRST_WISHES:
        return None
    code = ctx.data.pop("district_code", None)
    if code:
        residents.set_district(ctx.session, ctx.require_resident(), code)
    return str(intent)


@action("refuse_consent", irreversible=True)
def refuse_consent(ctx: Context) -> str | None:
    """The person said no: nothing is kept, not even where they were in the conversation."""
    ctx.forget = True
    return None


@action("set_opportunities")
def set_opportunities(ctx: Context, wanted: bool) -> str | None:
    """Whether the resident wants to hear of opportunities (broadcasts)."""
    residents.set_opportunities(ctx.session, ctx.require_resident(), bool(wanted), ctx.now)
    return None


@action("preset_district", outcomes=("known",), provides=("district",))
def preset_district(ctx: Context) -> str | None:
    """A deep link (a poster in the neighbourhood) already told us the district."""
    code = ctx.data.pop("district_code", None)
    if code:
        district = residents.set_district(ctx.session, ctx.require_resident(), code)
        ctx.vars["district"] = district
        return "known"
    return None


@action("list_districts", provides=("districts",))
def list_districts(ctx: Context) -> str | None:
    """The districts of the commune, to choose from."""
    ctx.vars["districts"] = [{"code": d.code, "name": d.name} for d in residents.districts(ctx.session)]
    return None


@action("save_district", provides=("district",))
def save_district(ctx: Context) -> str | None:
    """Keep the district the resident chose (data.district_code)."""
    code = ctx.data.pop("district_code", None)
    if code:
        ctx.vars["district"] = residents.set_district(ctx.session, ctx.require_resident(), code)
    return None


@action("save_profile")
def save_profile(ctx: Context, field: Literal["age_bracket", "situation"]) -> str | None:
    """Keep an optional answer (age bracket, situation) on the resident."""
    resident = ctx.require_resident()
    if field not in ("age_bracket", "situation"):
        raise ValueError(f"unknown profile field {field}")
    value = ctx.data.get(field)
    setattr(resident, field, value or None)
    ctx.session.add(resident)
    return None


@action("current_district", provides=("district",))
def current_district(ctx: Context) -> str | None:
    """The resident's district, for the account page."""
    resident = ctx.require_resident()
    district = ctx.session.get(District, resident.district_id) if resident.district_id else None
    ctx.vars["district"] = district
    return None
