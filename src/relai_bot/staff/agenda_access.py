"""Whose agenda a back-office account reaches: the one rule for appointments, slots, openings and absences.

- an administrator: every adviser and venue;
- an adviser: their own agenda (the adviser their account is linked to), wherever they receive;
- neighbourhood staff: what happens at the venues of their districts (a venue with no district, such as a
  phone line, is the administrators' and the advisers' own).
Built on services.accounts.Account.may_reach_district, the one district rule.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, true
from sqlmodel import col

from relai_bot.services.accounts import Account
from relai_bot.store.models import Slot, Venue


def may_reach(account: Account, *, adviser_id: int, venue_district_id: int | None) -> bool:
    """Whether this account may see and act on what an adviser does at a venue of this district."""
    if account.is_admin:
        return True
    if account.role == "adviser":
        return account.adviser_id is not None and account.adviser_id == adviser_id
    return venue_district_id is not None and account.may_reach_district(venue_district_id)


def scope(account: Account) -> ColumnElement[bool]:
    """The same rule as a WHERE clause, for a query that joins Slot and Venue."""
    if account.is_admin:
        return true()
    if account.role == "adviser":
        return col(Slot.adviser_id) == account.adviser_id if account.adviser_id is not None else false()
    if account.role == "staff" and account.district_ids:
        return col(Venue.district_id).in_(sorted(account.district_ids))
    return false()
