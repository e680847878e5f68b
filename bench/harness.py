"""`make bench`: relai-bot serve against the bare stacks on the same libraries, side by side, in one session.

    .venv/bin/python -m bench                  # everything, 3 interleaved runs each, writes docs/benchmarks.md
    .venv/bin/python -m bench --quick          # 1 run each, shorter loads (a few minutes)
    .venv/bin/python -m bench --only tg-webhook --only engine --runs 1 --no-docs

Each scenario runs its systems interleaved (bare, relai, bare, relai...), each system as its own process,
against the fake providers of tests/fakes in the harness process (which generates the load too); the table
gives the median of the runs (and their range), the ratio relai / bare, and issue 13's targets.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import logging
import math
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import engine as engine_bench
from bench._common import machine_cpu_seconds, own_cpu_seconds, percentile, postgres_reachable, seeded_runtime
from bench.loads import (
    BenchTelegram,
    BenchTwilio,
    Recorder,
    Resident,
    SmsSender,
    WebhookPoster,
    closed_loop,
    open_loop,
    sms_number,
    telegram_webhook,
)
from bench.systems import (
    FAKE_TELEGRAM_LIMITS,
    REPO,
    TELEGRAM_SECRET,
    TWO_WAY,
    Spawned,
    spawn_echo_bot,
    spawn_relai,
    spawn_sms_app,
)

log = logging.getLogger("bench")
TELEGRAM_WEBHOOK_PATH = "/webhooks/telegram"  # relai_bot.channels.telegram.channel and the echo bot
SMS_INBOUND_PATH = "/webhooks/twilio/sms"  # relai_bot.channels.sms.channel and the bare SMS app
Figures = dict[str, float]


@dataclass(frozen=True)
class Config:
    runs: int = 3
    warmup: float = 1.0
    saturation_seconds: float = 4.0
    open_seconds: float = 8.0
    rates: tuple[float, ...] = (50.0, 25.0)
    poisson: bool = False
    chats: int = 100
    engine_residents: int = 40
    race_bookers: int = 30
    memory_turns: int = 10_000
    broadcast_recipients: int = 1_000
    only: frozenset[str] = frozenset()
    docs: Path | None = REPO / "docs" / "benchmarks.md"
    label: str = "make bench"

    def wants(self, name: str) -> bool:
        return not self.only or name in self.only or name.split("-")[0] in self.only


FULL = Config()
QUICK = Config(
    runs=1,
    warmup=0.5,
    saturation_seconds=3.0,
    open_seconds=6.0,
    engine_residents=20,
    race_bookers=15,
    memory_turns=1_500,
    broadcast_recipients=300,
    label="make bench (--quick)",
)


@dataclass
class Workspace:
    folder: Path
    template: Path  # a SQLite database with the schema and the demo data, copied for each run of serve
    copies: int = 0

    def database(self) -> Path:
        self.copies += 1
        target = self.folder / f"relai-{self.copies}.sqlite3"
        shutil.copyfile(self.template, target)
        return target


def compile_project() -> None:
    """The project's bytecode up to date, as `make install` leaves it: a start measured after an edit
    would otherwise include compiling the edited modules (where bytecode is not written at run time)."""
    import relai_bot

    compileall.compile_dir(str(Path(relai_bot.__file__).parent), quiet=1)


def prepare_template(folder: Path) -> Path:
    """The database `serve` starts on: migrated, demo data seeded (done once, copied for each run)."""
    path = folder / "template.sqlite3"
    from relai_bot.clock import SystemClock
    from relai_bot.config import load_settings
    from relai_bot.wiring import build_runtime, migrate, seed_demo

    runtime = build_runtime(load_settings(database_url=f"sqlite:///{path}"), SystemClock())
    migrate(runtime)
    seed_demo(runtime)
    runtime.close()
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


# -- one run of a load against one system --------------------------------------------------------------


@dataclass
class CpuMeter:
    """CPU used during a load: by the system under test, by the harness (fakes and load), by the rest of the
    machine (other work on the shared machine shows here), as shares of one core over the wall time."""

    sut: Spawned
    began: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        self.began = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        return time.monotonic(), self.sut.cpu_seconds(), own_cpu_seconds(), machine_cpu_seconds()

    def figures(self) -> tuple[float, Figures]:
        now = self._read()
        wall, sut, own, everything = (b - a for a, b in zip(self.began, now, strict=True))
        shares = {"sut_cpu_share": sut / wall, "load_cpu_share": own / wall}
        shares["other_cpu_share"] = max(0.0, everything - sut - own) / wall
        return sut, shares


def load_figures(recorder: Recorder, window: tuple[float, float], sut: Spawned, meter: CpuMeter) -> Figures:
    start, end = window
    seconds = end - start
    in_window = [r for r in recorder.requests if start <= r.sent <= end]
    latencies = [(r.answered - r.sent) * 1000 if r.answered is not None else math.inf for r in in_window]
    answered = [r.answered for r in recorder.requests if r.answered is not None]
    answered_in_window = sum(1 for moment in answered if start <= moment <= end)
    cpu_used, shares = meter.figures()
    return {
        "rate": answered_in_window / seconds,
        "sent": len(in_window),
        "lost": sum(1 for r in in_window if r.answered is None),
        "failures": recorder.failures,
        "p50": percentile(latencies, 0.5),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "cpu_ms_per_reply": 1000 * cpu_used / max(1, len(answered)),
        **shares,
        "errors_logged": sut.errors_logged(),
    }


def open_figures(figures: Figures, recorder: Recorder, window: tuple[float, float], rate: float) -> Figures:
    """Backlog: answers fall behind the offered rate, messages are lost, or the latency grows over the run."""
    start, end = window
    in_window = [r for r in recorder.requests if start <= r.sent <= end]
    answered = [r.answered for r in in_window if r.answered is not None]
    last = max(answered, default=end)
    achieved = len(answered) / max(last - start, end - start)
    fifth = max(1, len(in_window) // 5)

    def median_ms(requests: list[Any]) -> float:
        return statistics.median((r.answered - r.sent) * 1000 if r.answered is not None else math.inf for r in requests)

    first, final = median_ms(in_window[:fifth]), median_ms(in_window[-fifth:])
    growing = final > 2 * first + 20
    lost_share = figures["lost"] / max(1, len(in_window))
    backlog = achieved < 0.98 * rate or lost_share > 0.005 or growing
    return {**figures, "offered": rate, "achieved": achieved, "backlog": float(backlog), "p50_growth": final - first}


async def polling_started(srv: BenchTelegram, sut: Spawned, timeout: float = 30.0) -> None:
    """Wait for the system's first getUpdates (it may have died instead)."""
    deadline = time.monotonic() + timeout
    while not srv.polled.is_set():
        if not sut.alive():
            raise RuntimeError(f"{sut.name} exited ({sut.process.returncode}):\n{sut.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sut.name} did not poll after {timeout:.0f} s:\n{sut.log_tail()}")
        await asyncio.sleep(0.01)


