"""The back-office as one Starlette app mounted at /admin: signed session cookie, the pages, static files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from relai_bot.web.admin.guard import PREFIX, build_routes
from relai_bot.web.admin.routes import ROUTES
from relai_bot.web.admin.secret import session_secret
from relai_bot.web.admin.templates import admin_environment
from relai_bot.wiring import Runtime

STATIC = Path(__file__).with_name("static")
COOKIE = "relai_admin"
# The cookie's own lifetime caps a session (the inactivity limit, RELAI_ADMIN_SESSION_MINUTES, ends it sooner)
COOKIE_MAX_AGE = 12 * 3600


def admin_mount(runtime: Runtime, secret: str | None = None) -> Mount:
    """/admin and /admin/static; `secret` defaults to the setting (or the key kept beside SQLite)."""
    settings = runtime.settings
    templates = admin_environment(settings.tz)
    routes: list[BaseRoute] = [Mount("/static", app=StaticFiles(directory=STATIC), name="static")]
    routes += build_routes(ROUTES, runtime, templates, idle=timedelta(minutes=settings.admin_session_minutes))
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=secret or session_secret(settings),
            session_cookie=COOKIE,
            max_age=COOKIE_MAX_AGE,
            path=PREFIX,
            same_site="lax",
            https_only=(settings.public_url or "").startswith("https://"),
        )
    ]
    return Mount(PREFIX, app=Starlette(routes=routes, middleware=middleware))
