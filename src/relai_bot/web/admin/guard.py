"""The one place where /admin requests are checked before a page runs: the session (signed cookie naming an
open session, expiry after inactivity), the CSRF token on every POST, a forced password change, and the
roles a route allows.

A page is a plain function `handler(page: Page) -> Response`, run in a worker thread (it may use the database
and hash passwords); `AdminRoute` says which roles may open it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relai_bot.services import staff_sessions
from relai_bot.services.accounts import ROLES, Account, get_account
from relai_bot.staff import agenda_views
from relai_bot.wiring import Runtime

PREFIX = "/admin"
LOGIN_PATH = f"{PREFIX}/login"
PASSWORD_PATH = f"{PREFIX}/password"
EVERYONE: frozenset[str] = frozenset(ROLES)
ADMINS: frozenset[str] = frozenset({"admin"})
# Administrators and neighbourhood staff: broadcasts, residents and call-backs (staff: of their districts)
STAFF: frozenset[str] = frozenset({"admin", "staff"})
# Administrators and advisers: an adviser's private calendar feed (advisers: their own)
FEED_OWNERS: frozenset[str] = frozenset({"admin", "adviser"})
# Session keys (the cookie is signed, not encrypted: nothing secret goes in it)
ACCOUNT, SEEN, CSRF, FLASH, PASSWORD_STAMP = "account", "seen", "csrf", "flash", "password"
# The key of the open session (services.staff_sessions): signing out closes it, and an older copy of the
# cookie opens nothing
SESSION_KEY = "session"
# On every answer under /admin (pages, exports, error pages, static files): no inline script or style, never
# in a frame, no guessing of content types, no address sent to other sites, and nothing kept in a cache
# (the static files apart: they hold no one's data)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
NO_STORE = {"Cache-Control": "no-store"}
STATIC_PREFIX = f"{PREFIX}/static/"
# The largest id a URL may name (PostgreSQL's INTEGER): a longer number names nothing (404), rather than
# overflowing the database driver (500)
MAX_ID = 2**31 - 1
NOT_FOUND = "Cette adresse ne mène à aucune page de la gestion. Vérifiez-la, ou repartez de l'accueil."
BACK_HOME = "Revenir à l'accueil de la gestion"
WRONG_METHOD = "Cette page ne s'ouvre pas ainsi : passez par les liens et les boutons de la gestion."


@dataclass
class Page:
    """What a page function gets: the request, the signed-in account (None on open pages), the form of a
    POST (its CSRF token already checked), and helpers to answer."""

    request: Request
    runtime: Runtime
    account: Account | None
    form: FormData
    templates: Environment
    nav: Sequence[AdminRoute]
    now: datetime
    # The banner: past appointments without a status in the account's agenda (read when signing the request in)
    unstatused: int = 0

    @property
    def session(self) -> dict[str, Any]:
        return self.request.session

    def field(self, name: str) -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def fields(self, name: str) -> list[str]:
        return [value.strip() for value in self.form.getlist(name) if isinstance(value, str) and value.strip()]

    def flash(self, message: str) -> None:
        """A status message shown (and announced) on the next page rendered."""
        self.session[FLASH] = [*self.session.get(FLASH, []), message]

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        context = {
            "account": self.account,
            "csrf": self.session.get(CSRF, ""),
            "nav": self.nav,
            "path": self.request.url.path,
            "messages": self.session.pop(FLASH, []),
            "now": self.now,
            "unstatused": self.unstatused,
        }
        html = self.templates.get_template(template).render(context | values)
        return HTMLResponse(html, status_code=status_code)

    def redirect(self, path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303)


Handler = Callable[[Page], Response]


@dataclass(frozen=True)
class AdminRoute:
    """A back-office page: its path under /admin, the roles that may open it (None: anyone, signed in or
    not), and, for the menu and the home page, its label and what it is for."""

    path: str
    handler: Handler
    roles: frozenset[str] | None
    methods: tuple[str, ...] = ("GET",)
    nav: str | None = None
    summary: str = ""
    # Open while a password change is forced (the password page itself, signing out)
    before_password_change: bool = False

    def allows(self, account: Account | None) -> bool:
        return self.roles is None or (account is not None and account.role in self.roles)


def build_routes(
    routes: Sequence[AdminRoute], runtime: Runtime, templates: Environment, *, idle: timedelta
) -> list[Route]:
    """Starlette routes, each behind the guard."""
    return [
        Route(route.path, _guarded(route, routes, runtime, templates, idle), methods=list(route.methods))
        for route in routes
    ]


def _guarded(
    route: AdminRoute, table: Sequence[AdminRoute], runtime: Runtime, templates: Environment, idle: timedelta
) -> Callable[[Request], Any]:
    nav = [r for r in table if r.nav]

    async def endpoint(request: Request) -> Response:
        now = runtime.clock.now()
        session = request.session
        if CSRF not in session:
            session[CSRF] = secrets.token_urlsafe(32)
        account, expired, unstatused = await run_in_threadpool(_signed_in, runtime, session, now, idle)
        form = await request.form() if request.method == "POST" else FormData()
        page = Page(request, runtime, account, form, templates, [r for r in nav if r.allows(account)], now, unstatused)
        if route.roles is not None and account is None:
            if expired:
                page.flash("Votre session a expiré après une période sans activité. Connectez-vous à nouveau.")
            target = request.url.path if request.method == "GET" else f"{PREFIX}/"
            return page.redirect(f"{LOGIN_PATH}?next={target}")
        if request.method == "POST":
            sent = form.get(CSRF)
            # As bytes: compare_digest refuses a str with non-ASCII characters (a forged token would be a 500)
            if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), str(session[CSRF]).encode()):
                return page.render("refused_csrf.html", 403)
        if account is not None:
            session[SEEN] = now.isoformat()
            if account.must_change_password and not route.before_password_change and route.roles is not None:
                page.flash("Choisissez votre mot de passe avant de continuer.")
                return page.redirect(PASSWORD_PATH)
        if not route.allows(account):
            return page.render("refused_role.html", 403)
        if any(isinstance(value, int) and value > MAX_ID for value in request.path_params.values()):
            return page.render("not_found.html", 404, what=NOT_FOUND, back=f"{PREFIX}/", back_label=BACK_HOME)
        return await run_in_threadpool(route.handler, page)

    return endpoint


def _signed_in(
    runtime: Runtime, session: dict[str, Any], now: datetime, idle: timedelta
) -> tuple[Account | None, bool, int]:
    """The session's account, if it is still valid ((None, True) when it just expired), and how many past
    appointments of its agenda have no status yet (one COUNT, for the banner)."""
    account_id = session.get(ACCOUNT)
    if not isinstance(account_id, int):
        return None, False, 0
    seen = session.get(SEEN)
    try:
        last = datetime.fromisoformat(seen) if isinstance(seen, str) else None
    except ValueError:
        last = None
    if last is None or now - last > idle:
        end_session(session)
        return None, True, 0
    with runtime.db.transaction() as db:
        account = get_account(db, account_id)
        valid = (
            account is not None
            and account.can_sign_in
            and session.get(PASSWORD_STAMP) == account.password_stamp
            and staff_sessions.is_open(db, account_id, session.get(SESSION_KEY), now=now)
        )
        unstatused = agenda_views.unstatused_count(db, account, now) if account is not None and valid else 0
    if account is None or not valid:
        end_session(session)  # disabled, the password changed elsewhere (a reset), or signed out: sign in again
        return None, False, 0
    return account, False, unstatused


def start_session(session: dict[str, Any], account: Account, now: datetime, key: str) -> None:
    """A fresh session for a signed-in account, named by `key` (staff_sessions.open_session); a new CSRF
    token too, so nothing read from the cookie before signing in is of use after."""
    session.clear()
    session[ACCOUNT] = account.id
    session[SESSION_KEY] = key
    session[SEEN] = now.isoformat()
    session[CSRF] = secrets.token_urlsafe(32)
    session[PASSWORD_STAMP] = account.password_stamp


def end_session(session: dict[str, Any]) -> None:
    flash = session.get(FLASH)
    session.clear()
    session[CSRF] = secrets.token_urlsafe(32)
    if flash:
        session[FLASH] = flash


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a back-office path only (never another site)."""
    if target and target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/"


def error_page(templates: Environment) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The page for an address that names no page (404) or a method a page does not take (405): the same
    page as the guard's 404, without the menu (no session is read for it)."""

    async def handler(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        context: dict[str, Any] = {
            "account": None,
            "csrf": "",
            "nav": [],
            "path": request.url.path,
            "messages": [],
            "unstatused": 0,
        }
        what = WRONG_METHOD if status == 405 else NOT_FOUND
        html = templates.get_template("not_found.html").render(
            context, what=what, back=f"{PREFIX}/", back_label=BACK_HOME
        )
        headers = exc.headers if isinstance(exc, HTTPException) else None  # 405: the Allow header
        return HTMLResponse(html, status_code=status, headers=headers)

    return handler


class SecurityHeaders:
    """Around the whole back-office app: SECURITY_HEADERS on every answer it gives, its error pages and the
    500 of an unexpected error included, and no-store on all but the static files."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = SECURITY_HEADERS if scope["path"].startswith(STATIC_PREFIX) else SECURITY_HEADERS | NO_STORE

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_secured)
