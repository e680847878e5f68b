"""The catalog pages (/admin/schemes, /admin/districts, /admin/venues) per role: admins edit everything,
staff the venues of their districts (the rest read-only), advisers read only."""

from __future__ import annotations

import html
import re

import pytest
from sqlmodel import select

from relai_bot.services import audit, catalog
from relai_bot.store.models import AuditEvent, District, Scheme, Venue
from relai_bot.wiring import Runtime
from tests.web.admin_support import Staff, admin_browser, make_account
from tests.web.test_admin_routes import assert_accessible

ROLES = {"admin": "admin@mairie.re", "staff": "agent@mairie.re", "adviser": "conseil@mairie.re"}


def sign_in(runtime: Runtime, browser: Staff, role: str) -> None:
    make_account(runtime, "admin@mairie.re", "admin")
    make_account(runtime, "agent@mairie.re", "staff", districts=["moulin-joli"])
    make_account(runtime, "conseil@mairie.re", "adviser")
    assert browser.log_in(ROLES[role]).status_code == 303


def ids(runtime: Runtime) -> dict[str, int]:
    with runtime.db.transaction() as session:
        scheme = session.exec(select(Scheme).where(Scheme.code == "cej")).one()
        district = session.exec(select(District).where(District.code == "pichette")).one()
        mine = session.exec(select(Venue).where(Venue.code == "centre-social-moulin-joli")).one()
        other = session.exec(select(Venue).where(Venue.code == "mediatheque-heva")).one()
    assert scheme.id and district.id and mine.id and other.id
    return {"scheme": scheme.id, "district": district.id, "mine": mine.id, "other": other.id}


def scheme_form(**changes: object) -> dict[str, object]:
    """The CEJ's form as the page would send it back, with changes."""
    form: dict[str, object] = {
        "name": "Contrat d'engagement jeune",
        "acronym": "CEJ",
        "summary": "Entre 16 et 25 ans, sans travail ni études ? Un conseiller vous accompagne de près.",
        "details": "Un programme intensif de 15 à 20 heures par semaine.",
        "operator": "MIO ou France Travail",
        "min_age": "16",
        "max_age": "25",
        "situations": ["jeune_sans_emploi_ni_formation"],
        "goals": ["emploi", "formation"],
        "district_scope": "all",
        "available_locally": "oui",
        "keywords": "jeune, cej",
        "source_label": ["Guide UNAFO", "", ""],
        "source_url": ["https://www.unafo.org/centre-de-ressources/guide-pauvrete-engagement-jeunes", "", ""],
        "amount": "Jusqu'à 560 € par mois environ.",
        "checked_on": "2026-11-30",
        "review_by": "2027-01-01",
        "verified": "oui",
        "venues": ["mediatheque-heva", "rdv-telephone"],
    }
    return form | changes


# (page, the mark of what may be changed, the roles that see it)
PAGES = [
    ("/admin/schemes", 'href="/admin/schemes/new"', {"admin"}),
    ("/admin/districts", 'href="/admin/districts/new"', {"admin"}),
    ("/admin/venues", 'href="/admin/venues/new"', {"admin", "staff"}),
    ("scheme", 'action="/admin/schemes/', {"admin"}),
    ("district", 'action="/admin/districts/', {"admin"}),
    ("mine", 'action="/admin/venues/', {"admin", "staff"}),
    ("other", 'action="/admin/venues/', {"admin"}),
]


@pytest.mark.parametrize("role", ["admin", "staff", "adviser"])
def test_every_role_reads_the_catalog(runtime: Runtime, role: str) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser, role)
        target = ids(runtime)
        for path, mark, editors in PAGES:
            if not path.startswith("/"):
                kind = {"scheme": "schemes", "district": "districts"}.get(path, "venues")
                path = f"/admin/{kind}/{target[path]}"
            response = browser.get(path)
            assert response.status_code == 200, path
            assert_accessible(response.text)
            assert (mark in response.text) == (role in editors), path


def test_an_admin_edits_a_scheme_and_the_audit_names_the_fields(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser, "admin")
        scheme_id = ids(runtime)["scheme"]
        page = browser.get(f"/admin/schemes/{scheme_id}").text
        assert page.count('name="source_url"') >= 4  # the stored ones and three empty rows
        saved = browser.post(f"/admin/schemes/{scheme_id}", scheme_form())
        assert saved.status_code == 303
        assert "est enregistré" in browser.follow(saved).text
    with runtime.db.transaction() as session:
        scheme = session.get(Scheme, scheme_id)
        assert scheme is not None
        assert scheme.sources == [
            {
                "label": "Guide UNAFO",
                "url": "https://www.unafo.org/centre-de-ressources/guide-pauvrete-engagement-jeunes",
                # the rules this page gives, from the seed: renaming the source keeps them
                "rules": ["age", "disability", "situations"],
            }
        ]
        assert str(scheme.review_by) == "2027-01-01" and scheme.amount == "Jusqu'à 560 € par mois environ."
        assert catalog.scheme_venue_codes(session, scheme_id) == ["mediatheque-heva", "rdv-telephone"]
        event = session.exec(select(AuditEvent).where(AuditEvent.action == audit.SCHEME_UPDATED)).one()
    assert event.target == "scheme:cej" and event.actor == "admin@mairie.re"
    assert {"sources", "amount", "checked_on", "review_by", "summary", "venues"} <= set(event.detail["changed"])
    assert "Jusqu" not in str(event.detail)  # field names, not values


