"""Every test in tests/faults/ is a proof suite: `make proof` selects it (`-m proof`) and its figures go to
docs/reliability.md. Marked here, so that a fault test file needs no marker of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` chooses what runs
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A conftest's hook sees the whole session's items, not only this folder's: keep to ours.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.proof)
