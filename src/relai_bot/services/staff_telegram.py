"""A staff member's own Telegram chat: linked by a one-time code, so the bot can tell them from residents.

The back-office page "Telegram" asks for a code (`new_link_code`); the staff member sends `/lier CODE` to
the bot and the chat is theirs (`redeem_link_code`). Rules chosen here:
- A code is 8 characters of an alphabet without look-alikes (no 0/O, 1/I/L), made by `secrets`; only its
  SHA-256 is stored, with its expiry (15 minutes); asking again replaces it; it works once.
- A chat gets `MAX_FAILED_TRIES` wrong codes an hour (counted in the audit log, where each one is
  written), then every code is refused until the hour has passed: 31^8 codes cannot be guessed that way.
- One chat, one account: linking a chat that belongs to another account moves it (both are audited); an
  account linking a new chat leaves the old one.
- Who the bot treats as staff on Telegram (`account_for_chat`): the linked account, while it is active and
  can sign in. A disabled account's chat is a resident's chat again, without anything to undo.
Chat ids never go to the audit log or the logs: a short hash names the chat (services.residents.address_tag).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from relai_bot.services import audit
from relai_bot.services.accounts import Account, get_account
from relai_bot.services.errors import NotFound
from relai_bot.services.residents import address_tag
from relai_bot.store.models import AuditEvent, StaffChat, StaffUser, id_of

CHANNEL = "telegram"
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_LIFETIME = timedelta(minutes=15)
MAX_FAILED_TRIES = 5
TRIES_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class TelegramLink:
    """What the back-office shows of an account's Telegram link (never the chat id)."""

    linked_at: datetime | None
    code_expires_at: datetime | None

    @property
    def linked(self) -> bool:
        return self.linked_at is not None


def code_hash(code: str) -> str:
    """The stored form of a code, as the staff member may type it (spaces, dashes, lower case forgiven)."""
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(cleaned.encode()).hexdigest()


def chat_tag(chat_id: str) -> str:
    """How the audit log names a chat: a short hash, never the id."""
    return f"telegram {address_tag(CHANNEL, chat_id)}"


def link_status(session: Session, account_id: int, now: datetime) -> TelegramLink:
    user = _user(session, account_id)
    expires = user.telegram_link_expires_at
    pending = user.telegram_link_code is not None and expires is not None and expires > now
    return TelegramLink(
        linked_at=user.telegram_linked_at if user.telegram_chat_id else None,
        code_expires_at=expires if pending else None,
    )


def new_link_code(session: Session, account_id: int, now: datetime) -> str:
    """A fresh one-time code for this account (returned once; only its hash is kept), valid CODE_LIFETIME."""
    user = _user(session, account_id)
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    user.telegram_link_code = code_hash(code)
    user.telegram_link_expires_at = now + CODE_LIFETIME
    session.add(user)
    audit.record(session, account_id, audit.TELEGRAM_CODE_ISSUED, user.login, at=now)
    return code


def tries_left(session: Session, chat_id: str, now: datetime) -> int:
    """How many more codes this chat may try in the current hour."""
    failed = session.exec(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.action == audit.TELEGRAM_LINK_FAILED,
            AuditEvent.target == chat_tag(chat_id),
            col(AuditEvent.at) > now - TRIES_WINDOW,
        )
    ).one()
    return max(0, MAX_FAILED_TRIES - int(failed))


def redeem_link_code(session: Session, chat_id: str, code: str, now: datetime) -> Account | None:
    """Link `chat_id` to the account whose valid code this is; None for a wrong or expired code, or when the
    chat has used up its tries (nothing is linked then, and the failure is audited)."""
    if tries_left(session, chat_id, now) == 0:
        return None
    user = session.exec(select(StaffUser).where(StaffUser.telegram_link_code == code_hash(code))).first()
    usable = (
        user is not None
        and user.active
        and user.password_hash is not None
        and user.telegram_link_expires_at is not None
        and user.telegram_link_expires_at > now
    )
    if user is None or not usable:
        audit.record(session, None, audit.TELEGRAM_LINK_FAILED, chat_tag(chat_id), at=now, actor=CHANNEL)
        return None
    previous = session.exec(
        select(StaffUser).where(StaffUser.telegram_chat_id == chat_id, col(StaffUser.id) != id_of(user))
    ).first()
    if previous is not None:
        _clear(session, previous)
        session.flush()  # the chat id is unique: free it before it moves
        audit.record(
            session, id_of(user), audit.TELEGRAM_UNLINKED, previous.login, {"reason": "moved"}, at=now, actor=None
        )
    replaced = user.telegram_chat_id is not None and user.telegram_chat_id != chat_id
    _end_exchange(session, id_of(user))
    user.telegram_chat_id = chat_id
    user.telegram_linked_at = now
    user.telegram_link_code = None
    user.telegram_link_expires_at = None
    session.add(user)
    session.flush()
    detail: dict[str, object] = {"moved_from": previous.login} if previous is not None else {}
    if replaced:
        detail["replaced_chat"] = True
    audit.record(session, id_of(user), audit.TELEGRAM_LINKED, user.login, detail, at=now)
    return get_account(session, id_of(user))


def unlink(session: Session, account_id: int, now: datetime, *, actor_id: int | None = None) -> bool:
    """Forget the account's chat and pending code (and end its exchange); False when nothing was linked."""
    user = _user(session, account_id)
    was_linked = user.telegram_chat_id is not None
    _clear(session, user)
    if was_linked:
        audit.record(
            session, actor_id if actor_id is not None else account_id, audit.TELEGRAM_UNLINKED, user.login, at=now
        )
    return was_linked


def account_for_chat(session: Session, chat_id: str) -> Account | None:
    """The staff account this Telegram chat belongs to, if it is active and can sign in (the one rule)."""
    user_id = session.exec(select(StaffUser.id).where(StaffUser.telegram_chat_id == chat_id)).first()
    account = get_account(session, user_id) if user_id is not None else None
    return account if account is not None and account.can_sign_in else None


def _clear(session: Session, user: StaffUser) -> None:
    user.telegram_chat_id = None
    user.telegram_linked_at = None
    user.telegram_link_code = None
    user.telegram_link_expires_at = None
    session.add(user)
    _end_exchange(session, id_of(user))


def _end_exchange(session: Session, account_id: int) -> None:
    row = session.get(StaffChat, account_id)
    if row is not None:
        session.delete(row)


def _user(session: Session, account_id: int) -> StaffUser:
    user = session.get(StaffUser, account_id)
    if user is None:
        raise NotFound(f"account {account_id}")
    return user
