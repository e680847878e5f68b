"""Replies through the outbox (services.reply_journal): written in the turn's transaction, settled by the
channel after the send, swept by the outbox worker when their process died. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta

from sqlmodel import col, select

from relai_bot import instance
from relai_bot.delivery.claims import claim_jobs, take_back_gone
from relai_bot.sending.contract import SendFailure
from relai_bot.services import outbox, reply_journal
from relai_bot.services.reply_journal import Settled
from relai_bot.store.models import OutboxMessage
from relai_bot.turns import Attachment, Inbound, Option, Reply, reply_data, reply_from_data
from relai_bot.wiring import Runtime

NUMBER = "+262692334455"


def _say(runtime: Runtime, text: str, message_id: str) -> tuple[int | None, list[Reply]]:
    turn = runtime.dispatcher.handle_sync(Inbound(channel="sms", address=NUMBER, text=text, message_id=message_id))
    return turn.outbox_id, turn.replies


def _rows(runtime: Runtime) -> list[OutboxMessage]:
    with runtime.db.transaction() as session:
        rows = list(
            session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reply").order_by(col(OutboxMessage.id)))
        )
        session.expunge_all()
        return rows


def test_a_turn_holds_its_replies_in_the_outbox_until_they_are_settled(any_runtime: Runtime) -> None:
    any_runtime.dispatcher.journal_replies("sms")
    row_id, replies = _say(any_runtime, "bonjour", "SM1")
    [row] = _rows(any_runtime)
    assert row.id == row_id and replies
    assert (row.status, row.channel, row.address, row.priority) == ("sending", "sms", NUMBER, -1)
    assert row.claimed_by == instance.REPLIES
    assert row.claimed_until == any_runtime.clock.now() + timedelta(seconds=any_runtime.settings.reply_lease_seconds)
    assert row.replies == [reply_data(reply) for reply in replies]
    assert row.expires_at == any_runtime.clock.now() + reply_journal.EXPIRES_AFTER  # then skipped, not sent
    assert row.resident_id is None  # nobody said yes yet: a reply needs no resident

    # The same message delivered again is a duplicate turn: nothing more is written
    assert _say(any_runtime, "bonjour", "SM1") == (None, [])
    assert len(_rows(any_runtime)) == 1

    with any_runtime.db.transaction() as session:
        reply_journal.settle(session, [Settled(row.id or 0)], any_runtime.clock.now())
    assert _rows(any_runtime) == []  # all went: nothing of the conversation is kept here


def test_a_channel_without_settling_writes_nothing(any_runtime: Runtime) -> None:
    _say(any_runtime, "bonjour", "SM1")  # the sms channel never said it settles its rows
    assert _rows(any_runtime) == []


def test_what_could_not_go_goes_back_to_the_outbox_by_the_replies_rule(any_runtime: Runtime) -> None:
    any_runtime.dispatcher.journal_replies("sms")
    now = any_runtime.clock.now()
    first, second = Reply("Un"), Reply("Deux", options=[Option("menu", "Menu", 1)])
    outcomes = {
        "5xx": SendFailure("retry", "bad gateway", code="5xx"),
        "timeout": SendFailure("retry", "timed out", code="timeout", ambiguous=True),
        "blocked": SendFailure("unreachable", "blocked", code="403"),
    }
    ids = {}
    for n, name in enumerate(outcomes):
        ids[name], _ = _say(any_runtime, "bonjour", f"SM{n}")
    with any_runtime.db.transaction() as session:
        reply_journal.settle(
            session, [Settled(ids[k] or 0, [first, second][k == "5xx" :], f) for k, f in outcomes.items()], now
        )
    rows = {row.id: row for row in _rows(any_runtime)}
    retried = rows[ids["5xx"]]
    assert retried.status == "pending" and retried.claimed_by is None
    assert retried.replies == [reply_data(second)]  # only what did not go
    assert now + timedelta(seconds=15) <= retried.next_attempt_at <= now + timedelta(seconds=30)
    assert (retried.error_code, retried.attempts) == ("5xx", 1)
    # A timeout may have been shown: not sent again (the resident would read it twice); refused for good
    for name in ("timeout", "blocked"):
        assert (rows[ids[name]].status, rows[ids[name]].replies) == ("failed", None)


def test_replies_still_waiting_go_first_when_the_resident_writes_again(any_runtime: Runtime) -> None:
    any_runtime.dispatcher.journal_replies("sms")
    first_id, first_replies = _say(any_runtime, "bonjour", "SM1")
    with any_runtime.db.transaction() as session:  # the provider was down: the outbox will retry
        reply_journal.settle(
            session, [Settled(first_id or 0, first_replies, SendFailure("retry", "down"))], any_runtime.clock.now()
        )
    second_id, second_replies = _say(any_runtime, "menu", "SM2")
    assert [r.text for r in second_replies[: len(first_replies)]] == [r.text for r in first_replies]
    [row] = _rows(any_runtime)
    assert row.id == second_id and row.status == "sending"
    assert row.replies == [reply_data(reply) for reply in second_replies]


def test_replies_a_day_old_are_not_brought_back_by_the_next_message(any_runtime: Runtime) -> None:
    any_runtime.dispatcher.journal_replies("sms")
    first_id, first_replies = _say(any_runtime, "bonjour", "SM1")
    with any_runtime.db.transaction() as session:
        reply_journal.settle(
            session, [Settled(first_id or 0, first_replies, SendFailure("retry", "down"))], any_runtime.clock.now()
        )
    any_runtime.clock.advance(reply_journal.EXPIRES_AFTER + timedelta(seconds=1))
    _, later = _say(any_runtime, "menu", "SM2")
    assert not any(reply_data(r) in [reply_data(f) for f in first_replies] for r in later)
    statuses = {row.id: row.status for row in _rows(any_runtime)}
    assert statuses[first_id] == "pending"  # left to the outbox, which skips it as expired


def test_the_outbox_sends_the_replies_of_a_process_that_died_first(any_runtime: Runtime) -> None:
    any_runtime.dispatcher.journal_replies("telegram")
    now = any_runtime.clock.now()
    dead = subprocess.run(["true"], check=True)
    del dead
    gone = f"{instance.HOST}:{_dead_pid()}:a1b2c3"
    with any_runtime.db.transaction() as session:
        outbox.enqueue(
            session,
            key="note:1",
            kind="notification",
            channel="telegram",
            address="555",
            now=now,
            body="x",
            adviser_id=1,
        )
        row = outbox.message_row(key="reply:telegram:1", kind="reply", channel="telegram", address="4242", now=now)
        row |= {
            "replies": [
                reply_data(Reply("Bonjour !")),
                reply_data(Reply("Que voulez-vous faire ?", [Option("m", "Menu", 1)])),
            ],
            "status": "sending",
            "claimed_by": gone,
            "claimed_until": now + timedelta(seconds=90),
        }
        session.execute(OutboxMessage.__table__.insert().values(row))  # type: ignore[attr-defined]
    assert take_back_gone(any_runtime) == 1
    jobs, claimed = claim_jobs(any_runtime, "telegram", "worker-1", 10)
    assert claimed == 2 and [job.kind for job in jobs] == ["reply", "notification"]  # replies first
    reply = jobs[0].reply
    assert reply.text == "Bonjour !\n\nQue voulez-vous faire ?" and [o.label for o in reply.options] == ["Menu"]
    assert jobs[0].attempts == 1  # it may have been tried by the process that died


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_who_is_gone() -> None:
    mine = instance.new_id()
    host, pid, _ = mine.split(":")
    assert not instance.is_gone(mine) and not instance.is_gone(instance.REPLIES)
    assert instance.is_gone(f"{host}:{pid}:ffffff")  # this pid, an earlier life of the program
    assert instance.is_gone(f"{host}:{_dead_pid()}:abcdef")
    assert not instance.is_gone(f"{host}:{os.getppid()}:abcdef")  # it runs: only its lease tells
    assert not instance.is_gone(f"elsewhere:{_dead_pid()}:abcdef")  # another host: its lease tells
    assert not instance.is_gone("worker-1") and not instance.is_gone(None)


def test_a_reply_survives_being_written_down() -> None:
    reply = Reply(
        "Votre rendez-vous",
        options=[Option("a", "Annuler", 1), Option("m", "Menu", 2)],
        attachment=Attachment("rdv.ics", "text/calendar", b"BEGIN:VCALENDAR\r\n"),
        log_id=7,
        kind=None,
        share_phone="offer",
        language="rcf",
    )
    assert reply_from_data(reply_data(reply)) == reply
    assert reply_data(Reply("ok")) == {"text": "ok"}
