"""Signing in and out."""

from __future__ import annotations

from starlette.responses import Response

from relai_bot.services import accounts, staff_sessions
from relai_bot.web.admin.guard import PASSWORD_PATH, SESSION_KEY, Page, end_session, safe_next, start_session

WRONG = "Adresse e-mail ou mot de passe incorrect. Vérifiez l'adresse et le mot de passe, puis réessayez."


def login(page: Page) -> Response:
    target = safe_next(page.request.query_params.get("next") or page.field("next"))
    if page.request.method == "GET":
        if page.account is not None:
            return page.redirect(target)
        return page.render("login.html", next=target, email="", error=None)
    email = page.field("email")
    client = page.request.client.host if page.request.client else None
    with page.runtime.db.transaction() as session:
        result = accounts.sign_in(session, email, page.field("password"), now=page.now, client=client)
        key = staff_sessions.open_session(session, result.account.id, now=page.now) if result.account else ""
    if result.account is None:
        if result.locked_until is not None:
            local = result.locked_until.astimezone(page.runtime.settings.tz)
            error = (
                "Trop d'essais sans succès : la connexion est bloquée un moment. "
                f"Réessayez après {local:%H:%M} (heure de La Réunion), ou demandez à un administrateur "
                "de réinitialiser votre mot de passe."
            )
            return page.render("login.html", 429, next=target, email=email, error=error)
        return page.render("login.html", 400, next=target, email=email, error=WRONG)
    start_session(page.session, result.account, page.now, key)
    if result.account.must_change_password:
        page.flash("Connexion réussie. Choisissez maintenant votre propre mot de passe.")
        return page.redirect(PASSWORD_PATH)
    page.flash("Connexion réussie.")
    return page.redirect(target)


def logout(page: Page) -> Response:
    if page.request.method == "GET":
        return page.render("logout.html")
    if page.account is not None:
        with page.runtime.db.transaction() as session:
            accounts.sign_out(session, page.account.id, now=page.now)
            staff_sessions.close_session(session, page.session.get(SESSION_KEY))  # a copy of the cookie opens nothing
    end_session(page.session)
    page.flash("Vous êtes déconnecté.")
    return page.redirect("/admin/login")
