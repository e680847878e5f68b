"""The broadcast pages of /admin: composing within one's districts, confirming the very preview shown,
approval by another admin, interruption, the report and its CSV; and the preview agrees with the CLI's."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from relai_bot.cli import app
from relai_bot.clock import FrozenClock
from relai_bot.store.models import AuditEvent, Broadcast, OutboxMessage, Resident
from relai_bot.wiring import Runtime
from tests import creole_broadcast_support
from tests.conftest import make_runtime
from tests.delivery_support import add_residents
from tests.web.admin_support import Staff, admin_browser, make_account

TEXT = "Forum de l'emploi samedi à la médiathèque."
CONFIRM = re.compile(r'name="confirm" value="([0-9a-f]+)"')


def words(page: str) -> str:
    """A page's text as a person reads it: no tags, entities decoded, spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def residents(runtime: Runtime) -> None:
    """Saint-Laurent: 3 on Telegram, 2 by SMS, 1 who said no to opportunities; Pichette: 2 on Telegram."""
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        add_residents(session, 3, now)
        add_residents(session, 2, now, channel="sms", first_address=262692000001)
        add_residents(session, 1, now, first_address=20_000, opportunities=False)
        add_residents(session, 2, now, district="pichette", first_address=30_000)


def form(**values: object) -> dict[str, object]:
    return {"districts": "saint-laurent", "text": TEXT, "when": "now", **values}


def preview(browser: Staff, **values: object) -> httpx.Response:
    return browser.post("/admin/broadcasts/new", form(step="preview", **values))


def send(browser: Staff, **values: object) -> httpx.Response:
    shown = preview(browser, **values)
    assert shown.status_code == 200, shown.text[:500]
    found = CONFIRM.search(shown.text)
    assert found is not None
    return browser.post("/admin/broadcasts/new", form(step="send", confirm=found.group(1), **values))


def broadcasts(runtime: Runtime) -> list[Broadcast]:
    with runtime.db.transaction() as session:
        return list(session.exec(select(Broadcast).order_by(col(Broadcast.id))))


@pytest.fixture
def agent(runtime: Runtime) -> Iterator[Staff]:
    residents(runtime)
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    with admin_browser(runtime) as browser:
        assert browser.log_in("agent@mairie.re").status_code == 303
        yield browser


def test_the_composer_offers_only_the_staff_members_districts(agent: Staff) -> None:
    page = agent.get("/admin/broadcasts/new").text
    assert 'value="saint-laurent"' in page and 'value="pichette"' not in page
    refused = preview(agent, districts=["saint-laurent", "pichette"])
    assert refused.status_code == 400
    assert "Le quartier Pichette n'est pas un de vos quartiers." in words(refused.text)


def test_the_preview_shows_who_gets_what_and_what_it_costs(agent: Staff) -> None:
    shown = preview(agent, text="Bonjour {{ prenom }}, forum samedi !")
    assert shown.status_code == 200
    page = words(shown.text)
    assert "5 habitants : 3 par Telegram, 2 par SMS." in page
    assert "Pas inscrits aux offres : 1" in page
    assert "2 habitants par SMS, 1 partie au plus chacun, 2 en tout : 0.14 EUR" in page
    assert "Envoyer à 5 habitants (2 par SMS, 2 parties)" in page
    assert broadcasts(agent_runtime(agent)) == []  # a preview writes nothing


def agent_runtime(browser: Staff) -> Runtime:
    runtime: Runtime = browser.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def test_errors_are_shown_beside_their_field_and_nothing_is_kept(agent: Staff) -> None:
    page = preview(agent, text="Bonjour {{ nom }}", link="www.exemple.re", districts=[]).text
    assert 'id="districts-error"' in page and "Cochez au moins un quartier." in page
    fixed = preview(agent, text="Bonjour {{ nom }}").text
    assert 'id="text-error"' in fixed and "Champ inconnu : {{ nom }}" in fixed
    link = preview(agent, link="www.exemple.re").text
    assert 'id="link-error"' in link and "Le lien doit commencer par https://" in link
    later = preview(agent, when="later").text
    assert 'id="scheduled_at-error"' in later
    unverified = preview(agent, venue="france-travail-le-port").text
    assert "n'est pas encore vérifié par la commune" in words(unverified)


