"""Browser tests: Playwright drives Debian's `chromium` package against `relai-bot serve`'s app on 127.0.0.1.

No browser is downloaded (none can be, here): Playwright launches the system chromium by its path, headless,
with a fresh profile. Accessibility is checked with axe-core from the npm registry (`npm ci` installs the
version pinned in package-lock.json into node_modules/), injected into each page.

Locally the browser tests skip, with the reason, when chromium, Playwright or axe-core is missing; in CI
(CI=true) they fail instead: .ci/run installs all three.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.paths import REPO

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_SCRIPT = REPO / "node_modules" / "axe-core" / "axe.min.js"
# Where the screenshots of the main pages go (the README shows them)
SCREENSHOTS = REPO / "docs" / "screenshots"
# axe-core's impacts that fail a test (RGAA: what blocks or seriously hinders a person)
FAILING_IMPACTS = ("serious", "critical")


def chromium_path() -> str | None:
    return os.environ.get("RELAI_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if chromium_path() is None:
        return "Debian's chromium is not installed (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed (it is in the dev dependencies: make install)"
    if not AXE_SCRIPT.is_file():
        return "axe-core is not installed (npm ci)"
    return None


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.impact}: {self.rule} ({self.help}) at {', '.join(self.targets)}"


async def axe_violations(page: Any) -> list[Violation]:
    """Run axe-core on the page as it is now; the violations of serious or critical impact."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE_SCRIPT))
    result = await page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    found = []
    for violation in result["violations"]:
        if violation.get("impact") in FAILING_IMPACTS:
            targets = tuple(str(t) for node in violation["nodes"] for t in node.get("target", []))
            found.append(Violation(violation["id"], violation["impact"], violation["help"], targets))
    return found


async def sign_in(page: Any, url: str, email: str, password: str) -> None:
    """Sign in to the back-office at url through its login form; returns on the home page."""
    await page.goto(f"{url}/admin/login")
    await page.get_by_label("Adresse e-mail").fill(email)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{url}/admin/")


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
