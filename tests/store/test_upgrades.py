"""Upgrades keep the data: a database left at any earlier revision, with rows in every table that revision
has, reaches head with every row and every value still there, and the columns added since hold their
documented defaults.

The rows are written with plain SQL in the schema of the revision they start from (read from the migration
scripts), so that a model changed later cannot hide a migration that lost data. The revisions come from the
scripts themselves: a new migration is run by every older start with nothing to add here, and one that adds
a table or a column fails until its rows (a `Sample`) or its column (a `Later`, with the default the
migration gives the rows already there) are described below.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, and_, func, inspect, select, text
from sqlmodel import SQLModel

from relai_bot.store.db import VERSION_TABLE, Database, alembic_config, current_revision, head_revision, upgrade

# Every revision, oldest first, as Alembic reads the scripts
REVISIONS = [
    script.revision for script in reversed(list(ScriptDirectory.from_config(alembic_config("")).walk_revisions()))
]
ORDER = {revision: index for index, revision in enumerate(REVISIONS)}


@dataclass(frozen=True)
class Later:
    """A column a later revision added: what a row written at or after `revision` holds in it (`value`), and
    what the migration gives a row that was there before (`default`)."""

    revision: str
    column: str
    value: Any
    default: Any


@dataclass(frozen=True)
class Sample:
    """One row of `table`, writable from `revision` on: its columns at that revision, and the ones added later."""

    table: str
    revision: str
    row: dict[str, Any]
    later: tuple[Later, ...] = ()
    key: tuple[str, ...] = ("id",)

    def exists_at(self, revision: str) -> bool:
        return ORDER[self.revision] <= ORDER[revision]

    def written_at(self, revision: str) -> dict[str, Any]:
        """The row as a database at `revision` holds it."""
        added = {later.column: later.value for later in self.later if ORDER[later.revision] <= ORDER[revision]}
        return self.row | added

    def expected_from(self, revision: str) -> dict[str, Any]:
        """The row at head, once written at `revision` and upgraded."""
        defaults = {later.column: later.default for later in self.later if ORDER[later.revision] > ORDER[revision]}
        return self.written_at(revision) | defaults


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in November 2026 (UTC), with microseconds: the precision is part of what must survive."""
    return datetime(2026, 11, day, hour, minute, 7, 250_013, tzinfo=UTC)


CREOLE = "Ou la bezoin in koudmin ? Nou lé la — « ékout » 😊"
ADMIN = "admin@mairie-lapossession.re"
ADVISER = "conseil@mairie-lapossession.re"
# Longer than the 64 characters of 0001's login: fits from 0003_staff_accounts on (254)
LONG_LOGIN = "prenom.nom-compose." + "x" * 160 + "@mission-locale-nord.example.re"

