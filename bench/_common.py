"""Shared helpers for the benchmarks: a seeded runtime on a temporary database, percentiles."""

from __future__ import annotations

import resource
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from relai_bot.clock import SystemClock
from relai_bot.config import load_settings
from relai_bot.wiring import Runtime, build_runtime, migrate, seed_demo

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def seeded_runtime(database: str = "sqlite", **overrides: object) -> Iterator[Runtime]:
    """A runtime on a fresh database with the demo data (a temp SQLite file, or a throwaway PG database)."""
    if database == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
            runtime = build_runtime(load_settings(database_url=url, **overrides), SystemClock())
            migrate(runtime)
            seed_demo(runtime)
            try:
                yield runtime
            finally:
                runtime.close()
        return
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"relai_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        runtime = build_runtime(load_settings(database_url=url, **overrides), SystemClock())
        migrate(runtime)
        seed_demo(runtime)
        try:
            yield runtime
        finally:
            runtime.close()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def percentiles(samples_ms: list[float]) -> str:
    if not samples_ms:
        return "no samples"
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return f"p50={cuts[49]:.1f} ms p95={cuts[94]:.1f} ms p99={cuts[98]:.1f} ms max={ordered[-1]:.1f} ms"


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
