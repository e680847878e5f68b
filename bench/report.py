"""The table of `make bench` (bare vs relai, ratio, issue 13's targets) and docs/benchmarks.md."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench._common import postgres_version
from bench.systems import REPO

MIB_PER_100_MB = 100e6 / 2**20  # the target is in MB, VmRSS is read in KiB


@dataclass(frozen=True)
class Row:
    figure: str
    bare: str
    relai: str
    ratio: str
    target: str
    met: str


def _range(values: list[float], digits: int) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    middle = (
        ordered[len(ordered) // 2]
        if len(ordered) % 2
        else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    )
    text = _number(middle, digits)
    if len(ordered) > 1:
        text += f" ({_number(ordered[0], digits)}–{_number(ordered[-1], digits)})"
    return text


def _number(value: float, digits: int) -> str:
    if math.isinf(value):
        return "lost"
    if math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def build_rows(results: object, chats: int, memory_turns: int) -> list[Row]:
    from bench.harness import Results

    assert isinstance(results, Results)
    rows: list[Row] = []

    def values(scenario: str, system: str, key: str) -> list[float]:
        return results.values(scenario, system, key)

    def ratio_row(
        figure: str, scenario: str, key: str, digits: int, target: float | None, scenario_bare: str | None = None
    ) -> None:
        bare = values(scenario_bare or scenario, "bare", key)
        relai = values(scenario, "relai", key)
        if not bare and not relai:
            return
        b, r = _median(bare), _median(relai)
        ratio = r / b if b and r is not None else None
        ok = None if target is None or ratio is None else ratio >= target
        rows.append(
            Row(
                figure,
                _range(bare, digits),
                _range(relai, digits),
                "n/a" if ratio is None else f"{ratio:.2f}",
                "—" if target is None else f"ratio ≥ {target:g}",
                "—" if target is None else _verdict(ok),
            )
        )

    ratio_row(f"Telegram by polling, {chats} chats: replies/s", "tg-polling", "rate", 0, 0.35)
    ratio_row(f"Telegram webhook, saturation ({chats} chats): replies/s", "tg-webhook", "rate", 0, 0.35)
    ratio_row(f"Twilio SMS webhook, saturation ({chats} phones): replies/s", "sms", "rate", 0, 0.2)
    for path, name in (("tg-webhook", "Telegram webhook"), ("sms", "Twilio SMS webhook")):
        for scenario in sorted(
            (s for s in results.runs if s.startswith(path + "-")), key=lambda s: -float(s.split("-")[-1])
        ):
            rate = float(scenario.rsplit("-", 1)[1])
            limit = 100.0 if rate >= 50 else 50.0

            def cell(system: str, scenario: str = scenario) -> str:
                cuts = [_median(values(scenario, system, k)) for k in ("p50", "p95", "p99")]
                if any(c is None for c in cuts):
                    return "n/a"
                return " / ".join(_number(c, 0) for c in cuts if c is not None)

            def load_cell(system: str, scenario: str = scenario) -> str:
                achieved = _median(values(scenario, system, "achieved"))
                backlog = values(scenario, system, "backlog")
                lost = _median(values(scenario, system, "lost"))
                if achieved is None:
                    return "n/a"
                word = f"backlog in {sum(b > 0 for b in backlog)}/{len(backlog)} runs" if any(backlog) else "no backlog"
                return f"{achieved:.1f}/s, {word}" + (f", {lost:.0f} lost" if lost else "")

            p99 = _median(values(scenario, "relai", "p99"))
            backlog = values(scenario, "relai", "backlog")
            ok = None if p99 is None else (p99 < limit and not any(backlog))
            rows.append(
                Row(
                    f"{name}, steady {rate:g}/s: p50 / p95 / p99 ms",
                    cell("bare"),
                    cell("relai"),
                    "—",
                    f"no backlog, p99 < {limit:g} ms",
                    _verdict(ok),
                )
            )
            rows.append(Row(f"{name}, steady {rate:g}/s: achieved", load_cell("bare"), load_cell("relai"), "—", "", ""))
    for database, target in (("sqlite", 0.4), ("postgres", None)):
        bare = values(f"engine-{database}", "bare", "tx_per_s")
        relai = values(f"engine-{database}", "relai", "turns_per_s")
        if not bare and not relai:
            continue
        b, r = _median(bare), _median(relai)
        ratio = r / b if b and r is not None else None
        rows.append(
            Row(
                f"Engine in process, {'SQLite' if database == 'sqlite' else 'PostgreSQL'}: turns/s "
                "(bare: one UPDATE+INSERT commit per message)",
                _range(bare, 0),
                _range(relai, 0),
                "n/a" if ratio is None else f"{ratio:.2f}",
                "—" if target is None else f"ratio ≥ {target:g}",
                "—" if target is None or ratio is None else _verdict(ratio >= target),
            )
        )
        statements = values(f"engine-{database}", "relai", "statements_per_turn")
        per_tx = values(f"engine-{database}", "bare", "statements_per_tx")
        rows.append(
            Row(
                f"  SQL statements per turn ({database}; bare: per commit), as the cursor sees them",
                _range(per_tx, 1),
                _range(statements, 1),
                _ratio(per_tx, statements),
                "",
                "",
            )
        )
    ratio_row(
        "CPU of the system per reply, Telegram webhook saturation (ms)", "tg-webhook", "cpu_ms_per_reply", 1, None
    )
    ratio_row("CPU of the system per reply, SMS webhook saturation (ms)", "sms", "cpu_ms_per_reply", 1, None)
    start_bare, start_relai = values("start", "bare", "start_s"), values("start", "relai", "start_s")
    if start_relai:
        r = _median(start_relai)
        rows.append(
            Row(
                "Start to a 200 on /healthz, existing database (s)",
                _range(start_bare, 2),
                _range(start_relai, 2),
                _ratio(start_bare, start_relai),
                "< 1 s",
                _verdict(r is not None and r < 1),
            )
        )
        idle_bare, idle_relai = values("start", "bare", "rss_idle"), values("start", "relai", "rss_idle")
        r = _median(idle_relai)
        rows.append(
            Row(
                "RSS idle (MiB)",
                _range(idle_bare, 0),
                _range(idle_relai, 0),
                _ratio(idle_bare, idle_relai),
                "< 100 MB (95.4 MiB)",
                _verdict(r is not None and r < MIB_PER_100_MB),
            )
        )
    after_bare, after_relai = values("memory", "bare", "rss_after"), values("memory", "relai", "rss_after")
    if after_relai:
        turns = _median(values("memory", "relai", "turns")) or 0
        rows.append(
            Row(
                f"RSS after {memory_turns:,} SMS turns (MiB; relai answered {turns:,.0f})",
                _range(after_bare, 0),
                _range(after_relai, 0),
                _ratio(after_bare, after_relai),
                "—",
                "—",
            )
        )
    share = values("broadcast", "relai", "share_of_limit")
    if share:
        sustained = values("broadcast", "relai", "sustained_share")
        delay = _median(values("broadcast", "relai", "reminder_delay_s"))
        lost = _median(values("broadcast", "relai", "lost")) or 0
        dup = _median(values("broadcast", "relai", "duplicated")) or 0
        s = _median(sustained)
        ok = s is not None and delay is not None and s >= 0.97 and delay < 2
        rows.append(
            Row(
                "Broadcast: share of the 30 msg/s limit (without / with the chats given a 429); reminder delay",
                "—",
                f"{_range(sustained, 3)} ({_range(share, 3)}); {_number(delay or math.nan, 2)} s "
                f"(lost {lost:.0f}, duplicated {dup:.0f})",
                "—",
                "≥ 0.97, delay < 2 s",
                _verdict(ok),
            )
        )
    loads = [
        run
        for scenario, systems in results.runs.items()
        if scenario.startswith(("tg-", "sms"))
        for runs in systems.values()
        for run in runs
    ]
    if loads:
        other = [run["other_cpu_share"] for run in loads if "other_cpu_share" in run]
        harness = [run["load_cpu_share"] for run in loads if "load_cpu_share" in run]
        rows.append(
            Row(
                "Cores used during the loads by the rest of the machine; by the harness (fakes + load), max",
                "—",
                f"{_range(other, 2)}; {max(harness):.2f}",
                "—",
                "(2 cores in all)",
                "",
            )
        )
    for database in ("sqlite", "postgres"):
        race = results.runs.get(f"race-{database}", {}).get("relai", [])
        if race:
            figures = race[-1]
            ok = figures["bookings"] == 1 and figures["over_capacity"] == 0 and figures["same_slot"] == 1
            rows.append(
                Row(
                    f"Booking race ({database}): {figures['bookers']:.0f} press yes on a 1-place slot",
                    "—",
                    f"{figures['bookings']:.0f} booked, {figures['told_taken']:.0f} told taken, "
                    f"{figures['over_capacity']:.0f} over capacity",
                    "—",
                    "1 booked, none over",
                    _verdict(ok),
                )
            )
    return rows


def _ratio(bare: list[float], relai: list[float]) -> str:
    b, r = _median(bare), _median(relai)
    return "n/a" if not b or r is None else f"{r / b:.2f}"


def table(rows: list[Row]) -> str:
    lines = ["| figure | bare stack | relai-bot serve | ratio | target | |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r.figure} | {r.bare} | {r.relai} | {r.ratio} | {r.target} | {r.met} |" for r in rows]
    return "\n".join(lines)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    commit = _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "--", "src", "bench"):
        commit += " (with uncommitted changes in src/ or bench/)"
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": memory,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": postgres_version() or "not reachable",
        "commit": f"{commit} ({_git('rev-parse', '--abbrev-ref', 'HEAD')})",
    }


HOW = """\
## How it was measured

