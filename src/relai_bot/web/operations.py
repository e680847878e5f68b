"""What the town's IT provider watches: GET /readyz (can residents be served now?) and GET /metrics
(Prometheus, behind a bearer token).

/healthz (web/app.py) stays the cheap liveness check: the process answers and its database is at the
expected schema. /readyz asks more, and answers 503 with what is wrong when residents would notice: the
database does not answer; a channel cannot receive or send (Telegram's token refused, its webhook not
registered or failing, polling stuck; Twilio refusing the credentials); nobody sends on a channel's outbox
lane; or a reminder, notice or offer has waited past its time longer than RELAI_READY_BACKLOG_SECONDS.
A broadcast's queue is reported, never a reason: ten thousand messages take a while by design.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from relai_bot import metrics
from relai_bot.channels.base import ChannelAdapter, ChannelHealth
from relai_bot.delivery.worker import DeliveryWorker
from relai_bot.services import outbox
from relai_bot.store.db import revision_of
from relai_bot.wiring import Runtime

# Kinds whose delay residents feel: a late reminder is a missed appointment
NOT_URGENT = frozenset({"broadcast", "digest"})


@dataclass(frozen=True)
class Figures:
    """What is read from the database for a /readyz or a scrape, in one worker thread."""

    revision: str | None
    backlog: outbox.Backlog
    lanes: dict[str, str]


def read_figures(runtime: Runtime, worker: DeliveryWorker | None) -> Figures:
    """Blocking: the schema revision, the outbox's backlog, and who holds each outbox lane."""
    with runtime.db.engine.connect() as connection:
        revision = revision_of(connection)
    with runtime.db.transaction() as session:
        backlog = outbox.backlog(session, runtime.clock.now())
    return Figures(revision, backlog, worker.lane_states() if worker is not None else {})


class OutboxCollector(Collector):
    """The outbox's figures, read at each scrape: rows by kind and status, the oldest due row's wait by
    kind, broadcasts in flight."""

    def __init__(self, read: Callable[[], Figures]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        figures = self.read()
        rows = GaugeMetricFamily("relai_outbox_rows", "Outbox rows by kind and status, now.", labels=["kind", "status"])
        for (kind, status), count in sorted(figures.backlog.rows.items()):
            rows.add_metric([kind, status], count)
        yield rows
        waited = GaugeMetricFamily(
            "relai_outbox_oldest_due_seconds",
            "How long the oldest outbox row whose time has come has waited, by kind (0: none waiting).",
            labels=["kind"],
        )
        for kind, seconds in sorted(figures.backlog.waited.items()):
            waited.add_metric([kind], seconds)
        yield waited
        yield GaugeMetricFamily(
            "relai_broadcasts_in_flight",
            "Broadcasts with messages still to send.",
            value=figures.backlog.broadcasts_in_flight,
        )
        lanes = GaugeMetricFamily(
            "relai_outbox_lane_here",
            "1 when this instance sends the outbox on the channel, 0 when another does or nobody does.",
            labels=["channel"],
        )
        for channel, state in sorted(figures.lanes.items()):
            lanes.add_metric([channel], 1.0 if state == "here" else 0.0)
        yield lanes


def readiness(figures: Figures, expected: str, healths: dict[str, ChannelHealth], late_after: float) -> dict[str, Any]:
    """The /readyz body; its "problems" list is empty when residents are served."""
    problems: list[str] = []
    if figures.revision != expected:
        problems.append(f"the database schema is at {figures.revision}, not {expected}: run relai-bot db upgrade")
    for name, health in healths.items():
        if not health.ok:
            problems.append(f"{name}: {health.problem}")
    for channel, state in figures.lanes.items():
        if state == "nobody":
            problems.append(f"{channel}: no instance sends the outbox (reminders, broadcasts)")
    late = {k: s for k, s in figures.backlog.waited.items() if k not in NOT_URGENT and s > late_after}
    for kind, seconds in sorted(late.items()):
        problems.append(f"outbox: a {kind} has waited {seconds:.0f} s past its time")
    return {
        "status": "not ready" if problems else "ready",
        "problems": problems,
        "database": {"ok": True, "schema": figures.revision},
        "channels": {name: _health(health) for name, health in healths.items()},
        "outbox": {
            "lanes": figures.lanes,
            "oldest_due_seconds": {k: round(s, 1) for k, s in sorted(figures.backlog.waited.items())},
            "broadcasts_in_flight": figures.backlog.broadcasts_in_flight,
        },
    }


def _health(health: ChannelHealth) -> dict[str, Any]:
    return {
        "ok": health.ok,
        "state": health.state,
        "problem": health.problem,
        "last_accepted_at": _when(health.last_accepted_at),
        "last_refusal": health.last_refusal,
        "last_refusal_at": _when(health.last_refusal_at),
    }


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def operations_routes(
    runtime: Runtime,
    channels: Sequence[ChannelAdapter],
    expected: str,
    worker: Callable[[], DeliveryWorker | None],
) -> list[BaseRoute]:
    """/readyz and /metrics for this app; `worker` gives the outbox worker once the app started (if any)."""
    settings = runtime.settings
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(OutboxCollector(lambda: read_figures(runtime, worker())))

    async def readyz(request: Request) -> JSONResponse:
        try:
            figures = await asyncio.to_thread(read_figures, runtime, worker())
        except Exception as error:  # the database does not answer: that is the answer
            body = {"status": "not ready", "problems": [f"database: {type(error).__name__}"], "database": {"ok": False}}
            return JSONResponse(body, status_code=503)
        found = await asyncio.gather(*(channel.health() for channel in channels))
        healths = {channel.name: health for channel, health in zip(channels, found, strict=True)}
        body = readiness(figures, expected, healths, settings.ready_backlog_seconds)
        return JSONResponse(body, status_code=503 if body["problems"] else 200)

    async def metrics_page(request: Request) -> Response:
        token = settings.metrics_token
        if token is None:
            return Response("/metrics is off: set RELAI_METRICS_TOKEN\n", status_code=404, media_type="text/plain")
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), token.get_secret_value().encode()
        ):
            return Response(
                "a bearer token is needed\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        try:
            outbox_part = await asyncio.to_thread(generate_latest, scraped)
        except Exception:
            metrics.DATABASE_ERRORS.labels("Scrape").inc()
            outbox_part = b""  # the counters still tell; the database's figures are missing from this scrape
        body = generate_latest(metrics.REGISTRY) + outbox_part
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/readyz", readyz), Route("/metrics", metrics_page)]
