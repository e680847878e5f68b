"""Fixtures of the browser tests: the app served on 127.0.0.1, and a chromium page with a fresh profile."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime
from tests.app_server import bound_socket, serving, url_of
from tests.browser.harness import CHROMIUM_FLAGS, chromium_path, missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests, with the reason, where they cannot run; in CI they must run, so they fail."""
    reason = missing()
    if reason is None or os.environ.get("CI") == "true":  # in CI the `page` fixture fails with the reason
        return
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
async def site(runtime: Runtime) -> AsyncIterator[str]:
    """`relai-bot serve`'s app (no channel, no scheduler) on a free port of 127.0.0.1; yields its base URL."""
    sock = bound_socket()
    app = create_app(runtime, with_scheduler=False)
    async with serving(app, sock):
        yield url_of(sock)


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    """A chromium page, headless, with a fresh profile, 1280 px wide (tests set 320 px where it matters)."""
    reason = missing()
    if reason is not None:
        pytest.fail(f"the browser tests must run in CI: {reason}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        # bypass_csp: axe-core is injected into pages whose Content-Security-Policy forbids inline scripts
        context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900}, bypass_csp=True)
        try:
            yield await context.new_page()
        finally:
            await context.close()
            await browser.close()
