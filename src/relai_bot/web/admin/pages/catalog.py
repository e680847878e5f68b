"""The commune's catalog: schemes, districts and venues (services/catalog.py), and what is due for review.

Who may do what (services.catalog.may_edit_*): administrators create and edit everything; staff create and
edit the venues of their districts and see the rest read-only; advisers see everything read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlmodel import Session
from starlette.responses import Response

from relai_bot.services import catalog, catalog_review
from relai_bot.services.catalog import FieldError, SchemeTextInput, Source, text_field
from relai_bot.services.errors import NotFound, OutOfScope
from relai_bot.services.schemes import TEXT_FIELDS, TEXT_LANGUAGES
from relai_bot.services.vocabulary import GOALS, SITUATIONS
from relai_bot.store.models import District, Scheme, id_of
from relai_bot.web.admin.guard import Page

# As staff name them (the residents' wording is in templates/messages/fr/labels.yaml)
SITUATION_NAMES = {
    "jeune_sans_emploi_ni_formation": "jeune sans emploi ni formation",
    "demandeur_emploi": "demandeur d'emploi",
    "demandeur_emploi_longue_duree": "demandeur d'emploi depuis plus d'un an",
    "beneficiaire_rsa": "bénéficiaire du RSA",
    "rqth": "reconnu travailleur handicapé (RQTH)",
    "sans_diplome": "sans diplôme",
    "porteur_de_projet": "porteur de projet d'entreprise",
    "salarie": "salarié",
    "residant_qpv": "habitant d'un quartier prioritaire (QPV)",
}
GOAL_NAMES = {
    "emploi": "trouver un emploi",
    "formation": "se former",
    "creation": "créer une entreprise",
    "orientation": "s'orienter",
    "mobilite": "mobilité (permis, transport, départ)",
}
REASON_NAMES = {
    "review_past": "date de revérification dépassée",
    "review_soon": "à revérifier dans les 30 jours",
    "no_source": "aucune source",
    "venue_never_checked": "jamais vérifié",
    "venue_stale": "vérifié il y a plus d'un an",
}
# The form's fields for the texts in other languages (name_rcf, summary_rcf, details_rcf)
TEXT_INPUTS = [text_field(name, language) for language in TEXT_LANGUAGES for name in TEXT_FIELDS]
# Empty source rows offered under the filled ones
EMPTY_SOURCE_ROWS = 3

_MESSAGES: dict[type[FieldError], Callable[[FieldError], str]] = {
    catalog.Missing: lambda e: "Remplissez ce champ.",
    catalog.TooLong: lambda e: f"{e.limit} caractères au plus : raccourcissez le texte (il en a {len(e.value)}).",
    catalog.BadCode: lambda e: (
        "Le code s'écrit en minuscules, chiffres et tirets, sans accent ni espace, 40 caractères au plus "
        "(par exemple saint-laurent)."
    ),
    catalog.CodeTaken: lambda e: f"Le code {e.value} est déjà pris : choisissez-en un autre.",
    catalog.BadUrl: lambda e: "Le lien doit commencer par https:// (par exemple https://www.service-public.fr/…).",
    catalog.SourceIncomplete: lambda e: "Écrivez à la fois le nom de la source et son lien, ou videz les deux.",
    catalog.VerifiedWithoutSource: lambda e: "Ajoutez au moins une source (nom et lien) avant de cocher « vérifié ».",
    catalog.BadDate: lambda e: "Écrivez la date sous la forme AAAA-MM-JJ, entre 2000 et 2100, par exemple 2026-12-01.",
    catalog.DateInFuture: lambda e: "La date de vérification ne peut pas être après aujourd'hui.",
    catalog.ReviewBeforeCheck: lambda e: "Cette date doit venir après la date de la dernière vérification.",
    catalog.AmountWithoutReview: lambda e: (
        "Un montant demande une date « à revérifier avant le » : sans elle, il n'est jamais montré aux habitants."
    ),
    catalog.BadAge: lambda e: "Écrivez un âge en années, un nombre entier entre 0 et 99, ou laissez vide.",
    catalog.AgesReversed: lambda e: "L'âge maximum doit être supérieur ou égal à l'âge minimum.",
    catalog.UnknownSituation: lambda e: "Cochez des situations de la liste.",
    catalog.UnknownGoal: lambda e: "Cochez des objectifs de la liste.",
    catalog.NoGoal: lambda e: "Cochez au moins un objectif.",
    catalog.UnknownDistrict: lambda e: "Choisissez un quartier de la liste.",
    catalog.BadPhone: lambda e: "Ce numéro n'est pas valide. Écrivez-le en entier, par exemple 0262 12 34 56.",
    catalog.DistrictOutOfScope: lambda e: "Choisissez un de vos quartiers : un lieu reste dans vos quartiers.",
    catalog.UnknownVenue: lambda e: "Un lieu coché n'existe plus. Rechargez la page et cochez à nouveau.",
    catalog.UnknownLanguage: lambda e: "Cette langue n'est pas prévue pour les dispositifs.",
}
_DISTRICTS_MISSING = "Cochez au moins un quartier, ou choisissez « Tous les quartiers »."


def _errors(entry: catalog.InvalidEntry) -> dict[str, str]:
    """The form's errors, keyed by the id of the field (a source row: sources-N)."""
    errors: dict[str, str] = {}
    for error in entry.errors:
        key = error.field if error.index is None else f"{error.field}-{error.index}"
        message = _MESSAGES[type(error)](error)
        if isinstance(error, catalog.Missing) and error.field == "districts":
            message = _DISTRICTS_MISSING
        errors[key] = f"{errors[key]} {message}" if key in errors else message
    return errors


