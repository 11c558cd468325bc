"""Great-circle distance, in Python and as a database expression."""

from math import asin, cos, radians, sin, sqrt

from django.db.models import F, FloatField, Value
from django.db.models.expressions import Combinable
from django.db.models.functions import ASin, Cos, Power, Radians, Sin, Sqrt

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    dlat = radians(lat2 - lat1)
    dlng = radians(lng2 - lng1)
    a = sin(dlat / 2) ** 2 + cos(radians(lat1)) * cos(radians(lat2)) * sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(a)))


def distance_km_expression(lat: float, lng: float, prefix: str = "") -> Combinable:
    """Haversine from (lat, lng) to the row's latitude/longitude, in kilometres."""
    row_lat = Radians(F(f"{prefix}latitude"))
    row_lng = Radians(F(f"{prefix}longitude"))
    here_lat = Radians(Value(lat, output_field=FloatField()))
    here_lng = Radians(Value(lng, output_field=FloatField()))
    a = Power(Sin((row_lat - here_lat) / 2), 2) + Cos(here_lat) * Cos(row_lat) * Power(
        Sin((row_lng - here_lng) / 2), 2
    )
    return Value(2 * EARTH_RADIUS_KM, output_field=FloatField()) * ASin(Sqrt(a))


def distance_km_sql(
    lat: str, lng: str, row_lat: str, row_lng: str, *, cos_lat: str | None = None
) -> str:
    """The same haversine in raw SQL, between two points given as SQL expressions (columns or
    placeholders); as `haversine_km`, clamped so rounding never takes asin out of range.
    `cos_lat`, when given, is the expression of `cos(radians(lat))` computed beforehand."""
    a = (
        f"power(sin(radians({row_lat} - {lat}) / 2), 2) + {cos_lat or f'cos(radians({lat}))'} "
        f"* cos(radians({row_lat})) * power(sin(radians({row_lng} - {lng}) / 2), 2)"
    )
    return f"({2 * EARTH_RADIUS_KM!r} * asin(least(1.0, sqrt({a}))))"


def parse_point(value: str) -> tuple[float, float]:
    """'31.2,121.4' -> (31.2, 121.4); ValueError when it is not a valid coordinate."""
    lat_text, lng_text = value.split(",")
    lat, lng = float(lat_text), float(lng_text)
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValueError("coordinates out of range")
    return lat, lng


def unit_sphere_sql(lat: str, lng: str) -> str:
    """The point (lat, lng) on the unit sphere, as a `cube` (PostgreSQL's cube extension):
    the straight-line distance between two of them (`<->`, which a GiST index orders by)
    grows with the great-circle distance, so the nearest by one are the nearest by the
    other. `lat` and `lng` are SQL expressions (columns or placeholders)."""
    return (
        f"cube(ARRAY[cos(radians({lat})) * cos(radians({lng})),"
        f" cos(radians({lat})) * sin(radians({lng})), sin(radians({lat}))])"
    )
