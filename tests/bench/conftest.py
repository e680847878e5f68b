"""The benchmark harness's smoke test runs real processes for several seconds: marked `slow`."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs for more than 10 seconds (still run in CI)")