Load = float | None  # a steady rate (messages/s), or None: saturation with `cfg.chats` residents
PAUSE = 1.0  # between two loads on the same process: the last replies go out


async def run_loads(
    srv: BenchTelegram | BenchTwilio,
    sut: Spawned,
    cfg: Config,
    loads: list[Load],
    start_poster: Callable[[Recorder], WebhookPoster | None],
    act: Callable[[WebhookPoster | None], Callable[[Resident], None]],
    key: Callable[[int], int | str],
) -> list[Figures]:
    """The loads one after the other on one running system, each with its own residents."""
    results: list[Figures] = []
    residents: dict[Any, Resident] = srv.residents  # type: ignore[assignment]
    for index, rate in enumerate(loads):
        if index:
            await asyncio.sleep(PAUSE)
        recorder = Recorder()
        poster = start_poster(recorder)

        def new_resident(n: int, index: int = index) -> Resident:
            address = key(100_000 * index + n)
            resident = residents[address] = Resident(address, random.Random(n))
            return resident

        try:
            meter = CpuMeter(sut)
            if rate is None:
                group = [new_resident(n) for n in range(cfg.chats)]
                window = await closed_loop(group, act(poster), recorder, cfg.warmup, cfg.saturation_seconds)
            else:
                window, _, _ = await open_loop(
                    new_resident, act(poster), recorder, rate, cfg.open_seconds, poisson=cfg.poisson
                )
            figures = load_figures(recorder, window, sut, meter)
            figures["violations"] = len(srv.violations)
            results.append(figures if rate is None else open_figures(figures, recorder, window, rate))
        finally:
            if poster is not None:
                await poster.close()
    return results