def _today(page: Page) -> date:
    return page.now.astimezone(page.runtime.settings.tz).date()


def _actor(page: Page) -> int | None:
    return page.account.id if page.account else None


def _not_found(page: Page, what: str, back: str) -> Response:
    return page.render("not_found.html", 404, what=what, back=back)


def _common(page: Page) -> dict[str, Any]:
    return {
        "situation_names": SITUATION_NAMES,
        "goal_names": GOAL_NAMES,
        "situations": SITUATIONS,
        "goals": GOALS,
        "today": _today(page),
    }


# --- schemes ----------------------------------------------------------------------------------------------


def scheme_list(page: Page) -> Response:
    with page.runtime.db.transaction() as session:
        schemes = catalog.list_schemes(session)
        due = catalog_review.due_for_review(session, _today(page))
    assert page.account is not None
    return page.render(
        "catalog/scheme_list.html",
        schemes=schemes,
        due=due,
        reason_names=REASON_NAMES,
        editable=catalog.may_edit_schemes(page.account),
        **_common(page),
    )


def _scheme_values(page: Page) -> dict[str, Any]:
    labels = [str(v) for v in page.form.getlist("source_label")]
    urls = [str(v) for v in page.form.getlist("source_url")]
    values = {
        "code": page.field("code"),
        "name": page.field("name"),
        "acronym": page.field("acronym"),
        "summary": page.field("summary"),
        "details": page.field("details"),
        "operator": page.field("operator"),
        "min_age": page.field("min_age"),
        "max_age": page.field("max_age"),
        "situations": page.fields("situations"),
        "goals": page.fields("goals"),
        "all_districts": page.field("district_scope") != "some",
        "districts": page.fields("districts"),
        "available_locally": page.field("available_locally") == "oui",
        "keywords": page.field("keywords"),
        "sources": [Source(label, url) for label, url in zip(labels, urls, strict=False)],
        "amount": page.field("amount"),
        "checked_on": page.field("checked_on"),
        "review_by": page.field("review_by"),
        "verified": page.field("verified") == "oui",
        "venues": page.fields("venues"),
    }
    values |= {name: page.field(name) for name in TEXT_INPUTS}
    values["text_languages"] = _languages_sent(page)
    return values


def _languages_sent(page: Page) -> list[str]:
    """The languages whose texts the form sent (a form without them leaves them as they are)."""
    return [lang for lang in TEXT_LANGUAGES if any(text_field(name, lang) in page.form for name in TEXT_FIELDS)]


