"""What the fault, fuzz and attack suites proved this session, for docs/reliability.md (`make proof`).

A suite calls `record("kills", runs=1, kills=5, lost=0, duplicates=3)` as it goes: numbers add up across
calls (and across the parametrised cases of one suite), other values (a list of what was tried, a
database's name) are kept as given, the last one winning. At the end of the session tests/conftest.py
writes everything recorded to build/proof/figures.json, which tools/proof_report.py turns into the report.
A suite that did not run this session leaves no entry: the report says so rather than repeat old figures.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.paths import REPO

FIGURES_FILE = REPO / "build" / "proof" / "figures.json"
FIGURES: dict[str, dict[str, Any]] = {}


def record(suite: str, **figures: Any) -> None:
    """Add these figures to `suite`'s: numbers are summed, anything else replaces the previous value."""
    entry = FIGURES.setdefault(suite, {})
    for name, value in figures.items():
        previous = entry.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and isinstance(previous, int | float):
            entry[name] = previous + value
        else:
            entry[name] = value


def write(path: Path = FIGURES_FILE) -> Path | None:
    """Write what was recorded (None: nothing was); the machine and the moment go with it."""
    if not FIGURES:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "system": platform.platform(), "cpus": _cpus()},
        "suites": FIGURES,
    }
    path.write_text(json.dumps(document, indent=2, sort_keys=True, default=_plain) + "\n", encoding="utf-8")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _plain(value: Any) -> Any:
    """Sets and tuples as sorted lists, so the file is stable from one run to the next."""
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str)
    raise TypeError(f"not JSON: {type(value).__name__}")
