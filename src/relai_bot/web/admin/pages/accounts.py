"""Accounts (administrators): list, create, disable, reset a password."""

from __future__ import annotations

from starlette.responses import Response

from relai_bot.services import accounts
from relai_bot.services.errors import DomainError, NotFound
from relai_bot.web.admin.guard import Page

LIST_PATH = "/admin/accounts"
# The account forms' answer to each refusal of the service: the field at fault and how to fix it
FIELD_ERRORS: dict[type[DomainError], tuple[str, str]] = {
    accounts.InvalidEmail: (
        "email",
        "Cette adresse e-mail n'est pas valide. Écrivez-la en entier, par exemple nom@mairie.re.",
    ),
    accounts.LoginTaken: ("email", "Un compte existe déjà avec cette adresse. Cherchez-le dans la liste des comptes."),
    accounts.InvalidRole: ("role", "Choisissez un rôle dans la liste."),
    accounts.DistrictsMisused: ("districts", "Cochez au moins un quartier pour un agent de quartier."),
    NotFound: ("districts", "Un quartier coché n'existe plus. Rechargez la page et cochez à nouveau."),
    accounts.OwnAccount: (
        "role",
        "Vous ne pouvez pas retirer votre propre rôle d'administrateur ni désactiver votre compte. "
        "Demandez-le à un autre administrateur.",
    ),
    accounts.LastAdmin: ("role", "C'est le dernier administrateur actif : créez d'abord un autre administrateur."),
}


def account_list(page: Page) -> Response:
    with page.runtime.db.transaction() as session:
        rows = accounts.list_accounts(session)
        names = {d.code: d.name for d in accounts.all_districts(session)}
    return page.render("accounts/list.html", accounts=rows, district_names=names)


def new_account(page: Page) -> Response:
    with page.runtime.db.transaction() as session:
        districts = accounts.all_districts(session)
    values = {"email": page.field("email"), "name": page.field("name"), "role": page.field("role") or "staff"}
    chosen = page.fields("districts")
    if page.request.method == "GET":
        return page.render("accounts/new.html", districts=districts, values=values, chosen=chosen, errors={})
    errors: dict[str, str] = {}
    try:
        with page.runtime.db.transaction() as session:
            account, one_time = accounts.create_account(
                session,
                email=values["email"],
                name=values["name"],
                role=values["role"],
                districts=chosen if values["role"] == "staff" else [],
                now=page.now,
                actor_id=page.account.id if page.account else None,
            )
    except (
        accounts.InvalidEmail,
        accounts.LoginTaken,
        accounts.InvalidRole,
        accounts.DistrictsMisused,
        NotFound,
    ) as error:
        errors = _field_error(error)
    if errors:
        return page.render("accounts/new.html", 400, districts=districts, values=values, chosen=chosen, errors=errors)
    return page.render("accounts/one_time.html", created=True, target=account, one_time=one_time)


def disable(page: Page) -> Response:
    account_id = int(page.request.path_params["account_id"])
    try:
        with page.runtime.db.transaction() as session:
            target = accounts.disable_account(
                session, account_id, actor_id=page.account.id if page.account else None, now=page.now
            )
    except NotFound:
        page.flash("Ce compte n'existe pas ou plus.")
    except accounts.OwnAccount:
        page.flash("Vous ne pouvez pas désactiver votre propre compte. Demandez-le à un autre administrateur.")
    except accounts.LastAdmin:
        page.flash("C'est le dernier administrateur actif : créez d'abord un autre administrateur.")
    else:
        page.flash(f"Le compte {target.login} est désactivé.")
    return page.redirect(LIST_PATH)


def reset(page: Page) -> Response:
    account_id = int(page.request.path_params["account_id"])
    try:
        with page.runtime.db.transaction() as session:
            one_time = accounts.reset_password(
                session, account_id, now=page.now, actor_id=page.account.id if page.account else None
            )
            target = accounts.get_account(session, account_id)
    except NotFound:
        page.flash("Ce compte n'existe pas ou plus.")
        return page.redirect(LIST_PATH)
    return page.render("accounts/one_time.html", created=False, target=target, one_time=one_time)


def edit(page: Page) -> Response:
    account_id = int(page.request.path_params["account_id"])
    with page.runtime.db.transaction() as session:
        target = accounts.get_account(session, account_id)
        districts = accounts.all_districts(session)
    if target is None:
        return page.render("not_found.html", 404, what="Ce compte n'existe pas ou plus.", back=LIST_PATH)
    if page.request.method == "GET":
        values = {"name": target.name, "role": target.role, "active": target.active}
        chosen = list(target.district_codes)
        return page.render(
            "accounts/edit.html", target=target, districts=districts, values=values, chosen=chosen, errors={}
        )
    values = {"name": page.field("name"), "role": page.field("role"), "active": page.field("active") == "oui"}
    chosen = page.fields("districts")
    errors: dict[str, str] = {}
    try:
        with page.runtime.db.transaction() as session:
            updated = accounts.update_account(
                session,
                account_id,
                name=str(values["name"]),
                role=str(values["role"]),
                districts=chosen if values["role"] == "staff" else [],
                active=bool(values["active"]),
                now=page.now,
                actor_id=page.account.id if page.account else None,
            )
    except (
        accounts.InvalidRole,
        accounts.DistrictsMisused,
        NotFound,
        accounts.OwnAccount,
        accounts.LastAdmin,
    ) as error:
        errors = _field_error(error)
    if errors:
        return page.render(
            "accounts/edit.html", 400, target=target, districts=districts, values=values, chosen=chosen, errors=errors
        )
    page.flash(f"Le compte {updated.login} est modifié.")
    return page.redirect(LIST_PATH)


def _field_error(error: DomainError) -> dict[str, str]:
    """The form's errors for a refusal of the service (FIELD_ERRORS)."""
    field, message = FIELD_ERRORS[type(error)]
    return {field: message}