SAMPLES: list[Sample] = [
    # 0001: the catalog, the people, their conversations and the agenda
    Sample(
        "district",
        "0001",
        {"id": 1, "code": "ravine-a-malheur", "name": "Ravine à Malheur", "qpv": True, "aliases": ["RAM", "ravine"]}
        | {"lat": -20.9375, "lon": 55.3359375},
    ),
    Sample(
        "district",
        "0001",
        {"id": 2, "code": "centre", "name": "Centre-ville", "qpv": False, "aliases": [], "lat": None, "lon": None},
    ),
    Sample(
        "adviser",
        "0001",
        {"id": 1, "code": "ml-payet", "name": "Mme Payet", "organisation": "Mission locale Nord", "active": True},
        (
            Later("0006_agenda", "ics_token_hash", "3f" * 32, None),
            Later("0006_agenda", "ics_token_created_at", at(20, 9), None),
        ),
    ),
    Sample(
        "adviser",
        "0001",
        {"id": 2, "code": "cap-hoarau", "name": "M. Hoarau", "organisation": "Cap emploi", "active": False},
        (
            Later("0006_agenda", "ics_token_hash", None, None),
            Later("0006_agenda", "ics_token_created_at", None, None),
        ),
    ),
    Sample(
        "scheme",
        "0001",
        {
            "id": 1,
            "code": "pec",
            "name": "Parcours emploi compétences",
            "acronym": "PEC",
            "summary": "Un emploi aidé, payé, avec une formation.",
            "details": "Contrat de 9 à 12 mois.\nAccompagnement par un référent.",
            "min_age": 16,
            "max_age": 25,
            "situations": ["job_seeker", "student"],
            "goals": ["emploi"],
            "districts": [1],
            "available_locally": True,
            "keywords": ["contrat aidé", "PEC"],
            "operator": "L'État et la Mission locale",
            "source_url": "https://www.service-public.fr/particuliers/vosdroits/F32700",
            "verified": True,
        },
        (
            Later("0006_agenda", "sources", [{"title": "Service public", "url": "https://www.service-public.fr"}], []),
            Later("0006_agenda", "amount", "Jusqu'à 500 € par mois", None),
            Later("0006_agenda", "checked_on", date(2026, 11, 2), None),
            Later("0006_agenda", "review_by", date(2027, 5, 2), None),
            Later("0008_eligibility", "disabled_max_age", 29, None),
            Later("0008_eligibility", "disabled_any_age", True, False),
            Later("0008_eligibility", "without_work", True, False),
            Later("0008_eligibility", "age_exceptions", [{"min_age": 26, "max_age": 30, "when": "qpv"}], []),
            Later("0008_eligibility", "criteria", ["Habiter un quartier prioritaire"], []),
            Later("0008_eligibility", "priority", ["job_seeker"], []),
            Later("0009_scheme_texts", "texts", {"rcf": {"name": "Parkour anplwa", "summary": CREOLE}}, {}),
        ),
    ),
    Sample(
        "venue",
        "0001",
        {
            "id": 1,
            "code": "mairie-annexe",
            "name": "Mairie annexe de la Rivière des Galets",
            "district_id": 1,
            "town": "La Possession",
            "address": "12 rue de l'Église",
            "phone": "0262 00 00 00",
            "remote": False,
            "lat": -20.9296875,
            "lon": 55.34375,
            "verified": True,
        },
        (
            Later("0006_agenda", "opening_hours", "lun.-ven. 8 h 30-12 h", None),
            Later("0006_agenda", "accessibility", "Rampe d'accès, place réservée", None),
            Later("0006_agenda", "checked_on", date(2026, 10, 30), None),
        ),
    ),
    Sample(
        "resident",
        "0001",
        {
            "id": 1,
            "display_name": "Maëlle",
            "district_id": 1,
            "language": "fr",
            "age_bracket": "16-25",
            "situation": "job_seeker",
            "consent_at": at(1, 8),
            "opportunities": True,
            "opportunities_at": at(1, 8, 5),
            "stopped_at": None,
            "unreachable_at": None,
            "last_seen_at": at(25, 17),
            "created_at": at(1, 8),
        },
        (Later("0005_staff_desk", "goal", "emploi", None), Later("0006_agenda", "test", True, False)),
    ),
    Sample(
        "resident",
        "0001",
        {
            "id": 2,
            "display_name": None,
            "district_id": None,
            "language": "rcf",
            "age_bracket": None,
            "situation": None,
            "consent_at": at(2, 10),
            "opportunities": False,
            "opportunities_at": None,
            "stopped_at": at(3, 11),
            "unreachable_at": at(4, 12),
            "last_seen_at": at(3, 11),
            "created_at": at(2, 10),
        },
        (Later("0005_staff_desk", "goal", None, None), Later("0006_agenda", "test", False, False)),
    ),
    *(
        Sample(
            "staff_user",
            "0001",
            {"id": id_, "login": login, "name": name, "role": role, "adviser_id": adviser, "password_hash": password},
            (
                Later("0003_staff_accounts", "active", active, True),
                Later("0003_staff_accounts", "must_change_password", not active, False),
                Later("0003_staff_accounts", "failed_logins", 0 if active else 3, 0),
                Later("0003_staff_accounts", "locked_until", None if active else at(26, 9), None),
                Later("0003_staff_accounts", "created_at", at(1, 7), None),
                Later("0003_staff_accounts", "password_changed_at", at(1, 7, 30), None),
                Later("0003_staff_accounts", "last_login_at", at(25, 8), None),
                Later("0005_staff_desk", "telegram_chat_id", f"70000000{id_}", None),
                Later("0005_staff_desk", "telegram_linked_at", at(10, 9), None),
                Later("0005_staff_desk", "telegram_link_code", None if active else "K7P-42", None),
                Later("0005_staff_desk", "telegram_link_expires_at", None if active else at(10, 9, 15), None),
            ),
        )
        for id_, login, name, role, adviser, password, active in (
            (1, ADVISER, "Mme Payet", "adviser", 1, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", False),
            (2, ADMIN, "Service jeunesse", "admin", None, None, True),
        )
    ),
    Sample("adviser_scheme", "0001", {"adviser_id": 1, "scheme_id": 1}, key=("adviser_id", "scheme_id")),
    Sample("scheme_venue", "0001", {"scheme_id": 1, "venue_id": 1}, key=("scheme_id", "venue_id")),
    Sample(
        "callback_request",
        "0001",
        {
            "id": 1,
            "resident_id": 1,
            "phone": "+262692000001",
            "preferred_time": "morning",
            "topic": "emploi",
            "status": "handled",
            "created_at": at(5, 9),
            "handled_at": at(5, 14),
        },
        (
            Later("0005_staff_desk", "handled_by_id", 1, None),
            Later("0006_agenda", "handled_note", "Rappelée, rendez-vous pris.\nÀ revoir en janvier.", None),
        ),
    ),
    Sample(
        "channel_address",
        "0001",
        {
            "id": 1,
            "resident_id": 1,
            "channel": "telegram",
            "address": "100200300",
            "created_at": at(1, 8),
            "unreachable_at": None,
            "failures": 0,
        },
    ),
    Sample(
        "channel_address",
        "0001",
        {
            "id": 2,
            "resident_id": 2,
            "channel": "sms",
            "address": "+262692000002",
            "created_at": at(2, 10),
            "unreachable_at": at(4, 12),
            "failures": 3,
        },
    ),
    Sample(
        "conversation",
        "0001",
        {
            "id": 1,
            "channel": "telegram",
            "address": "100200300",
            "resident_id": 1,
            "flow": "booking",
            "step": "choose_slot",
            "data": {"scheme": "pec", "slots": [1, 2], "note": CREOLE, "nested": {"ok": True, "n": None}},
            "stack": [{"flow": "menu", "step": "start"}],
            "options": [{"label": "Mardi 8 h 30", "value": "1"}],
            "turn": 7,
            "last_inbound_at": at(25, 17),
            "updated_at": at(25, 17, 1),
        },
    ),
    Sample(
        "conversation",
        "0001",
        {
            "id": 2,
            "channel": "sms",
            "address": "+262692000003",
            "resident_id": None,
            "flow": "consent",
            "step": "ask",
            "data": {},
            "stack": [],
            "options": [],
            "turn": 0,
            "last_inbound_at": None,
            "updated_at": at(6, 6),
        },
    ),
    *(
        Sample(
            "message_log",
            "0001",
            {
                "id": id_,
                "resident_id": resident,
                "channel": channel,
                "direction": direction,
                "body": body,
                "created_at": at(25, 17, id_),
                "provider_message_id": provider_id,
                "encoding": encoding,
                "segments": segments,
                "status": status,
                "error_code": error,
            },
        )
        for id_, resident, channel, direction, body, provider_id, encoding, segments, status, error in (
            (1, 1, "telegram", "in", CREOLE, None, None, None, None, None),
            (2, 1, "sms", "out", "Votre rendez-vous : mardi 8 h 30.", "SM0123", "ucs2", 2, "delivered", None),
            (3, 2, "sms", "out", "Bonjour", "SM0124", "gsm7", 1, "failed", "30006"),
        )
    ),
    Sample(
        "opening",
        "0001",
        {
            "id": 1,
            "adviser_id": 1,
            "venue_id": 1,
            "weekday": 1,
            "start": time(8, 30),
            "end": time(12, 0),
            "slot_minutes": 30,
            "capacity": 1,
        },
        (Later("0006_agenda", "on_date", None, None),),
    ),
    Sample(
        "processed_message",
        "0001",
        {"channel": "telegram", "external_id": "update-42", "received_at": at(25, 17)},
        key=("channel", "external_id"),
    ),
    Sample(
        "slot",
        "0001",
        {"id": 1, "adviser_id": 1, "venue_id": 1, "starts_at": at(24, 4, 30), "ends_at": at(24, 5)}
        | {"capacity": 2, "booked": 1},
        (Later("0007_openings", "closed_at", at(23, 10), None),),
    ),
    Sample(
        "slot",
        "0001",
        {"id": 2, "adviser_id": 1, "venue_id": 1, "starts_at": at(24, 5), "ends_at": at(24, 5, 30)}
        | {"capacity": 1, "booked": 0},
        (Later("0007_openings", "closed_at", None, None),),
    ),
    *(
        Sample(
            "appointment",
            revision,
            {
                "id": id_,
                "resident_id": 1,
                "slot_id": 1,
                "scheme_id": scheme,
                "status": status,
                "starts_at": at(24, 4, 30),
                "ends_at": at(24, 5),
                "booked_at": at(20, 9, id_),
                "cancelled_at": at(21, 9) if "cancelled" in status else None,
                "status_changed_at": None if status == "booked" else at(24, 6),
                "channel": "telegram" if id_ % 2 else "sms",
                "adviser_note": "Vu, dossier complet ; à rappeler" if status == "attended" else None,
            },
            (
                Later("0002", "confirmed_at", at(23, 9), None),
                Later("0006_agenda", "note_updated_at", at(24, 7) if status == "attended" else None, None),
                Later("0006_agenda", "status_set_by_id", 1 if status != "booked" else None, None),
            ),
        )
        for id_, revision, status, scheme in (
            (1, "0001", "attended", 1),
            (2, "0001", "cancelled", None),
            (3, "0001", "booked", 1),
            (4, "0006_agenda", "excused", 1),
            (5, "0007_openings", "service_cancelled", 1),  # 17 characters: 0007 widened the column to 20
        )
    ),
    Sample(
        "opening",
        "0006_agenda",  # a one-off opening: no weekday
        {
            "id": 2,
            "adviser_id": 1,
            "venue_id": 1,
            "weekday": None,
            "on_date": date(2026, 12, 24),
            "start": time(14, 0),
            "end": time(16, 15),
            "slot_minutes": 45,
            "capacity": 2,
        },
    ),
    # 0002: delivery
    Sample(
        "broadcast",
        "0002",
        {
            "id": 1,
            "text": "Forum de l'emploi samedi à la mairie annexe.\nVenez avec votre CV !",
            "districts": [1, 2],
            "created_by": ADMIN,
            "created_at": at(18, 6),
            "recipients": 2,
            "excluded": [{"resident_id": 2, "reason": "stopped"}],
        },
        (
            Later("0004_broadcast_composer", "title", "Forum de l'emploi", None),
            Later("0004_broadcast_composer", "link", "https://www.lapossession.re/forum", None),
            Later("0004_broadcast_composer", "scheme_id", 1, None),
            Later("0004_broadcast_composer", "venue_id", 1, None),
            Later("0004_broadcast_composer", "event_at", at(28, 5), None),
            Later("0004_broadcast_composer", "filters", {"age_brackets": ["16-25"], "situations": ["job_seeker"]}, {}),
            Later("0004_broadcast_composer", "status", "interrupted", "queued"),
            Later("0004_broadcast_composer", "scheduled_at", at(19, 5), None),
            Later("0004_broadcast_composer", "author_id", 2, None),
            Later("0004_broadcast_composer", "approved_by_id", 1, None),
            Later("0004_broadcast_composer", "approved_at", at(18, 7), None),
            Later("0004_broadcast_composer", "interrupted_at", at(19, 6), None),
            Later("0010_broadcast_texts", "texts", {"rcf": CREOLE}, {}),
        ),
    ),
    Sample(
        "adviser_address",
        "0002",
        {"id": 1, "adviser_id": 1, "channel": "telegram", "address": "555000111", "created_at": at(3, 9)},
    ),
    Sample(
        "waitlist_entry",
        "0002",
        {
            "id": 1,
            "resident_id": 1,
            "slot_id": 2,
            "scheme_id": None,
            "channel": "telegram",
            "status": "offered",
            "created_at": at(20, 10),
            "offered_slot_id": 2,
            "offered_at": at(22, 10),
            "offer_expires_at": at(22, 22),
            "closed_at": None,
        },
    ),
    Sample(
        "waitlist_entry",
        "0002",
        {
            "id": 2,
            "resident_id": 2,
            "slot_id": None,
            "scheme_id": 1,
            "channel": "sms",
            "status": "expired",
            "created_at": at(20, 11),
            "offered_slot_id": None,
            "offered_at": None,
            "offer_expires_at": None,
            "closed_at": at(23, 11),
        },
    ),
    *(
        Sample(
            "outbox_message",
            revision,
            {
                "id": id_,
                "key": key,
                "kind": kind,
                "priority": id_,
                "resident_id": resident,
                "adviser_id": None if resident or kind == "reply" else 1,
                "appointment_id": appointment,
                "broadcast_id": broadcast,
                "channel": "telegram",
                "address": "100200300" if resident or kind == "reply" else "555000111",
                "body": f"{kind} : {CREOLE}",
                "target_flow": "appointment" if appointment else None,
                "target_step": "remind" if appointment else None,
                "target_data": {"appointment_id": appointment} if appointment else {},
                "status": status,
                "attempts": 0 if status == "pending" else 2,
                "due_at": at(23, 4),
                "next_attempt_at": at(23, 4, id_),
                "expires_at": at(24, 4) if appointment else None,
                "claimed_by": "worker-7" if status == "sending" else None,
                "claimed_until": at(23, 4, 30) if status == "sending" else None,
                "provider_message_id": f"tg-{id_}" if status in ("sent", "delivered") else None,
                "error": "Forbidden: bot was blocked by the user" if status == "failed" else None,
                "error_code": "403" if status == "failed" else None,
                "created_at": at(22, 9),
                "sent_at": at(23, 4, 1) if status in ("sent", "delivered") else None,
                "updated_at": at(23, 4, 2),
            },
            (
                Later(
                    "0011_reply_outbox",
                    "replies",
                    [{"text": f"Bonjour ! {CREOLE}", "options": [["menu", "Menu", 1]]}] if kind == "reply" else None,
                    None,
                ),
            ),
        )
        for id_, revision, key, kind, status, resident, appointment, broadcast in (
            (1, "0002", "reminder:3:24h", "reminder", "delivered", 1, 3, None),
            (2, "0002", "broadcast:1:1", "broadcast", "failed", 1, None, 1),
            (3, "0002", "broadcast:1:2", "broadcast", "sending", 2, None, 1),
            (4, "0002", "digest:1:2026-11-23", "digest", "pending", None, None, None),
            (5, "0006_agenda", "notice:4:excused", "notice", "sent", 1, 4, None),
            # before anyone said yes: a reply has no resident
            (6, "0011_reply_outbox", "reply:telegram:100200300:7", "reply", "sending", None, None, None),
        )
    ),
    # 0003: staff accounts
    Sample(
        "staff_user",
        "0003_staff_accounts",
        {
            "id": 3,
            "login": LONG_LOGIN,
            "name": "Référente Cap emploi",
            "role": "staff",
            "adviser_id": 2,
            "password_hash": None,
            "active": True,
            "must_change_password": True,
            "failed_logins": 0,
            "locked_until": None,
            "created_at": at(12, 9),
            "password_changed_at": None,
            "last_login_at": None,
        },
        (
            Later("0005_staff_desk", "telegram_chat_id", None, None),
            Later("0005_staff_desk", "telegram_linked_at", None, None),
            Later("0005_staff_desk", "telegram_link_code", None, None),
            Later("0005_staff_desk", "telegram_link_expires_at", None, None),
        ),
    ),
    Sample(
        "login_throttle",
        "0003_staff_accounts",
        {"key": f"login:{ADVISER}", "failures": 4, "locked_until": at(26, 9), "last_failure_at": at(26, 8, 59)},
        key=("key",),
    ),
    *(
        Sample(
            "audit_event",
            "0003_staff_accounts",
            {"id": id_, "at": at(12, 9, id_), "actor_id": actor_id, "actor": actor, "action": action}
            | {"target": target, "detail": detail},
        )
        for id_, actor_id, actor, action, target, detail in (
            (1, 2, ADMIN, "user.create", ADVISER, {"role": "adviser", "districts": [1]}),
            (2, 1, ADVISER, "login.failed", ADVISER, {}),
            (3, None, "system", "retention.purge", "message_log", {"deleted": 12}),
        )
    ),
    *(
        Sample(
            "staff_district",
            "0003_staff_accounts",
            {"staff_user_id": user, "district_id": district},
            key=("staff_user_id", "district_id"),
        )
        for user, district in ((1, 1), (1, 2), (2, 2))
    ),
    # 0005: the staff desk
    Sample(
        "staff_chat",
        "0005_staff_desk",
        {
            "staff_user_id": 2,
            "step": "confirm",
            "draft": {"text": CREOLE, "districts": [1]},
            "options": [{"label": "Envoyer", "value": "send"}],
            "updated_at": at(26, 10),
        },
        key=("staff_user_id",),
    ),
    # 0006: the agenda and the dashboard's funnel
    Sample(
        "absence",
        "0006_agenda",
        {"id": 1, "adviser_id": 1, "starts_at": at(27, 4), "ends_at": at(27, 12), "reason": "Formation"}
        | {"created_at": at(20, 9), "created_by_id": 2},
    ),
    *(
        Sample(
            "scheme_event",
            "0006_agenda",
            {"id": id_, "scheme_id": 1, "kind": kind, "resident_id": resident, "district_id": district}
            | {"channel": "sms", "created_at": at(21, 9, id_)},
        )
        for id_, kind, resident, district in ((1, "shown", 1, 1), (2, "opened", None, None))
    ),
    # 0012: the open back-office sessions (the key's SHA-256 hash)
    Sample(
        "staff_session",
        "0012_staff_sessions",
        {"key_hash": "5" * 64, "staff_user_id": 2, "started_at": at(28, 9)},
        key=("key_hash",),
    ),
]


def sql_value(value: Any, dialect: str) -> Any:
    """A value as the application's driver stored it: JSON as text, and on SQLite (which has no date types)
    instants, dates and times as SQLAlchemy writes them there, in UTC without an offset."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if dialect != "sqlite":
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S.%f")
    return value


def insert(connection: Connection, sample: Sample, revision: str) -> None:
    """Write `sample` with a plain INSERT, in the columns it has at `revision`."""
    row = sample.written_at(revision)
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in row)
    places = ", ".join(f":v{index}" for index in range(len(row)))
    values = {f"v{index}": sql_value(value, connection.dialect.name) for index, value in enumerate(row.values())}
    connection.execute(text(f"INSERT INTO {quote(sample.table)} ({names}) VALUES ({places})"), values)


def read(connection: Connection, sample: Sample) -> dict[str, Any] | None:
    """The row of `sample` at head, read through the models' column types (aware instants, parsed JSON)."""
    table = SQLModel.metadata.tables[sample.table]
    query = select(table).where(and_(*(table.c[name] == sample.row[name] for name in sample.key)))
    found = connection.execute(query).mappings().one_or_none()
    return None if found is None else dict(found)


def tables_at(revision: str) -> dict[str, set[str]]:
    """What the samples say the schema at `revision` is: each table with a row there, and its columns."""
    tables: dict[str, set[str]] = {}
    for sample in SAMPLES:
        if sample.exists_at(revision):
            tables.setdefault(sample.table, set()).update(sample.written_at(revision))
    return tables


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url, pool_size=2)
    yield database
    database.dispose()


