"""The SMS channel through the real stack: signed webhooks into the app under uvicorn, the dispatcher,
engine and database, replies through the real twilio client to FakeTwilioServer, status callbacks back.

What only SMS has (numbered options, segments, signatures, STOP's silence, delivery reports); the journeys
every channel carries run by SMS in tests/conversation/test_journeys.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import func, select

from relai_bot.channels.sms.channel import INBOUND_PATH
from relai_bot.channels.sms.encoding import measure
from relai_bot.channels.sms.render import SmsBatch
from relai_bot.clock import FrozenClock
from relai_bot.config import SettingsError
from relai_bot.sending.contract import SendFailure
from relai_bot.services.message_log import moves_forward
from relai_bot.store.models import (
    ChannelAddress,
    Conversation,
    MessageLog,
    ProcessedMessage,
    Resident,
)
from relai_bot.testing.driver import onboard
from relai_bot.turns import Option, Reply
from tests.conftest import make_runtime
from tests.fakes.twilio_api import inbound_sms_params, signed_form
from tests.journeys import whole_journey
from tests.sms_harness import ONE_WAY, TWO_WAY, SmsStack, sms_channel, sms_stack

# twilio 9.13's async client still passes aiohttp's deprecated BasicAuth: not ours to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

NUMBER = "+262692123456"
OTHER = "+262693654321"


@pytest.fixture
async def any_stack(database_url: str, clock: FrozenClock) -> AsyncIterator[SmsStack]:
    """The same stack on SQLite and on PostgreSQL."""
    async with sms_stack(database_url, clock) as running:
        yield running
        running.assert_clean()


def count(stack: SmsStack, model: type) -> int:
    with stack.runtime.db.transaction() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def resident(stack: SmsStack, number: str = NUMBER) -> Resident:
    with stack.runtime.db.transaction() as session:
        row = session.exec(
            select(Resident)
            .join(ChannelAddress, ChannelAddress.resident_id == Resident.id)
            .where(ChannelAddress.channel == "sms", ChannelAddress.address == number)
        ).one()
        session.expunge(row)
        return row


def address_row(stack: SmsStack, number: str = NUMBER) -> ChannelAddress:
    with stack.runtime.db.transaction() as session:
        row = session.exec(select(ChannelAddress).where(ChannelAddress.address == number)).one()
        session.expunge(row)
        return row


def out_logs(stack: SmsStack) -> list[MessageLog]:
    with stack.runtime.db.transaction() as session:
        rows = list(session.exec(select(MessageLog).where(MessageLog.direction == "out").order_by(MessageLog.id)))
        for row in rows:
            session.expunge(row)
        return rows


def log_of(stack: SmsStack, sid: str) -> MessageLog:
    return next(row for row in out_logs(stack) if row.provider_message_id == sid)


# -- signatures -------------------------------------------------------------------------------------


async def test_forged_and_unsigned_webhooks_are_refused_and_nothing_is_stored(stack: SmsStack) -> None:
    params = inbound_sms_params(NUMBER, TWO_WAY, "bonjour")
    answers = [
        await stack.post_inbound(params, signature="bm90IGEgc2lnbmF0dXJl"),  # forged
        await stack.post_inbound(params, signature=""),  # none
        # signed for another address (Twilio called https, we are told http): refused
        await stack.post_inbound(params, url=stack.public_url.replace("http://", "https://") + "/webhooks/twilio/sms"),
    ]
    # signed, then the body changed on the way
    signature = signed_form(stack.public_url + INBOUND_PATH, stack.auth_token, params)["X-Twilio-Signature"]
    answers.append(await stack.post_inbound({**params, "Body": "STOP"}, signature=signature))
    assert [a.status_code for a in answers] == [403, 403, 403, 403]
    for model in (Conversation, ProcessedMessage, MessageLog, Resident):
        assert count(stack, model) == 0, model.__name__
    assert stack.srv.messages == []
    # the same message, properly signed, goes through
    assert (await stack.post_inbound(params)).status_code == 200
    await stack.channel.idle()
    assert len(stack.srv.messages) == 1


async def test_the_webhook_answers_empty_twiml(stack: SmsStack) -> None:
    response = await stack.post_inbound(inbound_sms_params(NUMBER, TWO_WAY, "bonjour"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Message" not in response.text and "<Response" in response.text
    await stack.channel.idle()


# -- the whole journey --------------------------------------------------------------------------------


async def test_options_are_numbered_lines_answered_by_number(stack: SmsStack) -> None:
    phone = stack.phone(NUMBER)
    await phone.send("bonjour")
    welcome = "1. Oui, je suis d'accord\n2. Non merci\n3. En savoir plus\n4. Kréol\nRépondez un numéro de 1 à 4."
    assert welcome in phone.text
    await phone.send("1")
    assert "offres de votre quartier" in phone.text
    await phone.send("oui")  # a word works too
    assert "Dans quel quartier" in phone.text and "Répondez un numéro de 1 à 10." in phone.text
    await phone.tap("Saint-Laurent")
    await phone.send("plus tard")
    assert "Merci !" in phone.text and "Que voulez-vous faire ?" in phone.text
    assert len(phone.last_batch) == 1  # two replies, one SMS
    await phone.tap("Prendre rendez-vous")
    assert "0 = menu" in phone.text  # outside the menu, 0 goes back to it
    await phone.send("0")
    assert "Que voulez-vous faire ?" in phone.text


async def test_the_whole_journey_sms_by_sms_in_the_log(any_stack: SmsStack) -> None:
    stack = any_stack
    phone = stack.phone(NUMBER)
    await whole_journey(phone)
    assert all(not m.media_urls for m in phone.received)  # the .ics stays out of SMS
    # every SMS from the two-way number (GSM-7, within the budget, with a status callback: assert_clean)
    assert all(m.from_ == TWO_WAY and m.messaging_service_sid is None for m in phone.received)
    # the log holds the sid of each reply's first SMS, the encoding and the segments of all its SMS (a reply
    # in several SMS: the text, then the options), from consent on; merged replies count 0
    logged = phone.received[1:]
    logs = out_logs(stack)
    by_sid = {row.provider_message_id: row for row in logs if row.provider_message_id}
    assert set(by_sid) <= {m.sid for m in logged} and len(by_sid) >= len(logged) - 3
    for row in by_sid.values():
        assert (row.encoding, row.status) == ("GSM-7", "queued")
        first = next(i for i, m in enumerate(logged) if m.sid == row.provider_message_id)
        later = logged[first + 1 :]
        ends = next((i for i, m in enumerate(later) if m.sid in by_sid), len(later))
        assert row.segments == sum(m.segments for m in logged[first : first + 1 + ends])
    assert {row.status for row in logs if not row.provider_message_id} == {"merged"}
    assert sum(row.segments or 0 for row in logs) == sum(m.segments for m in logged)
    print(f"\njourney: {len(phone.received)} SMS, {sum(m.segments for m in phone.received)} segments")


async def test_a_search_by_word(stack: SmsStack) -> None:
    phone = await stack.onboarded(NUMBER)
    await phone.send("formasion")
    assert "Voici ce que j'ai trouvé" in phone.text
    assert len(phone.last_batch) == 1 and phone.last_batch[0].segments <= 3


async def test_a_message_twilio_delivers_twice_is_handled_once(any_stack: SmsStack) -> None:
    stack = any_stack
    phone = await stack.onboarded(NUMBER)
    assert len(await phone.send("2", message_sid="SM" + "42" * 16)) == 1
    assert await phone.send("2", message_sid="SM" + "42" * 16) == []
    with stack.runtime.db.transaction() as session:
        conversation = session.exec(select(Conversation)).one()
        assert (conversation.flow, conversation.step) == ("booking", "choose_scheme")


async def test_national_and_international_writing_are_one_resident(stack: SmsStack) -> None:
    national = stack.phone(NUMBER, written_as="0692 12 34 56")
    await onboard(national)
    assert "Que voulez-vous faire ?" in national.text
    international = stack.phone(NUMBER, written_as="+262692123456")
    await international.send("2")
    assert "C'est pour quelle aide ?" in international.text  # the same conversation goes on
    assert count(stack, Resident) == 1
    assert address_row(stack).address == NUMBER
    assert {m.to for m in stack.srv.messages} == {NUMBER}


async def test_a_webhook_without_a_usable_number_is_ignored(stack: SmsStack) -> None:
    response = await stack.post_inbound(inbound_sms_params("not a number", TWO_WAY, "bonjour"))
    assert response.status_code == 200
    assert count(stack, Conversation) == 0 and stack.srv.messages == []


async def test_a_photo_gets_a_polite_answer(stack: SmsStack) -> None:
    phone = await stack.onboarded(NUMBER)
    await phone.send("", NumMedia="1", MediaUrl0="https://api.twilio.com/media/1", MediaContentType0="image/jpeg")
    assert "photos" in phone.text


# -- STOP and START -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word", ["STOP", "stop", "Arret", "ARRÊT", "arrêt", "STOP SMS", "Stop sms", "DESINSCRIRE", "désinscrire"]
)
async def test_stop_silences_the_number_after_one_confirmation(stack: SmsStack, word: str) -> None:
    phone = await stack.onboarded(NUMBER)
    confirmation = await phone.send(word)
    assert len(confirmation) == 1 and "vous ne recevrez plus de messages" in confirmation[0].body
    assert resident(stack).stopped_at is not None
    before = len(stack.srv.messages)
    for body in ["bonjour", "1", "menu", "aide", word, "STOP"]:
        assert await phone.send(body) == [], body
    assert len(stack.srv.messages) == before
    assert {row.status for row in out_logs(stack)[-6:]} == {"suppressed"}
    # nor a reminder nor a broadcast
    with pytest.raises(SendFailure) as refused:
        await stack.channel.send(NUMBER, Reply(text="Rappel : rendez-vous demain."), proactive=True)
    assert refused.value.kind == "stopped"
    assert len(stack.srv.messages) == before


@pytest.mark.parametrize("word", ["START", "oui", "Reprendre"])
async def test_start_words_resubscribe(stack: SmsStack, word: str) -> None:
    phone = await stack.onboarded(NUMBER)
    await phone.send("STOP")
    await phone.send(word)
    assert "de nouveau nos messages" in phone.text and "Que voulez-vous faire ?" in phone.text
    assert resident(stack).stopped_at is None


async def test_twilio_opt_out_keywords_stop_us_too(stack: SmsStack) -> None:
    phone = await stack.onboarded(NUMBER)
    stack.srv.opted_out.add(NUMBER)  # Twilio blocked the number when it saw STOPALL
    assert await phone.send("STOPALL", OptOutType="STOP") == []
    assert resident(stack).stopped_at is not None


async def test_error_21610_marks_the_resident_stopped(stack: SmsStack) -> None:
    phone = await stack.onboarded(NUMBER)
    stack.srv.opted_out.add(NUMBER)
    creates = len(stack.srv.requests)
    assert await phone.send("menu") == []
    assert resident(stack).stopped_at is not None
    assert len(stack.srv.requests) == creates + 1  # not retried
    last = out_logs(stack)[-1]
    assert (last.status, last.error_code) == ("failed", "21610")
    assert stack.sleeps == []


# -- delivery problems ----------------------------------------------------------------------------------


async def test_error_30005_three_times_in_a_row_marks_unreachable(stack: SmsStack) -> None:
    phone = await stack.onboarded(NUMBER)
    sids = []
    for body in ["menu", "aide", "menu"]:
        sids.append((await phone.send(body))[0].sid)
    assert await stack.srv.send_status(sids[0], "undelivered", error_code=30005) == 204
    assert await stack.srv.send_status(sids[0], "undelivered", error_code=30005) == 204  # a duplicate
    assert address_row(stack).failures == 1
    await stack.srv.send_status(sids[1], "undelivered", error_code=30005)
    assert address_row(stack).unreachable_at is None
    await stack.srv.send_status(sids[2], "undelivered", error_code=30005)
    assert address_row(stack).unreachable_at is not None
    assert resident(stack).unreachable_at is not None
    assert log_of(stack, sids[2]).error_code == "30005"
    # a message from the number makes it reachable again
    await phone.send("menu")
    assert address_row(stack).unreachable_at is None and address_row(stack).failures == 0


async def test_a_delivery_resets_the_failures_in_a_row(stack: SmsStack) -> None:
    phone = await stack.onboarded(NUMBER)
    first = (await phone.send("menu"))[0].sid
    second = (await phone.send("menu"))[0].sid
    await stack.srv.send_status(first, "undelivered", error_code=30003)
    assert address_row(stack).failures == 1
    await stack.srv.send_status(second, "delivered")
    assert address_row(stack).failures == 0


async def test_429_then_success_is_retried_and_sent_once(stack: SmsStack) -> None:
    phone = await stack.onboarded(NUMBER)
    stack.srv.fail_next(status=429, code=20429)
    sent = await phone.send("menu")
    assert len(sent) == 1 and "Que voulez-vous faire ?" in sent[0].body
    creates = [r for r in stack.srv.requests if r.operation == "create"]
    assert [r.status for r in creates[-2:]] == [429, 201]
    assert stack.sleeps == [1.0]
    assert log_of(stack, sent[0].sid).status == "queued"


async def test_a_429_does_not_use_up_a_try(stack: SmsStack) -> None:
    """Twilio throttling is its pace, not a failure of the reply (relai_bot.sending.retry, rule 3): a
    reply throttled three times in a row still goes (it used to be given up after its third 429)."""
    phone = stack.phone(NUMBER)
    await onboard(phone)
    stack.srv.fail_next(status=429, code=20429, times=3)
    sent = await phone.send("menu")
    assert len(sent) == 1
    creates = [r for r in stack.srv.requests if r.operation == "create"]
    assert [r.status for r in creates[-4:]] == [429, 429, 429, 201]
    assert stack.sleeps == [1.0, 1.0, 1.0]


async def test_a_full_queue_is_waited_out_for_a_reply(stack: SmsStack) -> None:
    """A conversation reply waits up to 60 s in all, on Telegram and by SMS alike (it was 5 s by SMS)."""
    phone = stack.phone(NUMBER)
    await onboard(phone)
    stack.srv.fail_next(status=400, code=21611)
    assert len(await phone.send("menu")) == 1
    assert stack.sleeps == [60.0]


async def test_5xx_is_retried_three_times_then_given_up(stack: SmsStack) -> None:
    phone = await stack.onboarded(NUMBER)
    stack.srv.fail_next(status=503, code=20503, times=3)
    assert await phone.send("menu") == []
    creates = [r for r in stack.srv.requests if r.operation == "create"]
    assert [r.status for r in creates[-3:]] == [503, 503, 503]
    assert stack.sleeps == [1.0, 3.0]  # backoff
    last = out_logs(stack)[-1]
    assert (last.status, last.error_code) == ("failed", "20503")
    stack.srv.fail_next(status=500, code=20500)  # the next message goes through after one retry
    assert len(await phone.send("menu")) == 1


async def test_a_send_that_timed_out_is_not_sent_again(sqlite_url: str, clock: FrozenClock) -> None:
    async with sms_stack(sqlite_url, clock, twilio_timeout_seconds=0.2) as stack:
        phone = await stack.onboarded(NUMBER)
        before = len(stack.srv.messages)
        stack.srv.delay_next(0.6)  # Twilio takes the message, but answers too late
        assert await phone.send("menu") == []
        await stack.srv.wait_for_messages(before + 1)
        assert len(stack.srv.messages) == before + 1  # taken once, never resent
        last = out_logs(stack)[-1]
        assert (last.status, last.error_code) == ("unknown", "timeout")
        assert stack.sleeps == []
        assert stack.srv.violations == []


async def test_replies_to_one_number_go_out_in_order(stack: SmsStack) -> None:
    await stack.onboarded(NUMBER)
    before = len(stack.srv.messages)
    stack.srv.delay_next(0.2)  # the first reply is slow: the next ones must wait for it
    bodies = ["aide", "menu", "2"]
    for body in bodies:  # posted one after the other, answered at once, sent in the background
        params = inbound_sms_params(NUMBER, TWO_WAY, body)
        assert (await stack.post_inbound(params)).status_code == 200
    await stack.channel.idle()
    sent = stack.srv.messages[before:]
    assert len(sent) == 3
    assert "Dans ce menu" in sent[0].body
    assert "Que voulez-vous faire ?" in sent[1].body
    assert "C'est pour quelle aide ?" in sent[2].body


# -- status callbacks --------------------------------------------------------------------------------


async def test_status_callbacks_update_the_log_and_never_go_back(stack: SmsStack) -> None:
    phone = stack.phone(NUMBER)
    sid = (await phone.send("bonjour"))[0].sid
    await phone.send("1")
    sid = (await phone.send("1"))[0].sid  # after consent: logged
    assert log_of(stack, sid).status == "queued"
    assert await stack.srv.send_status(sid, "sent") == 204
    assert log_of(stack, sid).status == "sent"
    await stack.srv.send_status(sid, "delivered")
    await stack.srv.send_status(sid, "delivered")  # duplicate
    await stack.srv.send_status(sid, "sent")  # late, out of order
    await stack.srv.send_status(sid, "undelivered", error_code=30003)
    row = log_of(stack, sid)
    assert (row.status, row.error_code) == ("delivered", None)
    assert address_row(stack).failures == 0


async def test_a_forged_status_callback_is_refused(stack: SmsStack) -> None:
    phone = await stack.onboarded(NUMBER)
    sid = phone.last_batch[0].sid
    params = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30005", "To": NUMBER}
    assert (await stack.post_status(params, signature="Zm9yZ2Vk")).status_code == 403
    assert (await stack.post_status(params, signature="")).status_code == 403
    assert log_of(stack, sid).status == "queued"
    assert address_row(stack).failures == 0


async def test_a_report_arriving_before_its_sid_is_recorded_is_kept(stack: SmsStack) -> None:
    await stack.onboarded(NUMBER)
    row = out_logs(stack)[-1]
    early = "SM" + "ab" * 16
    params = {"MessageSid": early, "MessageStatus": "delivered", "To": NUMBER}
    assert (await stack.post_status(params)).status_code == 204
    batch = SmsBatch(parts=["Que voulez-vous faire ?"], log_ids=[row.id])
    await asyncio.to_thread(stack.channel.records.record_taken, [(batch, early, "queued")])
    assert log_of(stack, early).status == "delivered"


# -- sending on the service's initiative (the delivery engine's Sender contract) ------------------------

REMINDER = Reply(
    text="Rappel : vous avez rendez-vous mercredi 2 décembre à 9 h.\nVous venez ?",
    options=[Option("r.1", "Oui, je viens", 1), Option("r.2", "Non, j'annule", 2)],
)


async def test_proactive_sms_come_from_the_one_way_sender_without_reply_1(sqlite_url: str, clock: FrozenClock) -> None:
    settings: dict[str, Any] = {
        "twilio_one_way_from": ONE_WAY,
        "sms_opt_out_mention": "STOP au 36111",
        "sms_telegram_link": "t.me/relai_possession_bot",
        "sms_contact_phone": "0262 22 00 00",
    }
    async with sms_stack(sqlite_url, clock, **settings) as stack:
        result = await stack.channel.send(NUMBER, REMINDER, proactive=True)
        message = stack.srv.messages[-1]
        assert message.from_ == ONE_WAY and result.provider_message_id == message.sid
        assert "Répondez" not in message.body
        assert "1. Oui, je viens\n2. Non, j'annule" in message.body
        assert "envoyez le numéro par SMS au 0939 00 11 22" in message.body
        assert "Telegram : t.me/relai_possession_bot" in message.body
        assert "appelez la mairie au 0262 22 00 00" in message.body
        assert "STOP au 36111" not in message.body  # the opt-out mention is for broadcasts
        assert (result.encoding, result.segments) == ("GSM-7", message.segments) and message.segments <= 3
        await stack.channel.send(
            NUMBER, Reply(text="Forum emploi samedi au gymnase.", kind="broadcast"), proactive=True
        )
        assert stack.srv.messages[-1].body.endswith("STOP au 36111")
        # a conversation reply still comes from the two-way number, and says "Répondez"
        await stack.channel.send(NUMBER, REMINDER)
        assert stack.srv.messages[-1].from_ == TWO_WAY and "Répondez 1 ou 2." in stack.srv.messages[-1].body
        assert stack.srv.violations == []


async def test_one_way_without_a_number_to_text_lists_options_plainly(sqlite_url: str, clock: FrozenClock) -> None:
    service = "MG" + "0a" * 16
    async with sms_stack(sqlite_url, clock, twilio_from=service, twilio_one_way_from=ONE_WAY) as stack:
        await stack.channel.send(NUMBER, REMINDER, proactive=True)
        body = stack.srv.messages[-1].body
        assert "- Oui, je viens\n- Non, j'annule" in body and "1." not in body
        await stack.channel.send(NUMBER, Reply(text="Bonjour"))
        assert stack.srv.messages[-1].messaging_service_sid == service
        assert stack.srv.messages[-1].from_ is None
        assert stack.srv.violations == []


async def test_a_long_text_is_split_within_the_budget(stack: SmsStack) -> None:
    paragraph = "Le conseiller vous reçoit à la médiathèque, avec vos papiers et votre CV. " * 4
    text = "\n\n".join([paragraph] * 4)
    result = await stack.channel.send(NUMBER, Reply(text=text))
    parts = stack.srv.messages
    assert len(parts) >= 2 and all(m.segments <= 3 and m.encoding == "GSM-7" for m in parts)
    assert result.segments == sum(m.segments for m in parts)
    assert result.provider_message_id == parts[0].sid
    # cut at paragraph breaks; nothing lost but the ç that GSM-7 lacks
    assert [m.body for m in parts] == [paragraph.strip().replace("ç", "c")] * 4


async def test_without_transliteration_accents_cost_ucs2(sqlite_url: str, clock: FrozenClock) -> None:
    async with sms_stack(sqlite_url, clock, sms_transliterate=False) as stack:
        phone = stack.phone(NUMBER)
        await phone.send("bonjour")
        message = phone.last_batch[0]
        assert "Êtes-vous d'accord ?" not in message.body  # the SMS variant is written in GSM-7 already
        result = await stack.channel.send(NUMBER, Reply(text="Reçu : ça marche, à bientôt…"))
        assert result.encoding == "UCS-2" and stack.srv.messages[-1].body == "Reçu : ça marche, à bientôt…"
        assert measure(stack.srv.messages[-1].body).encoding == "UCS-2"


async def test_error_21610_on_a_proactive_send(stack: SmsStack) -> None:
    await stack.onboarded(NUMBER)
    stack.srv.opted_out.add(NUMBER)
    with pytest.raises(SendFailure) as refused:
        await stack.channel.send(NUMBER, REMINDER, proactive=True)
    assert (refused.value.kind, refused.value.code) == ("stopped", "21610")
    assert resident(stack).stopped_at is not None


async def test_rate_limits_on_a_proactive_send_are_left_to_the_caller(stack: SmsStack) -> None:
    stack.srv.fail_next(status=429, code=20429)
    with pytest.raises(SendFailure) as refused:
        await stack.channel.send(NUMBER, REMINDER, proactive=True)
    assert refused.value.kind == "retry" and refused.value.retry_after == 1.0
    assert stack.srv.messages == [] and stack.sleeps == []


# -- configuration ---------------------------------------------------------------------------------------


def test_the_sms_channel_refuses_to_start_without_a_public_url(sqlite_url: str, clock: FrozenClock) -> None:
    runtime = make_runtime(
        sqlite_url, clock, twilio_account_sid="AC" + "0" * 32, twilio_auth_token="x" * 32, twilio_from=TWO_WAY
    )
    try:
        with pytest.raises(SettingsError) as error:
            sms_channel(runtime)
        message = str(error.value)
        assert "RELAI_PUBLIC_URL" in message and "\n" not in message
    finally:
        runtime.close()


# -- small pure parts -----------------------------------------------------------------------------------


def test_a_message_never_moves_back_from_a_final_state() -> None:
    assert moves_forward(None, "queued") and moves_forward("queued", "sent") and moves_forward("sent", "delivered")
    assert not moves_forward("sent", "queued")
    assert not moves_forward("delivered", "sent") and not moves_forward("delivered", "undelivered")
    assert not moves_forward("failed", "delivered") and not moves_forward("undelivered", "delivered")
    assert moves_forward("delivered", "read")
    assert not moves_forward("queued", "no-such-status")


async def test_a_connection_lost_after_the_request_left_is_not_resent(stack: SmsStack) -> None:
    """Twilio closed the connection without an answer: it may have taken the SMS, so it is never resent
    in place (relai_bot.sending.retry, rule 2); the log says "unknown", and the next reply goes normally."""
    phone = await stack.onboarded(NUMBER)
    creates_before = len([r for r in stack.srv.requests if r.operation == "create"])
    stack.srv.drop_next()
    assert await phone.send("menu") == []
    creates = [r for r in stack.srv.requests if r.operation == "create"][creates_before:]
    assert len(creates) == 1 and creates[0].dropped
    assert stack.sleeps == []  # no retry, no backoff
    assert out_logs(stack)[-1].status == "unknown"
    assert len(await phone.send("menu")) == 1