def _scheme_input(values: dict[str, Any]) -> catalog.SchemeInput:
    return catalog.SchemeInput(
        code=values["code"],
        name=values["name"],
        acronym=values["acronym"],
        summary=values["summary"],
        details=values["details"],
        operator=values["operator"],
        min_age=values["min_age"],
        max_age=values["max_age"],
        situations=values["situations"],
        goals=values["goals"],
        districts=None if values["all_districts"] else values["districts"],
        available_locally=values["available_locally"],
        keywords=[k for k in values["keywords"].split(",") if k.strip()],
        sources=values["sources"],
        amount=values["amount"],
        checked_on=values["checked_on"],
        review_by=values["review_by"],
        verified=values["verified"],
        venues=values["venues"],
        texts={
            language: SchemeTextInput(**{name: values[text_field(name, language)] for name in TEXT_FIELDS})
            for language in values["text_languages"]
        },
    )


def _scheme_stored(session: Session, scheme: Scheme) -> dict[str, Any]:
    return {
        "code": scheme.code,
        "name": scheme.name,
        "acronym": scheme.acronym or "",
        "summary": scheme.summary,
        "details": scheme.details,
        "operator": scheme.operator,
        "min_age": "" if scheme.min_age is None else str(scheme.min_age),
        "max_age": "" if scheme.max_age is None else str(scheme.max_age),
        "situations": list(scheme.situations),
        "goals": list(scheme.goals),
        "all_districts": scheme.districts is None,
        "districts": list(scheme.districts or []),
        "available_locally": scheme.available_locally,
        "keywords": ", ".join(scheme.keywords),
        "sources": catalog.scheme_sources(scheme),
        "amount": scheme.amount or "",
        "checked_on": scheme.checked_on.isoformat() if scheme.checked_on else "",
        "review_by": scheme.review_by.isoformat() if scheme.review_by else "",
        "verified": scheme.verified,
        "venues": catalog.scheme_venue_codes(session, id_of(scheme)),
    } | {
        text_field(name, language): str((scheme.texts or {}).get(language, {}).get(name) or "")
        for language in TEXT_LANGUAGES
        for name in TEXT_FIELDS
    }


def _source_rows(sources: list[Source]) -> list[Source]:
    filled = [s for s in sources if s.label.strip() or s.url.strip()]
    return filled + [Source("", "")] * EMPTY_SOURCE_ROWS


def new_scheme(page: Page) -> Response:
    with page.runtime.db.transaction() as session:
        districts = catalog.list_districts(session)
        venues = catalog.list_venues(session)
    if page.request.method == "GET":
        values = _scheme_stored_empty()
        errors: dict[str, str] = {}
    else:
        values = _scheme_values(page)
        try:
            with page.runtime.db.transaction() as session:
                scheme = catalog.create_scheme(
                    session, _scheme_input(values), actor_id=_actor(page), now=page.now, tz=page.runtime.settings.tz
                )
                scheme_id, name = scheme.id, scheme.name
        except catalog.InvalidEntry as entry:
            errors = _errors(entry)
        else:
            page.flash(f"Le dispositif « {name} » est créé.")
            return page.redirect(f"/admin/schemes/{scheme_id}")
    return page.render(
        "catalog/scheme_form.html",
        400 if errors else 200,
        scheme=None,
        values=values,
        sources=_source_rows(values["sources"]),
        districts=districts,
        venues=venues,
        errors=errors,
        editable=True,
        **_common(page),
    )


def _scheme_stored_empty() -> dict[str, Any]:
    return {
        "code": "",
        "name": "",
        "acronym": "",
        "summary": "",
        "details": "",
        "operator": "",
        "min_age": "",
        "max_age": "",
        "situations": [],
        "goals": [],
        "all_districts": True,
        "districts": [],
        "available_locally": True,
        "keywords": "",
        "sources": [],
        "amount": "",
        "checked_on": "",
        "review_by": "",
        "verified": False,
        "venues": [],
    } | {name: "" for name in TEXT_INPUTS}


