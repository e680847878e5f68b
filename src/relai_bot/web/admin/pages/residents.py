"""Residents of the staff member's districts (admins: all): the list, one resident's page, and on the
resident's request a copy of their data (JSON) or its erasure, each after a confirmation."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlmodel import Session
from starlette.responses import Response

from relai_bot.services import accounts, callbacks, staff_residents, timefmt
from relai_bot.services.errors import NotFound
from relai_bot.web.admin.guard import Page
from relai_bot.web.admin.pages.callbacks import PREFERRED_TIME_NAMES

LIST_PATH = "/admin/residents"
CHANNEL_NAMES = {"telegram": "Telegram", "sms": "SMS", "console": "console"}
NOT_FOUND = "Cet habitant n'existe pas, ou ses données ont été effacées, ou il n'habite pas un de vos quartiers."
ASKED = "Cochez la case pour confirmer que l'habitant l'a demandé."


def resident_list(page: Page) -> Response:
    assert page.account is not None
    query = page.request.query_params
    district = query.get("district", "").strip()
    number = query.get("page", "1")
    errors: dict[str, str] = {}
    with page.runtime.db.transaction() as session:
        districts = accounts.visible_districts(session, page.account)
        if district and district not in {d.code for d in districts}:
            errors["district"] = "Choisissez un quartier dans la liste, ou « Tous »."
        found = staff_residents.list_residents(
            session,
            page.account,
            district=None if errors else district or None,
            page=int(number) if number.isdigit() else 1,
        )
    return page.render(
        "residents/list.html",
        400 if errors else 200,
        found=found,
        districts=districts,
        district=district,
        errors=errors,
        answer=answer_labels(page),
        channel_names=CHANNEL_NAMES,
    )


def resident_page(page: Page) -> Response:
    return _detail(page, {})


def export(page: Page) -> Response:
    assert page.account is not None
    resident_id = _resident_id(page)
    if page.field("asked") != "oui":
        return _detail(page, {"asked": ASKED}, 400)
    try:
        with page.runtime.db.transaction() as session:
            data = staff_residents.export_data(
                session, page.account, resident_id, tz_name=page.runtime.settings.timezone, now=page.now
            )
    except NotFound:
        return _not_found(page)
    content = json.dumps(data, ensure_ascii=False, indent=2).encode()
    disposition = f'attachment; filename="habitant-{resident_id}.json"'
    return Response(content, media_type="application/json", headers={"Content-Disposition": disposition})


def erase(page: Page) -> Response:
    assert page.account is not None
    resident_id = _resident_id(page)
    with page.runtime.db.transaction() as session:
        detail = _resident_detail(page, session)
    if detail is None:
        return _not_found(page)
    if page.request.method == "GET":
        return page.render("residents/erase.html", detail=detail, errors={})
    if page.field("asked") != "oui":
        return page.render("residents/erase.html", 400, detail=detail, errors={"asked": ASKED})
    try:
        with page.runtime.db.transaction() as session:
            staff_residents.erase_data(session, page.account, resident_id, now=page.now)
    except NotFound:
        return _not_found(page)
    page.flash(f"Les données de l'habitant n° {resident_id} sont effacées. Ses rendez-vous à venir sont libérés.")
    return page.redirect(LIST_PATH)


def _detail(page: Page, errors: dict[str, str], status_code: int = 200) -> Response:
    assert page.account is not None
    with page.runtime.db.transaction() as session:
        detail = _resident_detail(page, session)
        if detail is None:
            return _not_found(page)
        requests = callbacks.resident_callbacks(session, page.account, _resident_id(page))
    return page.render(
        "residents/detail.html",
        status_code,
        detail=detail,
        requests=requests,
        errors=errors,
        answer=answer_labels(page),
        channel_names=CHANNEL_NAMES,
        times=PREFERRED_TIME_NAMES,
        when=lambda moment: timefmt.format_when(moment, page.runtime.settings.tz),
    )


def _resident_id(page: Page) -> int:
    """The resident of the URL (/admin/residents/{resident_id}...)."""
    return int(page.request.path_params["resident_id"])


def _resident_detail(page: Page, session: Session) -> staff_residents.ResidentDetail | None:
    """The URL's resident as the signed-in account may see them; None when they may not (or are gone)."""
    assert page.account is not None
    try:
        return staff_residents.resident_detail(session, page.account, _resident_id(page), now=page.now)
    except NotFound:
        return None


def _not_found(page: Page) -> Response:
    return page.render("not_found.html", 404, what=NOT_FOUND, back=LIST_PATH)


def answer_labels(page: Page) -> Callable[[str, str | None], str]:
    """A questionnaire answer as residents read it (the label of the question's choice), "—" when none."""
    renderer = page.runtime.renderer

    def answer(question: str, code: str | None) -> str:
        if not code:
            return "—"
        key = f"{question}.{code}"
        return renderer.label(key, None) if renderer.label_exists(key) else code

    return answer
