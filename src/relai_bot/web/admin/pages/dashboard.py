"""The commune's dashboard (admins and staff, staff for their districts): figures for a period and districts,
each as a chart (an SVG image from its own route) beside the same figures in a table, and each table as CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from sqlmodel import Session
from starlette.responses import Response

from relai_bot.services import dashboard
from relai_bot.services.accounts import Account, visible_districts
from relai_bot.services.catalog_review import due_for_review
from relai_bot.store.models import id_of
from relai_bot.web.admin import dashboard_tables
from relai_bot.web.admin.guard import Page
from relai_bot.web.admin.pages.catalog import REASON_NAMES

PATH = "/admin/dashboard"
# Eight weeks by default: this week and the seven before
DEFAULT_WEEKS = 8
LONGEST = timedelta(days=731)
# The SVG image has no script; its own styles are inline (the page's policy stays strict)
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
DATE_HINT = "Écrivez la date sous la forme AAAA-MM-JJ, par exemple 2026-12-01."


@dataclass(frozen=True)
class Filters:
    first_day: date
    last_day: date
    codes: tuple[str, ...]
    errors: dict[str, str]
    values: dict[str, str]

    def query(self, **extra: str) -> str:
        pairs = [("du", self.values["du"]), ("au", self.values["au"]), *[("quartier", c) for c in self.codes]]
        return urlencode([*pairs, *extra.items()])


def page(page: Page) -> Response:
    assert page.account is not None
    filters = _filters(page)
    with page.runtime.db.transaction() as session:
        districts = visible_districts(session, page.account)
        due = due_for_review(session, page.now.astimezone(page.runtime.settings.tz).date())
        tables = []
        if not filters.errors:
            scope, period = _scope(session, page.account, filters), _period(page, filters)
            tables = [
                dashboard_tables.build(name, session, scope, period, page.now) for name in dashboard_tables.BUILDERS
            ]
    return page.render(
        "dashboard/page.html",
        400 if filters.errors else 200,
        filters=filters,
        districts=districts,
        tables=tables,
        every_district=page.account.is_admin,
        due=due,
        reason_names=REASON_NAMES,
    )


def csv_export(page: Page) -> Response:
    assert page.account is not None
    name, filters = page.request.query_params.get("table", ""), _filters(page)
    if name not in dashboard_tables.BUILDERS or filters.errors:
        return page.render("not_found.html", 404, what="Ce tableau n'existe pas.", back=PATH)
    with page.runtime.db.transaction() as session:
        table = dashboard_tables.build(
            name, session, _scope(session, page.account, filters), _period(page, filters), page.now
        )
    filename = f"tableau-de-bord-{name}-{filters.first_day}-{filters.last_day}.csv"
    return Response(
        table.csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def chart(page: Page) -> Response:
    assert page.account is not None
    name, filters = page.request.query_params.get("table", ""), _filters(page)
    if name not in dashboard_tables.BUILDERS or filters.errors:
        return page.render("not_found.html", 404, what="Ce graphique n'existe pas.", back=PATH)
    with page.runtime.db.transaction() as session:
        table = dashboard_tables.build(
            name, session, _scope(session, page.account, filters), _period(page, filters), page.now
        )
    return Response(
        table.svg(), media_type="image/svg+xml; charset=utf-8", headers={"Content-Security-Policy": SVG_POLICY}
    )


def _filters(page: Page) -> Filters:
    query = page.request.query_params
    today = page.now.astimezone(page.runtime.settings.tz).date()
    default_first = today - timedelta(days=today.weekday(), weeks=DEFAULT_WEEKS - 1)
    values = {name: query.get(name, "").strip() for name in ("du", "au")}
    errors: dict[str, str] = {}
    days: dict[str, date] = {"du": default_first, "au": today}
    for name in ("du", "au"):
        if values[name]:
            try:
                days[name] = date.fromisoformat(values[name])
            except ValueError:
                errors[name] = DATE_HINT
        else:
            values[name] = days[name].isoformat()
    if not errors and days["au"] < days["du"]:
        errors["au"] = "La date de fin doit venir après la date de début (ou être la même)."
    elif not errors and days["au"] - days["du"] > LONGEST:
        errors["au"] = "Choisissez une période de deux ans au plus."
    codes = tuple(dict.fromkeys(c for c in query.getlist("quartier") if c))
    return Filters(days["du"], days["au"], codes, errors, values)


def _scope(session: Session, account: Account, filters: Filters) -> dashboard.Scope:
    """The districts asked for among those the account reaches (codes all out of reach: none)."""
    wanted = {id_of(d) for d in visible_districts(session, account) if d.code in filters.codes}
    if filters.codes and not wanted:
        return dashboard.Scope(frozenset())
    return dashboard.scope_for(session, account, wanted)


def _period(page: Page, filters: Filters) -> dashboard.Period:
    return dashboard.Period(filters.first_day, filters.last_day, page.runtime.settings.tz)
