"""Telegram (staff and administrators): link one's own Telegram chat to the account, for /diffuser.

GET says whether a chat is linked. POST "code" makes a one-time code, shown once on the page that answers
(never kept in the session or a URL); POST "unlink" forgets the chat. The rules are the service's
(services/staff_telegram.py); the guard already checked the session, the CSRF token and the role.
"""

from __future__ import annotations

from starlette.responses import Response

from relai_bot.services import staff_telegram
from relai_bot.web.admin.guard import Page

PATH = "/admin/telegram"


def page(page: Page) -> Response:
    assert page.account is not None  # the route is for signed-in staff and administrators
    account_id = page.account.id
    code = None
    if page.request.method == "POST":
        action = page.field("action")
        if action == "code":
            with page.runtime.db.transaction() as session:
                code = staff_telegram.new_link_code(session, account_id, page.now)
        elif action == "unlink":
            with page.runtime.db.transaction() as session:
                unlinked = staff_telegram.unlink(session, account_id, page.now)
            page.flash("Votre compte Telegram est délié." if unlinked else "Aucun compte Telegram n'était lié.")
            return page.redirect(PATH)
        else:
            page.flash("Choisissez une action : obtenir un code ou délier votre compte Telegram.")
            return page.redirect(PATH)
    with page.runtime.db.transaction() as session:
        status = staff_telegram.link_status(session, account_id, page.now)
    return page.render(
        "telegram.html", status=status, code=code, minutes=int(staff_telegram.CODE_LIFETIME.total_seconds() // 60)
    )
