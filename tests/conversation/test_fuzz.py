"""Bad input, by the thousand (hypothesis): residents who walk the flows pressing the buttons they are
offered, and in between type anything (Unicode, emoji, control characters, empty and huge messages,
template and SQL syntax, numbers out of range), press stale and forged buttons, send photos, places,
contacts and deep links, in French and in Creole, by Telegram and by SMS.

After every input: an answer (never the apology for a fault: the dispatcher is strict, a fault raises),
each reply a rendered text with unique, numbered options, and the conversation at a step that exists.
Each run tries new inputs (hypothesis draws them at random); the number tried is printed at the end of
the session ("fuzz: ... inputs"), and a run that tried fewer than MINIMUM fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select, update

from relai_bot import entry_points
from relai_bot.clock import FrozenClock
from relai_bot.services import booking
from relai_bot.store.models import ChannelAddress, Conversation, Slot, id_of
from relai_bot.turns import Inbound, Option, Turn
from relai_bot.wiring import Runtime, migrate, seed_demo
from tests.conftest import START, make_runtime
from tests.delivery_support import add_residents
from tests.fuzzing import FUZZ

pytestmark = pytest.mark.proof  # its count goes to docs/reliability.md (`make proof`)

MINIMUM = 10_000
JOURNEYS = 430

OPENINGS = ("bonjour", "Bonjour !", "salut", "bonjour, mi rode in travay", "salu, mi vé in rendé-vou", "aide", "1")
PLAIN_TRAPS = (
    "",
    " ",
    "\n\n",
    "\t",
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "9",
    "10",
    "-1",
    "1.5",
    "99999999999999999999",
    "stop",
    "STOP",
    "Stop svp",
    "start",
    "START",
    "menu",
    "MENU",
    "retour",
    "oui",
    "non",
    "wi",
    "nou",
    "ok",
    "aide",
    "rdv",
    "annuler",
    "effacer",
    "mes données",
    "reprendre",
    "😀",
    "👍🏽",
    "🇷🇪",
    "\u200b",
    "\x00",
    "\u202e",
    "\ufeff",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "{% for x in y %}",
    "${7*7}",
    "%s%s%n",
    "' OR 1=1 --",
    "Robert'); DROP TABLE resident;--",
    "zanfan",
    "travay",
    "mi lé perdu",
    "kossa i lé sa",
    "0692 12 34 56",
    "+262 692 12 34 56",
    "test@example.org",
    "https://example.org",
    "18 ans",
    "j'ai 17 ans",
)
texts = st.one_of(
    st.sampled_from(PLAIN_TRAPS),
    st.text(max_size=60),  # any code point but surrogates: control characters, emoji, other scripts
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "So", "Mn"]), max_size=30),
    st.builds(
        lambda piece, times: piece * times, st.sampled_from(["a", "é", "😀", "1 ", "\n"]), st.integers(800, 6000)
    ),
)
payloads = st.one_of(
    st.tuples(
        st.just("media"),
        st.fixed_dictionaries({}, optional={"kind": st.sampled_from(["photo", "voice", "sticker", "document"])}),
    ),
    st.tuples(
        st.just("location"),
        st.fixed_dictionaries(
            {"lat": st.floats(allow_nan=True, allow_infinity=True), "lon": st.floats(allow_nan=True)}
        ),
    ),
    st.tuples(
        st.just("contact"),
        st.fixed_dictionaries({"phone": st.one_of(texts, st.just("+262692123456")), "own": st.booleans()}),
    ),
    st.tuples(
        st.just("start"),
        st.fixed_dictionaries(
            {"payload": st.one_of(texts, st.sampled_from(["saint-laurent", "q-pichette", "x" * 64]))}
        ),
    ),
)
tap = st.tuples(st.just("tap"), st.integers(0, 30))
actions = st.one_of(
    tap,
    tap,
    tap,
    tap,  # mostly the buttons offered: the walk goes deep into the flows
    st.tuples(st.just("text"), texts),
    st.tuples(st.just("stale"), st.integers(0, 10_000)),
    st.tuples(
        st.just("forged"), st.one_of(st.text(max_size=80), st.sampled_from(["o:1", "o:999", "::", "o:-1", "b:x"]))
    ),
    st.tuples(st.just("kind"), payloads),
)
# Messages the service sends on its own, with buttons: the walk starts at the step they put the resident at
PUSHED = (
    entry_points.REMINDER,
    entry_points.NOTICE_SERVICE_CANCELLED,
    entry_points.NOTICE_MOVED,
    entry_points.NOTICE_NO_SHOW,
)
openings = st.one_of(st.sampled_from(OPENINGS), st.sampled_from(PUSHED))
journeys = st.tuples(st.sampled_from(("telegram", "sms")), openings, st.lists(actions, min_size=15, max_size=40))

_addresses = itertools.count(1)


@pytest.fixture(scope="module")
def fuzz_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    database = Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.sqlite3"
    runtime = make_runtime(f"sqlite:///{database}", FrozenClock(START), strict=True)
    migrate(runtime)
    seed_demo(runtime)
    yield runtime
    runtime.close()


def check(runtime: Runtime, inbound: Inbound, turn: Turn) -> None:
    """What every answer must be (see the module docstring)."""
    assert turn.replies, f"no answer to {inbound!r}"
    for reply in turn.replies:
        assert reply.text.strip() or reply.attachments, "an empty reply"
        for leftover in ("{{", "{%", "Traceback", "None\n"):
            assert leftover not in reply.text, (leftover, reply.text)
        assert "souci technique" not in reply.text, "the apology for a fault"
    options = turn.options
    assert len({o.id for o in options}) == len(options), "two options with one id"
    assert [o.number for o in options] == list(range(1, len(options) + 1))
    with runtime.db.transaction() as session:
        found = session.exec(
            select(Conversation).where(Conversation.channel == inbound.channel, Conversation.address == inbound.address)
        ).first()
    if found is not None:
        flow = runtime.flows.flows.get(found.flow)
        assert flow is not None and found.step in flow.steps, (found.flow, found.step)
        for entry in found.stack:
            assert entry[0] in runtime.flows.flows, entry
    FUZZ["steps"].add((turn.flow, turn.step))


def inbound_for(channel: str, address: str, action: tuple[Any, ...], offered: list[Option], seen: list[str]) -> Inbound:
    kind, value = action
    base = {"channel": channel, "address": address}
    if kind == "tap" and offered:
        return Inbound(**base, kind="choice", choice=offered[value % len(offered)].id)
    if kind == "tap":
        return Inbound(**base, text=str(value))
    if kind == "stale" and seen:
        return Inbound(**base, kind="choice", choice=seen[value % len(seen)])
    if kind == "forged":
        return Inbound(**base, kind="choice", choice=value)
    if kind == "kind":
        what, payload = value
        return Inbound(**base, kind=what, payload=payload)
    return Inbound(**base, text=value if isinstance(value, str) else "")


def pushed(runtime: Runtime, channel: str, address: str, entry: entry_points.EntryPoint) -> Turn:
    """A consented resident with an appointment in two days, put at `entry` as the outbox does."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        (resident,) = add_residents(session, 1, now, channel=channel, first_address=0)
        session.exec(  # type: ignore[call-overload]
            update(ChannelAddress).where(ChannelAddress.resident_id == resident).values(address=address)
        )
        free = select(Slot).where(
            Slot.starts_at > now + timedelta(days=2), Slot.booked < Slot.capacity, col(Slot.closed_at).is_(None)
        )
        slot = session.exec(free.order_by(Slot.starts_at)).first()
        assert slot is not None
        appointment = booking.book_slot(
            session, resident_id=resident, slot_id=id_of(slot), scheme_id=None, channel=channel, now=now
        )
    flow, step, data = entry.target(appointment_id=id_of(appointment))
    with runtime.db.transaction() as session:
        return runtime.engine.push(session, channel, address, flow, step, data)


