"""The first steps of the dashboard's funnel: a scheme shown to a resident in a list of results, or opened for
its details. One multi-row insert a turn; nothing for a test resident (the simulator) nor before consent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import insert
from sqlmodel import Session

from relai_bot.store.models import Resident, SchemeEvent

Kind = Literal["shown", "opened"]
SHOWN: Kind = "shown"
OPENED: Kind = "opened"


def record(
    session: Session, resident: Resident | None, kind: Kind, scheme_ids: Sequence[int], channel: str, now: datetime
) -> int:
    """Record `kind` for each scheme (in one statement), with the resident's district and the channel; the
    number of rows written (0 for no resident, a test resident, or no scheme)."""
    if resident is None or resident.test or resident.id is None or not scheme_ids:
        return 0
    rows = [
        {
            "scheme_id": scheme_id,
            "kind": kind,
            "resident_id": resident.id,
            "district_id": resident.district_id,
            "channel": channel,
            "created_at": now,
        }
        for scheme_id in dict.fromkeys(scheme_ids)  # once each, in order
    ]
    session.execute(insert(SchemeEvent).values(rows))
    return len(rows)
