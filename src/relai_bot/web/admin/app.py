"""The back-office as one Starlette app mounted at /admin: signed session cookie, the pages, static files.

Its pages (and all they import: the dashboard's charts, the posters' QR codes, the composer...) and its
templates are loaded by the first request under /admin, not at start: most starts serve residents long
before anyone signs in. The session key is checked at start, so a missing one still stops it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from relai_bot.services.staff_sessions import LIFETIME
from relai_bot.web.admin.guard import PREFIX
from relai_bot.web.admin.secret import session_secret
from relai_bot.wiring import Runtime

STATIC = Path(__file__).with_name("static")
COOKIE = "relai_admin"
# The cookie's own lifetime caps a session, as its row does (the inactivity limit, RELAI_ADMIN_SESSION_MINUTES,
# ends it sooner)
COOKIE_MAX_AGE = int(LIFETIME.total_seconds())


def admin_mount(runtime: Runtime, secret: str | None = None) -> Mount:
    """/admin and /admin/static; `secret` defaults to the setting (or the key kept beside SQLite)."""
    key = secret or session_secret(runtime.settings)
    return Mount(PREFIX, app=BuiltOnFirstRequest(lambda: admin_app(runtime, key)))


def admin_app(runtime: Runtime, secret: str) -> ASGIApp:
    """The back-office itself: its routes behind the guard, its static files, the session middleware, its
    error pages, and the security headers on everything it answers."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.routing import BaseRoute
    from starlette.staticfiles import StaticFiles

    from relai_bot.web.admin.guard import SecurityHeaders, build_routes, error_page
    from relai_bot.web.admin.routes import ROUTES
    from relai_bot.web.admin.templates import admin_environment

    settings = runtime.settings
    templates = admin_environment(settings.tz)
    routes: list[BaseRoute] = [Mount("/static", app=StaticFiles(directory=STATIC), name="static")]
    routes += build_routes(ROUTES, runtime, templates, idle=timedelta(minutes=settings.admin_session_minutes))
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie=COOKIE,
            max_age=COOKIE_MAX_AGE,
            path=PREFIX,
            same_site="lax",
            https_only=(settings.public_url or "").startswith("https://"),
        )
    ]
    errors = error_page(templates)
    return SecurityHeaders(
        Starlette(routes=routes, middleware=middleware, exception_handlers={404: errors, 405: errors})
    )


class BuiltOnFirstRequest:
    """An ASGI app that `build` makes when the first request comes, in a worker thread (its imports do not
    hold the event loop); requests that come meanwhile wait for the same one."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._app is not None

    def _built(self) -> ASGIApp:
        with self._lock:
            if self._app is None:
                self._app = self._build()
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:
            app = await asyncio.to_thread(self._built)
        await app(scope, receive, send)
