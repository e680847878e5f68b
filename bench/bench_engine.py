"""Messages handled per second through dispatcher, engine and database, and the booking race.

    .venv/bin/python -m bench.bench_engine [--residents 40] [--database sqlite|postgres|both]

Part 1: many residents run a scripted conversation at once (onboarding, search, book, list, cancel);
prints messages/s and per-message latency percentiles.
Part 2: N residents stand at the confirmation of the same slot with K places and all press "yes" at once;
prints bookings vs places, how many were told the slot was taken, and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from sqlmodel import select

from bench._common import max_rss_mib, percentiles, seeded_runtime
from relai_bot.store.models import Appointment, Slot
from relai_bot.testing.driver import Chat, Driver
from relai_bot.wiring import Runtime

SCRIPT = [
    "bonjour",
    "1",
    "1",
    "2",
    "2",  # consent, opportunities, Saint-Laurent, questions later
    "formasion",
    "menu",  # a search with a typo, back to the menu
    "2",
    "1",
    "1",
    "oui",  # book: any scheme, first slot, confirm
    "menu",
    "3",
    "1",
    "annuler",
    "oui",  # my appointments: cancel it
    "menu",
]


async def timed(chat: Chat, text: str, latencies: list[float]) -> None:
    started = time.perf_counter()
    await chat.send(text)
    latencies.append((time.perf_counter() - started) * 1000)


async def conversation(driver: Driver, latencies: list[float]) -> None:
    chat = driver.resident()
    for text in SCRIPT:
        await timed(chat, text, latencies)


async def throughput(runtime: Runtime, residents: int) -> None:
    driver = Driver(runtime)
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(conversation(driver, latencies) for _ in range(residents)))
    elapsed = time.perf_counter() - started
    with runtime.db.transaction() as session:
        cancelled = len(session.exec(select(Appointment).where(Appointment.status == "cancelled")).all())
    print(
        f"  conversation: {residents} residents x {len(SCRIPT)} messages = {len(latencies)} messages "
        f"in {elapsed:.2f} s -> {len(latencies) / elapsed:.0f} messages/s; {percentiles(latencies)}"
    )
    # Residents racing for the same first slots: the losers are offered other slots, so fewer complete the
    # scripted booking; every booking made was then cancelled through "Mes rendez-vous".
    print(f"  bookings made then cancelled by script: {cancelled}/{residents}")


async def race(runtime: Runtime, bookers: int, places: int) -> None:
    driver = Driver(runtime)
    chats = []
    for _ in range(bookers):
        chat = driver.resident()
        for text in ("bonjour", "1", "2", "2", "2", "2", "1", "1"):  # ... first slot, at its confirmation
            await chat.send(text)
        chats.append(chat)
    slot_line = chats[0].text.splitlines()[1]
    assert all(c.text.splitlines()[1] == slot_line for c in chats), "bookers are not on the same slot"
    latencies: list[float] = []
    await asyncio.gather(*(timed(c, "oui", latencies) for c in chats))
    won = sum("C'est réservé" in c.text for c in chats)
    told_taken = sum("vient d'être pris" in c.text and "prochains rendez-vous libres" in c.text for c in chats)
    with runtime.db.transaction() as session:
        first = session.exec(select(Slot).where(Slot.booked > 0).order_by(Slot.starts_at, Slot.id)).first()
        over = session.exec(select(Slot).where(Slot.booked > Slot.capacity)).all()
    print(
        f"  race: {bookers} residents, 1 slot with {places} place(s): bookings={won} places={places} "
        f"told-taken-and-offered-next={told_taken} over-capacity-slots={len(over)} "
        f"slot.booked={first.booked if first else 0}; {percentiles(latencies)}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=40)
    parser.add_argument("--bookers", type=int, default=30)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    for database in ["sqlite", "postgres"] if args.database == "both" else [args.database]:
        print(f"{database}:")
        with seeded_runtime(database) as runtime:
            await throughput(runtime, args.residents)
        with seeded_runtime(database) as runtime:
            await race(runtime, args.bookers, 1)
    print(f"max RSS: {max_rss_mib():.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