def scheme_page(page: Page) -> Response:
    """A scheme: its form for administrators (GET and POST), read-only for the others (GET)."""
    scheme_id = int(page.request.path_params["scheme_id"])
    assert page.account is not None
    editable = catalog.may_edit_schemes(page.account)
    with page.runtime.db.transaction() as session:
        try:
            scheme = catalog.get_scheme(session, scheme_id)
        except NotFound:
            return _not_found(page, "Ce dispositif n'existe pas ou plus.", "/admin/schemes")
        stored = _scheme_stored(session, scheme)
        districts = catalog.list_districts(session)
        venues = catalog.list_venues(session)
    errors: dict[str, str] = {}
    values = stored
    if page.request.method == "POST":
        values = _scheme_values(page) | {"code": stored["code"]}
        try:
            with page.runtime.db.transaction() as session:
                catalog.update_scheme(
                    session,
                    scheme_id,
                    _scheme_input(values),
                    actor_id=_actor(page),
                    now=page.now,
                    tz=page.runtime.settings.tz,
                )
        except catalog.InvalidEntry as entry:
            errors = _errors(entry)
        else:
            page.flash(f"Le dispositif « {values['name']} » est enregistré.")
            return page.redirect(f"/admin/schemes/{scheme_id}")
    return page.render(
        "catalog/scheme_form.html",
        400 if errors else 200,
        scheme=stored | {"id": scheme_id},
        values=values,
        sources=_source_rows(values["sources"]) if editable else values["sources"],
        districts=districts,
        venues=venues,
        errors=errors,
        editable=editable,
        **_common(page),
    )


# --- districts --------------------------------------------------------------------------------------------


def district_list(page: Page) -> Response:
    assert page.account is not None
    with page.runtime.db.transaction() as session:
        districts = catalog.list_districts(session)
    return page.render(
        "catalog/district_list.html", districts=districts, editable=catalog.may_edit_districts(page.account)
    )


def _district_values(page: Page) -> dict[str, Any]:
    return {
        "code": page.field("code"),
        "name": page.field("name"),
        "qpv": page.field("qpv") == "oui",
        "aliases": page.field("aliases"),
    }


def _district_input(values: dict[str, Any]) -> catalog.DistrictInput:
    aliases = [a for a in values["aliases"].replace("\n", ",").split(",") if a.strip()]
    return catalog.DistrictInput(code=values["code"], name=values["name"], qpv=values["qpv"], aliases=aliases)


def new_district(page: Page) -> Response:
    values = _district_values(page)
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        try:
            with page.runtime.db.transaction() as session:
                district = catalog.create_district(
                    session, _district_input(values), actor_id=_actor(page), now=page.now
                )
                district_id = district.id
        except catalog.InvalidEntry as entry:
            errors = _errors(entry)
        else:
            page.flash(f"Le quartier « {values['name']} » est créé.")
            return page.redirect(f"/admin/districts/{district_id}")
    return page.render(
        "catalog/district_form.html", 400 if errors else 200, district=None, values=values, errors=errors, editable=True
    )


def district_page(page: Page) -> Response:
    district_id = int(page.request.path_params["district_id"])
    assert page.account is not None
    with page.runtime.db.transaction() as session:
        try:
            district = catalog.get_district(session, district_id)
        except NotFound:
            return _not_found(page, "Ce quartier n'existe pas ou plus.", "/admin/districts")
        stored = {
            "id": district.id,
            "code": district.code,
            "name": district.name,
            "qpv": district.qpv,
            "aliases": ", ".join(district.aliases),
        }
    values, errors = stored, {}
    if page.request.method == "POST":
        values = _district_values(page) | {"code": stored["code"]}
        try:
            with page.runtime.db.transaction() as session:
                catalog.update_district(
                    session, district_id, _district_input(values), actor_id=_actor(page), now=page.now
                )
        except catalog.InvalidEntry as entry:
            errors = _errors(entry)
        else:
            page.flash(f"Le quartier « {values['name']} » est enregistré.")
            return page.redirect(f"/admin/districts/{district_id}")
    return page.render(
        "catalog/district_form.html",
        400 if errors else 200,
        district=stored,
        values=values,
        errors=errors,
        editable=catalog.may_edit_districts(page.account),
    )


# --- venues -----------------------------------------------------------------------------------------------


def venue_list(page: Page) -> Response:
    account = page.account
    assert account is not None
    with page.runtime.db.transaction() as session:
        venues = catalog.list_venues(session)
        names = {d.id: d.name for d in catalog.list_districts(session)}
    return page.render(
        "catalog/venue_list.html",
        venues=venues,
        district_names=names,
        may_edit={v.id: catalog.may_edit_venue(account, v.district_id) for v in venues},
        may_create=catalog.may_create_venues(account),
        today=_today(page),
    )


