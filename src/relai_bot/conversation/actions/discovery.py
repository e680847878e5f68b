"""Finding a scheme: questionnaire ranking, free-text search, detail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import col, select

from relai_bot.conversation.context import Context, action
from relai_bot.services import booking, scheme_events, schemes
from relai_bot.services.schemes import RankedScheme
from relai_bot.store.models import Scheme, Venue
from relai_bot.store.models.catalog import SchemeVenue

PAGE = 5


def scheme_item(scheme: Scheme, language: str | None, reasons: tuple[str, ...] = ()) -> dict[str, Any]:
    """A scheme in a list, a booking or an appointment, named in the resident's language."""
    text = schemes.scheme_text(scheme, language)
    label = schemes.scheme_label(scheme, language)
    return {
        "code": scheme.code,
        "name": text.name,
        "acronym": scheme.acronym,
        "label": label if len(label) <= 60 else (scheme.acronym or text.name[:57] + "..."),
        "summary": text.summary,
        "reasons": list(reasons),
        "why": "",
    }


def result_items(ranked: list[RankedScheme], render: Callable[..., str], language: str | None) -> list[dict[str, Any]]:
    """The list's items in `language`, each with `why`: a few words on why it fits, rendered by
    `render(name, **context)` from templates/<lang>/discovery/_why.j2 (a search's results have none)."""
    items = [scheme_item(r.scheme, language, r.reasons) for r in ranked]
    for item, r in zip(items, ranked, strict=True):
        if r.reasons != ("keyword",):
            scheme = schemes.scheme_view(r.scheme, language)
            item["why"] = render("discovery/_why", reasons=list(r.reasons), scheme=scheme).strip()
    return items


def _items(ctx: Context, ranked: list[RankedScheme]) -> list[dict[str, Any]]:
    return result_items(ranked, ctx.render, ctx.language)


def _shown(ctx: Context, ranked: list[RankedScheme]) -> None:
    """The dashboard's funnel counts the schemes of the list the resident gets (one insert)."""
    ids = [r.scheme.id for r in ranked if r.scheme.id is not None]
    scheme_events.record(ctx.session, ctx.resident, scheme_events.SHOWN, ids, ctx.channel, ctx.now)


def _page(ctx: Context) -> int:
    value = str(ctx.data.get("page") or "0")
    return int(value) if value.isdigit() else 0


@action("rank_schemes", outcomes=("none",), provides=("results", "profile", "more_pages", "page"))
def rank_schemes(ctx: Context) -> str | None:
    """The questionnaire's answers (and what the resident told before) give a ranked list, a page of it
    (data.page, from 0; `more_pages` holds the next page's number when there is one). The goal is kept on the
    resident's profile (staff may write to residents by goal); a questionnaire skipped keeps none."""
    goal = ctx.data.get("goal")
    if ctx.resident is not None and goal:
        ctx.resident.goal = str(goal)
        ctx.session.add(ctx.resident)
    profile = schemes.profile_of(
        ctx.session,
        ctx.resident,
        age_bracket=ctx.data.get("age_bracket"),
        situation=ctx.data.get("situation"),
        goal=ctx.data.get("goal"),
    )
    page = _page(ctx)
    ranked = schemes.rank_schemes(ctx.session, profile, limit=PAGE + 1, offset=page * PAGE)
    if not ranked and page:
        page, ranked = 0, schemes.rank_schemes(ctx.session, profile, limit=PAGE + 1)
    shown = ranked[:PAGE]
    _shown(ctx, shown)
    ctx.vars["results"] = _items(ctx, shown)
    ctx.vars["profile"] = profile
    ctx.vars["page"] = page
    ctx.vars["more_pages"] = [page + 1] if len(ranked) > PAGE else []
    return None if shown else "none"


@action("search_schemes", outcomes=("none",), provides=("results",))
def search_schemes(ctx: Context) -> str | None:
    """Schemes matching the words the resident typed (data.query)."""
    query = str(ctx.data.get("query") or "")
    ranked = schemes.search_schemes(ctx.session, query, ctx.renderer.stopwords.get(ctx.language, ()), limit=5)
    _shown(ctx, ranked)
    ctx.vars["results"] = _items(ctx, ranked)
    return None if ranked else "none"


@action("profile_known", outcomes=("both", "age"), writes=("age_bracket", "situation"))
def profile_known(ctx: Context) -> str | None:
    """Skip questions the resident already answered at onboarding. New answers: the list starts again."""
    ctx.drop("page")
    resident = ctx.resident
    if resident is not None and resident.age_bracket and not ctx.data.get("age_bracket"):
        ctx.data["age_bracket"] = resident.age_bracket
    if resident is not None and resident.situation and not ctx.data.get("situation"):
        ctx.data["situation"] = resident.situation
    if ctx.data.get("age_bracket") and ctx.data.get("situation"):
        return "both"
    if ctx.data.get("age_bracket"):
        return "age"
    return None


@action("forget_questionnaire")
def forget_questionnaire(ctx: Context) -> str | None:
    """Forget the questionnaire's answers, the search and the scheme chosen, for a fresh start."""
    ctx.drop("age_bracket", "situation", "goal", "query", "scheme_code", "page")
    return None


@action("scheme_detail", provides=("scheme", "scheme_venues", "amount", "amount_to_ask"), reads=("scheme_code",))
def scheme_detail(ctx: Context) -> str | None:
    """The scheme in data.scheme_code, in the resident's language (schemes.scheme_view), the verified places
    where it is offered, and its amount while it is checked (past its date, `amount_to_ask`: the resident is
    told to ask an adviser)."""
    scheme = schemes.get_scheme(ctx.session, str(ctx.data.get("scheme_code")))
    venues = ctx.session.exec(
        select(Venue)
        .join(SchemeVenue, col(SchemeVenue.venue_id) == Venue.id)
        .where(SchemeVenue.scheme_id == scheme.id, col(Venue.id).in_(booking.bookable_venue_ids()))
    ).all()
    if scheme.id is not None:
        scheme_events.record(ctx.session, ctx.resident, scheme_events.OPENED, [scheme.id], ctx.channel, ctx.now)
    ctx.vars["scheme"] = schemes.scheme_view(scheme, ctx.language)
    ctx.vars["scheme_venues"] = [venue.name for venue in venues]
    ctx.vars["amount"] = schemes.amount_shown(scheme, ctx.now.astimezone(ctx.settings.tz).date())
    ctx.vars["amount_to_ask"] = bool(scheme.amount) and ctx.vars["amount"] is None
    return None


@action("last_results", outcomes=("search",))
def last_results(ctx: Context) -> str | None:
    """Back to the list the resident came from: their search, or the questionnaire's ranking."""
    return "search" if ctx.data.get("query") else None