def test_the_live_preview_fragment(agent: Staff) -> None:
    fragment = agent.post("/admin/broadcasts/preview", form())
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "5 habitants" in words(fragment.text)
    assert 'hx-swap-oob="innerHTML"' in fragment.text and "Aperçu mis à jour : 5 habitants." in fragment.text
    incomplete = agent.post("/admin/broadcasts/preview", {"districts": "saint-laurent"})
    assert "Écrivez le message." in incomplete.text


def test_sending_what_was_confirmed_then_following_it(agent: Staff) -> None:
    runtime = agent_runtime(agent)
    sent = send(agent)
    assert sent.status_code == 303
    (broadcast,) = broadcasts(runtime)
    assert sent.headers["location"] == f"/admin/broadcasts/{broadcast.id}"
    assert broadcast.recipients == 5 and broadcast.status == "queued" and broadcast.created_by == "agent@mairie.re"
    page = agent.follow(sent).text
    assert "La diffusion est partie vers 5 habitants." in page and "Envoi en cours." in page
    assert 'hx-trigger="every 3s"' in page
    listing = agent.get("/admin/broadcasts").text
    assert f'href="/admin/broadcasts/{broadcast.id}"' in listing and "en cours d'envoi" in words(listing)
    csv = agent.get(f"/admin/broadcasts/{broadcast.id}/report.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"] == f'attachment; filename="diffusion-{broadcast.id}.csv"'
    assert csv.text.splitlines()[:2] == ["dimension,value,status,count", "status,all,pending,5"]
    with runtime.db.transaction() as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "broadcast.created")).all()
        assert TEXT not in str(event.detail)


def test_a_changed_draft_must_be_previewed_again(agent: Staff) -> None:
    shown = preview(agent)
    found = CONFIRM.search(shown.text)
    assert found is not None
    edited = agent.post("/admin/broadcasts/new", form(step="send", confirm=found.group(1), text=TEXT + " Venez !"))
    assert edited.status_code == 409 and "Vérifiez le nouvel aperçu" in edited.text
    runtime = agent_runtime(agent)
    with runtime.db.transaction() as session:  # a resident stops between the preview and the send
        resident = session.exec(select(Resident).where(col(Resident.opportunities).is_(True))).first()
        assert resident is not None
        resident.opportunities = False
    stale = agent.post("/admin/broadcasts/new", form(step="send", confirm=found.group(1)))
    assert stale.status_code == 409 and "4 habitants" in words(stale.text)
    assert broadcasts(runtime) == []


def test_staff_cannot_see_or_stop_a_broadcast_to_other_districts(runtime: Runtime) -> None:
    residents(runtime)
    make_account(runtime, "admin@mairie.re", "admin")
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    make_account(runtime, "pichette@mairie.re", "staff", districts=["pichette"])
    with admin_browser(runtime) as admin:
        admin.log_in("admin@mairie.re")
        assert send(admin, districts=["saint-laurent"]).status_code == 303
    (broadcast,) = broadcasts(runtime)
    with admin_browser(runtime) as other:
        other.log_in("pichette@mairie.re")
        assert f"/admin/broadcasts/{broadcast.id}" not in other.get("/admin/broadcasts").text
        hidden = other.get(f"/admin/broadcasts/{broadcast.id}")
        assert hidden.status_code == 303 and hidden.headers["location"] == "/admin/broadcasts"
        assert "n'est pas adressée à vos quartiers" in words(other.follow(hidden).text)
        assert other.post(f"/admin/broadcasts/{broadcast.id}/interrupt").status_code == 303
        assert other.get(f"/admin/broadcasts/{broadcast.id}/report.csv").status_code == 303
    assert broadcasts(runtime)[0].status == "queued"
    with admin_browser(runtime) as agent:
        agent.log_in("agent@mairie.re")
        assert "Interrompre la diffusion" in agent.get(f"/admin/broadcasts/{broadcast.id}").text
        stopped = agent.post(f"/admin/broadcasts/{broadcast.id}/interrupt")
        assert "Diffusion interrompue : 5 messages ne partiront pas." in words(agent.follow(stopped).text)
    with runtime.db.transaction() as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast.id)).all()
        assert {row.status for row in rows} == {"skipped"}