- **Processes.** Each system under test is its own process: `relai-bot serve` (a copy of one SQLite file
  migrated and seeded with the demo data, so every run starts on the same existing database), or a bare stack
  written in `bench/baselines/` on the same libraries: a python-telegram-bot `Application` echo bot (a text is
  answered with itself and three inline buttons, a button press with answerCallbackQuery and a new message;
  updates handled in order, PTB's default, which is faster here than `concurrent_updates`: httpcore's pool
  costs more per request the more are in flight) by polling, or behind a minimal Starlette app under uvicorn
  that checks the secret-token header; a Starlette app under uvicorn that checks `X-Twilio-Signature` with twilio's
  `RequestValidator` and answers in TwiML. The harness process holds the fake providers (tests/fakes: the
  fake Bot API and the fake Twilio REST API, aiohttp) and generates the load in their event loop: that is the
  provider's side (Telegram queues an update for getUpdates or POSTs it; Twilio POSTs a signed webhook), so
  the load comes from another process than the system, and each takes one of the two cores. The harness's
  own CPU share is printed with each run (`load_cpu_share`): near 1.0 it would be the limit, not the system.
- **Same settings.** Provider pacing is relaxed for every system (relai: `RELAI_TELEGRAM_RATE=1000`,
  `RELAI_TELEGRAM_CHAT_INTERVAL=0.02`, `RELAI_TELEGRAM_CHAT_BURST=20`, `RELAI_SMS_RATE=1000`; the fake Bot
  API allows 50/s per chat and 1000/s overall), so the figures measure the stacks, not the providers'
  limits. Otherwise `serve` runs with its defaults (log level INFO to a file, the scheduler on).
