"""The home page (what the account's role may do) and the accessibility statement."""

from __future__ import annotations

from starlette.responses import Response

from relai_bot.services.accounts import visible_districts
from relai_bot.services.catalog_review import due_for_review
from relai_bot.web.admin.guard import STAFF, Page
from relai_bot.web.admin.pages.catalog import REASON_NAMES


def home(page: Page) -> Response:
    districts = []
    due = None  # the "À revérifier" panel, for admins and staff
    if page.account is not None and page.account.role == "staff":
        with page.runtime.db.transaction() as session:
            districts = [d.name for d in visible_districts(session, page.account)]
    if page.account is not None and page.account.role in STAFF:
        with page.runtime.db.transaction() as session:
            due = due_for_review(session, page.now.astimezone(page.runtime.settings.tz).date())
    return page.render("home.html", districts=districts, due=due, reason_names=REASON_NAMES)


def accessibility(page: Page) -> Response:
    return page.render("accessibility.html")
