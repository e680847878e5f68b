"""Every back-office page and the roles that may open it: the one table the guard and the tests read."""

from __future__ import annotations

from relai_bot.web.admin.guard import ADMINS, EVERYONE, STAFF, AdminRoute
from relai_bot.web.admin.pages import accounts, audit, auth, callbacks, home, password, residents

ROUTES: tuple[AdminRoute, ...] = (
    AdminRoute("/login", auth.login, None, ("GET", "POST")),
    AdminRoute("/logout", auth.logout, EVERYONE, ("GET", "POST"), before_password_change=True),
    AdminRoute("/accessibilite", home.accessibility, None),
    AdminRoute("/", home.home, EVERYONE, nav="Accueil"),
    AdminRoute(
        "/accounts",
        accounts.account_list,
        ADMINS,
        nav="Comptes",
        summary="Créer les comptes, les désactiver, réinitialiser un mot de passe.",
    ),
    AdminRoute("/accounts/new", accounts.new_account, ADMINS, ("GET", "POST")),
    AdminRoute("/accounts/{account_id:int}/disable", accounts.disable, ADMINS, ("POST",)),
    AdminRoute("/accounts/{account_id:int}/reset", accounts.reset, ADMINS, ("POST",)),
    AdminRoute("/accounts/{account_id:int}/edit", accounts.edit, ADMINS, ("GET", "POST")),
    AdminRoute(
        "/residents",
        residents.resident_list,
        STAFF,
        nav="Habitants",
        summary="Voir les habitants de vos quartiers ; exporter ou effacer leurs données à leur demande.",
    ),
    AdminRoute("/residents/{resident_id:int}", residents.resident_page, STAFF),
    AdminRoute("/residents/{resident_id:int}/export", residents.export, STAFF, ("POST",)),
    AdminRoute("/residents/{resident_id:int}/erase", residents.erase, STAFF, ("GET", "POST")),
    AdminRoute(
        "/callbacks",
        callbacks.callback_list,
        STAFF,
        nav="Rappels",
        summary="Voir les habitants qui demandent qu'on les rappelle, et noter ceux que vous avez rappelés.",
    ),
    AdminRoute("/callbacks/{callback_id:int}/done", callbacks.done, STAFF, ("POST",)),
    AdminRoute(
        "/audit",
        audit.audit_log,
        ADMINS,
        nav="Journal",
        summary="Voir qui a fait quoi et quand : connexions, comptes, mots de passe, diffusions.",
    ),
    AdminRoute(
        "/password",
        password.my_password,
        EVERYONE,
        ("GET", "POST"),
        nav="Mon mot de passe",
        summary="Changer votre mot de passe.",
        before_password_change=True,
    ),
)
