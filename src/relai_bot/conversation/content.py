"""Where the flows (conversations/) and texts (templates/) are: a setting, the installed copy, or the checkout."""

from __future__ import annotations

from pathlib import Path


def content_root(configured: Path | None = None) -> Path:
    if configured is not None:
        return configured
    package = Path(__file__).resolve().parents[1]
    installed = package / "_content"
    if installed.is_dir():
        return installed
    return package.parents[1]  # src/relai_bot -> the repository
