"""Reads of stock that callers share."""

import functools
import math
from collections.abc import Iterable

from django.db import connection
from django.db.models import Count, F, IntegerField, Q, QuerySet
from django.db.models.functions import Greatest, TruncDate
from django.utils import timezone

from inventory.models import CountRequest, Reservation, ShipDay, Sku, StockLevel, Transfer
from inventory.sourcing import USES_SHIP_CAPACITY
from stores.geo import distance_km_expression, distance_km_sql
from stores.selectors import location_ids_for_user


def sku_get(*, code: str) -> Sku:
    return Sku.objects.get(code=code)


def skus_by_code(*, codes: Iterable[str]) -> dict[str, Sku]:
    wanted = list(set(codes))
    if connection.vendor != "postgresql":
        return {sku.code: sku for sku in Sku.objects.filter(code__in=wanted)}
    # Every checkout asks this: one text with the codes as one array parameter, not the ORM's
    # query built and compiled with a placeholder per code.
    sql, names = _skus_by_code_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, (wanted,))
        rows = cursor.fetchall()
    skus = (Sku.from_db(connection.alias, names, row) for row in rows)
    return {sku.code: sku for sku in skus}


@functools.cache
def _skus_by_code_sql() -> tuple[str, list[str]]:
    """`Sku.objects.filter(code__in=...)` on PostgreSQL, and the attribute names it reads."""
    qn, opts = connection.ops.quote_name, Sku._meta
    code = qn(opts.get_field("code").column)
    columns = ", ".join(qn(f.column) for f in opts.concrete_fields)
    # Table and column names only; the codes are a parameter.
    sql = f"SELECT {columns} FROM {qn(opts.db_table)} WHERE {code} = ANY(%s) ORDER BY {code}"  # noqa: S608
    return sql, [f.attname for f in opts.concrete_fields]


def atp_expression() -> Greatest:
    """Available to promise, as the availability API computes it: on hand less reserved,
    held and safety stock, never below 0."""
    return Greatest(
        F("on_hand") - F("reserved") - F("held") - F("safety_stock"),
        0,
        output_field=IntegerField(),
    )


def stock_level_get(*, location_id: int, sku_id: int) -> StockLevel | None:
    return (
        StockLevel.objects.filter(location_id=location_id, sku_id=sku_id)
        .annotate(atp=atp_expression())
        .first()
    )


def sku_find(*, text: str) -> Sku | None:
    """The SKU whose code or barcode is exactly `text` (what a scanner or a label gives)."""
    text = text.strip()
    if not text:
        return None
    return Sku.objects.filter(code__iexact=text).first() or Sku.objects.filter(barcode=text).first()


def stock_level_list(*, location_ids: set[int] | None) -> QuerySet[StockLevel]:
    """Stock levels, limited to `location_ids` unless it is None (every location).

    `available` is the model's property; an annotation of that name cannot be set on a row.
    """
    qs = StockLevel.objects.select_related("location", "sku").annotate(atp=atp_expression())
    if location_ids is not None:
        qs = qs.filter(location_id__in=location_ids)
    return qs.order_by("location__code", "sku__code")


def count_request_list(*, location_ids: set[int] | None) -> QuerySet[CountRequest]:
    """Count requests at `location_ids` (every location when None), open ones first, then
    newest first."""
    qs = CountRequest.objects.select_related("location", "sku")
    if location_ids is not None:
        qs = qs.filter(location_id__in=location_ids)
    return qs.order_by("-status", "-created_at", "-pk")  # descending: "open", then "counted"


def open_count_requests(*, ids: Iterable[int]) -> list[CountRequest]:
    """Those of the count requests `ids` still waiting for their count, with their SKU."""
    return list(
        CountRequest.objects.filter(pk__in=list(ids), status=CountRequest.Status.OPEN)
        .select_related("sku")
        .order_by("sku__code", "pk")
    )


def shelf_stock(*, location_id: int, sku_ids: Iterable[int]) -> dict[int, StockLevel]:
    """The stock levels of `sku_ids` at one location, by SKU id (for a pick list's shelf
    column); a SKU never stocked there has no entry."""
    return {
        level.sku_id: level
        for level in StockLevel.objects.filter(location_id=location_id, sku_id__in=set(sku_ids))
    }


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


def sku_ids_by_code(*, codes: Iterable[str]) -> dict[str, int]:
    """SKU code -> id for the codes that exist."""
    return dict(Sku.objects.filter(code__in=set(codes)).values_list("code", "pk"))


