"""The web application: GET /healthz (liveness), /readyz and /metrics (web/operations.py), the channels'
webhooks, the back-office under /admin, the advisers' private agenda feeds under /calendar."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from relai_bot.channels.base import ChannelAdapter
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.scheduler import build_scheduler
from relai_bot.store.db import head_revision, revision_of
from relai_bot.web.admin.app import admin_mount
from relai_bot.web.calendar_feed import calendar_feed_route
from relai_bot.web.limits import BodyLimit
from relai_bot.web.operations import operations_routes
from relai_bot.wiring import Runtime


def create_app(
    runtime: Runtime,
    *,
    with_scheduler: bool = True,
    channels: Sequence[ChannelAdapter] = (),
    admin_secret: str | None = None,
) -> Starlette:
    """The app; each channel adds its webhook routes and starts with the app. The back-office's session key
    is `admin_secret`, else RELAI_ADMIN_SECRET_KEY (or the key kept beside SQLite): SettingsError if none."""

    expected = head_revision()  # the revision the code expects: read from the scripts once, not per request

    async def healthz(request: Request) -> JSONResponse:
        """The database answers, and its schema is at the revision the code expects. The revision is read
        from the database on each call (one query on a pooled connection): a schema migrated under a
        running instance shows at once."""

        def probe() -> str | None:
            with runtime.db.engine.connect() as connection:
                return revision_of(connection)

        try:
            revision, ok = await asyncio.to_thread(probe), True
        except Exception:  # the health check reports, it does not fail
            ok, revision = False, None
        healthy = ok and revision == expected
        body = {"status": "ok" if healthy else "degraded", "database": ok, "schema": revision}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        scheduler = build_scheduler(runtime) if with_scheduler else None
        if scheduler is not None:
            scheduler.start()
        started: list[ChannelAdapter] = []
        outbox_worker: DeliveryWorker | None = None
        try:
            for channel in channels:
                await channel.start()
                started.append(channel)
            if with_scheduler:  # the outbox worker sends through the channels that started
                outbox_worker = DeliveryWorker(runtime, {channel.name: channel for channel in started})
                outbox_worker.start()
                app.state.outbox_worker = outbox_worker
            yield
        finally:
            app.state.outbox_worker = None
            if outbox_worker is not None:
                await outbox_worker.stop()
            for channel in reversed(started):
                await channel.stop()
            if scheduler is not None:
                scheduler.shutdown(wait=False)

    def worker() -> DeliveryWorker | None:
        found: DeliveryWorker | None = getattr(app.state, "outbox_worker", None)
        return found

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        *operations_routes(runtime, channels, expected, worker),
        admin_mount(runtime, admin_secret),
        calendar_feed_route(runtime),  # an adviser's private agenda feed: the secret token, no session
    ]
    for channel in channels:
        routes += channel.routes()
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(BodyLimit)])
    app.state.runtime = runtime
    return app
