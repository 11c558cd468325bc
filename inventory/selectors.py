"""Reads of stock that callers share."""

from collections import defaultdict
from collections.abc import Iterable, Mapping

from django.db import connection
from django.db.models import Count, F, IntegerField, Q, QuerySet
from django.db.models.functions import Greatest, TruncDate
from django.utils import timezone

from inventory.models import DeliveryMethod, Reservation, ShipDay, Sku, StockLevel
from inventory.sourcing import USES_SHIP_CAPACITY, Candidate
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


def ship_orders_today(*, location_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Ship orders (transfers to a pickup store included) each location took on today:
    its ship capacity used, kept by `stock_reserve` and `stock_release`."""
    qs = ShipDay.objects.filter(day=timezone.localdate(), orders__gt=0)
    if location_ids is not None:
        qs = qs.filter(location_id__in=list(location_ids))
    return dict(qs.values_list("location_id", "orders"))


def ship_day_breaches() -> list[str]:
    """Each location and day whose ship orders counted differ from its ship reservations:
    the distinct orders holding or having shipped stock from there that day."""
    held = (
        Reservation.objects.filter(delivery_method__in=USES_SHIP_CAPACITY)
        .exclude(status=Reservation.Status.RELEASED)
        .annotate(day=TruncDate("created_at"))
        .values("location_id", "day")
        .annotate(n=Count("demand", distinct=True))
    )
    actual = {(row["location_id"], row["day"]): row["n"] for row in held}
    counted = {
        (loc, day): orders
        for loc, day, orders in ShipDay.objects.values_list("location_id", "day", "orders")
    }
    return [
        f"ship capacity: location {loc} on {day}: {counted.get((loc, day), 0)} ship orders "
        f"counted, {actual.get((loc, day), 0)} held or shipped"
        for loc, day in sorted(set(actual) | set(counted))
        if counted.get((loc, day), 0) != actual.get((loc, day), 0)
    ]


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
                WHERE status = %s GROUP BY location_id, sku_id
            ) r ON r.location_id = l.location_id AND r.sku_id = l.sku_id
            WHERE l.reserved <> COALESCE(r.held, 0)
            """,
            [Reservation.Status.ACTIVE.value],
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
    return breaches + ship_day_breaches()


def _candidates(
    *, sku_ids: list[int], locations: Q, with_capacity: bool, always: int | None = None
) -> dict[int, Candidate]:
    """Locations matching `locations` that hold any of the SKUs (and `always`, holding
    none), with their stock and, when asked, the ship orders they can still take today."""
    stock: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
    found: dict[int, Location] = {}
    rows = StockLevel.objects.filter(locations, sku_id__in=sku_ids).select_related("location")
    for row in rows.only("on_hand", "reserved", "safety_stock", "sku_id", "location"):
        stock[row.location_id][row.sku_id] = (
            row.on_hand - row.reserved - row.safety_stock,
            row.on_hand - row.reserved,
        )
        found[row.location_id] = row.location
    if always is not None and always not in found:
        found[always] = Location.objects.get(pk=always)
    shipping = [pk for pk, loc in found.items() if loc.can_ship] if with_capacity else []
    used = ship_orders_today(location_ids=shipping) if shipping else {}
    return {
        pk: Candidate(
            location_id=pk,
            code=loc.code,
            kind=loc.kind,
            latitude=loc.latitude,
            longitude=loc.longitude,
            is_active=loc.is_active,
            can_ship=loc.can_ship,
            can_pickup=loc.can_pickup,
            can_curbside=loc.can_curbside,
            capacity_left=loc.daily_ship_capacity - used.get(pk, 0) if with_capacity else 0,
            rejection_rate=loc.recent_rejection_rate,
            stock=stock[pk],
        )
        for pk, loc in found.items()
    }


def sourcing_candidates(
    *,
    sku_ids: Iterable[int],
    method: str,
    location_id: int | None = None,
    demand: Mapping[int, int] | None = None,
) -> list[Candidate]:
    """The routing engine's snapshot: the locations holding any of the SKUs, with their
    stock and the ship orders they can still take today.

    Ship: every such location, whatever it can do, so the decision says why each one that
    holds the goods was dropped. Pickup and curbside: the store; when it lacks part of
    `demand` (sku id -> units) also the active stores offering the method (alternatives)
    and the active locations that ship (sources of a ship-to-store transfer). Carry-out:
    the store. Read without locks; the reservation that follows re-checks every quantity.
    """
    sku_ids = list(sku_ids)
    if method not in (DeliveryMethod.SHIP, DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE):
        store = Q(location_id=location_id)
        return list(
            _candidates(
                sku_ids=sku_ids, locations=store, with_capacity=False, always=location_id
            ).values()
        )
    if method == DeliveryMethod.SHIP:
        return list(_candidates(sku_ids=sku_ids, locations=Q(), with_capacity=True).values())
    if demand:
        [store] = _candidates(
            sku_ids=sku_ids, locations=Q(location_id=location_id), with_capacity=False,
            always=location_id,
        ).values()  # fmt: skip
        if all(store.units(sku, allow_safety_stock=False) >= qty for sku, qty in demand.items()):
            return [store]  # the common pickup: nobody else is needed, not even to explain
    offers = Q(
        **{f"location__{'can_pickup' if method == DeliveryMethod.PICKUP else 'can_curbside'}": True}
    )
    others = (offers | Q(location__can_ship=True)) & Q(location__is_active=True)
    return list(
        _candidates(
            sku_ids=sku_ids,
            locations=Q(location_id=location_id) | others,
            with_capacity=True,
            always=location_id,
        ).values()
    )


def reservations_for_demand(*, demand: str) -> list[Reservation]:
    """Every reservation of one demand (an order), with its location, oldest first."""
    return list(Reservation.objects.filter(demand=demand).select_related("location").order_by("pk"))