def test_an_admin_writes_the_creole_texts_of_a_scheme(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        creole = session.exec(select(Scheme).where(Scheme.code == "cej")).one().texts["rcf"]
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser, "admin")
        scheme_id = ids(runtime)["scheme"]
        page = html.unescape(browser.get(f"/admin/schemes/{scheme_id}").text)
        for field, label in (("name_rcf", "Nom"), ("summary_rcf", "Résumé"), ("details_rcf", "Détails")):
            assert f'<label for="{field}">{label} en kréol</label>' in page
            assert creole[field.removesuffix("_rcf")] in page  # the seed's, shown to be edited
        form = scheme_form(
            name_rcf="Kontra pou bann zenn",
            summary_rcf="Ou néna 16 a 25 an ? In konséyé i akonpagn aou.",
            details_rcf="",
        )
        saved = browser.post(f"/admin/schemes/{scheme_id}", form)
        assert saved.status_code == 303
        shown = html.unescape(browser.follow(saved).text)
        assert 'value="Kontra pou bann zenn"' in shown and "In konséyé i akonpagn aou." in shown
        kept = browser.post(f"/admin/schemes/{scheme_id}", scheme_form())  # a form without them: kept
        assert kept.status_code == 303
    with runtime.db.transaction() as session:
        scheme = session.get(Scheme, scheme_id)
        assert scheme is not None
        assert scheme.texts["rcf"] == {
            "name": "Kontra pou bann zenn",
            "summary": "Ou néna 16 a 25 an ? In konséyé i akonpagn aou.",
        }  # the details left empty: the resident reads the French ones
        events = session.exec(select(AuditEvent).where(AuditEvent.action == audit.SCHEME_UPDATED)).all()
    assert {"name_rcf", "summary_rcf", "details_rcf"} <= set(events[0].detail["changed"])
    assert "texts" not in events[0].detail["changed"] and "Kontra" not in str(events[0].detail)
    assert len(events) == 1  # the form sent again without them changed nothing


def test_a_creole_text_too_long_is_refused_beside_its_field(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser, "admin")
        scheme_id = ids(runtime)["scheme"]
        response = browser.post(f"/admin/schemes/{scheme_id}", scheme_form(summary_rcf="x" * 161))
    assert response.status_code == 400
    text = html.unescape(response.text)
    assert 'id="summary_rcf-error"' in text and "160 caractères au plus" in text
    assert '<a href="#summary_rcf">' in text  # the summary of errors leads to the field
    with runtime.db.transaction() as session:
        scheme = session.get(Scheme, scheme_id)
        assert scheme is not None and scheme.texts["rcf"]["summary"] != "x" * 161


def test_an_adviser_reads_the_creole_texts(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        creole = session.exec(select(Scheme).where(Scheme.code == "cej")).one().texts["rcf"]
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser, "adviser")
        page = html.unescape(browser.get(f"/admin/schemes/{ids(runtime)['scheme']}").text)
    assert "<dt>Nom en kréol</dt>" in page and creole["name"] in page and 'name="name_rcf"' not in page


def test_scheme_errors_stand_beside_their_fields(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser, "admin")
        scheme_id = ids(runtime)["scheme"]
        response = browser.post(
            f"/admin/schemes/{scheme_id}",
            scheme_form(
                min_age="30",
                max_age="20",
                source_label=["Guide", "Sans lien", ""],
                source_url=["http://exemple.re/page", "", ""],
                review_by="",
                goals=[],
            ),
        )
    assert response.status_code == 400
    text = html.unescape(response.text)
    assert "<title>Erreur – Modifier le dispositif" in text and 'role="alert"' in text
    assert 'id="sources-0-error"' in text and "https://" in text
    assert "Écrivez à la fois le nom de la source et son lien" in text
    assert "L'âge maximum doit être supérieur ou égal à l'âge minimum." in text
    assert "Cochez au moins un objectif." in text
    assert "jamais montré aux habitants" in text  # an amount without a review date
    assert 'value="http://exemple.re/page"' in text  # what was typed is kept
    with runtime.db.transaction() as session:
        scheme = session.get(Scheme, scheme_id)
        assert scheme is not None and scheme.min_age == 16