async def telegram_run(system: str, mode: str, ws: Workspace, cfg: Config, loads: list[Load]) -> list[Figures]:
    """Telegram by polling or webhook, the echo bot or relai-bot serve, under `loads`."""
    async with BenchTelegram(**FAKE_TELEGRAM_LIMITS) as srv:
        webhook = mode == "webhook"
        if system == "bare":
            sut = spawn_echo_bot(ws.folder, srv.base_url, webhook=webhook)
        else:
            sut = spawn_relai(ws.folder, ws.database(), telegram_api=srv.base_url, webhook=webhook)
        try:
            if sut.base_url is not None:
                await sut.wait_healthy()
            if not webhook:
                await polling_started(srv, sut)

            def start_poster(recorder: Recorder) -> WebhookPoster | None:
                if not webhook:
                    return None
                assert sut.base_url is not None
                return telegram_webhook(srv, sut.base_url + TELEGRAM_WEBHOOK_PATH, TELEGRAM_SECRET, recorder)

            return await run_loads(srv, sut, cfg, loads, start_poster, lambda _: srv.act, lambda n: 10_000 + n)
        finally:
            await asyncio.to_thread(sut.stop)


def spawn_sms_system(system: str, ws: Workspace, srv: BenchTwilio) -> Spawned:
    """The bare SMS app, or relai-bot serve with Twilio's settings pointing at the fake."""
    if system == "bare":
        return spawn_sms_app(ws.folder, srv.auth_token)
    return spawn_relai(ws.folder, ws.database(), twilio=(srv.account_sid, srv.auth_token, srv.base_url))


async def sms_run(system: str, ws: Workspace, cfg: Config, loads: list[Load]) -> list[Figures]:
    """Signed SMS webhooks into the bare SMS app or relai-bot serve, under `loads`."""
    async with BenchTwilio() as srv:
        sut = spawn_sms_system(system, ws, srv)
        try:
            await sut.wait_healthy()
            assert sut.base_url is not None
            url = sut.base_url + SMS_INBOUND_PATH

            def start_poster(recorder: Recorder) -> WebhookPoster:
                return WebhookPoster(url, recorder, connections=cfg.chats)

            def act(poster: WebhookPoster | None) -> Callable[[Resident], None]:
                assert poster is not None
                return SmsSender(poster, srv.auth_token, TWO_WAY, twiml_reply=system == "bare").act

            return await run_loads(srv, sut, cfg, loads, start_poster, act, sms_number)
        finally:
            await asyncio.to_thread(sut.stop)


async def memory_run(system: str, ws: Workspace, cfg: Config) -> Figures:
    """RSS of the SMS system idle, then after `cfg.memory_turns` SMS turns (`cfg.chats` phones at once)."""
    async with BenchTwilio() as srv:
        sut = spawn_sms_system(system, ws, srv)
        try:
            await sut.wait_healthy()
            assert sut.base_url is not None
            await asyncio.sleep(1.0)
            idle = sut.rss_mib()
            recorder = Recorder()
            poster = WebhookPoster(sut.base_url + SMS_INBOUND_PATH, recorder, connections=cfg.chats)
            sender = SmsSender(poster, srv.auth_token, TWO_WAY, twiml_reply=system == "bare")
            residents = [Resident(sms_number(n), random.Random(n)) for n in range(cfg.chats)]
            srv.residents.update({str(r.key): r for r in residents})
            try:
                await closed_loop(residents, sender.act, recorder, 0.0, 3600.0, stop_after=cfg.memory_turns)
            finally:
                await poster.close()
            await asyncio.sleep(PAUSE)
            answered = sum(1 for r in recorder.requests if r.answered is not None)
            return {"rss_idle": idle, "rss_after": sut.rss_mib(), "turns": answered}
        finally:
            await asyncio.to_thread(sut.stop)


async def start_run(system: str, ws: Workspace) -> Figures:
    """From the spawn to a 200 on GET /healthz (relai: Telegram webhook and SMS configured, an existing
    database); then RSS after 2 s idle."""
    async with BenchTelegram(**FAKE_TELEGRAM_LIMITS) as telegram, BenchTwilio() as twilio:
        if system == "bare":
            sut = spawn_echo_bot(ws.folder, telegram.base_url, webhook=True)
        else:
            sms = (twilio.account_sid, twilio.auth_token, twilio.base_url)
            sut = spawn_relai(ws.folder, ws.database(), telegram_api=telegram.base_url, webhook=True, twilio=sms)
        try:
            seconds = await sut.wait_healthy()
            await asyncio.sleep(2.0)
            return {"start_s": seconds, "rss_idle": sut.rss_mib()}
        finally:
            await asyncio.to_thread(sut.stop)


