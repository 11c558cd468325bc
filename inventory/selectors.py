"""Reads of stock that callers share."""

from collections.abc import Iterable
from datetime import datetime, time

from django.db import connection
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from inventory.models import Reservation, Sku, StockLevel
from inventory.sourcing import CURBSIDE, PICKUP, SHIP, USES_SHIP_CAPACITY, Candidate
from stores.geo import distance_km_expression
from stores.models import Location


def sku_get(*, code: str) -> Sku:
    return Sku.objects.get(code=code)


def skus_by_code(*, codes: Iterable[str]) -> dict[str, Sku]:
    return {sku.code: sku for sku in Sku.objects.filter(code__in=set(codes))}


def stock_level_list(*, location_ids: set[int] | None) -> QuerySet[StockLevel]:
    """Stock levels, limited to `location_ids` unless it is None (every location).

    `available` is the model's property; an annotation of that name cannot be set on a row.
    """
    qs = StockLevel.objects.select_related("location", "sku").annotate(
        atp=Greatest(
            F("on_hand") - F("reserved") - F("safety_stock"), 0, output_field=IntegerField()
        ),
    )
    if location_ids is not None:
        qs = qs.filter(location_id__in=location_ids)
    return qs.order_by("location__code", "sku__code")


def ship_day_start() -> datetime:
    """When today began for ship capacity: midnight in the server's TIME_ZONE.

    Not each location's own timezone: that would cost checkout a query (the locations'
    zones before the counts); every demo location is in the server's zone.
    """
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


def _ship_orders_since(start: datetime) -> QuerySet[Reservation]:
    """Reservations that use ship capacity (ship orders and transfers out), not released."""
    return Reservation.objects.filter(
        created_at__gte=start, delivery_method__in=USES_SHIP_CAPACITY
    ).exclude(status=Reservation.Status.RELEASED)


