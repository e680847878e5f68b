"""Going back ("retour") shows the question before, everywhere (issue 11, part 7; the rules: conversation/state.py).

The walk below goes through every flow with the real engine, the demo data and a new resident per path:
breadth-first over the options each question offers (one item of each list), the free text a question
takes and the messages the service sends on its own (reminder, notices, a freed place). After every answer
it says "retour" and checks that the question shown is the one the resident saw before on that path (the
same text and choices, its list computed again), or the menu where the way back starts afresh (the menu
itself, an irreversible action just done), and that nothing the resident owns changed. Then journeys
written by hand: the slot list that showed itself again, across flows, after a booking, a cancellation and
a reminder, and rows of the earlier format.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from relai_bot.conversation.context import ACTIONS
from relai_bot.conversation.flows import ActionCall, FlowSet, Target
from relai_bot.entry_points import (
    HOME,
    NOTICE_MOVED,
    NOTICE_NO_SHOW,
    NOTICE_SERVICE_CANCELLED,
    REMINDER,
    WAITLIST_OFFER,
    EntryPoint,
)
from relai_bot.services import appointment_status, booking, waitlist
from relai_bot.store.models import (
    Appointment,
    CallbackRequest,
    Conversation,
    OutboxMessage,
    Resident,
    WaitlistEntry,
    id_of,
)
from relai_bot.testing.driver import ConsoleChat, Driver
from relai_bot.turns import Turn
from relai_bot.wiring import Runtime

# What a question taking free text is given, by parser (two searches: one finds schemes, one finds none)
TYPED = {
    "search": ("formation", "zzqx"),
    "age": ("20 ans",),
    "district": ("Pichette",),
    "phone": ("0692 12 34 56",),
    "text": ("bonjour",),
    "consent": ("oui je veux bien", "pas d accord", "bof"),
}
# Questions only reached when the world is so (no free slot anywhere, an appointment gone meanwhile…)
WORLD_ONLY = {
    ("booking", "no_slot"),
    ("appointment_notice", "service_cancelled_no_slot"),
    ("appointment_notice", "no_show_no_slot"),
    ("my_appointments", "no_other_slot"),
    ("find_scheme", "no_results"),
    ("waitlist", "join"),  # from no_slot
}
DAY = timedelta(days=1)
REUNION = ZoneInfo("Indian/Reunion")


# -- a resident walking a path ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A question as the resident saw it. `starts`: the way back starts there ("menu"), or just after it
    ("done": it follows an irreversible action and says it was done)."""

    where: tuple[str, str]
    text: str
    labels: tuple[str, ...]
    starts: str


@dataclass(frozen=True)
class Move:
    """An answer: an option by its key ("rdv", "slots_1"), or a text typed at a question that takes one."""

    key: str = ""
    typed: str = ""

    def __str__(self) -> str:
        return self.key or repr(self.typed)