- **Residents.** Many distinct chats (phones), each with one message in flight, on a random walk through
  the menus: one of the buttons (numbered options by SMS) of its last answer, drawn at random, leaving out
  those that would end its part of the run (erase, stop the messages..., in French and in Creole: a resident
  may switch), a text now and then. A turn is done when a
  message with buttons came, or no more came for 0.25 s.
- **Saturation** (closed loop): 100 chats, each answering as soon as its turn is done; replies/s counted
  over the window after a warm-up. **Open loop**: messages at a fixed interval (50/s, 25/s) for a fixed
  duration, each from a resident who finished its turn and read it for 0.2 s, or from a new resident, so
  arrivals never wait for the system; answers awaited 5 s more. Latency: from the moment the provider made
  the update available (the scheduled time: queued for getUpdates, or the webhook POST started) to the fake
  receiving our first reply (sendMessage; the Messages create for SMS; for the bare SMS app, which answers in
  TwiML, the TwiML answer). Unanswered messages count as the slowest (shown as "lost"). Backlog: fewer
  answers per second than offered (under 98 %), more than 0.5 % lost, or the median latency of the last fifth
  of the run above twice that of the first fifth plus 20 ms. Telegram webhooks: at most 40 connections at
  once (Telegram's default `max_connections`); SMS webhooks: 100. The open loops of one path run on the
  same process one after the other (50/s, a 1 s pause, 25/s), each with new residents.
- **A shared machine.** Other work on the machine takes CPU during the runs: the row "Cores used during the
  loads by the rest of the machine" says how much (from /proc/stat, less the system's and the harness's own
  CPU). The runs are interleaved so that both systems see the same conditions: compare the ratios of one
  run of `make bench`, not absolute figures across sessions.