def _venue_values(page: Page) -> dict[str, Any]:
    return {
        "code": page.field("code"),
        "name": page.field("name"),
        "district": page.field("district"),
        "town": page.field("town"),
        "address": page.field("address"),
        "phone": page.field("phone"),
        "remote": page.field("remote") == "oui",
        "opening_hours": page.field("opening_hours"),
        "accessibility": page.field("accessibility"),
        "verified": page.field("verified") == "oui",
        "checked_on": page.field("checked_on"),
    }


def _venue_input(values: dict[str, Any]) -> catalog.VenueInput:
    fields = {name: values[name] for name in catalog.VenueInput.__dataclass_fields__}
    return catalog.VenueInput(**(fields | {"district": values["district"] or None}))


def _venue_districts(page: Page, session: Session) -> list[District]:
    """The districts the account may put a venue in (all for an admin)."""
    assert page.account is not None
    account = page.account
    return [d for d in catalog.list_districts(session) if catalog.may_edit_venue(account, id_of(d))]


def new_venue(page: Page) -> Response:
    assert page.account is not None
    if not catalog.may_create_venues(page.account):
        return page.render("refused_role.html", 403)
    with page.runtime.db.transaction() as session:
        districts = _venue_districts(page, session)
    values = _venue_values(page)
    if page.request.method == "GET":
        values["town"] = "La Possession"
    errors: dict[str, str] = {}
    if page.request.method == "POST":
        try:
            with page.runtime.db.transaction() as session:
                venue = catalog.create_venue(
                    session, _venue_input(values), account=page.account, now=page.now, tz=page.runtime.settings.tz
                )
                venue_id = venue.id
        except catalog.InvalidEntry as entry:
            errors = _errors(entry)
        else:
            page.flash(f"Le lieu « {values['name']} » est créé.")
            return page.redirect(f"/admin/venues/{venue_id}")
    return page.render(
        "catalog/venue_form.html",
        400 if errors else 200,
        venue=None,
        values=values,
        districts=districts,
        errors=errors,
        editable=True,
        today=_today(page),
    )


def venue_page(page: Page) -> Response:
    """A venue: its form for those who may edit it (admins; staff, a venue of their districts), read-only
    for the others. A POST out of the account's reach answers 404, as elsewhere in the back-office."""
    venue_id = int(page.request.path_params["venue_id"])
    account = page.account
    assert account is not None
    with page.runtime.db.transaction() as session:
        try:
            venue = catalog.get_venue(session, venue_id)
        except NotFound:
            return _not_found(page, "Ce lieu n'existe pas ou plus.", "/admin/venues")
        district = catalog.get_district(session, venue.district_id) if venue.district_id else None
        stored = {
            "id": venue.id,
            "code": venue.code,
            "name": venue.name,
            "district": district.code if district else "",
            "district_name": district.name if district else "",
            "town": venue.town,
            "address": venue.address or "",
            "phone": venue.phone or "",
            "remote": venue.remote,
            "opening_hours": venue.opening_hours or "",
            "accessibility": venue.accessibility or "",
            "verified": venue.verified,
            "checked_on": venue.checked_on.isoformat() if venue.checked_on else "",
        }
        editable = catalog.may_edit_venue(account, venue.district_id)
        districts = _venue_districts(page, session) if editable else []
    values, errors = stored, {}
    if page.request.method == "POST":
        values = stored | _venue_values(page) | {"code": stored["code"]}
        try:
            with page.runtime.db.transaction() as session:
                catalog.update_venue(
                    session, venue_id, _venue_input(values), account=account, now=page.now, tz=page.runtime.settings.tz
                )
        except OutOfScope:
            return _not_found(page, "Ce lieu n'est pas dans vos quartiers.", "/admin/venues")
        except catalog.InvalidEntry as entry:
            errors = _errors(entry)
        else:
            page.flash(f"Le lieu « {values['name']} » est enregistré.")
            return page.redirect(f"/admin/venues/{venue_id}")
    return page.render(
        "catalog/venue_form.html",
        400 if errors else 200,
        venue=stored,
        values=values,
        districts=districts,
        errors=errors,
        editable=editable,
        today=_today(page),
    )
