"""Distances on the map: the nearest district to a shared location, how far a resident is from a venue."""

from __future__ import annotations

from collections.abc import Iterable
from math import asin, cos, radians, sin, sqrt
from typing import TypeVar

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
