"""What the commune must check again: the "À revérifier" list of the back-office (and of the dashboard).

- a scheme whose "check again by" date (review_by) is past, or comes within REVIEW_SOON;
- a scheme without a source (nothing to check it against);
- a venue never checked, or last checked more than STALE_AFTER ago.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from sqlmodel import Session, col, select

from relai_bot.store.models import Scheme, Venue, id_of

REVIEW_SOON = timedelta(days=30)
STALE_AFTER = timedelta(days=365)

Reason = Literal["review_past", "review_soon", "no_source", "venue_never_checked", "venue_stale"]
# Most urgent first
_ORDER: tuple[Reason, ...] = ("review_past", "no_source", "venue_never_checked", "venue_stale", "review_soon")


@dataclass(frozen=True)
class ReviewItem:
    kind: Literal["scheme", "venue"]
    id: int
    code: str
    name: str
    reasons: tuple[Reason, ...]
    # The date that makes it due: review_by for a scheme, checked_on for a venue (None: never)
    due: date | None


def due_for_review(session: Session, today: date) -> list[ReviewItem]:
    """Schemes and venues to check again, the most urgent first (then by date, then by name)."""
    items: list[ReviewItem] = []
    for scheme in session.exec(select(Scheme).order_by(col(Scheme.name))):
        reasons: list[Reason] = []
        if scheme.review_by is not None and scheme.review_by < today:
            reasons.append("review_past")
        elif scheme.review_by is not None and scheme.review_by <= today + REVIEW_SOON:
            reasons.append("review_soon")
        if not any(isinstance(s, dict) and s.get("url") for s in scheme.sources):
            reasons.append("no_source")
        if reasons:
            items.append(
                ReviewItem("scheme", id_of(scheme), scheme.code, scheme.name, tuple(reasons), scheme.review_by)
            )
    for venue in session.exec(select(Venue).order_by(col(Venue.name))):
        if venue.checked_on is None:
            items.append(ReviewItem("venue", id_of(venue), venue.code, venue.name, ("venue_never_checked",), None))
        elif venue.checked_on < today - STALE_AFTER:
            items.append(ReviewItem("venue", id_of(venue), venue.code, venue.name, ("venue_stale",), venue.checked_on))
    items.sort(key=lambda i: (min(_ORDER.index(r) for r in i.reasons), i.due or date.min, i.name))
    return items