# -- the scenarios ----------------------------------------------------------------------------------------


@dataclass
class Results:
    runs: dict[str, dict[str, list[Figures]]] = field(default_factory=dict)  # scenario -> system -> runs
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, scenario: str, system: str, figures: Figures) -> None:
        self.runs.setdefault(scenario, {}).setdefault(system, []).append(figures)

    def values(self, scenario: str, system: str, key: str) -> list[float]:
        return [run[key] for run in self.runs.get(scenario, {}).get(system, []) if key in run]

    def median(self, scenario: str, system: str, key: str) -> float | None:
        values = self.values(scenario, system, key)
        return statistics.median(values) if values else None


async def interleaved(
    results: Results,
    name: str,
    cfg: Config,
    run: Callable[[str], Awaitable[dict[str, Figures]]],
    systems: tuple[str, ...] = ("bare", "relai"),
) -> None:
    """`cfg.runs` runs of each system, interleaved; a run gives the figures of one or more scenarios."""
    for n in range(cfg.runs):
        for system in systems:
            began = time.monotonic()
            try:
                by_scenario = await run(system)
            except Exception as error:  # a failed run is reported, not hidden
                log.exception("%s %s run %d failed", name, system, n + 1)
                results.notes.append(f"{name} / {system} run {n + 1} failed: {type(error).__name__}: {error}")
                continue
            for scenario, figures in by_scenario.items():
                results.add(scenario, system, figures)
                if figures.get("violations") or figures.get("errors_logged"):
                    results.notes.append(
                        f"{scenario} / {system} run {n + 1}: {figures.get('violations', 0):.0f} calls refused by "
                        f"the fake provider, {figures.get('errors_logged', 0):.0f} error lines in the system's log"
                    )
                brief = ", ".join(f"{k}={v:.4g}" for k, v in figures.items())
                print(f"  {scenario:<16} {system:<5} run {n + 1}: {brief}", flush=True)
            print(f"  ({name}, {system}, run {n + 1}: {time.monotonic() - began:.1f} s)", flush=True)


async def engine_scenario(results: Results, cfg: Config) -> None:
    databases = ["sqlite"] + (["postgres"] if postgres_reachable() else [])
    if "postgres" not in databases:
        results.notes.append("PostgreSQL at 127.0.0.1:5432 not reachable: its rows are left out")
    for database in databases:
        for n in range(cfg.runs):
            for system in ("bare", "relai"):
                began = time.monotonic()
                if system == "bare":
                    figures = await engine_bench.ceiling(database, cfg.engine_residents)
                else:
                    with seeded_runtime(database) as runtime:
                        figures = await engine_bench.turns(runtime, cfg.engine_residents)
                results.add(f"engine-{database}", system, figures)
                brief = ", ".join(f"{k}={v:.4g}" for k, v in figures.items())
                print(f"  engine-{database:<9} {system:<5} run {n + 1}: {brief} ({time.monotonic() - began:.1f} s)")
        with seeded_runtime(database) as runtime:
            figures = await engine_bench.race(runtime, cfg.race_bookers)
        figures.pop("latency", None)
        results.add(f"race-{database}", "relai", figures)
        print(f"  race-{database:<11} relai: {figures}", flush=True)


