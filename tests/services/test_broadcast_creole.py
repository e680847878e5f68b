"""A broadcast's Réunion Creole version: checked like the French text, counted in the audience, and the
version each recipient gets (Creole for those who chose it, French for the others), down to the message
the delivery path hands to the channel."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from relai_bot.delivery.claims import claim_jobs
from relai_bot.services import audit, broadcasts
from relai_bot.services.broadcast_content import text_for, version_for
from relai_bot.services.broadcast_text import BroadcastTextError
from relai_bot.store.models import Broadcast, MessageLog, OutboxMessage, StaffUser
from relai_bot.wiring import Runtime
from tests.creole_broadcast_support import CREOLE, FRENCH, population

CAP = 3
Draft = broadcasts.BroadcastDraft


def create(runtime: Runtime, draft: broadcasts.BroadcastDraft, **options: object) -> Broadcast:
    with runtime.db.transaction() as session:
        return broadcasts.create_broadcast(
            session, draft, created_by="t", now=runtime.clock.now(), per_week=CAP, **options
        )


def bodies(runtime: Runtime, broadcast_id: int | None) -> dict[int, str]:
    with runtime.db.transaction() as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id))
        return {r.resident_id: r.body for r in rows if r.resident_id is not None}


def test_the_version_a_resident_reads_falls_back_to_french() -> None:
    both = Broadcast(text="Forum", texts={"rcf": "Forom"}, created_by="t")
    french_only = Broadcast(text="Forum", created_by="t")
    assert [text_for(both, language) for language in ("fr", "rcf", None, "en")] == ["Forum", "Forom", "Forum", "Forum"]
    assert text_for(french_only, "rcf") == "Forum"
    assert version_for({"rcf": "Forom"}, "rcf") == "rcf" and version_for({}, "rcf") == "fr"
    assert version_for({"rcf": ""}, "rcf") == "fr"


@pytest.mark.parametrize(
    ("creole", "error"),
    [
        (
            "Bonzour {{ nom }}",
            "Texte en kréol : Champ inconnu : {{ nom }}. Champs possibles : {{ prenom }}, {{ quartier }}.",
        ),
        ("{% include 'broadcast/message.j2' %}", "Texte en kréol : Les balises {% ... %} ne sont pas acceptées."),
        ("{{ prenom.__class__ }}", "Texte en kréol : Seuls des champs simples sont acceptés"),
        ("Bonzour {{ prenom", "Texte en kréol : Accolades mal formées ligne 1"),
        ("x" * 1001, "Le texte en kréol fait 1001 caractères ; 1000 au plus."),
    ],
)
def test_the_creole_text_is_checked_like_the_french_one(runtime: Runtime, creole: str, error: str) -> None:
    with runtime.db.transaction() as session, pytest.raises(BroadcastTextError) as raised:
        broadcasts.check_draft(session, Draft(districts=["pichette"], text=FRENCH, texts={"rcf": creole}))
    assert str(raised.value).startswith(error)
    assert raised.value.field == "text_rcf"


def test_a_blank_creole_text_is_no_version_and_an_unknown_language_is_refused(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        blank = broadcasts.draft_broadcast(
            session, Draft(districts=["pichette"], text=" x ", texts={"rcf": "  \n"}), created_by="t", now=now
        )
        assert blank.texts == {}
        kept = broadcasts.draft_broadcast(
            session, Draft(districts=["pichette"], text="x", texts={"rcf": " Forom \n"}), created_by="t", now=now
        )
        assert kept.texts == {"rcf": "Forom"}
        with pytest.raises(BroadcastTextError, match="Langue inconnue") as raised:
            broadcasts.check_draft(session, Draft(districts=["pichette"], text="x", texts={"en": "Forum"}))
        assert raised.value.field == "text_en"


def test_the_audience_counts_who_reads_which_version(runtime: Runtime) -> None:
    population(runtime)
    with runtime.db.transaction() as session:
        found = broadcasts.audience(session, districts=["saint-laurent"], now=runtime.clock.now(), per_week=CAP)
    with_creole = found.versions({"rcf": CREOLE})
    assert (with_creole.read, with_creole.in_french) == ({"fr": 3, "rcf": 2}, {})
    french_only = found.versions({})
    assert (french_only.read, french_only.in_french) == ({"fr": 5}, {"rcf": 2})


def test_each_recipient_gets_the_version_of_their_language_with_placeholders(runtime: Runtime) -> None:
    ids = population(runtime)
    sent = create(runtime, Draft(districts=["saint-laurent"], text=FRENCH, texts={"rcf": CREOLE}))
    assert sent.texts == {"rcf": CREOLE}
    got = bodies(runtime, sent.id)
    assert got[ids["fr"][0]] == "Bonjour Marie ! Forum de l'emploi samedi à Saint-Laurent."
    assert got[ids["fr"][2]] == "Bonjour ! Forum de l'emploi samedi à Saint-Laurent."
    assert got[ids["rcf"][0]] == "Bonzour Jo ! Néna in forom travay sanmdi dan Saint-Laurent."
    assert got[ids["rcf"][1]] == "Bonzour ! Néna in forom travay sanmdi dan Saint-Laurent."
    assert len(got) == 5


def test_without_a_creole_text_everybody_gets_the_french_one(runtime: Runtime) -> None:
    ids = population(runtime)
    sent = create(runtime, Draft(districts=["saint-laurent"], text=FRENCH))
    got = bodies(runtime, sent.id)
    assert got[ids["rcf"][0]] == "Bonjour Jo ! Forum de l'emploi samedi à Saint-Laurent."
    assert all(body.startswith("Bonjour") for body in got.values()) and len(got) == 5


def test_an_approved_broadcast_keeps_its_creole_version(runtime: Runtime) -> None:
    ids = population(runtime)
    with runtime.db.transaction() as session:
        author, other = StaffUser(login="alice", name="A", role="admin"), StaffUser(login="bob", name="B", role="admin")
        session.add_all([author, other])
        session.flush()
        author_id, other_id = author.id, other.id
    held = create(
        runtime,
        Draft(districts=["saint-laurent"], text=FRENCH, texts={"rcf": CREOLE}),
        author_id=author_id,
        hold_for_approval=True,
    )
    assert held.id is not None and bodies(runtime, held.id) == {}
    with runtime.db.transaction() as session:
        assert other_id is not None
        broadcasts.approve(session, held.id, other_id, runtime.clock.now(), per_week=CAP)
    assert bodies(runtime, held.id)[ids["rcf"][0]].startswith("Bonzour Jo !")


def test_the_delivery_path_sends_the_creole_text_to_who_chose_creole(runtime: Runtime) -> None:
    ids = population(runtime)
    create(runtime, Draft(districts=["saint-laurent"], text=FRENCH, texts={"rcf": CREOLE}, title="Forum"))
    jobs, _ = claim_jobs(runtime, "telegram", "w", 20)
    texts = {job.address: job.reply.text for job in jobs}
    # Telegram chats: 10000 and 10001 chose French, 20000 Creole (the staff text, not the template's words)
    assert texts["10000"].startswith("Forum\n\nBonjour Marie ! Forum de l'emploi samedi à Saint-Laurent.")
    assert texts["20000"].startswith("Forum\n\nBonzour Jo ! Néna in forom travay sanmdi dan Saint-Laurent.")
    assert "Bonjour" not in texts["20000"] and "Bonzour" not in texts["10000"]
    with runtime.db.transaction() as session:
        logged = session.exec(
            select(MessageLog).where(col(MessageLog.resident_id) == ids["rcf"][0], MessageLog.direction == "out")
        ).all()
    assert [log.body for log in logged] == [texts["20000"]]


def test_the_audit_says_which_versions_a_broadcast_has_never_their_text(runtime: Runtime) -> None:
    population(runtime)
    create(runtime, Draft(districts=["saint-laurent"], text="Grand forum secret", texts={"rcf": "Gran forom sekré"}))
    create(runtime, Draft(districts=["saint-laurent"], text="Atelier"))
    with runtime.db.transaction() as session:
        events = audit.list_events(session, audit.AuditFilter(action=audit.BROADCAST_CREATED))
    details = {e.target: e.detail for e in events}
    assert details["broadcast 1"]["versions"] == ["fr", "rcf"]
    assert "versions" not in details["broadcast 2"]
    assert all("secret" not in str(d) and "sekré" not in str(d) for d in details.values())
