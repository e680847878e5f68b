"""Call-back requests of the staff member's districts (admins: all): open ones oldest first, mark one done."""

from __future__ import annotations

from starlette.responses import Response

from relai_bot.services import callbacks
from relai_bot.services.errors import NotFound
from relai_bot.web.admin.guard import Page

LIST_PATH = "/admin/callbacks"
PREFERRED_TIME_NAMES = {"matin": "le matin", "apres-midi": "l'après-midi", "indifferent": "peu importe"}
STATUS_NAMES = {callbacks.OPEN: "À rappeler", callbacks.DONE: "Déjà rappelés"}


def callback_list(page: Page) -> Response:
    assert page.account is not None
    wanted = page.request.query_params.get("status", callbacks.OPEN)
    status = callbacks.DONE if wanted == callbacks.DONE else callbacks.OPEN
    with page.runtime.db.transaction() as session:
        rows = callbacks.list_callbacks(session, page.account, status=status)
    return page.render(
        "callbacks.html",
        rows=rows,
        status=status,
        status_names=STATUS_NAMES,
        times=PREFERRED_TIME_NAMES,
        done_limit=callbacks.DONE_LIMIT,
    )


def done(page: Page) -> Response:
    assert page.account is not None
    callback_id = int(page.request.path_params["callback_id"])
    try:
        with page.runtime.db.transaction() as session:
            view = callbacks.mark_done(session, page.account, callback_id, now=page.now)
    except NotFound:
        return page.render("not_found.html", 404, what="Cette demande de rappel n'existe pas ou plus.", back=LIST_PATH)
    except callbacks.AlreadyHandled:
        page.flash("Cette demande était déjà marquée comme rappelée.")
    else:  # the flash rides in the signed (not encrypted) cookie: no resident's name in it
        page.flash(f"La demande de rappel n° {view.id} est marquée comme rappelée.")
    return page.redirect(LIST_PATH)
