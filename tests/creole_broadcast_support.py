"""Residents who chose French or Réunion Creole, for the tests of a broadcast's Creole version (services,
preview, back-office)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from relai_bot.store.models import ChannelAddress, Resident
from relai_bot.wiring import Runtime
from tests.delivery_support import add_residents

FRENCH = "Bonjour {{ prenom }} ! Forum de l'emploi samedi à {{ quartier }}."
CREOLE = "Bonzour {{ prenom }} ! Néna in forom travay sanmdi dan {{ quartier }}."
# The SMS numbers: the French-speaking resident's, then the Creole-speaking one's
FR_PHONE, RCF_PHONE = "+262692000001", "+262692000002"


def _speak(session: Session, resident_ids: list[int], language: str, name: str | None = None) -> None:
    for n, rid in enumerate(resident_ids):
        resident = session.get(Resident, rid)
        assert resident is not None
        resident.language = language
        resident.display_name = name if n == 0 else None


def population(runtime: Runtime) -> dict[str, list[int]]:
    """Saint-Laurent: 3 residents who chose French (Telegram chats 10000, named Marie, and 10001; SMS
    FR_PHONE) and 2 who chose Creole (Telegram chat 20000, named Jo; SMS RCF_PHONE). Returns their ids by
    language, Telegram first."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        fr_telegram = add_residents(session, 2, now)
        fr_sms = add_residents(session, 1, now, channel="sms", first_address=262692000001)
        rcf_telegram = add_residents(session, 1, now, first_address=20_000)
        rcf_sms = add_residents(session, 1, now, channel="sms", first_address=262692000002)
        for row in session.exec(select(ChannelAddress).where(col(ChannelAddress.resident_id).in_(fr_sms + rcf_sms))):
            row.address = "+" + row.address
        _speak(session, fr_telegram, "fr", "Marie")
        _speak(session, fr_sms, "fr")
        _speak(session, rcf_telegram, "rcf", "Jo")
        _speak(session, rcf_sms, "rcf")
    return {"fr": fr_telegram + fr_sms, "rcf": rcf_telegram + rcf_sms}
