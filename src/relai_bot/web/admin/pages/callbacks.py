"""Call-back requests of the staff member's districts (admins: all): open ones oldest first, mark one done
with an optional note; the handled ones with their notes."""

from __future__ import annotations

from starlette.responses import Response

from relai_bot.services import callbacks
from relai_bot.services.errors import NotFound
from relai_bot.web.admin.guard import Page

LIST_PATH = "/admin/callbacks"
PREFERRED_TIME_NAMES = {"matin": "le matin", "apres-midi": "l'après-midi", "indifferent": "peu importe"}
STATUS_NAMES = {callbacks.OPEN: "À rappeler", callbacks.DONE: "Déjà rappelés"}


def callback_list(page: Page) -> Response:
    wanted = page.request.query_params.get("status", callbacks.OPEN)
    return _list(page, callbacks.DONE if wanted == callbacks.DONE else callbacks.OPEN)


def done(page: Page) -> Response:
    assert page.account is not None
    callback_id = int(page.request.path_params["callback_id"])
    note = page.field("note")
    try:
        with page.runtime.db.transaction() as session:
            view = callbacks.mark_done(session, page.account, callback_id, now=page.now, note=note)
    except callbacks.NoteTooLong:
        error = f"La note fait {len(note.strip())} caractères : raccourcissez-la à {callbacks.NOTE_MAX} au plus."
        return _list(page, callbacks.OPEN, errors={callback_id: error}, notes={callback_id: note}, status_code=400)
    except NotFound:
        return page.render("not_found.html", 404, what="Cette demande de rappel n'existe pas ou plus.", back=LIST_PATH)
    except callbacks.AlreadyHandled:
        page.flash("Cette demande était déjà marquée comme rappelée.")
    else:  # the flash rides in the signed (not encrypted) cookie: no resident's name in it
        page.flash(f"La demande de rappel n° {view.id} est marquée comme rappelée.")
    return page.redirect(LIST_PATH)


def _list(
    page: Page,
    status: callbacks.Status,
    *,
    errors: dict[int, str] | None = None,
    notes: dict[int, str] | None = None,
    status_code: int = 200,
) -> Response:
    assert page.account is not None
    with page.runtime.db.transaction() as session:
        rows = callbacks.list_callbacks(session, page.account, status=status)
    return page.render(
        "callbacks.html",
        status_code,
        rows=rows,
        status=status,
        status_names=STATUS_NAMES,
        times=PREFERRED_TIME_NAMES,
        done_limit=callbacks.DONE_LIMIT,
        note_max=callbacks.NOTE_MAX,
        errors=errors or {},
        notes=notes or {},
    )
