"""Daily ship capacity: one ShipDay counter per location and day, one slot per ship order.

A slot is claimed by one conditional UPDATE, after the stock rows and in location order
(as every reserve does), and given back when an order no longer ships from that location
on the day it took it.
"""

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import F
from django.utils import timezone

from inventory.errors import ShipCapacityExhausted
from inventory.models import Reservation, ShipDay, Sku
from inventory.services.levels import Pair
from inventory.sourcing import USES_SHIP_CAPACITY
from stores.models import Location


def ship_day(when: datetime | None = None) -> date:
    """The day a ship order counts on: its reservation's date in the server's TIME_ZONE.

    Not each location's own timezone: every demo location is in the server's zone.
    """
    return timezone.localtime(when).date() if when else timezone.localdate()


def ship_days_to_take(
    *, demand: str, location_ids: set[int], new_demand: bool = False
) -> tuple[list[int], list[ShipDay]]:
    """The locations where `demand` needs a ship slot today: those it does not ship from
    yet (every one of them for a `new_demand`, without a query). With them, their unsaved
    day rows, for the caller to write (skipping the ones that exist) before it locks any
    stock row."""
    if not location_ids:
        return [], []
    day = ship_day()
    already: set[int] = set()
    if not new_demand:
        start = timezone.make_aware(datetime.combine(day, time.min))
        already = set(
            Reservation.objects.filter(
                demand=demand,
                location_id__in=location_ids,
                delivery_method__in=USES_SHIP_CAPACITY,
                created_at__gte=start,
            )
            .exclude(status=Reservation.Status.RELEASED)
            .values_list("location_id", flat=True)
        )
    new = sorted(location_ids - already)
    return new, [ShipDay(location_id=loc, day=day) for loc in new]


_TAKE_SLOT = f"""
    UPDATE {ShipDay._meta.db_table} SET orders = orders + 1
    WHERE location_id = %s AND day = %s
      AND orders < (SELECT daily_ship_capacity FROM {Location._meta.db_table} WHERE id = %s)
"""  # noqa: S608 - table names and placeholders; every value is a parameter


def ship_days_claim(*, location_ids: list[int], requested: Mapping[Pair, int]) -> None:
    """One more ship order today at each location, or ShipCapacityExhausted.

    One conditional UPDATE of the location's day row each, in location order and after the
    stock rows, as every reserve does: two checkouts for the last slot queue on that row,
    and the second finds it taken once the first has committed. A hot SKU's row stays
    locked until the commit that follows, so nothing else runs here.
    """
    day = connection.ops.adapt_datefield_value(ship_day())
    full = []
    with connection.cursor() as cursor:
        for location_id in location_ids:
            cursor.execute(_TAKE_SLOT, [location_id, day, location_id])
            if cursor.rowcount != 1:
                full.append(location_id)
    if not full:
        return
    locations = {
        pk: (code, capacity)
        for pk, code, capacity in Location.objects.filter(pk__in=full).values_list(
            "pk", "code", "daily_ship_capacity"
        )
    }
    skus = dict(
        Sku.objects.filter(pk__in={s for loc, s in requested if loc in locations}).values_list(
            "pk", "code"
        )
    )
    raise ShipCapacityExhausted(
        f"No ship capacity left today at {', '.join(code for code, _ in locations.values())}.",
        locations=[
            {"location": code, "daily_ship_capacity": capacity}
            for code, capacity in locations.values()
        ],
        # The stock is there, but none of it can leave these locations today.
        lines=[
            {"sku": skus[sku], "location": locations[loc][0], "requested": qty, "available": 0}
            for (loc, sku), qty in sorted(requested.items())
            if loc in locations
        ],
    )


def ship_days_free(released: list[Reservation]) -> None:
    """Give back the ship slot of each order that no longer ships from a location on the
    day it took it there: every one of its ship reservations there that day is released."""
    taken = sorted(
        {
            (r.location_id, ship_day(r.created_at), r.demand)
            for r in released
            if r.status == Reservation.Status.RELEASED and r.delivery_method in USES_SHIP_CAPACITY
        }
    )
    for location_id, day, demand in taken:
        start = timezone.make_aware(datetime.combine(day, time.min))
        still = (
            Reservation.objects.filter(
                demand=demand,
                location_id=location_id,
                delivery_method__in=USES_SHIP_CAPACITY,
                created_at__gte=start,
                created_at__lt=start + timedelta(days=1),
            )
            .exclude(status=Reservation.Status.RELEASED)
            .exists()
        )
        if not still:
            ShipDay.objects.filter(location_id=location_id, day=day, orders__gt=0).update(
                orders=F("orders") - 1
            )
