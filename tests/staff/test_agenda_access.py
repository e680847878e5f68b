"""The agenda's scope rule, as a function and as a WHERE clause, gives the same answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from relai_bot.services.accounts import Account
from relai_bot.staff import agenda_access
from relai_bot.store.models import Adviser, District, Slot, Venue, id_of
from relai_bot.wiring import Runtime


def _account(role: str, *, districts: frozenset[int] = frozenset(), adviser_id: int | None = None) -> Account:
    return Account(
        id=1,
        login=f"{role}@example.org",
        name=role,
        role=role,
        active=True,
        must_change_password=False,
        district_ids=districts,
        district_codes=(),
        adviser_id=adviser_id,
        can_sign_in=True,
    )


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.db.transaction() as db:
        yield db


@pytest.fixture
def world(session: Session) -> dict[str, int]:
    now = datetime(2026, 12, 1, 6, tzinfo=UTC)
    north, south = District(code="t-nord", name="Nord"), District(code="t-sud", name="Sud")
    one, two = Adviser(code="t-a1", name="A1", organisation="o"), Adviser(code="t-a2", name="A2", organisation="o")
    session.add_all([north, south, one, two])
    session.flush()
    at_north = Venue(code="t-v-nord", name="Nord", district_id=north.id)
    at_south = Venue(code="t-v-sud", name="Sud", district_id=south.id)
    phone = Venue(code="t-tel", name="Téléphone", remote=True)
    session.add_all([at_north, at_south, phone])
    session.flush()
    for index, (adviser, venue) in enumerate([(one, at_north), (one, phone), (two, at_south)]):
        start = now + timedelta(hours=index)
        session.add(Slot(adviser_id=id_of(adviser), venue_id=id_of(venue), starts_at=start, ends_at=start))
    session.flush()
    return {"north": id_of(north), "south": id_of(south), "one": id_of(one), "two": id_of(two)}


def _visible(session: Session, account: Account, world: dict[str, int]) -> set[tuple[int, int | None]]:
    rows = session.exec(
        select(Slot.adviser_id, Venue.district_id)
        .join(Venue, col(Venue.id) == Slot.venue_id)
        .where(agenda_access.scope(account), col(Slot.adviser_id).in_([world["one"], world["two"]]))
    ).all()
    return set(rows)


def test_each_role_reaches_what_the_rule_says(session: Session, world: dict[str, int]) -> None:
    everything = {(world["one"], world["north"]), (world["one"], None), (world["two"], world["south"])}
    cases = {
        "admin": (_account("admin"), everything),
        "adviser one": (
            _account("adviser", adviser_id=world["one"]),
            {(world["one"], world["north"]), (world["one"], None)},
        ),
        "adviser unlinked": (_account("adviser"), set()),
        "staff north": (_account("staff", districts=frozenset({world["north"]})), {(world["one"], world["north"])}),
        "staff nowhere": (_account("staff"), set()),
    }
    for name, (account, expected) in cases.items():
        assert _visible(session, account, world) == expected, name
        for adviser_id, district_id in everything:
            allowed = agenda_access.may_reach(account, adviser_id=adviser_id, venue_district_id=district_id)
            assert allowed == ((adviser_id, district_id) in expected), (name, adviser_id, district_id)