def test_every_revision_is_found_oldest_first() -> None:
    assert REVISIONS[0] == "0001" and REVISIONS[-1] == head_revision()
    assert len(REVISIONS) >= 10 and len(set(REVISIONS)) == len(REVISIONS)


def test_the_samples_fill_every_column_at_head() -> None:
    """A migration that adds a table or a column comes with a sample of it here (and the default it gives
    the rows already there): otherwise nothing checks what old rows get."""
    described = tables_at(REVISIONS[-1])
    models = {name: set(table.columns.keys()) for name, table in SQLModel.metadata.tables.items()}
    assert described == models
    for sample in SAMPLES:
        assert {sample.revision, *(later.revision for later in sample.later)} <= set(ORDER)
        assert set(sample.key) <= set(sample.row)


@pytest.mark.parametrize("start", REVISIONS)
def test_an_upgrade_from_each_revision_keeps_every_row(db: Database, start: str) -> None:
    upgrade(db, start)
    schema = inspect(db.engine)
    at_start = {name: {column["name"] for column in schema.get_columns(name)} for name in schema.get_table_names()}
    at_start.pop(VERSION_TABLE)
    assert tables_at(start) == at_start, f"the samples do not match the schema of {start}"
    written = [sample for sample in SAMPLES if sample.exists_at(start)]
    with db.engine.begin() as connection:
        for sample in written:
            insert(connection, sample, start)

    upgrade(db)

    assert current_revision(db) == head_revision()
    lost: list[str] = []
    with db.engine.connect() as connection:
        for sample in written:
            found = read(connection, sample)
            expected = sample.expected_from(start)
            if found is None:
                lost.append(f"{sample.table} {[sample.row[name] for name in sample.key]}: gone")
                continue
            changed = {name: (value, found[name]) for name, value in expected.items() if found[name] != value}
            if changed:
                lost.append(f"{sample.table} {[sample.row[name] for name in sample.key]}: {changed}")
        for table in {sample.table for sample in written}:
            count = connection.execute(select(func.count()).select_from(SQLModel.metadata.tables[table])).scalar()
            if count != sum(sample.table == table for sample in written):
                lost.append(f"{table}: {count} rows")
    assert lost == [], f"upgrading from {start} to {head_revision()} lost or changed data"


def test_sqlite_enforces_foreign_keys_again_after_an_upgrade(sqlite_url: str) -> None:
    """The migrations run with SQLite's foreign keys off (a rebuilt table would otherwise take the rows that
    point at it along); the connection goes back to the pool with them on."""
    db = Database(sqlite_url, pool_size=1)
    try:
        upgrade(db, REVISIONS[-2])
        upgrade(db)
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()


def test_sqlite_refuses_an_upgrade_that_leaves_dangling_rows(sqlite_url: str) -> None:
    """With enforcement off during the migrations, SQLite's foreign_key_check stands in for it: an upgrade
    ending with a row that points nowhere is rolled back, and the schema stays where it was."""
    db = Database(sqlite_url, pool_size=1)
    try:
        upgrade(db, REVISIONS[-2])
        with db.engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            driver.execute("PRAGMA foreign_keys=OFF")
            driver.execute(
                "INSERT INTO adviser_address (id, adviser_id, channel, address, created_at)"
                " VALUES (1, 99, 'sms', '0', '2026-11-01 00:00:00.000000')"
            )
            driver.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(RuntimeError, match=r"point nowhere in: adviser_address$"):
            upgrade(db)
        assert current_revision(db) == REVISIONS[-2]
    finally:
        db.dispose()
