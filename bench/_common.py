"""Shared helpers for the benchmarks: a seeded runtime on a temporary database, throwaway PostgreSQL
databases, percentiles."""

from __future__ import annotations

import math
import resource
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from relai_bot.clock import SystemClock
from relai_bot.config import load_settings
from relai_bot.wiring import Runtime, build_runtime, migrate, seed_demo

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def postgres_version() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            version = str(connection.execute(text("SHOW server_version")).scalar())
        engine.dispose()
        return version
    except Exception:
        return None


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped on the way out."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"relai_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def seeded_runtime(database: str = "sqlite", **overrides: object) -> Iterator[Runtime]:
    """A runtime on a fresh database with the demo data (a temp SQLite file, or a throwaway PG database)."""
    if database == "sqlite":
        with tempfile.TemporaryDirectory() as folder, _runtime(f"sqlite:///{Path(folder)}/b.sqlite3", overrides) as rt:
            yield rt
        return
    with throwaway_postgres() as url, _runtime(url, overrides) as runtime:
        yield runtime


@contextmanager
def _runtime(url: str, overrides: dict[str, object]) -> Iterator[Runtime]:
    runtime = build_runtime(load_settings(database_url=url, **overrides), SystemClock())
    migrate(runtime)
    seed_demo(runtime)
    try:
        yield runtime
    finally:
        runtime.close()


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1); inf values (unanswered) count as the slowest."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def percentiles(samples_ms: list[float]) -> str:
    if not samples_ms:
        return "no samples"
    cuts = [percentile(samples_ms, share) for share in (0.5, 0.95, 0.99)]
    return f"p50={cuts[0]:.1f} ms p95={cuts[1]:.1f} ms p99={cuts[2]:.1f} ms max={max(samples_ms):.1f} ms"


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_cpu_seconds() -> float:
    """CPU time used by everything on the machine so far (all cores, /proc/stat), in seconds."""
    import os

    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
