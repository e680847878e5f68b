"""What the fault, fuzz and attack suites proved this session, for docs/reliability.md (`make proof`).

A suite calls `record("kills", runs=1, kills=5, lost=0, duplicates=3)` as it goes: numbers add up
across calls (and across the parametrised cases of one suite), lists are joined (`database=["sqlite"]`
then `["postgres"]` gives both, once each), other values are kept as given, the last one winning. At the
end of the session tests/conftest.py writes everything recorded to build/proof/figures.json, with how
the session went (tests passed and failed), which tools/proof_report.py turns into the report. Figures
that must be 0 for the run to be a proof (`lost`, `failures`, `leaks`, `server_errors`, `rows_written`,
`wrong_status`: see tools/proof_report.py) are recorded as measured, before the test asserts on them,
so that a failing run says what it found.
A suite that did not run this session leaves no entry: the report says so rather than repeat old figures.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.paths import REPO

FIGURES_FILE = REPO / "build" / "proof" / "figures.json"
FIGURES: dict[str, dict[str, Any]] = {}
_STARTED: list[float] = []  # when the session started (time.monotonic), set by start()


def record(suite: str, **figures: Any) -> None:
    """Add these figures to `suite`'s: numbers are summed, anything else replaces the previous value."""
    entry = FIGURES.setdefault(suite, {})
    for name, value in figures.items():
        previous = entry.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and isinstance(previous, int | float):
            entry[name] = previous + value
        elif isinstance(value, list) and isinstance(previous, list):
            entry[name] = previous + [item for item in value if item not in previous]
        else:
            entry[name] = value


def start() -> None:
    """The session begins: its duration is counted from now."""
    _STARTED[:] = [time.monotonic()]


def outcome(stats: Mapping[str, Sequence[Any]], args: Sequence[str]) -> dict[str, Any]:
    """How the session went, from pytest's terminal statistics: counts of tests passed, failed, raising
    an error and skipped, the ones that failed, the arguments pytest was given and how long it took."""
    failed = [getattr(report, "nodeid", str(report)) for key in ("failed", "error") for report in stats.get(key, [])]
    session: dict[str, Any] = {
        "passed": len(stats.get("passed", [])),
        "failed": len(stats.get("failed", [])),
        "errors": len(stats.get("error", [])),
        "skipped": len(stats.get("skipped", [])),
        "failed_tests": sorted(set(failed)),
        "args": " ".join(args),
    }
    if _STARTED:
        session["seconds"] = round(time.monotonic() - _STARTED[0], 1)
    return session


def write(path: Path = FIGURES_FILE, session: Mapping[str, Any] | None = None) -> Path | None:
    """Write what was recorded (None: nothing was); the machine, the commit, the moment and how the
    session went (`session`: counts of tests passed and failed, the failed ones) go with it."""
    if not FIGURES:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    machine: dict[str, Any] = {"python": platform.python_version(), "system": platform.platform(), "cpus": _cpus()}
    if commit := _commit():
        machine["commit"] = commit
    document = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "session": dict(session or {}),
        "suites": FIGURES,
    }
    # In the order recorded (the report keeps it: a suite says first what it tried), which is the tests' order
    path.write_text(json.dumps(document, indent=2, default=_plain) + "\n", encoding="utf-8")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _commit() -> str | None:
    """The checkout's commit, "with changes" when files differ from it (None outside a git checkout). The
    report itself does not count: `make proof` rewrites it before it is committed."""
    git = ["git", "-C", str(REPO)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--", ".", ":!docs/reliability.md"], capture_output=True, text=True
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + (" with uncommitted changes" if changes.stdout.strip() else "")


def _plain(value: Any) -> Any:
    """Sets and tuples as sorted lists, so the file is stable from one run to the next."""
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str)
    raise TypeError(f"not JSON: {type(value).__name__}")