class Walk:
    def __init__(self, driver: Driver) -> None:
        self.runtime = driver.runtime
        self.chat: ConsoleChat = driver.resident()
        self.shown: list[Shown] = []

    @property
    def flows(self) -> FlowSet:
        return self.runtime.engine.flows

    def conversation(self) -> Conversation | None:
        with self.runtime.db.transaction() as session:
            row = session.exec(
                select(Conversation).where(
                    Conversation.channel == self.chat.channel, Conversation.address == self.chat.address
                )
            ).one_or_none()
            if row is not None:
                session.expunge(row)
            return row

    async def send(self, text: str) -> Turn:
        return self._record(await self.chat.send(text), None)

    async def tap(self, label: str | int) -> Turn:
        option = self.chat.option(label)
        row = self.conversation()
        assert row is not None
        stored = next(o for o in row.options if o["n"] == option.number)
        return await self.answer(Move(key=stored["key"]))

    async def answer(self, move: Move) -> Turn:
        row = self.conversation()
        assert row is not None
        step = self.flows.step(Target(row.flow, row.step))
        if move.key:
            option = next(o for o in row.options if o["key"] == move.key)
            call, goto = step.choices[option["choice"]].do, step.choices[option["choice"]].goto
            turn = await self.chat.press(f"{row.turn}.{option['n']}")
        else:
            assert step.input is not None
            call, goto = step.input.do, step.input.goto
            if call is None and goto is not None:  # a step that acts on the answer and moves on (consent typed)
                passed = self.flows.step(self.flows.resolve(row.flow, goto))
                call = None if passed.waits else passed.do
            turn = await self.chat.send(move.typed)
        if turn.flow is None and goto is not None:  # nothing kept (consent refused, data erased): see where
            target = self.flows.resolve(row.flow, goto)
            turn = replace(turn, flow=target.flow, step=target.step)
        return self._record(turn, call)

    def push(self, point: EntryPoint, data: dict[str, object]) -> Turn:
        """A message the service sends on its own (the delivery engine does the same, delivery/claims.py)."""
        with self.runtime.db.transaction() as session:
            turn = self.runtime.engine.push(session, self.chat.channel, self.chat.address, point.flow, point.step, data)
        self.chat.turns.append(turn)
        return self._record(turn, None)

    def _record(self, turn: Turn, call: ActionCall | None) -> Turn:
        where = (turn.flow or "", turn.step or "")
        calls = [call, self.flows.step(Target(*where)).do]
        done = any(c is not None and ACTIONS[c.action].irreversible for c in calls)
        home = where == astuple(self.flows.entry(HOME))
        labels = tuple(o.label for o in turn.options)
        starts = "done" if done else "menu" if home else ""
        self.shown.append(Shown(where, turn.replies[-1].text if turn.replies else "", labels, starts))
        return turn

    def expected_back(self) -> tuple[str, str] | Shown:
        """The question "retour" must show now: the one before on the way (a question shown twice in a row
        counts once), or where the way starts afresh (the menu; the consent question for nobody)."""
        if self.stopped():
            return self.shown[-1].where  # a resident who said stop is only told how to start again
        way: list[Shown] = []
        for shown in self.shown:
            if shown.starts:
                way = [shown] if shown.starts == "menu" else []
                continue
            if way and way[-1].where == shown.where:
                way.pop()
            way.append(shown)
        if len(way) >= 2 and way[-1] is self.shown[-1]:
            return way[-2]
        if self.resident_id() is None:
            return ("onboarding", "welcome")  # a first contact (its first step moves on to the consent question)
        return astuple(self.flows.entry(HOME))

    def resident_id(self) -> int | None:
        row = self.conversation()
        return row.resident_id if row is not None else None

    def stopped(self) -> bool:
        rid = self.resident_id()
        with self.runtime.db.transaction() as session:
            resident = session.get(Resident, rid) if rid is not None else None
            return resident is not None and resident.stopped_at is not None

    def belongings(self) -> list[object]:
        """What the resident owns and going back must not change: their row, appointments, call-backs,
        places in line, messages waiting to be sent (what they were shown and said is not theirs to keep)."""
        rid = self.resident_id()
        if rid is None:
            return []
        with self.runtime.db.transaction() as session:
            resident = session.get(Resident, rid)
            assert resident is not None
            rows: list[object] = [resident.model_dump(exclude={"last_seen_at"})]
            for model in (Appointment, CallbackRequest, WaitlistEntry, OutboxMessage):
                found = session.exec(select(model).where(model.resident_id == rid).order_by(col(model.id)))
                rows += [row.model_dump() for row in found]
            return rows


def astuple(target: Target) -> tuple[str, str]:
    return target.flow, target.step


async def check_back(walk: Walk) -> tuple[str, str]:
    """Say "retour" and check where it leads; returns the question shown."""
    expected = walk.expected_back()
    before = walk.belongings()
    path = " -> ".join(f"{s.where[0]}/{s.where[1]}" for s in walk.shown)
    turn = await walk.chat.send("retour")
    landed = (turn.flow or "", turn.step or "")
    if isinstance(expected, Shown):
        assert landed == expected.where, f"{path}: retour showed {landed}, not {expected.where}"
        assert turn.replies[-1].text == expected.text, f"{path}: {landed} reads differently"
        assert tuple(o.label for o in turn.options) == expected.labels, f"{path}: {landed} offers other choices"
    else:
        assert landed == expected, f"{path}: retour showed {landed}, not {expected}"
    assert walk.belongings() == before, f"{path}: going back changed what the resident owns"
    return landed


