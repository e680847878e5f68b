"""The dashboard's funnel starts in the conversation: the schemes of the list a resident gets are "shown", the
one whose details they open is "opened", with their district and channel; a test resident leaves no trace."""

from __future__ import annotations

from sqlmodel import col, select

from relai_bot.store.models import District, Resident, Scheme, SchemeEvent
from relai_bot.testing.driver import Driver
from tests.journeys import find_a_scheme


def events(driver: Driver) -> list[tuple[str, str, int | None, str | None, str]]:
    with driver.runtime.db.transaction() as session:
        rows = session.exec(
            select(SchemeEvent.kind, Scheme.code, SchemeEvent.resident_id, District.code, SchemeEvent.channel)
            .join(Scheme, col(Scheme.id) == SchemeEvent.scheme_id)
            .outerjoin(District, col(District.id) == SchemeEvent.district_id)
            .order_by(col(SchemeEvent.id))
        ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_the_ranked_list_is_shown_and_the_scheme_opened(driver: Driver) -> None:
    chat = await driver.onboarded()
    assert events(driver) == []
    await find_a_scheme(chat)
    found = events(driver)
    shown = [code for kind, code, *_ in found if kind == "shown"]
    opened = [code for kind, code, *_ in found if kind == "opened"]
    assert 1 <= len(shown) == len(set(shown)) <= 5 and "cej" in shown
    assert opened == ["cej"]
    with driver.runtime.db.transaction() as session:
        (resident_id,) = session.exec(select(Resident.id)).all()
    assert {(who, district, channel) for _, _, who, district, channel in found} == {
        (resident_id, "saint-laurent", "console")
    }


async def test_a_search_shows_its_results(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.send("formation")  # free text at the menu searches
    shown = [code for kind, code, *_ in events(driver) if kind == "shown"]
    with driver.runtime.db.transaction() as session:
        schemes = session.exec(select(Scheme).where(col(Scheme.code).in_(shown))).all()
        names = [scheme.acronym or scheme.name[:20] for scheme in schemes]
    offered = " ".join(chat.labels)
    assert shown and len(names) == len(shown) and all(name in offered for name in names), (names, offered)


async def test_a_test_resident_leaves_no_event(driver: Driver) -> None:
    chat = await driver.onboarded()
    with driver.runtime.db.transaction() as session:
        resident = session.exec(select(Resident)).one()
        resident.test = True
        session.add(resident)
    await find_a_scheme(chat)
    assert events(driver) == []
