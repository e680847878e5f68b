"""Distances on the map: the nearest district to a shared location, how far a resident is from a venue."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import asin, cos, radians, sin, sqrt
from typing import TypeVar

from sqlmodel import Session, select

from relai_bot.store.models import District, Venue

EARTH_RADIUS_KM = 6371.0
# Beyond this distance from every venue, a resident is offered phone appointments first (Mafate, the Hauts)
FAR_FROM_VENUES_KM = 7.0

Located = TypeVar("Located")


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    dlat, dlon = radians(lat2 - lat1), radians(lon2 - lon1)
    a = sin(dlat / 2) ** 2 + cos(radians(lat1)) * cos(radians(lat2)) * sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(sqrt(a))


def nearest(lat: float, lon: float, places: Iterable[Located]) -> tuple[Located, float] | None:
    """The place (anything with .lat and .lon) nearest to a point, with its distance; None if none is located."""
    best: tuple[Located, float] | None = None
    for place in places:
        plat, plon = getattr(place, "lat", None), getattr(place, "lon", None)
        if plat is None or plon is None:
            continue
        km = distance_km(lat, lon, plat, plon)
        if best is None or km < best[1]:
            best = (place, km)
    return best


@dataclass(frozen=True)
class Nearby:
    """The district and the meeting place nearest to a point (None where nothing is located)."""

    district: str | None
    district_km: float | None
    venue: str | None
    venue_address: str | None
    venue_km: float | None


def nearby(session: Session, lat: float, lon: float) -> Nearby:
    """The nearest district, and the nearest venue where advisers receive people (not a phone "venue")."""
    district = nearest(lat, lon, session.exec(select(District)).all())
    venues = [v for v in session.exec(select(Venue)).all() if not v.remote]
    venue = nearest(lat, lon, venues)
    return Nearby(
        district=district[0].name if district else None,
        district_km=round(district[1], 1) if district else None,
        venue=venue[0].name if venue else None,
        venue_address=venue[0].address if venue else None,
        venue_km=round(venue[1], 1) if venue else None,
    )
