"""The home page (what the account's role may do) and the accessibility statement."""

from __future__ import annotations

from starlette.responses import Response

from relai_bot.services.accounts import visible_districts
from relai_bot.web.admin.guard import Page


def home(page: Page) -> Response:
    districts = []
    if page.account is not None and page.account.role == "staff":
        with page.runtime.db.transaction() as session:
            districts = [d.name for d in visible_districts(session, page.account)]
    return page.render("home.html", districts=districts)


def accessibility(page: Page) -> Response:
    return page.render("accessibility.html")
