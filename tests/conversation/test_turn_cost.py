"""What one turn costs the database and the renderer, on SQLite and PostgreSQL.

A turn at the menu of a known resident is a handful of statements: the de-duplication insert, the
conversation row (found, never inserted again), the resident, the address's reachability (an UPDATE that
changes nothing), the message log (the message received and the replies in one INSERT) and the
conversation's new state. "Last seen" is written at most once a minute. Templates written in the flows
and the labels are compiled once per process, not once per message.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from relai_bot.services import message_log, residents
from relai_bot.store.models import ChannelAddress, MessageLog, Resident
from relai_bot.testing.driver import Driver
from relai_bot.wiring import Runtime

ONBOARDING = ["bonjour", "1", "1", "2", "2"]  # consent, opportunities, a district, questions later


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL statements sent to the database meanwhile, each as its first words ("UPDATE resident")."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)


def verb_and_table(statement: str) -> str:
    text = " ".join(statement.split())
    match = re.match(r"(INSERT INTO|UPDATE|SELECT .*? FROM|DELETE FROM|BEGIN)\s*(\w*)", text)
    assert match, text
    verb = match.group(1).split()[0]
    return f"{verb} {match.group(2)}".strip()


async def onboarded(runtime: Runtime) -> tuple[Driver, object]:
    driver = Driver(runtime)
    chat = driver.resident()
    for text in ONBOARDING:
        await chat.send(text, message_id=uuid.uuid4().hex)
    return driver, chat


async def test_a_menu_turn_is_a_few_statements(any_runtime: Runtime) -> None:
    _, chat = await onboarded(any_runtime)
    with statements(any_runtime) as seen:
        turn = await chat.send("menu", message_id=uuid.uuid4().hex)  # type: ignore[attr-defined]
    assert turn.replies
    tables = [verb_and_table(s) for s in seen if not s.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
    assert tables == [
        "INSERT processed_message",  # handled once
        "SELECT conversation",  # found: no INSERT … ON CONFLICT once the row exists
        "SELECT resident",
        "UPDATE channel_address",  # reachable again only if it was not: changes nothing here
        "UPDATE conversation",
        "INSERT message_log",  # the message received and the replies, in one statement
    ], tables  # "last seen" was written by the previous message, less than a minute ago


async def test_the_message_received_comes_before_its_replies_in_the_log(any_runtime: Runtime) -> None:
    _, chat = await onboarded(any_runtime)
    turn = await chat.send("menu", message_id="provider-42")  # type: ignore[attr-defined]
    with any_runtime.db.transaction() as session:
        rows = session.exec(select(MessageLog).order_by(col(MessageLog.id).desc()).limit(len(turn.replies) + 1)).all()
    rows = list(reversed(rows))
    assert [r.direction for r in rows] == ["in"] + ["out"] * len(turn.replies)
    assert rows[0].body == "menu" and rows[0].provider_message_id == "in:provider-42"
    assert [r.body for r in rows[1:]] == [reply.text for reply in turn.replies]
    assert [r.id for r in rows[1:]] == [reply.log_id for reply in turn.replies]


def test_log_exchange_keeps_the_order_given(any_runtime: Runtime) -> None:
    now = any_runtime.clock.now()
    with any_runtime.db.transaction() as session:
        resident = residents.create_resident(session, "console", "order-check", now)
        assert resident.id is not None
        bodies = [f"part {n}" for n in range(12)]
        ids = message_log.log_exchange(
            session,
            resident_id=resident.id,
            channel="console",
            now=now,
            inbound=message_log.Received("bonjour", "m1"),
            bodies=bodies,
        )
        rows = {r.id: r for r in session.exec(select(MessageLog).where(MessageLog.resident_id == resident.id))}
    assert len(ids) == 12 and ids == sorted(ids)
    assert [rows[i].body for i in ids] == bodies
    received = [r for r in rows.values() if r.direction == "in"]
    assert len(received) == 1 and received[0].id is not None and received[0].id < ids[0]


async def test_last_seen_is_written_once_a_minute(any_runtime: Runtime) -> None:
    _, chat = await onboarded(any_runtime)
    clock = any_runtime.clock

    async def resident_updates() -> int:
        with statements(any_runtime) as seen:
            await chat.send("menu", message_id=uuid.uuid4().hex)  # type: ignore[attr-defined]
        return sum(verb_and_table(s) == "UPDATE resident" for s in seen)

    clock.advance(timedelta(minutes=2))  # type: ignore[attr-defined]
    assert await resident_updates() == 1
    clock.advance(timedelta(seconds=30))  # type: ignore[attr-defined]
    assert await resident_updates() == 0
    clock.advance(timedelta(seconds=31))  # type: ignore[attr-defined]
    assert await resident_updates() == 1
    with any_runtime.db.transaction() as session:
        resident = session.exec(select(Resident).order_by(col(Resident.id).desc())).first()
        assert resident is not None and resident.last_seen_at == clock.now()


async def test_a_message_makes_an_unreachable_address_reachable_again(any_runtime: Runtime) -> None:
    _, chat = await onboarded(any_runtime)
    address = chat.address  # type: ignore[attr-defined]
    now = any_runtime.clock.now()
    with any_runtime.db.transaction() as session:
        residents.mark_unreachable(session, "console", address, now)
    with any_runtime.db.transaction() as session:
        row = session.exec(select(ChannelAddress).where(ChannelAddress.address == address)).one()
        assert row.unreachable_at is not None
        owner = session.get(Resident, row.resident_id)
        assert owner is not None and owner.unreachable_at is not None
    await chat.send("menu")  # type: ignore[attr-defined]
    with any_runtime.db.transaction() as session:
        row = session.exec(select(ChannelAddress).where(ChannelAddress.address == address)).one()
        owner = session.get(Resident, row.resident_id)
        assert row.unreachable_at is None and row.failures == 0
        assert owner is not None and owner.unreachable_at is None


async def test_an_address_with_failures_starts_again_from_zero(runtime: Runtime) -> None:
    _, chat = await onboarded(runtime)
    address = chat.address  # type: ignore[attr-defined]
    with runtime.db.transaction() as session:
        row = session.exec(select(ChannelAddress).where(ChannelAddress.address == address)).one()
        row.failures = 2
        session.add(row)
    await chat.send("menu")  # type: ignore[attr-defined]
    with runtime.db.transaction() as session:
        assert session.exec(select(ChannelAddress).where(ChannelAddress.address == address)).one().failures == 0


@pytest.mark.parametrize("first", ["bonjour", "bonjour, mi rode in travay"])
async def test_flow_templates_are_compiled_once(runtime: Runtime, first: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing the districts (options built for each item, with labels and values written in the flow)
    again and again compiles nothing after the first time, in French and in Creole."""
    driver = Driver(runtime)
    env = runtime.renderer.env
    compiled: list[str] = []

    def counting(original: Callable[..., Any]) -> Callable[..., Any]:
        def compile_and_count(source: str, *args: Any, **kwargs: Any) -> Any:
            compiled.append(source)
            return original(source, *args, **kwargs)

        return compile_and_count

    shown: list[list[str]] = []
    for resident in range(3):  # the first resident's turns compile; the others' must not
        if resident == 1:
            monkeypatch.setattr(env, "from_string", counting(env.from_string))
            monkeypatch.setattr(env, "compile_expression", counting(env.compile_expression))
        chat = driver.resident()
        await chat.send(first)
        await chat.send("1")  # consent given; the next question: the neighbourhood's offers
        turn = await chat.send("1")  # "yes": the districts, listed from the database
        shown.append([option.label for reply in turn.replies for option in reply.options])
    assert compiled == []
    assert len(shown[0]) >= 5 and shown[0] == shown[1] == shown[2]
    assert len(set(shown[0])) == len(shown[0])  # each item its own label


def test_a_compiled_expression_gives_each_item_its_value(runtime: Runtime) -> None:
    expression = runtime.renderer.expression("item.id")
    assert expression(item={"id": 3}) == 3 and expression(item={"id": 4}) == 4
    assert runtime.renderer.expression("item.id") is expression