def test_a_large_broadcast_waits_for_another_admin(sqlite_url: str, clock: FrozenClock) -> None:
    runtime = make_runtime(sqlite_url, clock, broadcast_approval_above=3)
    try:
        residents(runtime)
        make_account(runtime, "admin@mairie.re", "admin")
        make_account(runtime, "autre@mairie.re", "admin")
        make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
        with admin_browser(runtime) as agent:
            agent.log_in("agent@mairie.re")
            assert "attendra l'accord d'un autre administrateur" in words(preview(agent).text)
            sent = send(agent)
            assert "attend l'accord d'un autre administrateur" in words(agent.follow(sent).text)
            (held,) = broadcasts(runtime)
            assert held.status == "pending_approval" and held.recipients == 0
            assert agent.post(f"/admin/broadcasts/{held.id}/approve").status_code == 403
        with admin_browser(runtime) as author:
            author.log_in("admin@mairie.re")
            assert send(author).status_code == 303
            own = broadcasts(runtime)[-1]
            assert "Approuver et envoyer" not in author.get(f"/admin/broadcasts/{own.id}").text
            refused = author.post(f"/admin/broadcasts/{own.id}/approve")
            assert "il faut un autre administrateur que son auteur" in words(author.follow(refused).text)
        with admin_browser(runtime) as other:
            other.log_in("autre@mairie.re")
            listing = other.get("/admin/broadcasts").text
            assert "En attente de votre accord (2)" in listing
            approved = other.post(f"/admin/broadcasts/{held.id}/approve")
            assert "Diffusion approuvée : elle part vers 5 habitants." in words(other.follow(approved).text)
        assert broadcasts(runtime)[0].status == "queued" and broadcasts(runtime)[0].recipients == 5
    finally:
        runtime.close()


def test_a_form_without_its_csrf_token_sends_nothing(agent: Staff) -> None:
    refused = agent.post("/admin/broadcasts/new", form(step="send", confirm="x"), csrf=False)
    assert refused.status_code == 403
    assert broadcasts(agent_runtime(agent)) == []


def test_the_composer_and_the_dry_run_agree(sqlite_url: str, clock: FrozenClock) -> None:
    """The same audience and text: the same counts, exclusions, segments and cost on the page and in the CLI."""
    runtime = make_runtime(sqlite_url, clock)
    try:
        residents(runtime)
        make_account(runtime, "admin@mairie.re", "admin")
        text = "Bonjour {{ prenom }} ! Atelier CV mardi à 9 h, à la médiathèque Heva. Venez nombreux."
        with admin_browser(runtime) as admin:
            admin.log_in("admin@mairie.re")
            page = words(preview(admin, text=text, districts=["saint-laurent", "pichette"]).text)
        env = {"RELAI_DATABASE_URL": sqlite_url}
        dry = CliRunner().invoke(
            app,
            ["broadcast", "--district", "saint-laurent", "--district", "pichette", "--text", text, "--dry-run"],
            env=env,
        )
        assert dry.exit_code == 0, dry.output
    finally:
        runtime.close()
    lines = dry.output
    assert "recipients: 7 (telegram=5, sms=2)" in lines and "7 habitants : 5 par Telegram, 2 par SMS." in page
    assert "by district: Saint-Laurent=5, Pichette=2" in lines
    assert "left out: no_opportunities=1" in lines and "Pas inscrits aux offres : 1" in page
    assert "sms: 2 recipient(s), 1 segment(s) at most each, 2 in all, estimated cost 0.14 EUR" in lines
    assert "2 habitants par SMS, 1 partie au plus chacun, 2 en tout : 0.14 EUR" in page


@pytest.fixture
def bilingual(runtime: Runtime) -> Iterator[Staff]:
    """An agent of Saint-Laurent, where 3 residents chose French and 2 Réunion Creole."""
    creole_broadcast_support.population(runtime)
    make_account(runtime, "agent@mairie.re", "staff", districts=["saint-laurent"])
    with admin_browser(runtime) as browser:
        assert browser.log_in("agent@mairie.re").status_code == 303
        yield browser


def test_the_composer_offers_an_optional_creole_version(agent: Staff) -> None:
    page = agent.get("/admin/broadcasts/new").text
    assert '<label for="text_rcf">Version en kréol (facultatif)</label>' in page
    field = page[page.index('<textarea id="text_rcf"') :].split(">", 1)[0]
    assert "required" not in field and 'maxlength="1000"' in field