async def run_all(cfg: Config) -> Results:
    results = Results()
    with tempfile.TemporaryDirectory(prefix="relai-bench-") as name:
        folder = Path(name)
        compile_project()
        ws = Workspace(folder, prepare_template(folder))
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []

        def add(name: str, step: Callable[[], Awaitable[None]]) -> None:
            if cfg.wants(name):
                steps.append((name, step))

        def scenarios(names: list[str], figures: list[Figures]) -> dict[str, Figures]:
            return dict(zip(names, figures, strict=True))

        def telegram(mode: str, names: list[str], loads: list[Load]) -> Callable[[str], Awaitable[dict[str, Figures]]]:
            async def run(system: str) -> dict[str, Figures]:
                return scenarios(names, await telegram_run(system, mode, ws, cfg, loads))

            return run

        def sms(names: list[str], loads: list[Load]) -> Callable[[str], Awaitable[dict[str, Figures]]]:
            async def run(system: str) -> dict[str, Figures]:
                return scenarios(names, await sms_run(system, ws, cfg, loads))

            return run

        async def start(system: str) -> dict[str, Figures]:
            return {"start": await start_run(system, ws)}

        async def memory(system: str) -> dict[str, Figures]:
            return {"memory": await memory_run(system, ws, cfg)}

        add("tg-polling", lambda: interleaved(results, "tg-polling", cfg, telegram("polling", ["tg-polling"], [None])))
        add("tg-webhook", lambda: interleaved(results, "tg-webhook", cfg, telegram("webhook", ["tg-webhook"], [None])))
        add("sms", lambda: interleaved(results, "sms", cfg, sms(["sms"], [None])))
        # The open loops of one path run on the same process, one rate after the other (fewer starts)
        for path in ("tg-webhook", "sms"):
            rates = [rate for rate in cfg.rates if cfg.wants(f"{path}-{rate:g}")]
            if rates:
                names = [f"{path}-{rate:g}" for rate in rates]
                run = telegram("webhook", names, list(rates)) if path == "tg-webhook" else sms(names, list(rates))
                steps.append((f"{path} open loops", lambda run=run, name=path: interleaved(results, name, cfg, run)))
        add("engine", lambda: engine_scenario(results, cfg))
        add("start", lambda: interleaved(results, "start", cfg, start))
        add("memory", lambda: interleaved(results, "memory", replace(cfg, runs=1), memory))
        add("broadcast", lambda: broadcast_scenario(results, cfg))
        for name, step in steps:
            print(f"{name}:", flush=True)
            began = time.monotonic()
            await step()
            results.seconds[name] = time.monotonic() - began
    return results


async def broadcast_scenario(results: Results, cfg: Config) -> None:
    from bench import broadcast

    began = time.monotonic()
    figures = await broadcast.measure(cfg.broadcast_recipients, 0.01, "sqlite", progress=False)
    results.add("broadcast", "relai", figures)
    brief = ", ".join(f"{k}={v:.4g}" for k, v in figures.items())
    print(f"  broadcast        relai: {brief} ({time.monotonic() - began:.1f} s)", flush=True)


def parse(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run each, shorter loads (about 3 minutes)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="only this scenario (repeatable): tg-polling, tg-webhook, sms, tg-webhook-50, "
        "sms-25..., tg (all Telegram), engine, start, memory, broadcast",
    )
    parser.add_argument("--runs", type=int, help="runs of each system per scenario (default 3, --quick 1)")
    parser.add_argument("--seconds", type=float, help="length of each saturation and open-loop load")
    parser.add_argument("--poisson", action="store_true", help="open loop: Poisson arrivals, not a fixed interval")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks.md", help="where to write the run")
    parser.add_argument("--no-docs", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    changes: dict[str, Any] = {"only": frozenset(args.only), "poisson": args.poisson}
    if args.runs:
        changes["runs"] = args.runs
    if args.seconds:
        changes["saturation_seconds"] = changes["open_seconds"] = args.seconds
    changes["docs"] = None if args.no_docs or args.only else args.docs
    return replace(cfg, **changes)


def describe(cfg: Config) -> str:
    return (
        f"{cfg.runs} run(s) per system and scenario; saturation {cfg.chats} chats, {cfg.warmup:g} s warm-up + "
        f"{cfg.saturation_seconds:g} s; open loop {' and '.join(f'{r:g}/s' for r in cfg.rates)} for "
        f"{cfg.open_seconds:g} s ({'Poisson' if cfg.poisson else 'fixed interval'}); engine "
        f"{cfg.engine_residents} residents x {len(engine_bench.SCRIPT)} messages; race {cfg.race_bookers} "
        f"bookers; memory after {cfg.memory_turns:,} turns; broadcast to {cfg.broadcast_recipients:,} residents"
    )


async def bench(cfg: Config) -> tuple[Results, str]:
    from bench import report

    began = time.monotonic()
    print(f"relai-bot benchmark: {describe(cfg)}", flush=True)
    results = await run_all(cfg)
    elapsed = time.monotonic() - began
    rows = report.build_rows(results, cfg.chats, cfg.memory_turns)
    text = report.table(rows)
    print()
    print(text)
    for note in results.notes:
        print(f"note: {note}")
    print(f"\n{elapsed / 60:.1f} minutes", flush=True)
    if cfg.docs is not None:
        cfg.docs.write_text(report.document(rows, results, cfg.label, describe(cfg), elapsed), encoding="utf-8")
        print(f"written to {cfg.docs}")
    return results, text


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(bench(parse(argv)))
