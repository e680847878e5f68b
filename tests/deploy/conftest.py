"""The deployment tests' marker: `slow` ones start real servers (nginx, PostgreSQL, relai-bot serve); they
still run with the rest of the suite and in CI (`-m "not slow"` leaves them out locally)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts real servers; takes seconds, not milliseconds")
