"""The web simulator's channel: a staff member's turn through the residents' dispatcher, and a Sender for
the outbox, so that what the service sends on its own lands in the simulator's conversation."""

from __future__ import annotations

import pytest
from sqlmodel import select

from relai_bot.channels.registry import build_channels
from relai_bot.channels.web import NotASimulatorAddress, WebChannel, build_web_channels
from relai_bot.conversation.options import offered
from relai_bot.delivery.ticks import waitlist_tick
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.sending.contract import SendFailure
from relai_bot.services import appointment_status, simulator
from relai_bot.services.delivery_records import DeliveryRecords
from relai_bot.store.models import Appointment, MessageLog, OutboxMessage, id_of
from relai_bot.testing.driver import Driver, onboard
from relai_bot.turns import Reply
from relai_bot.wiring import Runtime
from tests.services.test_reminders import FAST
from tests.services.test_waitlist import cancel, full_slot, join

STAFF_ID = 7


def channels(runtime: Runtime) -> dict[str, WebChannel]:
    records = DeliveryRecords(runtime.db, runtime.clock)
    found = build_web_channels(runtime.dispatcher, runtime.renderer, runtime.settings, records)
    return {channel.name: channel for channel in found}


def test_the_simulator_runs_without_any_provider(runtime: Runtime) -> None:
    records = DeliveryRecords(runtime.db, runtime.clock)
    built = build_channels(runtime.settings, runtime.dispatcher, runtime.renderer, records)
    assert [channel.name for channel in built] == ["web_telegram", "web_sms"]
    with pytest.raises(ValueError, match="not a simulated channel"):
        WebChannel("telegram", runtime.dispatcher, runtime.renderer, runtime.settings, records)


async def test_it_speaks_for_the_simulators_addresses_only(runtime: Runtime) -> None:
    web = channels(runtime)["web_telegram"]
    for address in ("7001", "+262692000001", "resident-1", ""):
        with pytest.raises(NotASimulatorAddress):
            web.play(address, text="bonjour")
        with pytest.raises(SendFailure) as refused:
            await web.send(address, Reply(text="Bonjour", log_id=1), proactive=True)
        assert refused.value.kind == "unreachable"


def test_sms_turns_are_measured_and_recorded_like_sms(runtime: Runtime) -> None:
    web = channels(runtime)["web_sms"]
    address = simulator.address_of(STAFF_ID)
    for text in ("bonjour", "1"):  # hello, then yes to the consent
        played = web.play(address, text=text)
    assert played.turn.resident_id is not None
    (bubble,) = played.bubbles  # the consent's answer and its question went as one SMS
    assert bubble.sms is not None and bubble.sms.encoding == "GSM-7" and bubble.sms.segments >= 1
    assert "\n1. Oui\n2. Non\nRépondez 1 ou 2." in bubble.text  # é is GSM-7
    with runtime.db.transaction() as session:
        found = simulator.load(session, "web_sms", STAFF_ID)
    outgoing = [line for line in found.lines if line.direction == "out"]
    assert outgoing[0].segments == bubble.sms.segments == sum(line.segments or 0 for line in outgoing)
    assert all(line.encoding == "GSM-7" for line in outgoing)


@pytest.mark.parametrize("name", ["web_telegram", "web_sms"])
async def test_a_waitlist_offer_reaches_the_simulator_through_the_outbox(
    runtime: Runtime, driver: Driver, name: str
) -> None:
    web = channels(runtime)
    holder = await driver.onboarded("telegram", address="5000")
    slot_id, appointment_id = full_slot(runtime, holder)
    tester = driver.resident(name, simulator.address_of(STAFF_ID))  # the engine's side of the simulator
    await onboard(tester)
    join(runtime, tester, slot_id=slot_id)
    cancel(runtime, holder, appointment_id)
    assert waitlist_tick(runtime) == {"expired": 0, "offered": 1}
    worker = DeliveryWorker(runtime, dict(web), limits={n: FAST["telegram"] for n in web}, poll_seconds=0.01)
    await worker.drain()
    await worker.stop()
    with runtime.db.transaction() as session:
        found = simulator.load(session, name, STAFF_ID)
    assert found.conversation is not None and found.conversation.flow == "waitlist_offer"
    offer = found.lines[-1]
    assert offer.direction == "out" and "une place s'est libérée" in offer.body
    channel = web[name]
    options = offered(found.conversation)
    shown = channel.transcript(found.lines, options, flow=found.conversation.flow)
    if name == "web_sms":
        assert "1. Oui, je la prends" in shown[-1].text and shown[-1].sms is not None
    else:
        assert [o.label for o in options] == ["Oui, je la prends", "Non merci"]
    played = channel.play(simulator.address_of(STAFF_ID), choice=options[0].id)
    assert "C'est réservé !" in played.turn.text


async def test_a_cancellation_by_the_service_reaches_the_simulator(runtime: Runtime, driver: Driver) -> None:
    """An adviser cancels a test resident's appointment: the notice goes through the outbox to the
    simulator's conversation, with its buttons."""
    web = channels(runtime)
    tester = driver.resident("web_telegram", simulator.address_of(STAFF_ID))
    await onboard(tester)
    await tester.book_first_slot()
    with runtime.db.transaction() as session:
        (appointment,) = session.exec(select(Appointment)).all()
        appointment_status.set_status(
            session,
            appointment_id=id_of(appointment),
            status="service_cancelled",
            actor_id=None,
            now=runtime.clock.now(),
            tz=runtime.settings.tz,
            follow_up_at=runtime.settings.no_show_follow_up_at,
        )
    worker = DeliveryWorker(runtime, dict(web), limits={n: FAST["telegram"] for n in web}, poll_seconds=0.01)
    await worker.drain()
    await worker.stop()
    with runtime.db.transaction() as session:
        (row,) = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "notice")).all()
        assert (row.channel, row.status) == ("web_telegram", "sent")
        found = simulator.load(session, "web_telegram", STAFF_ID)
        logged = session.exec(select(MessageLog).where(MessageLog.id == found.lines[-1].id)).one()
    assert found.lines[-1].direction == "out" and logged.status == "delivered"
    assert found.conversation is not None and found.conversation.flow == "appointment_notice"
    assert offered(found.conversation)  # its buttons are on the page
