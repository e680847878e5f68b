"""A browser stand-in for the back-office: Starlette's TestClient with the CSRF token read from each page."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from starlette.exceptions import StarletteDeprecationWarning

from relai_bot.services import accounts
from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)  # it prefers httpx2; the project ships httpx
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Staff:
    """One person's browser on /admin."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        response = self.client.get(path, follow_redirects=False, **kwargs)  # type: ignore[arg-type]
        self._remember(response)
        return response

    def post(self, path: str, data: dict[str, object] | None = None, *, csrf: bool = True) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf or self._fresh_token())
        response = self.client.post(path, data=form, follow_redirects=False)
        self._remember(response)
        if response.status_code == 303 and path in ("/admin/login", "/admin/logout"):
            self.csrf = ""  # a new session has a new token: read it from the next page
        return response

    def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code == 303, (response.status_code, response.text[:500])
        return self.get(response.headers["location"])

    def log_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/admin/login")
        return self.post("/admin/login", {"email": email, "password": password})

    def _fresh_token(self) -> str:
        if self.get("/admin/logout").status_code != 200:  # its form carries the token when signed in
            self.get("/admin/login")
        return self.csrf

    def _remember(self, response: httpx.Response) -> None:
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)


@contextmanager
def admin_browser(runtime: Runtime, **app_options: object) -> Iterator[Staff]:
    app = create_app(runtime, with_scheduler=False, **app_options)  # type: ignore[arg-type]
    with TestClient(app, base_url="http://testserver") as client:
        yield Staff(client)


def make_account(
    runtime: Runtime, email: str, role: str = "admin", *, districts: list[str] | None = None
) -> accounts.Account:
    with runtime.db.transaction() as session:
        account, _ = accounts.create_account(
            session,
            email=email,
            name=email.split("@")[0].title(),
            role=role,
            districts=districts,
            adviser="payet" if role == "adviser" else None,
            now=runtime.clock.now(),
            password=PASSWORD,
        )
    return account