def test_the_preview_shows_the_creole_message_and_who_reads_which(bilingual: Staff) -> None:
    values = {"text": creole_broadcast_support.FRENCH, "text_rcf": creole_broadcast_support.CREOLE}
    shown = preview(bilingual, **values)
    assert shown.status_code == 200, shown.text[:500]
    page = words(shown.text)
    assert "5 habitants : 3 par Telegram, 2 par SMS." in page
    assert "En français : 3 habitants. En kréol : 2 habitants." in page
    assert "Sur Telegram, en français Bonjour Marie ! Forum de l'emploi samedi à Saint-Laurent." in page
    assert "Sur Telegram, en kréol Bonzour Jo ! Néna in forom travay sanmdi dan Saint-Laurent." in page
    assert "Par SMS, en kréol Bonzour ! Néna in forom travay sanmdi dan Saint-Laurent." in page
    assert "lisent le kréol recevront le texte en français" not in page


def test_without_a_creole_version_the_preview_says_who_gets_french_instead(bilingual: Staff) -> None:
    page = words(preview(bilingual, text=creole_broadcast_support.FRENCH, text_rcf="  ").text)
    assert "2 habitants qui lisent le kréol recevront le texte en français." in page
    assert "en kréol Bonzour" not in page and "Sur Telegram Bonjour Marie !" in page


def test_a_bad_creole_text_is_refused_beside_its_field(bilingual: Staff) -> None:
    refused = preview(bilingual, text_rcf="Bonzour {{ nom }}")
    assert refused.status_code == 400
    assert 'id="text_rcf-error"' in refused.text and 'id="text-error"' not in refused.text
    assert "Texte en kréol : Champ inconnu : {{ nom }}." in words(refused.text)
    assert "Bonzour {{ nom }}</textarea>" in html.unescape(refused.text)  # kept as typed
    long = preview(bilingual, text_rcf="x" * 1001)
    assert "Le texte en kréol fait 1001 caractères ; 1000 au plus." in words(long.text)


def test_sending_a_creole_version_then_reading_it_on_the_broadcasts_page(bilingual: Staff) -> None:
    runtime = agent_runtime(bilingual)
    ids = creole_ids(runtime)
    shown = preview(bilingual)  # confirmed without the Creole version: adding it needs a new preview
    found = CONFIRM.search(shown.text)
    assert found is not None
    changed = bilingual.post(
        "/admin/broadcasts/new", form(step="send", confirm=found.group(1), text_rcf=creole_broadcast_support.CREOLE)
    )
    assert changed.status_code == 409 and broadcasts(runtime) == []
    sent = send(bilingual, text=creole_broadcast_support.FRENCH, text_rcf=creole_broadcast_support.CREOLE)
    assert sent.status_code == 303
    (broadcast,) = broadcasts(runtime)
    assert broadcast.texts == {"rcf": creole_broadcast_support.CREOLE}
    with runtime.db.transaction() as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast.id)).all()
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "broadcast.created")).one()
    bodies = {row.resident_id: row.body for row in rows}
    assert bodies[ids["rcf"][0]] == "Bonzour Jo ! Néna in forom travay sanmdi dan Saint-Laurent."
    assert bodies[ids["fr"][0]] == "Bonjour Marie ! Forum de l'emploi samedi à Saint-Laurent."
    assert event.detail["versions"] == ["fr", "rcf"] and "forom" not in str(event.detail)
    page = words(bilingual.follow(sent).text)
    assert "En français Bonjour {{ prenom }} ! Forum de l'emploi samedi à {{ quartier }}." in page
    assert "En kréol Pour les habitants qui ont choisi le kréol" in page
    assert "Bonzour {{ prenom }} ! Néna in forom travay sanmdi dan {{ quartier }}." in page


def creole_ids(runtime: Runtime) -> dict[str, list[int]]:
    """The ids of the residents of `bilingual`, by the language they chose (in the order they were added)."""
    with runtime.db.transaction() as session:
        found = session.exec(select(Resident).order_by(col(Resident.id))).all()
        return {language: [r.id for r in found if r.language == language and r.id] for language in ("fr", "rcf")}
