"""GET /calendar/<token>.ics: an adviser's private agenda feed, outside the back-office's session (a calendar
application cannot sign in); the secret token is the key, looked up by its SHA-256 (services.agenda_feed)."""

from __future__ import annotations

from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from relai_bot.services.calendar_ics import IcsEvent, events_ics
from relai_bot.staff import agenda_feed
from relai_bot.web.admin.templates import appointment_status_name
from relai_bot.wiring import Runtime

HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def calendar_feed_route(runtime: Runtime) -> Route:
    def build(token: str) -> bytes | None:
        now = runtime.clock.now()
        horizon = timedelta(days=runtime.settings.booking_horizon_days)
        with runtime.db.transaction() as session:
            adviser = agenda_feed.adviser_by_token(session, token)
            if adviser is None or adviser.id is None:
                return None
            found = agenda_feed.feed_appointments(session, adviser.id, now=now, horizon=horizon)
            name = f"Relai La Possession – {adviser.name}"
        return events_ics([_event(a) for a in found], stamp=now, name=name)

    async def feed(request: Request) -> Response:
        body = await run_in_threadpool(build, request.path_params["token"])
        if body is None:
            return PlainTextResponse("Ce lien d'agenda n'existe pas ou a été supprimé.", 404, headers=HEADERS)
        return Response(body, media_type="text/calendar; charset=utf-8", headers=HEADERS)

    return Route("/calendar/{token}.ics", feed, methods=["GET"])


def _event(appointment: agenda_feed.FeedAppointment) -> IcsEvent:
    """The summary names the scheme, the venue and the resident's first name at most."""
    parts = [appointment.scheme or "Rendez-vous", appointment.venue]
    if appointment.first_name:
        parts.append(appointment.first_name)
    summary = " – ".join(parts)
    if appointment.status != "booked":
        summary = f"[{appointment_status_name(appointment.status)}] {summary}"
    location = ", ".join(p for p in (appointment.venue, appointment.address) if p)
    return IcsEvent(
        uid=f"appointment-{appointment.id}@relai-bot",
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        summary=summary,
        location=location,
    )
