"""My password: the account holder changes it (forced after a reset)."""

from __future__ import annotations

from starlette.responses import Response

from relai_bot.services import accounts, passwords, staff_sessions
from relai_bot.web.admin.guard import FLASH, SESSION_KEY, Page, start_session


def my_password(page: Page) -> Response:
    if page.request.method == "GET" or page.account is None:
        return page.render("password.html", errors={})
    errors: dict[str, str] = {}
    new, again = page.field("new_password"), page.field("new_password_again")
    if new != again:
        errors["new_password_again"] = "Les deux nouveaux mots de passe sont différents : tapez le même deux fois."
    else:
        try:
            with page.runtime.db.transaction() as session:
                changed = accounts.change_password(
                    session, page.account.id, page.field("current_password"), new, now=page.now
                )
                staff_sessions.close_session(session, page.session.get(SESSION_KEY))  # a new key goes with it
                key = staff_sessions.open_session(session, changed.id, now=page.now)
        except accounts.WrongPassword:
            errors["current_password"] = (
                "Le mot de passe actuel est incorrect. Tapez celui que vous utilisez aujourd'hui."
            )
        except passwords.WeakPassword:
            errors["new_password"] = (
                f"Choisissez un mot de passe d'au moins {passwords.MIN_LENGTH} caractères, différent de l'actuel. "
                "Une phrase de quelques mots est facile à retenir."
            )
    if errors:
        return page.render("password.html", 400, errors=errors)
    flash = page.session.get(FLASH, [])
    start_session(page.session, changed, page.now, key)  # this session goes on; others, opened before, end
    page.session[FLASH] = flash
    page.flash("Votre mot de passe est changé.")
    return page.redirect("/admin/")