def ship_orders_today(*, location_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Ship orders (distinct demands, transfers to a pickup store included) each location
    took on today, from its reservations."""
    qs = _ship_orders_since(ship_day_start())
    if location_ids is not None:
        qs = qs.filter(location_id__in=list(location_ids))
    rows = qs.values("location_id").annotate(n=Count("demand", distinct=True))
    return {row["location_id"]: row["n"] for row in rows}


def _ship_orders_today_subquery() -> Subquery:
    """`ship_orders_today` of the outer Location row, to annotate a location query with."""
    counted = (
        _ship_orders_since(ship_day_start())
        .filter(location_id=OuterRef("pk"))
        .order_by()
        .values("location_id")
        .annotate(n=Count("demand", distinct=True))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def ship_orders_today_at(*, location_id: int, up_to: int) -> int:
    """What `ship_orders_today` counts for one location, counted only up to `up_to`.

    Run while stock rows are locked, so plain SQL (no ORM work), and bounded by the
    location's capacity rather than by how busy its day was.
    """
    methods = ", ".join(["%s"] * len(USES_SHIP_CAPACITY))
    sql = f"""
        SELECT COUNT(*) FROM (
            SELECT DISTINCT demand FROM {Reservation._meta.db_table}
            WHERE location_id = %s AND created_at >= %s AND delivery_method IN ({methods})
              AND status <> %s
            LIMIT %s
        ) AS taken
    """  # noqa: S608 - a table name and placeholders; every value is a parameter
    params = [
        location_id,
        connection.ops.adapt_datetimefield_value(ship_day_start()),
        *USES_SHIP_CAPACITY,
        Reservation.Status.RELEASED,
        up_to,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def availability(
    *,
    sku_ids: list[int],
    near: tuple[float, float] | None = None,
    radius_km: float | None = None,
    location_id: int | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Per location and SKU: on hand, reserved, available to promise, distance, capabilities;
    the first `limit` rows (nearest first with `near`), cut in SQL.

    Read straight from the stock rows, so a reservation committed a moment ago shows.
    """
    qs = StockLevel.objects.filter(sku_id__in=sku_ids, location__is_active=True)
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    qs = qs.values(
        "on_hand", "reserved", "safety_stock", "location_id",
        code=F("location__code"), sku_code=F("sku__code"),
        location_can_ship=F("location__can_ship"), location_can_pickup=F("location__can_pickup"),
        capacity=F("location__daily_ship_capacity"),
    )  # fmt: skip
    if near is not None:
        qs = qs.annotate(distance_km=distance_km_expression(*near, prefix="location__"))
        if radius_km is not None:
            qs = qs.filter(distance_km__lte=radius_km)
        qs = qs.order_by("distance_km", "location__code", "sku__code")
    else:
        qs = qs.order_by("location__code", "sku__code")
    rows = list(qs if limit is None else qs[:limit])
    used = ship_orders_today(location_ids={row["location_id"] for row in rows})
    return [
        {
            "location": row["code"],
            "sku": row["sku_code"],
            "on_hand": row["on_hand"],
            "reserved": row["reserved"],
            "available": max(0, row["on_hand"] - row["reserved"] - row["safety_stock"]),
            "distance_km": round(row["distance_km"], 2) if near is not None else None,
            "can_ship": row["location_can_ship"]
            and used.get(row["location_id"], 0) < row["capacity"],
            "can_pickup": row["location_can_pickup"],
        }
        for row in rows
    ]


def stock_breaches() -> list[str]:
    """Every breach of the stock invariants, as readable lines; empty when all hold."""
    breaches = []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.location_id, l.sku_id, l.on_hand, l.reserved,
                   COALESCE(m.on_hand, 0), COALESCE(m.reserved, 0)
            FROM inventory_stocklevel l
            LEFT JOIN (
                SELECT location_id, sku_id, SUM(delta_on_hand) AS on_hand,
                       SUM(delta_reserved) AS reserved
                FROM inventory_stockmovement GROUP BY location_id, sku_id
            ) m ON m.location_id = l.location_id AND m.sku_id = l.sku_id
            WHERE l.on_hand <> COALESCE(m.on_hand, 0) OR l.reserved <> COALESCE(m.reserved, 0)
            """
        )
        breaches += [
            f"ledger: location {loc} sku {sku}: level {oh}/{rs}, ledger sums {moh}/{mrs}"
            for loc, sku, oh, rs, moh, mrs in cursor.fetchall()
        ]
        cursor.execute(
            """
            SELECT m.location_id, m.sku_id FROM inventory_stockmovement m
            LEFT JOIN inventory_stocklevel l
              ON l.location_id = m.location_id AND l.sku_id = m.sku_id
            WHERE l.id IS NULL GROUP BY m.location_id, m.sku_id
            """
        )
        breaches += [
            f"ledger: location {loc} sku {sku}: movements without a stock level"
            for loc, sku in cursor.fetchall()
        ]
        cursor.execute(
            """
            SELECT l.location_id, l.sku_id, l.reserved, COALESCE(r.held, 0)
            FROM inventory_stocklevel l
            LEFT JOIN (
                SELECT location_id, sku_id, SUM(quantity) AS held FROM inventory_reservation
                WHERE status = 'active' GROUP BY location_id, sku_id
            ) r ON r.location_id = l.location_id AND r.sku_id = l.sku_id
            WHERE l.reserved <> COALESCE(r.held, 0)
            """
        )
        breaches += [
            f"reservations: location {loc} sku {sku}: reserved {rs}, active reservations {held}"
            for loc, sku, rs, held in cursor.fetchall()
        ]
        cursor.execute(
            """
            SELECT location_id, sku_id, on_hand, reserved, safety_stock FROM inventory_stocklevel
            WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand OR safety_stock < 0
            """
        )
        breaches += [
            f"constraint: location {loc} sku {sku}: on hand {oh}, reserved {rs}, safety {ss}"
            for loc, sku, oh, rs, ss in cursor.fetchall()
        ]
    return breaches


def sourcing_candidates(
    *, sku_ids: Iterable[int], method: str, location_id: int | None = None
) -> list[Candidate]:
    """The routing engine's snapshot: locations that could serve `method`, with their stock.

    For pickup and curbside that is the store, the other stores offering the method (the
    alternatives) and every location that can ship (the sources of a ship-to-store transfer).
    Read without locks; the reservation that follows re-checks every quantity atomically.
    """
    sku_ids = list(sku_ids)
    locations = Location.objects.all()
    if method in (SHIP, PICKUP, CURBSIDE):
        # In the same query: checkout's query count is part of its lock-free budget.
        locations = locations.annotate(ship_orders_today=_ship_orders_today_subquery())
    if method == SHIP:
        locations = locations.filter(can_ship=True)
    elif method in (PICKUP, CURBSIDE):
        offers = Q(**{"can_pickup" if method == PICKUP else "can_curbside": True})
        locations = locations.filter(
            Q(pk=location_id) | ((offers | Q(can_ship=True)) & Q(is_active=True))
        )
    else:
        locations = locations.filter(pk=location_id)
    locations = list(locations)
    stock: dict[int, dict[int, tuple[int, int]]] = {loc.pk: {} for loc in locations}
    levels = StockLevel.objects.filter(sku_id__in=sku_ids, location_id__in=list(stock)).values_list(
        "location_id", "sku_id", "on_hand", "reserved", "safety_stock"
    )
    for loc, sku, on_hand, reserved, safety in levels:
        stock[loc][sku] = (on_hand - reserved - safety, on_hand - reserved)
    return [
        Candidate(
            location_id=loc.pk,
            code=loc.code,
            kind=loc.kind,
            latitude=loc.latitude,
            longitude=loc.longitude,
            is_active=loc.is_active,
            can_ship=loc.can_ship,
            can_pickup=loc.can_pickup,
            can_curbside=loc.can_curbside,
            capacity_left=loc.daily_ship_capacity - getattr(loc, "ship_orders_today", 0),
            rejection_rate=loc.recent_rejection_rate,
            stock=stock[loc.pk],
        )
        for loc in locations
        if stock[loc.pk] or loc.pk == location_id
    ]


def reservations_for_demand(*, demand: str) -> list[Reservation]:
    """Every reservation of one demand (an order), with its location, oldest first."""
    return list(Reservation.objects.filter(demand=demand).select_related("location").order_by("pk"))
