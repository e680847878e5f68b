"""`make bench` still works: a tiny configuration of the harness, run for real (processes, fakes, loads).

Telegram webhook at saturation and an SMS open loop, the echo bot and the bare SMS app against
`relai-bot serve`, each in its own process; then the table and the document.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from bench.harness import QUICK, bench

pytestmark = pytest.mark.slow

TINY = replace(
    QUICK,
    runs=1,
    warmup=0.2,
    saturation_seconds=1.0,
    open_seconds=1.5,
    rates=(10.0,),
    chats=20,  # a few messages a second per chat: under the fake's flood limit (50/s per chat)
    only=frozenset({"tg-webhook", "sms-10"}),
)


async def test_a_tiny_run_measures_both_systems_and_writes_the_table(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"

    results, table = await bench(replace(TINY, docs=docs))

    assert results.notes == []  # no run failed
    for system in ("bare", "relai"):
        (saturation,) = results.runs["tg-webhook"][system]
        assert saturation["rate"] > 0, system
        assert saturation["failures"] == 0 and saturation["violations"] == 0, (system, saturation)
        assert saturation["cpu_ms_per_reply"] > 0, system
        (steady,) = results.runs["sms-10"][system]
        assert steady["sent"] == 15, (system, steady)
        assert steady["lost"] == 0 and steady["failures"] == 0, (system, steady)
        assert 0 < steady["p50"] <= steady["p99"] < math.inf, (system, steady)
        assert steady["errors_logged"] == 0, system
    assert "| Telegram webhook, saturation (20 chats): replies/s |" in table
    assert "Twilio SMS webhook, steady 10/s: p50 / p95 / p99 ms" in table
    written = docs.read_text(encoding="utf-8")
    assert table in written
    assert "| CPU |" in written and "| SQLite |" in written and "| commit |" in written