def test_staff_edit_the_venues_of_their_districts_only(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser, "staff")
        target = ids(runtime)
        mine = browser.get(f"/admin/venues/{target['mine']}").text
        assert "Modifier le lieu" in mine and 'name="opening_hours"' in mine
        # only their districts in the list of districts
        assert re.findall(r'<option value="([a-z-]*)"', mine) == ["moulin-joli"]
        saved = browser.post(
            f"/admin/venues/{target['mine']}",
            {
                "name": "Centre social de Moulin Joli",
                "district": "moulin-joli",
                "town": "La Possession",
                "opening_hours": "Du lundi au vendredi, 8 h - 12 h",
                "accessibility": "Entrée de plain-pied",
                "checked_on": "2026-11-30",
                "verified": "oui",
                "phone": "+262 262 00 00 03",
            },
        )
        assert saved.status_code == 303
        other = html.unescape(browser.get(f"/admin/venues/{target['other']}").text)
        assert "pas dans vos quartiers" in other and 'name="opening_hours"' not in other
        refused = browser.post(f"/admin/venues/{target['other']}", {"name": "Autre", "verified": "oui"})
        assert refused.status_code == 404
        moved = browser.post(f"/admin/venues/{target['mine']}", {"name": "Centre social", "district": "pichette"})
        assert moved.status_code == 400 and "un lieu reste dans vos quartiers" in html.unescape(moved.text)
        assert browser.get("/admin/schemes/new").status_code == 403
        assert browser.post(f"/admin/schemes/{target['scheme']}", scheme_form()).status_code == 403
    with runtime.db.transaction() as session:
        venue = session.get(Venue, target["mine"])
        assert venue is not None and venue.opening_hours == "Du lundi au vendredi, 8 h - 12 h"
        assert str(venue.checked_on) == "2026-11-30"
        other_venue = session.get(Venue, target["other"])
        assert other_venue is not None and other_venue.name == "Médiathèque Heva"
        event = session.exec(select(AuditEvent).where(AuditEvent.action == audit.VENUE_UPDATED)).one()
    assert event.target == "venue:centre-social-moulin-joli"
    assert event.detail["changed"] == ["opening_hours", "accessibility", "checked_on"]


def test_advisers_cannot_change_anything(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser, "adviser")
        target = ids(runtime)
        assert browser.post(f"/admin/venues/{target['mine']}", {"name": "X"}).status_code == 403
        assert browser.post(f"/admin/districts/{target['district']}", {"name": "X"}).status_code == 403
        assert browser.get("/admin/venues/new").status_code == 403


def test_an_admin_creates_a_district_and_a_venue_in_it(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser, "admin")
        assert_accessible(browser.get("/admin/districts/new").text)
        taken = browser.post("/admin/districts/new", {"code": "pichette", "name": "Pichette bis"})
        assert taken.status_code == 400 and "déjà pris" in taken.text
        bad = browser.post("/admin/districts/new", {"code": "La Chaloupe", "name": "La Grande Chaloupe"})
        assert bad.status_code == 400 and "minuscules, chiffres et tirets" in bad.text
        created = browser.post(
            "/admin/districts/new",
            {"code": "grande-chaloupe", "name": "La Grande Chaloupe", "aliases": "chaloupe, Grande Chaloupe"},
        )
        assert created.status_code == 303
        assert_accessible(browser.get("/admin/venues/new").text)
        venue = browser.post(
            "/admin/venues/new",
            {"code": "lazaret", "name": "Lazaret", "district": "grande-chaloupe", "phone": "12", "town": ""},
        )
        assert venue.status_code == 400 and "Ce numéro n'est pas valide" in html.unescape(venue.text)
        venue = browser.post("/admin/venues/new", {"code": "lazaret", "name": "Lazaret", "district": "grande-chaloupe"})
        assert venue.status_code == 303
        assert_accessible(browser.get("/admin/schemes/new").text)
    with runtime.db.transaction() as session:
        district = session.exec(select(District).where(District.code == "grande-chaloupe")).one()
        assert district.aliases == ["chaloupe", "grande chaloupe"] and not district.qpv
        lazaret = session.exec(select(Venue).where(Venue.code == "lazaret")).one()
        assert lazaret.district_id == district.id and not lazaret.verified
        actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-2:] == [audit.DISTRICT_CREATED, audit.VENUE_CREATED]


def test_the_review_panel_on_the_schemes_page_and_the_home_page(runtime: Runtime) -> None:
    with admin_browser(runtime) as browser:
        sign_in(runtime, browser, "staff")
        home = html.unescape(browser.get("/admin/").text)
        schemes = html.unescape(browser.get("/admin/schemes").text)
    # the demo's amounts were to be checked again by 2026-01-01 or 2026-04-01: past on 2026-12-01
    assert "À revérifier" in home and "date de revérification dépassée" in home
    assert "Service civique" in schemes and "École de la deuxième chance" in schemes and "aucune source" in schemes
    assert "jamais vérifié" in schemes  # the demo's venues carry no date of check
    with admin_browser(runtime) as browser:
        make_account(runtime, "conseil2@mairie.re", "adviser")
        browser.log_in("conseil2@mairie.re")
        assert "À revérifier" not in browser.get("/admin/").text
