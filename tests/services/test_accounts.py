"""Staff accounts: creation, roles and districts, sign-in with back-off, resets, the last administrator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from relai_bot.clock import FrozenClock
from relai_bot.services import accounts, audit, login_throttle, passwords
from relai_bot.wiring import Runtime

PASSWORD = "correct horse battery"


def create(runtime: Runtime, email: str, role: str = "admin", **kwargs: object) -> accounts.Account:
    with runtime.db.transaction() as session:
        account, _ = accounts.create_account(
            session, email=email, name="Test", role=role, now=runtime.clock.now(), password=PASSWORD, **kwargs
        )
    return account


def sign_in(runtime: Runtime, login: str, password: str, client: str | None = "10.0.0.1") -> accounts.SignIn:
    with runtime.db.transaction() as session:
        return accounts.sign_in(session, login, password, now=runtime.clock.now(), client=client)


def test_create_generates_a_one_time_password_to_change(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        account, one_time = accounts.create_account(
            session,
            email=" Agent@Mairie.RE ",
            name="Agent",
            role="staff",
            districts=["saint-laurent"],
            now=runtime.clock.now(),
        )
    assert one_time is not None and len(one_time) == 16
    assert account.login == "agent@mairie.re" and account.must_change_password
    assert account.district_codes == ("saint-laurent",)
    assert sign_in(runtime, "AGENT@mairie.re", one_time).account == account


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"email": "not-an-email"}, accounts.InvalidEmail),
        ({"role": "boss"}, accounts.InvalidRole),
        ({"role": "staff"}, accounts.DistrictsMisused),
        ({"role": "admin", "districts": ["pichette"]}, accounts.DistrictsMisused),
        ({"password": "short"}, passwords.WeakPassword),
    ],
)
def test_create_refuses(runtime: Runtime, kwargs: dict[str, object], error: type[Exception]) -> None:
    values: dict[str, object] = {"email": "a@b.re", "role": "admin", "name": "A"} | kwargs
    with pytest.raises(error), runtime.db.transaction() as session:
        accounts.create_account(session, now=runtime.clock.now(), **values)  # type: ignore[arg-type]


def test_a_login_is_taken_once(runtime: Runtime) -> None:
    create(runtime, "a@b.re")
    with pytest.raises(accounts.LoginTaken):
        create(runtime, "A@B.re")


def test_wrong_password_then_back_off_doubles(runtime: Runtime, clock: FrozenClock) -> None:
    create(runtime, "a@b.re")
    for _ in range(login_throttle.FREE_FAILURES):
        assert sign_in(runtime, "a@b.re", "wrong").locked_until is None
    locked = sign_in(runtime, "a@b.re", "wrong")
    assert locked.locked_until == clock.now() + timedelta(minutes=1)
    # while locked, even the right password is refused
    assert sign_in(runtime, "a@b.re", PASSWORD).account is None
    clock.advance(minutes=1, seconds=1)
    assert sign_in(runtime, "a@b.re", "wrong").locked_until == clock.now() + timedelta(minutes=2)
    clock.advance(minutes=2, seconds=1)
    assert sign_in(runtime, "a@b.re", PASSWORD).account is not None
    # a success starts the count again
    assert sign_in(runtime, "a@b.re", "wrong").locked_until is None
    with runtime.db.transaction() as session:
        actions = [e.action for e in audit.list_events(session)]
    assert actions.count(audit.LOCKED_OUT) == 2 and audit.LOGIN in actions


def test_back_off_is_capped() -> None:
    assert login_throttle.lock_after(5) is None
    assert login_throttle.lock_after(6) == timedelta(minutes=1)
    assert login_throttle.lock_after(8) == timedelta(minutes=4)
    assert login_throttle.lock_after(60) == login_throttle.MAX_LOCK


def test_a_client_address_trying_many_accounts_waits(runtime: Runtime) -> None:
    create(runtime, "a@b.re")
    for n in range(login_throttle.FREE_FAILURES_PER_CLIENT):
        assert sign_in(runtime, f"nobody{n}@b.re", "wrong").locked_until is None
    assert sign_in(runtime, "nobody@b.re", "wrong").locked_until is not None
    assert sign_in(runtime, "a@b.re", PASSWORD).account is None  # from that address
    assert sign_in(runtime, "a@b.re", PASSWORD, client="10.0.0.2").account is not None


def test_a_disabled_account_cannot_sign_in(runtime: Runtime) -> None:
    first = create(runtime, "a@b.re")
    second = create(runtime, "c@b.re")
    with runtime.db.transaction() as session:
        accounts.disable_account(session, second.id, actor_id=first.id, now=runtime.clock.now())
    assert sign_in(runtime, "c@b.re", PASSWORD).account is None


def test_the_last_admin_stays(runtime: Runtime) -> None:
    admin = create(runtime, "a@b.re")
    other = create(runtime, "c@b.re")
    with pytest.raises(accounts.OwnAccount), runtime.db.transaction() as session:
        accounts.disable_account(session, admin.id, actor_id=admin.id, now=runtime.clock.now())
    with runtime.db.transaction() as session:
        accounts.disable_account(session, other.id, actor_id=admin.id, now=runtime.clock.now())
    with pytest.raises(accounts.LastAdmin), runtime.db.transaction() as session:  # e.g. from the CLI
        accounts.disable_account(session, admin.id, actor_id=None, now=runtime.clock.now())


def test_reset_then_change_password(runtime: Runtime) -> None:
    account = create(runtime, "a@b.re")
    with runtime.db.transaction() as session:
        one_time = accounts.reset_password(session, account.id, now=runtime.clock.now())
    assert sign_in(runtime, "a@b.re", PASSWORD).account is None
    signed = sign_in(runtime, "a@b.re", one_time).account
    assert signed is not None and signed.must_change_password
    with pytest.raises(accounts.WrongPassword), runtime.db.transaction() as session:
        accounts.change_password(session, account.id, "nope", "a brand new password", now=runtime.clock.now())
    with pytest.raises(passwords.WeakPassword), runtime.db.transaction() as session:
        accounts.change_password(session, account.id, one_time, "short", now=runtime.clock.now())
    with runtime.db.transaction() as session:
        changed = accounts.change_password(
            session, account.id, one_time, "a brand new password", now=runtime.clock.now()
        )
    assert not changed.must_change_password
    assert sign_in(runtime, "a@b.re", "a brand new password").account is not None


def test_district_scope(runtime: Runtime) -> None:
    staff = create(runtime, "s@b.re", role="staff", districts=["Saint-Laurent", "pichette"])
    admin = create(runtime, "a@b.re")
    adviser = create(runtime, "c@b.re", role="adviser", adviser="payet")
    with runtime.db.transaction() as session:
        assert [d.code for d in accounts.visible_districts(session, staff)] == ["pichette", "saint-laurent"]
        assert len(accounts.visible_districts(session, admin)) == 9
        assert accounts.visible_districts(session, adviser) == []
    assert adviser.adviser_id is not None


def test_the_audit_log_filters(runtime: Runtime, clock: FrozenClock) -> None:
    admin = create(runtime, "a@b.re")
    clock.advance(days=1)
    sign_in(runtime, "a@b.re", "wrong")
    with runtime.db.transaction() as session:
        assert [e.action for e in audit.list_events(session, audit.AuditFilter(action="account"))] == [
            audit.ACCOUNT_CREATED
        ]
        failed = audit.list_events(session, audit.AuditFilter(since=clock.now()))
        assert [(e.action, e.actor, e.actor_id) for e in failed] == [(audit.LOGIN_FAILED, "a@b.re", None)]
        assert audit.list_events(session, audit.AuditFilter(actor="zzz")) == []
        assert audit.known_actions(session) == [audit.ACCOUNT_CREATED, audit.LOGIN_FAILED]
    assert admin.is_admin