# -- where paths start -----------------------------------------------------------------------------------

Root = Callable[[Walk], Awaitable[None]]


async def at_menu(walk: Walk) -> None:
    await walk.send("bonjour")
    for label in ("Oui, je suis d'accord", "Oui", "Saint-Laurent", "Plus tard"):
        await walk.tap(label)
    assert walk.shown[-1].where == ("menu", "home")


async def first_contact(walk: Walk) -> None:
    await walk.send("bonjour")


def book_for(walk: Walk, session: Session) -> Appointment:
    rid = walk.resident_id()
    assert rid is not None
    now = walk.runtime.clock.now()
    slot = booking.free_slots(session, now, limit=1)[0].slot
    return booking.book_slot(session, resident_id=rid, slot_id=id_of(slot), scheme_id=None, channel="console", now=now)


def told(point: EntryPoint) -> Root:
    """At the menu, with an appointment booked, the service tells the resident about it: it cancelled it,
    moved it (the adviser is away), or (kept booked here) the resident missed it."""

    async def enter(walk: Walk) -> None:
        await at_menu(walk)
        now = walk.runtime.clock.now()
        with walk.runtime.db.transaction() as session:
            appointment_id = id_of(book_for(walk, session))
            if point is NOTICE_SERVICE_CANCELLED:
                appointment_status.set_status(
                    session,
                    appointment_id=appointment_id,
                    status="service_cancelled",
                    actor_id=None,
                    now=now,
                    tz=REUNION,
                    follow_up_at=None,
                )
            elif point is NOTICE_MOVED:
                other = booking.free_slots(session, now, limit=1)[0].slot
                moved = appointment_status.move_by_service(
                    session, appointment_id=appointment_id, new_slot_id=id_of(other), actor_id=None, now=now
                )
                appointment_id = id_of(moved)
        walk.push(point, {"appointment_id": appointment_id})

    return enter


async def offered_a_place(walk: Walk) -> None:
    """At the menu, waiting for a place (joined earlier), the place is free: the service offers it."""
    await at_menu(walk)
    rid = walk.resident_id()
    assert rid is not None
    now = walk.runtime.clock.now()
    with walk.runtime.db.transaction() as session:
        offered = set(session.exec(select(WaitlistEntry.offered_slot_id)))  # one walk, one place
        slot = next(
            v.slot
            for v in booking.free_slots(session, now, limit=50)
            if v.slot.starts_at > now + DAY and v.slot.id not in offered
        )
        waitlist.join(session, resident_id=rid, channel="console", now=now, slot_id=slot.id)
        (offer,) = waitlist.make_offers(session, now, minutes=60)
    *_, data = WAITLIST_OFFER.target(waitlist_entry_id=offer.entry_id, offered_slot_id=offer.slot_id)
    walk.push(WAITLIST_OFFER, data)


ROOTS: dict[str, Root] = {
    "menu": at_menu,
    "first contact": first_contact,
    "reminder": told(REMINDER),
    "notice: cancelled": told(NOTICE_SERVICE_CANCELLED),
    "notice: moved": told(NOTICE_MOVED),
    "notice: missed": told(NOTICE_NO_SHOW),
    "waitlist offer": offered_a_place,
}


# -- the walk --------------------------------------------------------------------------------------------


def moves_at(walk: Walk) -> list[Move]:
    """The answers tried at the current question: every fixed option, the first item of each list, and the
    texts its free input takes."""
    row = walk.conversation()
    assert row is not None
    step = walk.flows.step(Target(row.flow, row.step))
    moves = [Move(key=o["key"]) for o in row.options if step.choices[o["choice"]].for_each is None]
    moves += [Move(key=o["key"]) for o in row.options if o["key"].endswith("_1") and step.choices[o["choice"]].for_each]
    if step.input is not None:
        moves += [Move(typed=text) for text in TYPED[step.input.parse]]
    return moves


