"""Where things are, for tests in any folder: the repository, the package, the shared specs beside it."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "relai_bot"
# ../shared beside the checkout (absent in a fresh clone: tests that need it skip)
SHARED = REPO.parent / "shared"
