"""Staff accounts: create, disable, reset and change passwords, sign in with back-off.

Each function is a staff action that the back-office (/admin) and the CLI (`relai-bot users`) both call; the
audit log records it (`services.audit.record`). Roles: admin (everything: accounts, approvals), staff (the
districts they are assigned), adviser (their own agenda).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

from sqlmodel import Session, col, select

from relai_bot.services import audit, login_throttle, passwords
from relai_bot.services.broadcasts import resolve_districts
from relai_bot.services.errors import DomainError, NotFound
from relai_bot.store.models import Adviser, District, StaffDistrict, StaffUser, id_of

Role = Literal["admin", "staff", "adviser"]
ROLES: tuple[Role, ...] = get_args(Role)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AccountError(DomainError):
    """A staff action on accounts that cannot be done; the class says why."""


class InvalidEmail(AccountError):
    pass


class LoginTaken(AccountError):
    pass


class InvalidRole(AccountError):
    pass


class DistrictsMisused(AccountError):
    """Staff accounts need at least one district; other roles take none."""


class LastAdmin(AccountError):
    """The change would leave no active administrator who can sign in."""


class OwnAccount(AccountError):
    """An administrator cannot disable their own account (another administrator can)."""


class WrongPassword(AccountError):
    pass


@dataclass(frozen=True)
class Account:
    """An account as pages and commands see it (never the password hash)."""

    id: int
    login: str
    name: str
    role: str
    active: bool
    must_change_password: bool
    district_ids: frozenset[int]
    district_codes: tuple[str, ...]
    adviser_id: int | None
    can_sign_in: bool
    # When the account last signed in (the CLI's list shows it); not part of what the account is
    last_login_at: datetime | None = field(default=None, compare=False)
    # Changes with every new password (a reset too), so sessions opened before can end; says nothing of it
    password_stamp: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_reach_district(self, district_id: int) -> bool:
        """The one rule for district scope: admins reach every district, staff theirs, advisers none."""
        return self.is_admin or (self.role == "staff" and district_id in self.district_ids)

    def may_reach_resident(self, district_id: int | None) -> bool:
        """A resident of this district (None: they chose none) is in scope; districtless ones: admins only."""
        return self.is_admin if district_id is None else self.may_reach_district(district_id)


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt gave: the account, or why not (`locked_until` when the back-off holds)."""

    account: Account | None
    locked_until: datetime | None = None


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL.fullmatch(email):
        raise InvalidEmail(email)
    return email


def get_account(session: Session, account_id: int) -> Account | None:
    user = session.get(StaffUser, account_id)
    return _view(session, user) if user is not None else None


def find_account(session: Session, login: str) -> Account | None:
    user = _by_login(session, login)
    return _view(session, user) if user is not None else None


def list_accounts(session: Session) -> list[Account]:
    users = session.exec(select(StaffUser).order_by(col(StaffUser.role), col(StaffUser.login)))
    return [_view(session, user) for user in users]


def all_districts(session: Session) -> list[District]:
    """Every district, by name (what a staff account may be assigned)."""
    return list(session.exec(select(District).order_by(col(District.name))))


def visible_districts(session: Session, account: Account) -> list[District]:
    """The districts this account works for (all of them for an admin), by name."""
    return [d for d in all_districts(session) if account.may_reach_district(id_of(d))]


def has_usable_admin(session: Session) -> bool:
    """True when some active administrator has a password (someone can sign in and manage accounts)."""
    return _usable_admins(session) > 0


