"""Linking a staff member's Telegram chat: one-time codes, tries, moves, and who counts as staff."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from relai_bot.clock import FrozenClock
from relai_bot.services import accounts, audit, staff_telegram
from relai_bot.store.models import AuditEvent, StaffChat, StaffUser
from relai_bot.wiring import Runtime
from tests.web.admin_support import make_account

CHAT = "555001"


def code_for(runtime: Runtime, account_id: int) -> str:
    with runtime.db.transaction() as session:
        return staff_telegram.new_link_code(session, account_id, runtime.clock.now())


def redeem(runtime: Runtime, code: str, chat: str = CHAT) -> accounts.Account | None:
    with runtime.db.transaction() as session:
        return staff_telegram.redeem_link_code(session, chat, code, runtime.clock.now())


def for_chat(runtime: Runtime, chat: str = CHAT) -> accounts.Account | None:
    with runtime.db.transaction() as session:
        return staff_telegram.account_for_chat(session, chat)


def actions(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.db.transaction() as session:
        rows = session.exec(select(AuditEvent).where(col(AuditEvent.action).startswith("telegram."))).all()
        return [(row.action, row.target) for row in rows]


def test_a_code_links_the_chat_once_and_only_its_hash_is_kept(runtime: Runtime) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    code = code_for(runtime, agent.id)
    assert len(code) == 8 and set(code) <= set(staff_telegram.CODE_ALPHABET)
    with runtime.db.transaction() as session:
        user = session.get(StaffUser, agent.id)
        assert user is not None and user.telegram_link_code == staff_telegram.code_hash(code) != code
        assert staff_telegram.link_status(session, agent.id, runtime.clock.now()).code_expires_at is not None
    assert for_chat(runtime) is None
    linked = redeem(runtime, f" {code[:4].lower()}-{code[4:]} ")  # typed loosely
    assert linked is not None and linked.id == agent.id
    assert for_chat(runtime) == linked
    assert redeem(runtime, code, "555002") is None  # used once
    with runtime.db.transaction() as session:
        status = staff_telegram.link_status(session, agent.id, runtime.clock.now())
        assert status.linked and status.code_expires_at is None
    assert [a for a, _ in actions(runtime)] == [
        audit.TELEGRAM_CODE_ISSUED,
        audit.TELEGRAM_LINKED,
        audit.TELEGRAM_LINK_FAILED,
    ]
    assert all(CHAT not in target for _, target in actions(runtime))


def test_an_expired_code_does_not_link(runtime: Runtime, clock: FrozenClock) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    code = code_for(runtime, agent.id)
    clock.advance(minutes=16)
    assert redeem(runtime, code) is None
    assert for_chat(runtime) is None


def test_a_chat_gets_five_wrong_codes_an_hour(runtime: Runtime, clock: FrozenClock) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    for _ in range(staff_telegram.MAX_FAILED_TRIES):
        assert redeem(runtime, "WRONG999") is None
    code = code_for(runtime, agent.id)
    assert redeem(runtime, code) is None  # even the right code, while the chat is locked
    assert redeem(runtime, code, "555002") is not None  # another chat is not affected
    with runtime.db.transaction() as session:
        assert staff_telegram.tries_left(session, CHAT, clock.now()) == 0
    clock.advance(hours=1, minutes=1)
    code = code_for(runtime, agent.id)
    assert redeem(runtime, code) is not None


def test_a_chat_linked_to_another_account_moves_and_both_are_audited(runtime: Runtime) -> None:
    first = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    second = make_account(runtime, "admin@mairie.re", "admin")
    assert redeem(runtime, code_for(runtime, first.id)) is not None
    with runtime.db.transaction() as session:
        session.add(StaffChat(staff_user_id=first.id, step="text", updated_at=runtime.clock.now()))
    moved = redeem(runtime, code_for(runtime, second.id))
    assert moved is not None and moved.id == second.id
    assert for_chat(runtime) == moved
    with runtime.db.transaction() as session:
        old = session.get(StaffUser, first.id)
        assert old is not None and old.telegram_chat_id is None
        assert session.get(StaffChat, first.id) is None  # its exchange ended with the link
    assert (audit.TELEGRAM_UNLINKED, "agent@mairie.re") in actions(runtime)


def test_unlink_and_disabled_accounts(runtime: Runtime) -> None:
    agent = make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    admin = make_account(runtime, "admin@mairie.re", "admin")
    assert redeem(runtime, code_for(runtime, agent.id)) is not None
    with runtime.db.transaction() as session:
        assert staff_telegram.unlink(session, agent.id, runtime.clock.now()) is True
        assert staff_telegram.unlink(session, agent.id, runtime.clock.now()) is False
    assert for_chat(runtime) is None
    assert redeem(runtime, code_for(runtime, agent.id)) is not None
    with runtime.db.transaction() as session:
        accounts.disable_account(session, agent.id, actor_id=admin.id, now=runtime.clock.now())
    assert for_chat(runtime) is None  # a disabled account is no longer staff on Telegram
    # ...and its pending codes no longer work
    with runtime.db.transaction() as session:
        code = staff_telegram.new_link_code(session, agent.id, runtime.clock.now() + timedelta(seconds=1))
    assert redeem(runtime, code, "555003") is None
