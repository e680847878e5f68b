"""tools/proof_report.py: docs/reliability.md from a figures file, in plain words, suites that did not run
named rather than shown with old numbers, and a non-zero exit when something was lost or a test failed.
Also how the proof suites are chosen: the `proof` marker, on the suites and on all of tests/faults/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tools.proof_report import main

from tests import proof
from tests.faults import conftest as faults_conftest
from tests.paths import REPO

MACHINE = {"cpus": 2, "python": "3.11.7", "system": "Linux-6.18-x86_64-with-glibc2.36", "commit": "abc1234"}
SESSION = {"passed": 9, "failed": 0, "errors": 0, "skipped": 1, "failed_tests": [], "args": "-m proof", "seconds": 95.4}


def figures(**suites: dict[str, Any]) -> dict[str, Any]:
    return {"finished_at": "2026-12-08T03:40:12+00:00", "machine": MACHINE, "session": SESSION, "suites": suites}


GOOD = figures(
    fuzz={"inputs": 10_412, "steps_reached": 41, "steps_waiting": 44, "steps_not_reached": ["booking/x"]},
    webhook_attacks={
        "requests_tried": 21,
        "refused_403": 8,
        "refused_413": 4,
        "rows_written": 0,
        "server_errors": 0,
        "replays_sent": 2,
        "replays_handled_once": 2,
    },
    backup={"residents_expected": 63, "residents_restored": 63, "appointments_expected": 5, "appointments_restored": 5},
    kills={"kills": 5, "recipients": 2_000, "lost": 0, "duplicates": 3, "in_flight": 7},
)


def run(tmp_path: Path, document: dict[str, Any]) -> tuple[int, str]:
    source, out = tmp_path / "figures.json", tmp_path / "docs" / "reliability.md"
    source.write_text(json.dumps(document), encoding="utf-8")
    code = main(["--figures", str(source), "--out", str(out)])
    return code, out.read_text(encoding="utf-8")


def test_a_good_run_is_told_in_plain_words_with_the_date_and_the_machine(tmp_path: Path) -> None:
    code, report = run(tmp_path, GOOD)
    assert code == 0
    assert "2026-12-08 03:40 UTC" in report
    assert "| CPUs | 2 |" in report and "| Python | 3.11.7 |" in report and "| OS | Linux-6.18" in report
    assert "`pytest -m proof`, 9 passed, 1 skipped in 95 s" in report
    assert "## Bad input (`fuzz`)" in report and "- Inputs: 10,412" in report
    assert "- Steps not reached: booking/x" in report
    assert "- Refused: 12 (8 with 403, 4 with 413)" in report
    assert "- Rows written: 0" in report and "- Answered with a 5xx: 0" in report
    assert "- Residents restored: 63 of 63 expected" in report
    assert "- Appointments restored: 5 of 5 expected" in report
    assert "- Lost: nothing (0)" in report
    assert "- Duplicated: 3, among 7 in flight" in report
    assert "not a proof" not in report
    # The suites that did not run are named, without figures
    (not_run,) = [line for line in report.splitlines() if line.startswith("Not run in this run:")]
    for name in ("provider_outages", "database_faults", "admin_attacks", "log_privacy"):
        assert f"(`{name}`)" in not_run
    assert "## Provider outages" not in report and "## Back-office attacks" not in report
    # Each suite that ran says what it tried, in the order the report gives them
    sections = [line for line in report.splitlines() if line.startswith("## ")]
    assert sections == [
        "## In short",
        "## Killed and restarted (`kills`)",
        "## Backup and restore (`backup`)",
        "## Bad input (`fuzz`)",
        "## Webhook attacks (`webhook_attacks`)",
    ]
    assert "SIGKILL" in report and "every resident and appointment" in report


def test_something_lost_fails_and_the_report_says_what(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = figures(**GOOD["suites"] | {"kills": {"kills": 5, "lost": 2, "duplicates": 0}})
    code, report = run(tmp_path, document)
    assert code == 1
    assert "**This run is not a proof:**" in report and "- Killed and restarted: lost 2" in report
    assert "- **Lost: 2**" in report and "- Duplicated: none (0)" in report
    assert "not a proof: Killed and restarted: lost 2" in capsys.readouterr().err


@pytest.mark.parametrize(
    "suite",
    [
        {"log_privacy": {"lines_read": 600, "leaks": 1}},
        {"webhook_attacks": {"requests_tried": 21, "rows_written": 3}},
        {"provider_outages": {"sent": 90, "messages_lost": 1}},
        {"admin_attacks": {"requests_tried": 300, "failures": 1}},
    ],
)
def test_each_figure_that_must_be_zero_fails_the_run(tmp_path: Path, suite: dict[str, Any]) -> None:
    code, report = run(tmp_path, figures(**suite))
    assert code == 1 and "**(must be 0)**" in report


def test_a_failed_test_fails_the_run_and_is_named(tmp_path: Path) -> None:
    failed = SESSION | {"passed": 8, "failed": 1, "failed_tests": ["tests/cli/test_backup.py::test_x"]}
    code, report = run(tmp_path, GOOD | {"session": failed})
    assert code == 1
    assert "1 test(s) failed" in report and "Failed: `tests/cli/test_backup.py::test_x`." in report


def test_without_figures_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "reliability.md"
    assert main(["--figures", str(tmp_path / "absent.json"), "--out", str(out)]) == 2
    assert not out.exists()


def test_what_the_suites_record_is_what_the_report_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proof, "FIGURES", {})
    for _channel in range(3):  # numbers add up across the cases of one suite
        proof.record("log_privacy", conversations=1, lines_read=200, leaks=0)
    stats = {"passed": [SimpleNamespace(nodeid="a")] * 3, "failed": [], "skipped": []}
    written = proof.write(tmp_path / "figures.json", session=proof.outcome(stats, ["-m", "proof"]))
    assert written is not None
    code, report = run(tmp_path, json.loads(written.read_text(encoding="utf-8")))
    assert code == 0
    assert "- Conversations: 3" in report and "- Lines read: 600" in report and "- Leaks found: 0" in report
    assert "`pytest -m proof`, 3 passed" in report


def test_tests_in_the_faults_folder_are_proof_suites_and_no_others() -> None:
    class Item:
        def __init__(self, path: Path) -> None:
            self.path = path
            self.markers: list[str] = []

        def add_marker(self, marker: pytest.MarkDecorator) -> None:
            self.markers.append(marker.name)

    inside, outside = Item(REPO / "tests" / "faults" / "test_kills.py"), Item(REPO / "tests" / "cli" / "test_logs.py")
    faults_conftest.pytest_collection_modifyitems([inside, outside])  # type: ignore[list-item]
    assert (inside.markers, outside.markers) == (["proof"], [])


def test_make_proof_selects_the_proof_suites_only() -> None:
    suites = [
        "tests/conversation/test_fuzz.py",
        "tests/web/test_webhook_attacks.py",
        "tests/channels/test_log_privacy.py",
        "tests/cli/test_backup.py",
    ]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "proof", *suites, "tests/cli/test_logs.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    files = {line.split("::")[0] for line in collected.stdout.splitlines() if "::" in line}
    assert files == set(suites), collected.stdout + collected.stderr