async def replay(driver: Driver, root: Root, moves: list[Move]) -> Walk:
    walk = Walk(driver)
    await root(walk)
    for move in moves:
        await walk.answer(move)
    return walk


async def test_retour_at_every_question_of_every_flow(driver: Driver) -> None:
    """Every answer of every question reached (breadth-first from each root), then "retour"."""
    flows = driver.runtime.engine.flows.flows
    questions = {(f, step_id) for f, flow in flows.items() for step_id, step in flow.steps.items() if step.waits}
    reached: dict[tuple[str, str], str] = {}
    queue: list[tuple[str, list[Move]]] = []
    answers = 0
    for name, root in ROOTS.items():
        walk = await replay(driver, root, [])
        await check_back(walk)
        reached.setdefault(walk.shown[-1].where, name)
        queue.append((name, []))
    while queue:
        name, moves = queue.pop(0)
        walk = await replay(driver, ROOTS[name], moves)
        if walk.resident_id() is None and walk.conversation() is None:
            continue  # consent refused, data erased: nothing kept, nothing to answer
        for move in moves_at(walk):
            path = [*moves, move]
            walk = await replay(driver, ROOTS[name], path)
            await check_back(walk)
            answers += 1
            where = walk.shown[-1].where
            if where not in reached:
                reached[where] = f"{name}: " + " ".join(map(str, path))
                queue.append((name, path))
    print(f"\nretour checked after {answers} answers and at {len(ROOTS)} starts, reaching {len(reached)} of the")
    print(f"{len(questions)} questions (the shortest path to each):")
    for where, path in sorted(reached.items()):
        print(f"  {where[0]}/{where[1]} <- {path}")
    assert questions - set(reached) == WORLD_ONLY, sorted(questions - set(reached))


# -- journeys written by hand ------------------------------------------------------------------------------


def where(chat: ConsoleChat) -> tuple[str | None, str | None]:
    return chat.turn.flow, chat.turn.step


def appointments_of(runtime: Runtime, chat: ConsoleChat) -> list[tuple[int | None, str]]:
    with runtime.db.transaction() as session:
        rows = session.exec(select(Appointment).where(Appointment.resident_id == chat.turn.resident_id))
        return [(a.id, a.status) for a in rows]