def test_any_input_at_any_step_gets_an_answer_and_leaves_a_valid_state(fuzz_runtime: Runtime) -> None:
    runtime = fuzz_runtime
    before = FUZZ["inputs"]

    @settings(
        max_examples=JOURNEYS,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(journey=journeys)
    def walk(journey: tuple[str, str, list[tuple[Any, ...]]]) -> None:
        channel, opening, steps = journey
        address = f"fuzz-{next(_addresses)}" if channel == "telegram" else f"+26269{next(_addresses):07d}"
        seen: list[str] = []
        offered: list[Option] = []
        inbound = Inbound(channel=channel, address=address, text=opening if isinstance(opening, str) else "")
        for action in [None, *steps]:
            if action is not None:
                inbound = inbound_for(channel, address, action, offered, seen)
                turn = runtime.dispatcher.handle_sync(inbound)
            elif isinstance(opening, str):
                turn = runtime.dispatcher.handle_sync(inbound)
            else:
                turn = pushed(runtime, channel, address, opening)
            FUZZ["inputs"] += 1
            check(runtime, inbound, turn)
            offered = turn.options
            seen += [o.id for o in offered]

    walk()
    waiting = {(f, name) for f, flow in runtime.flows.flows.items() for name, step in flow.steps.items() if step.waits}
    FUZZ["waiting"] = waiting
    tried = FUZZ["inputs"] - before
    assert tried >= MINIMUM, f"only {tried} inputs tried"