# Up to this many SKUs, availability everywhere reads their stock rows first (one index-only
# scan each); more, and it walks the locations in answer order, so that a limit stops it early.
STOCK_FIRST_MAX_SKUS = 4


def availability(
    *,
    sku_ids: list[int],
    near: tuple[float, float] | None = None,
    radius_km: float | None = None,
    location_id: int | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Per location and SKU: on hand, reserved, held (never promised), available to promise,
    distance, capabilities;
    the first `limit` rows (nearest first with `near`), cut in SQL.

    One query: the stock rows index-only from the covering (sku, location) index, with the
    location and the ship orders it took today joined. Read straight from the stock rows,
    so a reservation committed a moment ago shows.
    """
    if not native_sql():
        return _availability_portable(
            sku_ids=sku_ids, near=near, radius_km=radius_km, location_id=location_id, limit=limit
        )
    skus, sql, params = _availability_sql(
        sku_ids=sku_ids, near=near, radius_km=radius_km, location_id=location_id, limit=limit
    )
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {skus} {sql}", params)
        rows = cursor.fetchall()
    return [
        {
            "location": location,
            "sku": sku,
            "on_hand": on_hand,
            "reserved": reserved,
            "held": held,
            "available": available,
            "distance_km": None if km is None else round(km, 2),
            "can_ship": can_ship,
            "can_pickup": can_pickup,
        }
        for location, sku, on_hand, reserved, held, available, km, can_ship, can_pickup in rows
    ]


# The keys of an availability row, in the order the API shows them (as `availability` has).
AVAILABILITY_FIELDS = (
    "location", "sku", "on_hand", "reserved", "held", "available", "distance_km", "can_ship",
    "can_pickup",
)  # fmt: skip


def availability_json(
    *,
    shown: int,
    sku_codes: list[str] | None = None,
    sku_ids: list[int] | None = None,
    near: tuple[float, float] | None = None,
    radius_km: float | None = None,
    location_id: int | None = None,
) -> tuple[str, list[str]]:
    """`availability` of the SKUs of these codes (or of `sku_ids`, resolved already) as the
    API's JSON document, written by PostgreSQL, and the codes no SKU has (then the document
    holds only the others' rows):
    `{"results": [the first `shown` rows], "truncated": whether there were more}`.

    One statement, the codes resolved in it: the hottest read of the API takes one round trip
    after its token. Each row is written by plain concatenation of its already-formatted
    values; the rows and their order are `availability`'s.
    """
    skus, sql, params = _availability_sql(
        sku_ids=sku_ids, sku_codes=sku_codes, near=near, radius_km=radius_km,
        location_id=location_id, limit=shown + 1, numbered=True,
    )  # fmt: skip
    # As compact as the API's own JSON. to_json escapes the codes; the distance is rounded as
    # a float (rounding through numeric formats every value with snprintf first). Every value
    # is NOT NULL or COALESCEd: a NULL would make its whole row's text NULL under ||.
    values = {
        "location": "to_json(r.location)::text",
        "sku": "to_json(r.sku)::text",
        "distance_km": "COALESCE((round(r.km * 100) / 100)::text, 'null')",
    }
    row = " || ',' || ".join(
        f"""'"{name}":' || {values.get(name, f"r.{name}::text")}""" for name in AVAILABILITY_FIELDS
    )
    # concat copies the rows' text once; each || over the whole of it would copy it again.
    document = f"""
        WITH {skus}
        SELECT concat('{{"results":[',
                      string_agg('{{' || {row} || '}}', ',' ORDER BY r.n)
                          FILTER (WHERE r.n <= %(shown)s),
                      '],"truncated":', (count(*) > %(shown)s)::text, '}}'),
               ARRAY(SELECT k.code FROM k)
        FROM ({sql}) r"""  # noqa: S608 - written here
    with connection.cursor() as cursor:
        cursor.execute(document, {**params, "shown": shown})
        text, known = cursor.fetchone()
    return text, sorted(set(sku_codes or ()) - set(known))


def _availability_sql(
    *,
    sku_ids: list[int] | None = None,
    sku_codes: list[str] | None = None,
    near: tuple[float, float] | None,
    radius_km: float | None,
    location_id: int | None,
    limit: int | None,
    numbered: bool = False,
) -> tuple[str, str, dict]:
    """The one query of `availability` (PostgreSQL) of the SKUs of `sku_ids` or of
    `sku_codes`: the SKUs' common table `k` (id, code) to put after WITH, the query that reads
    it, its columns named as AVAILABILITY_FIELDS (with `km` for the distance unrounded), and
    the parameters of both; `numbered` adds each row's place in the answer as `n`."""
    params: dict = {"today": timezone.localdate()}
    if sku_codes is None:
        params["skus"] = list(sku_ids)
        which, sku_count = "id = ANY(%(skus)s)", len(set(sku_ids))
        stock_skus = "%(skus)s"
    elif len(set(sku_codes)) == 1:
        # One code as a scalar: the planner then counts one SKU whatever the code, so after a
        # few runs PostgreSQL keeps the prepared statement's generic plan instead of planning
        # the statement again on every request.
        params["code"] = sku_codes[0]
        which, sku_count = "code = %(code)s", 1
        stock_skus = "ARRAY(SELECT k.id FROM k)"
    else:
        params["codes"] = list(sku_codes)
        which, sku_count = "code = ANY(%(codes)s)", len(set(sku_codes))
        # The ids the codes name, once, as the array the stock index is probed with.
        stock_skus = "ARRAY(SELECT k.id FROM k)"
    distance = "NULL::float8"
    where = ["l.is_active"]
    order = "l.code, k.code"
    if location_id is not None:
        where.append("l.id = %(location)s")
        params["location"] = location_id
    if near is not None:
        params["lat"], params["lng"] = near
        # The point's cosine as a parameter too: PostgreSQL folds cos(radians(<constant>)) when
        # it plans for one point, so a generic plan, which cannot, would look dearer and a
        # prepared statement would be planned again on every request.
        params["cos_lat"] = math.cos(math.radians(near[0]))
        distance = distance_km_sql(
            "%(lat)s", "%(lng)s", "l.latitude", "l.longitude", cos_lat="%(cos_lat)s"
        )
        order = "km, l.code, k.code"
        if radius_km is not None:
            where.append(f"{distance} <= %(radius)s")
            params["radius"] = radius_km
    locations = f"""
            SELECT l.id, l.code, {distance} AS km,
                   l.can_ship AND COALESCE(d.orders, 0) < l.daily_ship_capacity AS can_ship,
                   l.can_pickup
            FROM stores_location l
            LEFT JOIN inventory_shipday d ON d.location_id = l.id AND d.day = %(today)s
            WHERE {" AND ".join(where)}"""  # noqa: S608
    if len(where) == 1 and sku_count <= STOCK_FIRST_MAX_SKUS:
        # A few SKUs everywhere: their stock rows in one index-only scan, each joined to its
        # location (the SKU's code looked up apart, so the planner sees how many rows come;
        # of one SKU, once for every row).
        sku = (
            "(SELECT k.code FROM k)"
            if sku_count == 1
            else "(SELECT k.code FROM k WHERE k.id = s.sku_id)"
        )
        stock = f"""
            FROM ({locations}) l
            JOIN "inventory_stocklevel" s ON s.location_id = l.id
            WHERE s.sku_id = ANY({stock_skus})"""
    else:
        # Near a point, at one location or many SKUs: the locations in answer order, each
        # with its distance computed once, then the stock rows of each in turn; with a limit
        # only the first locations' rows are read and sorted.
        sku = "k.code"
        stock = f"""
            FROM ({locations} ORDER BY {order.replace(", k.code", "")}) l
            CROSS JOIN LATERAL (
                SELECT s.sku_id, s.on_hand, s.reserved, s.held, s.safety_stock
                FROM "inventory_stocklevel" s
                WHERE s.sku_id = ANY({stock_skus}) AND s.location_id = l.id
                OFFSET 0
            ) s
            JOIN k ON k.id = s.sku_id"""  # noqa: S608
    answer_order = order.replace("k.code", "sku")
    number = (
        f", row_number() OVER (ORDER BY {order.replace('k.code', sku)}) AS n" if numbered else ""
    )
    # Every fragment is written here; the caller's values are parameters.
    sql = f"""
        SELECT l.code AS location, {sku} AS sku, s.on_hand, s.reserved, s.held,
               GREATEST(0, s.on_hand - s.reserved - s.held - s.safety_stock) AS available,
               l.km, l.can_ship, l.can_pickup{number}
        {stock}
        ORDER BY {answer_order}"""
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    cte = f"k AS MATERIALIZED (SELECT id, code FROM inventory_sku WHERE {which})"  # noqa: S608
    return cte, sql, params


def _availability_portable(
    *,
    sku_ids: list[int],
    near: tuple[float, float] | None,
    radius_km: float | None,
    location_id: int | None,
    limit: int | None,
) -> list[dict]:
    """`availability` in two portable queries: the stock rows, then today's ship orders."""
    qs = StockLevel.objects.filter(sku_id__in=sku_ids, location__is_active=True)
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    qs = qs.values(
        "on_hand", "reserved", "held", "safety_stock", "location_id",
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
            "held": row["held"],
            "available": max(
                0, row["on_hand"] - row["reserved"] - row["held"] - row["safety_stock"]
            ),
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
            SELECT l.location_id, l.sku_id, l.on_hand, l.reserved, l.held,
                   COALESCE(m.on_hand, 0), COALESCE(m.reserved, 0), COALESCE(m.held, 0)
            FROM inventory_stocklevel l
            LEFT JOIN (
                SELECT location_id, sku_id, SUM(delta_on_hand) AS on_hand,
                       SUM(delta_reserved) AS reserved, SUM(delta_held) AS held
                FROM inventory_stockmovement GROUP BY location_id, sku_id
            ) m ON m.location_id = l.location_id AND m.sku_id = l.sku_id
            WHERE l.on_hand <> COALESCE(m.on_hand, 0) OR l.reserved <> COALESCE(m.reserved, 0)
               OR l.held <> COALESCE(m.held, 0)
            """
        )
        breaches += [
            f"ledger: location {loc} sku {sku}: level {oh}/{rs}{_held(hd)}, "
            f"ledger sums {moh}/{mrs}{_held(mhd)}"
            for loc, sku, oh, rs, hd, moh, mrs, mhd in cursor.fetchall()
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
            SELECT location_id, sku_id, on_hand, reserved, held, safety_stock
            FROM inventory_stocklevel
            WHERE on_hand < 0 OR reserved < 0 OR held < 0 OR reserved + held > on_hand
               OR safety_stock < 0
            """
        )
        breaches += [
            f"constraint: location {loc} sku {sku}: on hand {oh}, reserved {rs}, held {hd}, "
            f"safety {ss}"
            for loc, sku, oh, rs, hd, ss in cursor.fetchall()
        ]
    return breaches + count_request_breaches() + ship_day_breaches()


def _held(held: int) -> str:
    """The held part of a ledger breach line, shown only when there is one."""
    return f"/{held} held" if held else ""


def count_request_breaches() -> list[str]:
    """Each (location, sku) whose open count requests hold more than its level holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.location_id, c.sku_id, SUM(c.quantity), COALESCE(MAX(l.held), 0)
            FROM inventory_countrequest c
            LEFT JOIN inventory_stocklevel l
              ON l.location_id = c.location_id AND l.sku_id = c.sku_id
            WHERE c.status = %s
            GROUP BY c.location_id, c.sku_id
            HAVING SUM(c.quantity) > COALESCE(MAX(l.held), 0)
            """,
            [CountRequest.Status.OPEN.value],
        )
        return [
            f"count requests: location {loc} sku {sku}: {units} not found awaiting a count, "
            f"{held} held"
            for loc, sku, units, held in cursor.fetchall()
        ]


def native_sql() -> bool:
    """PostgreSQL answers the snapshot and availability in one query each; elsewhere (the
    embedded SQLite) a few portable queries give the same answers."""
    return connection.vendor == "postgresql"


def reservations_for_demand(*, demand: str) -> list[Reservation]:
    """Every reservation of one demand (an order), with its location, oldest first."""
    return list(Reservation.objects.filter(demand=demand).select_related("location").order_by("pk"))


def transfer_list(*, user, direction: str = "") -> QuerySet[Transfer]:
    """Transfers leaving or arriving at the user's locations (every one for a superuser);
    `direction` "incoming" or "outgoing" keeps one side."""
    qs = Transfer.objects.select_related("from_location", "to_location", "sku", "requested_by")
    allowed = location_ids_for_user(user=user)
    if allowed is not None:
        if direction == "incoming":
            return qs.filter(to_location_id__in=allowed)
        if direction == "outgoing":
            return qs.filter(from_location_id__in=allowed)
        return qs.filter(Q(from_location_id__in=allowed) | Q(to_location_id__in=allowed))
    return qs


def transfer_get(*, pk: int, user) -> Transfer:
    """One of the user's transfers; DoesNotExist (a 404) for another location's."""
    return transfer_list(user=user).get(pk=pk)