- **Engine in process**: the dispatcher, engine and database without a channel, residents running a
  scripted conversation at once (onboarding, search, booking, cancelling), each message with a provider
  message id so the de-duplication insert runs; SQL statements counted with a SQLAlchemy
  `before_cursor_execute` listener. The ceiling: the same engine settings (`make_engine`), the same
  concurrency and worker threads, one UPDATE + INSERT + COMMIT per message.
- **Memory**: VmRSS from /proc/PID/status, idle 2 s after a healthy start, and after the SMS turns of the
  memory run. **Start**: from spawning the process to the first 200 on GET /healthz (polled every 5 ms);
  relai with Telegram (webhook) and SMS configured on an existing database, the bare stack is the echo bot
  behind Starlette (it also calls getMe and setWebhook before it listens).
- **Broadcast** (bench/broadcast.py, relai only): the delivery worker with the real python-telegram-bot
  client against the fake Bot API in its own process enforcing Telegram's limits (30/s, 1/s per chat), 1 % of
  the chats answering a 429 once; a reminder enqueued halfway, its delay to the server measured. The share
  of the limit: the messages sent over the span from the first send to the last, leaving out the chats that
  were answered a 429 (their retries, retry_after 2 s, can come after every other send and stretch the span
  of a short broadcast by a few per cent; the target is judged on it); in brackets, with them.
- **Medians** of the runs, interleaved bare, relai, bare, relai... in one session; the range of the runs in
  brackets. `CPU per reply`: the system's CPU time (user + system, /proc/PID/stat) over the run divided by the
  replies: where the cost is, whatever the load.
"""


def document(rows: list[Row], results: object, label: str, config: str, elapsed: float) -> str:
    from bench.harness import Results

    assert isinstance(results, Results)
    info = machine()
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{label}` (bench/, `.venv/bin/python -m bench`) on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, in {elapsed / 60:.1f} minutes.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {key} | {value} |" for key, value in info.items()),
        "",
        f"Configuration: {config}.",
        "",
        table(rows),
        "",
    ]
    if results.notes:
        lines += ["Notes:", "", *(f"- {note}" for note in results.notes), ""]
    if results.seconds:
        spent = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in results.seconds.items())
        lines += [f"Time per scenario: {spent}.", ""]
    lines += [HOW]
    return "\n".join(lines)
