"""The fault suites (tests/faults/): real servers and real waits, so their tests are marked slow."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts real servers; takes seconds, not milliseconds")
