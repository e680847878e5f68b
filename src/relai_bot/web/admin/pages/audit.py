"""The audit log (administrators): newest first, filtered by actor, action and dates."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from starlette.responses import Response

from relai_bot.services import audit
from relai_bot.web.admin.guard import Page

ACTION_NAMES = {
    audit.LOGIN: "connexion",
    audit.LOGIN_FAILED: "connexion refusée",
    audit.LOCKED_OUT: "connexion bloquée",
    audit.LOGOUT: "déconnexion",
    audit.ACCOUNT_CREATED: "compte créé",
    audit.ACCOUNT_DISABLED: "compte désactivé",
    audit.ACCOUNT_UPDATED: "compte modifié",
    audit.PASSWORD_RESET: "mot de passe réinitialisé",
    audit.PASSWORD_CHANGED: "mot de passe changé",
    audit.BROADCAST_CREATED: "diffusion créée",
    audit.BROADCAST_APPROVED: "diffusion approuvée",
    audit.BROADCAST_INTERRUPTED: "diffusion interrompue",
    audit.DATA_EXPORTED: "données d'un habitant exportées",
    audit.DATA_ERASED: "données d'un habitant effacées",
    audit.CALLBACK_HANDLED: "habitant rappelé",
    audit.AGENDA_EXPORTED: "agenda exporté (CSV)",
    audit.FEED_CREATED: "lien d'agenda créé",
    audit.FEED_REGENERATED: "lien d'agenda remplacé",
    audit.FEED_REVOKED: "lien d'agenda supprimé",
    audit.APPOINTMENT_STATUS_CHANGED: "statut d'un rendez-vous changé",
    audit.APPOINTMENT_NOTE_CHANGED: "note d'un rendez-vous changée",
    audit.APPOINTMENT_MOVED: "rendez-vous déplacé par le service",
    audit.TELEGRAM_CODE_ISSUED: "code Telegram demandé",
    audit.TELEGRAM_LINKED: "Telegram lié",
    audit.TELEGRAM_LINK_FAILED: "code Telegram refusé",
    audit.TELEGRAM_UNLINKED: "Telegram délié",
    audit.OPENING_CREATED: "horaire créé",
    audit.OPENING_UPDATED: "horaire modifié",
    audit.OPENING_DELETED: "horaire supprimé",
    audit.ABSENCE_CREATED: "absence enregistrée",
    audit.ABSENCE_DELETED: "absence supprimée",
    audit.SCHEME_CREATED: "dispositif créé",
    audit.SCHEME_UPDATED: "dispositif modifié",
    audit.DISTRICT_CREATED: "quartier créé",
    audit.DISTRICT_UPDATED: "quartier modifié",
    audit.VENUE_CREATED: "lieu créé",
    audit.VENUE_UPDATED: "lieu modifié",
    audit.SIMULATOR_RESET: "simulateur recommencé",
}


def audit_log(page: Page) -> Response:
    query = page.request.query_params
    values = {name: query.get(name, "").strip() for name in ("actor", "action", "since", "until")}
    errors: dict[str, str] = {}
    tz = page.runtime.settings.tz
    bounds: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        bounds[name] = None
        if values[name]:
            try:
                day = date.fromisoformat(values[name])
            except ValueError:
                errors[name] = "Écrivez la date sous la forme AAAA-MM-JJ, par exemple 2026-12-01."
                continue
            day += timedelta(days=1) if name == "until" else timedelta()
            bounds[name] = datetime.combine(day, time(), tz)
    where = audit.AuditFilter(
        actor=values["actor"] or None, action=values["action"] or None, since=bounds["since"], until=bounds["until"]
    )
    with page.runtime.db.transaction() as session:
        events = audit.list_events(session, where) if not errors else []
        actions = sorted(set(audit.known_actions(session)) | set(ACTION_NAMES))
    return page.render(
        "audit.html",
        400 if errors else 200,
        events=events,
        values=values,
        errors=errors,
        actions=actions,
        action_names=ACTION_NAMES,
    )