def create_account(
    session: Session,
    *,
    email: str,
    name: str,
    role: str,
    now: datetime,
    districts: list[str] | None = None,
    adviser: str | None = None,
    password: str | None = None,
    actor_id: int | None = None,
    actor: str | None = None,
) -> tuple[Account, str | None]:
    """A new account; without `password` a one-time password is made, returned (show it once) and must be
    changed at the first sign-in."""
    login = normalise_email(email)
    if role not in ROLES:
        raise InvalidRole(role)
    if _by_login(session, login) is not None:
        raise LoginTaken(login)
    wanted = [d for d in (districts or []) if d.strip()]
    if (role == "staff") != bool(wanted):
        raise DistrictsMisused(role)
    found = resolve_districts(session, wanted)
    adviser_id = None
    if adviser:
        adviser_row = session.exec(select(Adviser).where(Adviser.code == adviser.strip().lower())).first()
        if adviser_row is None:
            raise NotFound(f"adviser {adviser!r}")
        adviser_id = adviser_row.id
    one_time = None
    if password is None:
        password = one_time = passwords.one_time_password()
    else:
        passwords.check_strength(password)
    user = StaffUser(
        login=login,
        name=(name.strip() or login)[:120],
        role=role,
        adviser_id=adviser_id,
        password_hash=passwords.hash_password(password),
        must_change_password=one_time is not None,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    for district in found:
        session.add(StaffDistrict(staff_user_id=id_of(user), district_id=id_of(district)))
    session.flush()
    codes = sorted(d.code for d in found)
    audit.record(
        session, actor_id, audit.ACCOUNT_CREATED, login, {"role": role, "districts": codes}, at=now, actor=actor
    )
    return _view(session, user), one_time


def disable_account(
    session: Session, account_id: int, *, actor_id: int | None, now: datetime, actor: str | None = None
) -> Account:
    """Disable an account (it can no longer sign in; its sessions end at their next request). An admin cannot
    disable themselves, and the last active administrator who can sign in stays."""
    user = _user(session, account_id)
    if actor_id is not None and actor_id == account_id:
        raise OwnAccount(user.login)
    if _is_usable_admin(user) and _usable_admins(session) <= 1:
        raise LastAdmin(user.login)
    user.active = False
    session.add(user)
    audit.record(session, actor_id, audit.ACCOUNT_DISABLED, user.login, at=now, actor=actor)
    return _view(session, user)


def update_account(
    session: Session,
    account_id: int,
    *,
    name: str,
    role: str,
    districts: list[str],
    active: bool,
    now: datetime,
    actor_id: int | None,
    actor: str | None = None,
) -> Account:
    """Change an account's name, role, districts (staff need one at least, other roles none) and whether it is
    active (re-enable a disabled account). An admin cannot take away their own admin role nor disable
    themselves (OwnAccount), and the last active administrator who can sign in stays one (LastAdmin). The audit
    log gets the changed fields (never a password)."""
    user = _user(session, account_id)
    if role not in ROLES:
        raise InvalidRole(role)
    wanted = [d for d in districts if d.strip()]
    if (role == "staff") != bool(wanted):
        raise DistrictsMisused(role)
    found = resolve_districts(session, wanted)
    stays_admin = role == "admin" and active
    if actor_id == account_id and (not active or (user.role == "admin" and role != "admin")):
        raise OwnAccount(user.login)
    if _is_usable_admin(user) and not stays_admin and _usable_admins(session) <= 1:
        raise LastAdmin(user.login)
    before = _view(session, user)
    codes = sorted(d.code for d in found)
    changed: dict[str, object] = {}
    new_name = (name.strip() or user.login)[:120]
    if new_name != user.name:
        changed["name"] = new_name
    if role != user.role:
        changed["role"] = role
    if codes != sorted(before.district_codes):
        changed["districts"] = codes
    if active != user.active:
        changed["active"] = active
    if not changed:
        return before
    user.name, user.role, user.active = new_name, role, active
    session.add(user)
    if "districts" in changed:
        for row in session.exec(select(StaffDistrict).where(StaffDistrict.staff_user_id == account_id)):
            session.delete(row)
        session.flush()
        for district in found:
            session.add(StaffDistrict(staff_user_id=account_id, district_id=id_of(district)))
    session.flush()
    audit.record(session, actor_id, audit.ACCOUNT_UPDATED, user.login, changed, at=now, actor=actor)
    return _view(session, user)


def reset_password(
    session: Session, account_id: int, *, now: datetime, actor_id: int | None = None, actor: str | None = None
) -> str:
    """A new one-time password for the account (returned, to show once); the next sign-in must change it.
    The back-off is cleared."""
    user = _user(session, account_id)
    one_time = passwords.one_time_password()
    user.password_hash = passwords.hash_password(one_time)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    user.password_changed_at = now
    session.add(user)
    audit.record(session, actor_id, audit.PASSWORD_RESET, user.login, at=now, actor=actor)
    return one_time


def change_password(session: Session, account_id: int, current: str, new: str, *, now: datetime) -> Account:
    """The account holder chooses a new password (the current one is asked again)."""
    user = _user(session, account_id)
    if not passwords.verify_password(user.password_hash, current):
        raise WrongPassword(user.login)
    passwords.check_strength(new)
    if new == current:
        raise passwords.WeakPassword("different from the current one")
    user.password_hash = passwords.hash_password(new)
    user.must_change_password = False
    user.password_changed_at = now
    session.add(user)
    audit.record(session, account_id, audit.PASSWORD_CHANGED, user.login, at=now)
    return _view(session, user)


def sign_in(session: Session, login: str, password: str, *, now: datetime, client: str | None = None) -> SignIn:
    """Check a sign-in. Failures are counted per account and per client address (`login_throttle`); while
    either is locked the password is not even checked. Commit the session whatever the result."""
    login = login.strip().lower()[:254]
    client_lock = login_throttle.client_locked_until(session, client, now)
    user = _by_login(session, login)
    account_lock = user.locked_until if user is not None else None
    if client_lock is not None or login_throttle.is_locked(account_lock, now):
        held = max(t for t in (client_lock, account_lock) if t is not None)
        audit.record(session, None, audit.LOGIN_FAILED, login, {"reason": "locked"}, at=now, actor=login)
        return SignIn(None, held)
    valid = passwords.verify_password(user.password_hash if user is not None else None, password)
    if user is not None and valid and user.active:
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        if user.password_hash and passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        session.add(user)
        audit.record(session, id_of(user), audit.LOGIN, user.login, at=now)
        return SignIn(_view(session, user))
    reason = "disabled" if user is not None and valid else "invalid"
    audit.record(session, None, audit.LOGIN_FAILED, login, {"reason": reason}, at=now, actor=login)
    until = login_throttle.client_failed(session, client, now)
    if user is not None and reason == "invalid":
        user.failed_logins += 1
        wait = login_throttle.lock_after(user.failed_logins)
        if wait is not None:
            user.locked_until = locked = now + wait
            audit.record(
                session, None, audit.LOCKED_OUT, user.login, {"minutes": wait.total_seconds() / 60}, at=now, actor=login
            )
            until = max(locked, until) if until is not None else locked
        session.add(user)
    return SignIn(None, until)


def sign_out(session: Session, account_id: int, *, now: datetime) -> None:
    audit.record(session, account_id, audit.LOGOUT, at=now)


def _by_login(session: Session, login: str) -> StaffUser | None:
    return session.exec(select(StaffUser).where(StaffUser.login == login.strip().lower())).first()


def _user(session: Session, account_id: int) -> StaffUser:
    user = session.get(StaffUser, account_id)
    if user is None:
        raise NotFound(f"account {account_id}")
    return user


def _is_usable_admin(user: StaffUser) -> bool:
    return user.role == "admin" and user.active and user.password_hash is not None


def _usable_admins(session: Session) -> int:
    query = select(StaffUser).where(
        StaffUser.role == "admin", col(StaffUser.active).is_(True), col(StaffUser.password_hash).is_not(None)
    )
    return len(list(session.exec(query)))


def _view(session: Session, user: StaffUser) -> Account:
    rows = session.exec(
        select(District.id, District.code)
        .join(StaffDistrict, col(StaffDistrict.district_id) == col(District.id))
        .where(StaffDistrict.staff_user_id == id_of(user))
        .order_by(col(District.code))
    ).all()
    return Account(
        id=id_of(user),
        login=user.login,
        name=user.name,
        role=user.role,
        active=user.active,
        must_change_password=user.must_change_password,
        district_ids=frozenset(district_id for district_id, _ in rows if district_id is not None),
        district_codes=tuple(code for _, code in rows),
        adviser_id=user.adviser_id,
        can_sign_in=user.active and user.password_hash is not None,
        last_login_at=user.last_login_at,
        password_stamp=hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16],
    )