async def test_the_slot_list_goes_back_to_the_scheme_question_then_the_menu(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    schemes = chat.labels
    await chat.tap("Je ne sais pas")
    assert "prochains rendez-vous libres" in chat.text
    await chat.send("retour")  # it showed the same slots again: the scheme was known, the question skipped
    assert where(chat) == ("booking", "choose_scheme")
    assert "C'est pour quelle aide ?" in chat.text and chat.labels == schemes
    await chat.send("retour")
    assert where(chat) == ("menu", "home") and "Que voulez-vous faire ?" in chat.text
    await chat.send("retour")  # nothing comes before the menu: it is shown again
    assert where(chat) == ("menu", "home") and "Que voulez-vous faire ?" in chat.text


async def test_the_slots_of_a_place_go_back_to_the_places(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap("Je ne sais pas")
    soonest = chat.labels
    await chat.tap("Choisir le lieu")
    assert "Où voulez-vous aller ?" in chat.text
    places = chat.labels
    await chat.tap(2)
    assert where(chat) == ("booking", "choose_slot") and chat.labels != soonest
    await chat.send("retour")
    assert where(chat) == ("booking", "choose_venue") and chat.labels == places
    await chat.send("retour")
    assert where(chat) == ("booking", "choose_slot") and chat.labels == soonest  # computed again, the same
    await chat.send("précédent")
    assert where(chat) == ("booking", "choose_scheme")


async def test_across_flows_from_the_slots_back_to_the_scheme_found(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.send("formation")
    results = chat.labels
    await chat.tap(1)
    assert where(chat) == ("find_scheme", "detail")
    detail = chat.text
    await chat.tap("Prendre rendez-vous")
    assert where(chat) == ("booking", "choose_slot")
    await chat.send("retour")
    assert where(chat) == ("find_scheme", "detail") and chat.text == detail
    await chat.send("retour")
    assert where(chat) == ("find_scheme", "search_results") and chat.labels == results
    await chat.send("emploi")  # another search: the same question again, kept once
    assert where(chat) == ("find_scheme", "search_results")
    await chat.send("retour")
    assert where(chat) == ("menu", "home")


async def test_after_a_booking_retour_leads_to_the_menu_and_books_nothing(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.book_first_slot()
    assert "C'est réservé !" in chat.text
    booked = appointments_of(driver.runtime, chat)
    await chat.send("retour")
    assert where(chat) == ("menu", "home")
    await chat.tap("Mes rendez-vous")
    assert "Vous avez 1 rendez-vous." in chat.text
    await chat.send("retour")  # not "C'est réservé !" again: it says what was done
    assert where(chat) == ("menu", "home")
    assert appointments_of(driver.runtime, chat) == booked


async def test_after_a_cancellation_retour_leads_to_the_menu_and_cancels_nothing_more(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.book_first_slot()
    await chat.tap("Mes rendez-vous")
    await chat.tap(1)
    await chat.tap("Annuler ce rendez-vous")
    await chat.send("retour")  # before saying yes: the appointment, kept
    assert where(chat) == ("my_appointments", "detail")
    assert [status for _, status in appointments_of(driver.runtime, chat)] == ["booked"]
    await chat.tap("Annuler ce rendez-vous")
    await chat.tap("Oui, j'annule")
    assert "C'est annulé" in chat.text
    await chat.send("retour")
    assert where(chat) == ("menu", "home")
    assert [status for _, status in appointments_of(driver.runtime, chat)] == ["cancelled"]


async def test_after_a_reminder_retour_leads_to_where_the_resident_was(driver: Driver) -> None:
    chat = await driver.onboarded()
    await chat.book_first_slot()
    await chat.send("menu")
    await chat.tap("Trouver une aide")
    await chat.tap("Répondre à 3 questions")
    ages = chat.labels
    ((appointment_id, _),) = appointments_of(driver.runtime, chat)
    with driver.runtime.db.transaction() as session:
        reminder = driver.runtime.engine.push(
            session, chat.channel, chat.address, REMINDER.flow, REMINDER.step, {"appointment_id": appointment_id}
        )
    assert reminder.step == "remind"
    chat.turns.append(reminder)
    await chat.send("retour")
    assert where(chat) == ("find_scheme", "age") and chat.labels == ages


async def test_a_way_back_written_before_the_answers_were_kept_still_works(driver: Driver) -> None:
    """Rows of the earlier format: [flow, step] of the steps before, the current one not included."""
    chat = await driver.onboarded()
    await chat.tap("Trouver une aide")
    await chat.tap("Répondre à 3 questions")
    await chat.tap("18 à 25 ans")
    with driver.runtime.db.transaction() as session:
        row = session.exec(select(Conversation).where(Conversation.address == chat.address)).one()
        row.stack = [["menu", "home"], ["find_scheme", "how"], ["find_scheme", "age"], ["gone", "away"]]
        session.add(row)
    await chat.send("retour")  # a step that no longer exists is skipped
    assert where(chat) == ("find_scheme", "age")
    await chat.send("retour")
    assert where(chat) == ("find_scheme", "how")


async def test_a_question_that_now_moves_on_to_the_step_being_left_is_passed(driver: Driver) -> None:
    """The question before now skips itself, to the very step being left: "retour" goes one further."""
    chat = await driver.onboarded()
    await chat.tap("Prendre rendez-vous")
    await chat.tap("Je ne sais pas")
    with driver.runtime.db.transaction() as session:
        row = session.exec(select(Conversation).where(Conversation.address == chat.address)).one()
        known = {"scheme_code": row.data["scheme_code"]}  # as if the scheme had been known at the question
        row.stack = [["menu", "home", {}], ["booking", "choose_scheme", known], [row.flow, row.step, known]]
        session.add(row)
    await chat.send("retour")
    assert where(chat) == ("menu", "home")
    assert chat.text.count("Que voulez-vous faire ?") == 1 and "prochains rendez-vous" not in chat.text
