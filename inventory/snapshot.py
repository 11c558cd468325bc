"""The routing engine's snapshot: the candidate locations of a demand, as plain rows.

`sourcing_candidates` reads them (on PostgreSQL one query whatever the size of the chain,
a second only when a ship order's nearest locations cannot settle it; a few portable ones
on the embedded SQLite) for `inventory.sourcing.route` to decide over.
"""

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from common.metrics import SHIP_SNAPSHOTS
from inventory import sourcing
from inventory.models import DeliveryMethod, StockLevel, store_capability
from inventory.selectors import native_sql, ship_orders_today
from inventory.sourcing import Candidate, Demand, Snapshot, missing_at_store, transfer_demand
from stores.geo import distance_km_sql, unit_sphere_sql
from stores.models import Location

# Every location of one demand's snapshot, as plain rows: the location, the ship orders it
# can still take today, and its stock of the demand's SKUs as three parallel arrays.
_LOCATION_COLUMNS = """
    l.id, l.code, l.kind, l.latitude, l.longitude, l.is_active, l.can_ship, l.can_pickup,
    l.can_curbside, {capacity_left}, l.recent_rejection_rate"""


def _candidate(row: tuple, stock: dict[int, tuple[int, int]] | None = None) -> Candidate:
    """A candidate from one row of `_LOCATION_COLUMNS`, followed (unless `stock` is given:
    sku id -> (ATP, free)) by its stock as three parallel arrays of SKU ids, ATP and free."""
    (pk, code, kind, lat, lng, active, ship, pickup, curbside, capacity, rate) = row[:11]
    if stock is None:
        skus, atp, free = row[11:14]
        stock = dict(zip(skus, zip(atp, free, strict=True), strict=True)) if skus else {}
    return Candidate(
        location_id=pk,
        code=code,
        kind=kind,
        latitude=lat,
        longitude=lng,
        is_active=active,
        can_ship=ship,
        can_pickup=pickup,
        can_curbside=curbside,
        capacity_left=capacity,
        rejection_rate=rate,
        stock=stock,
    )


def _holders(
    *, sku_ids: list[int], with_capacity: bool, store: int | None = None, others: str = ""
) -> list[Candidate]:
    """The `store` (whether it holds any of the SKUs or not) and, with `others`, the other
    locations holding any of them: `"all"` every one, `"pickup"` or `"curbside"` the active
    ones that offer it or ship; with their stock and, when asked, the ship orders they can
    still take today. One query."""
    if not native_sql():
        return _holders_portable(
            sku_ids=sku_ids, with_capacity=with_capacity, store=store, others=others
        )
    if not others:
        where = "l.id = %(always)s"
    elif others == "all":
        where = "s.sku_id IS NOT NULL"
    else:
        where = (
            f"(s.sku_id IS NOT NULL AND l.is_active AND (l.{store_capability(others)}"
            " OR l.can_ship)) OR l.id = %(always)s"
        )
    params = {"skus": sku_ids, "always": store, "today": timezone.localdate()}
    held = "FILTER (WHERE s.sku_id IS NOT NULL)"
    capacity = "l.daily_ship_capacity - COALESCE(d.orders, 0)" if with_capacity else "0"
    shipday = (
        "LEFT JOIN inventory_shipday d ON d.location_id = l.id AND d.day = %(today)s"
        if with_capacity
        else ""
    )
    # Every fragment is written here; the caller's values are parameters.
    sql = f"""
        SELECT {_LOCATION_COLUMNS.format(capacity_left=capacity)},
               array_agg(s.sku_id) {held},
               array_agg(s.on_hand - s.reserved - s.held - s.safety_stock) {held},
               array_agg(s.on_hand - s.reserved - s.held) {held}
        FROM stores_location l
        LEFT JOIN "inventory_stocklevel" s ON s.location_id = l.id AND s.sku_id = ANY(%(skus)s)
        {shipday}
        WHERE {where}
        GROUP BY l.id{", d.orders" if with_capacity else ""}"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [_candidate(row) for row in cursor.fetchall()]


def _holders_portable(
    *, sku_ids: list[int], with_capacity: bool, store: int | None, others: str
) -> list[Candidate]:
    """`_holders` in three portable queries (stock rows, locations, ship orders today)."""
    rows = StockLevel.objects.filter(sku_id__in=sku_ids)
    if not others:
        rows = rows.filter(location_id=store)
    elif others != "all":
        serves = Q(**{f"location__{store_capability(others)}": True}) | Q(location__can_ship=True)
        rows = rows.filter(Q(location_id=store) | (Q(location__is_active=True) & serves))
    stock: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
    fields = ("location_id", "sku_id", "on_hand", "reserved", "held", "safety_stock")
    for location_id, sku_id, on_hand, reserved, held, safety in rows.values_list(*fields):
        free = on_hand - reserved - held  # held units are never promised
        stock[location_id][sku_id] = (free - safety, free)
    ids = set(stock) | ({store} if store is not None else set())
    used = ship_orders_today(location_ids=ids) if with_capacity and ids else {}
    locations = Location.objects.filter(pk__in=ids).values_list(
        "id", "code", "kind", "latitude", "longitude", "is_active", "can_ship", "can_pickup",
        "can_curbside", "daily_ship_capacity", "recent_rejection_rate",
    )  # fmt: skip
    rows = (
        (*location, capacity - used.get(location[0], 0) if with_capacity else 0, rate)
        for *location, capacity, rate in locations
    )
    return [_candidate(row, stock[row[0]]) for row in rows]


# A margin over what the router looks at, so that a last-digit difference between the
# database's floating point and Python's cannot push one of those few out of the snapshot.
_RANK_MARGIN = 4

_SHIP_SNAPSHOT = """
WITH {near}line AS (
    -- The demand's values are read through sub-selects, so that no estimate depends on them
    -- (how many lines, which day): a generic plan then costs what a custom one does, and
    -- PostgreSQL keeps the prepared statement's plan instead of planning on every call.
    SELECT * FROM unnest((SELECT %(skus)s::bigint[]), (SELECT %(qtys)s::int[]),
                         (SELECT %(wanted)s::int[])) AS line (sku_id, qty, wanted)
), stock AS NOT MATERIALIZED (
    SELECT s.location_id, s.sku_id, line.qty, line.wanted,
           s.on_hand - s.reserved - s.held AS free,
           GREATEST(0, {units}) AS units{wanted_units}
    FROM {stock_rows}
), held AS (
    SELECT location_id,
           COALESCE(sum(units) {of_lines}, 0) AS depth,
           COALESCE(bool_or(free > 0) {of_lines}, false) AS any_free,
           count(*) FILTER (WHERE units >= qty) = %(lines)s AS whole,
           {has_all} AS has_all
    FROM stock GROUP BY location_id
), loc AS (
    SELECT l.id, l.code, l.kind <> %(prefer)s AS other_kind, l.recent_rejection_rate,
           l.daily_ship_capacity - COALESCE(d.orders, 0) AS capacity_left,
           h.depth, h.whole, h.has_all AND l.is_active AND {offers} AS alternative,
           CASE WHEN l.id = ANY(%(exclude)s) THEN 'excluded_after_rejection'
                WHEN NOT l.is_active THEN 'inactive'
                WHEN NOT l.can_ship THEN 'no_capability'
                WHEN l.daily_ship_capacity - COALESCE(d.orders, 0) <= 0 THEN 'capacity_used_up'
                WHEN h.depth = 0 THEN CASE WHEN h.any_free THEN 'safety_stock' ELSE 'no_stock' END
           END AS reason,
           {distance} AS km
    FROM {locations}
    WHERE {universe}
){deepest}, picked AS (
    -- Each ranking's first few, by a top-N sort of its own: no full sort of the chain. `loc`
    -- keeps only what ranks and counts (every location passes through it); the few picked
    -- carry their capacity and reason out, and their other columns are read by key.
    (SELECT {out} FROM loc WHERE reason IS NULL ORDER BY {by_score} LIMIT {best})
    UNION (SELECT {out} FROM loc WHERE reason IS NULL AND whole ORDER BY {by_score} LIMIT {wholes})
    UNION (SELECT {out} FROM loc WHERE reason IS NOT NULL{nearer}
           ORDER BY {by_distance} LIMIT {dropped})
    {alternatives}{split}
)
SELECT {columns}, held.skus, held.atp, held.free, picked.reason,
       -- Every location looked at by reason, in one plain aggregate (less those returned).
       (SELECT json_object_agg(reason, n) FROM (
            SELECT COALESCE(reason, 'kept') AS reason, count(*) AS n
            FROM loc GROUP BY 1) counts)::text{settled}
FROM picked CROSS JOIN LATERAL (
    -- By key, one row each (OFFSET 0: left to itself the planner reads the whole chain).
    SELECT * FROM stores_location l WHERE l.id = picked.id OFFSET 0
) l CROSS JOIN LATERAL (
    SELECT array_agg(s.sku_id) AS skus,
           array_agg(s.on_hand - s.reserved - s.held - s.safety_stock) AS atp,
           array_agg(s.on_hand - s.reserved - s.held) AS free
    FROM line JOIN "inventory_stocklevel" s ON s.sku_id = line.sku_id AND s.location_id = picked.id
) held
"""
# The router's score (`sourcing._sorted_out`), in metres, never less than the distance...
_SCORE_M = (
    "round((km * (1 + %(penalty)s * recent_rejection_rate)"
    " + %(penalty_km)s * recent_rejection_rate) * 1000)"
)
# ...and, as sort keys, the router's ranking and the distance it shows.
_BY_SCORE = f'{_SCORE_M}, other_kind, depth DESC, code COLLATE "C"'
_BY_DISTANCE = 'round(km * 100), code COLLATE "C"'
_OUT = "id, capacity_left, reason"
# The snapshot's columns after a candidate's (`_candidate`): its drop reason, then every
# location it looked at counted by reason; from the nearest only, whether it looked at
# every location and whether what it saw settles the decision.
_REASON, _COUNTS, _EVERYWHERE, _SETTLED = 14, 15, 16, 17

# Each holder's location and its ship orders today, joined as the planner sees fit.
_JOINED = """held h JOIN stores_location l ON l.id = h.location_id
    LEFT JOIN inventory_shipday d ON d.location_id = l.id AND d.day = (SELECT %(today)s::date)"""
# Over the whole chain: every holder of the demand's SKUs, and per line the deepest holders
# that together cover it, for the split of a demand no one location can fill.
_WHOLE_CHAIN = {
    "near": "",
    "stock_rows": 'line JOIN "inventory_stocklevel" s ON s.sku_id = line.sku_id',
    "locations": _JOINED,
    "deepest": """, deepest AS (
    -- Only a demand that no one location can fill is split.
    SELECT location_id FROM (
        SELECT stock.location_id, stock.qty, COALESCE(sum(stock.units) OVER (
                   PARTITION BY stock.sku_id ORDER BY stock.units DESC, stock.location_id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
        FROM stock JOIN loc ON loc.id = stock.location_id AND loc.reason IS NULL
        WHERE stock.units > 0 AND stock.qty IS NOT NULL
          AND NOT EXISTS (SELECT FROM loc WHERE loc.reason IS NULL AND loc.whole)
    ) per_line WHERE before < qty
)""",
    "split": f"UNION SELECT {_OUT} FROM loc"  # noqa: S608
    " WHERE id IN (SELECT location_id FROM deepest)",
    "nearer": "",
    "settled": "",
}
# How many of the nearest locations a ship order looks at first.
NEAREST = 32
# Over the NEAREST locations to the customer, found by the GiST index on each one's point
# on the unit sphere (stores migration 0005; the straight line through the earth orders
# locations as the great circle does). Every location farther away is at least as far as
# the farthest of them, so its score is no better: when a location with every line and
# CONSIDERED_SHOWN kept ones score better than that, nobody farther can change the decision
# or its runners-up. The dropped ones it shows are the nearest it looked at; when those are
# fewer than the whole chain would show, more runners-up are shown in their place.
_NEAREST_ONLY = {
    "near": f"""near AS MATERIALIZED (
    SELECT l.id, {{distance}} AS km FROM stores_location l
    ORDER BY {unit_sphere_sql("l.latitude", "l.longitude")}
             <-> {unit_sphere_sql("%(lat)s", "%(lng)s")}
    LIMIT {NEAREST}
), reach AS (
    -- Whether that was every location, and how far the farthest of them is.
    SELECT count(*) < {NEAREST} AS everywhere, max(km) AS farthest_km FROM near
), """,  # noqa: S608
    # Per line, its rows at the nearest locations, in one index scan by SKU and location. On
    # a large vacuumed chain the planner reads them from the covering (SKU, location) index
    # alone, where one SKU's rows at every location lie together: a page or two per line.
    # (Probed by location and line, it took the unique (location, SKU) index: a page of it
    # and one of the table per location and line, which a chain of 20 million rows keeps in
    # no cache.)
    "stock_rows": """line JOIN "inventory_stocklevel" s ON s.sku_id = line.sku_id
        AND s.location_id = ANY ((SELECT array_agg(near.id) FROM near)::bigint[])""",
    # Read by key, one row each (OFFSET 0: the estimate of that scan's rows would have the
    # planner read every location and every ship day of the chain to join a few of them).
    "locations": """held h CROSS JOIN LATERAL (
        SELECT * FROM stores_location l WHERE l.id = h.location_id OFFSET 0) l
    LEFT JOIN LATERAL (
        SELECT d.orders FROM inventory_shipday d
        WHERE d.location_id = l.id AND d.day = (SELECT %(today)s::date) OFFSET 0) d ON true""",
    "deepest": "",
    "split": "",
    # The dropped ones it shows: unless it looked at every location, those nearer than the
    # farthest it looked at, so that one as near that it did not look at cannot be missing.
    "nearer": """
             AND ((SELECT everywhere FROM reach)
                  OR round(km * 100) < (SELECT round(farthest_km * 100) - 2 FROM reach))""",
    "settled": f""",
       (SELECT everywhere FROM reach),
       (SELECT CASE WHEN (SELECT everywhere FROM reach) THEN bool_or(whole)
                    ELSE bool_or(whole AND nearer)
                         AND count(*) FILTER (WHERE nearer) >= {sourcing.CONSIDERED_SHOWN} END
        FROM (SELECT whole, {_SCORE_M} < (SELECT round(farthest_km * 1000) - 2 FROM reach)
                     AS nearer
              FROM loc WHERE reason IS NULL) k)""",  # noqa: S608
}
# Only asked at a store: the nearest that could serve the pickup itself.
_ALTERNATIVES = (
    "UNION (SELECT {out} FROM loc WHERE alternative ORDER BY {by_distance} LIMIT {n})\n    "
)


def _ship_snapshot(*, demand: Demand, at_store: Demand | None = None) -> Snapshot:
    """The ship candidates of `demand` the router can choose or show: the best by its score
    (EXACT_SEARCH_CANDIDATES or CONSIDERED_SHOWN of them, whichever is more), the best few
    holding every line, per line the deepest holders that together cover it, and the
    nearest dropped ones; the rest only counted, by what the router would make of them. The
    database ranks them with the router's own score; a small margin absorbs the last digits
    of floating point, so the router decides as over the whole chain.

    A ship order to a point looks at the NEAREST locations first, one query whatever the
    size of the chain; only when they cannot settle the decision (no one of them has every
    line, or too few can take the order nearer than the farthest of them) does a second
    query look at every holder of its SKUs. The snapshot then counts only those it looked at
    (`Snapshot.nearest_only`).

    With `at_store` (a pickup or curbside its store cannot fill; `demand` is then what the
    store lacks, shipped to it): among the other active locations that offer the method or
    ship and hold any of its SKUs, also the nearest stores that have all of it.
    """
    skus = sorted({*demand.lines, *(at_store.lines if at_store else ())})
    if not native_sql():  # every holder: the router decides the same over all of them
        if at_store is None:
            return Snapshot(_holders(sku_ids=skus, with_capacity=True, others="all"))
        others = _holders(
            sku_ids=skus, with_capacity=True, store=at_store.location_id, others=at_store.method
        )
        return Snapshot(c for c in others if c.location_id != at_store.location_id)
    lat, lng = demand.point or (None, None)
    params = {
        "skus": skus,
        "qtys": [demand.lines.get(sku) for sku in skus],
        "lines": len(demand.lines),
        "wanted": [at_store.lines.get(sku) if at_store else None for sku in skus],
        "wanted_lines": len(at_store.lines) if at_store else -1,
        "store": at_store.location_id if at_store else None,
        "exclude": sorted(demand.exclude),
        "today": timezone.localdate(),
        "lat": lat,
        "lng": lng,
        "penalty": sourcing.REJECTION_PENALTY,
        "penalty_km": sourcing.REJECTION_PENALTY_KM,
        "prefer": demand.prefer,
    }
    with connection.cursor() as cursor:
        if at_store is None and demand.point is not None:
            cursor.execute(_ship_snapshot_sql(demand, at_store, _NEAREST_ONLY), params)
            rows = cursor.fetchall()
            settled = bool(rows and rows[0][_SETTLED])
            SHIP_SNAPSHOTS.labels("nearest" if settled else "every_holder").inc()
            if settled:
                return _snapshot(rows, nearest_only=not rows[0][_EVERYWHERE])
        cursor.execute(_ship_snapshot_sql(demand, at_store, _WHOLE_CHAIN), params)
        return _snapshot(cursor.fetchall())


def _ship_snapshot_sql(demand: Demand, at_store: Demand | None, scope: dict[str, str]) -> str:
    """`_SHIP_SNAPSHOT` for this demand over `scope` (`_NEAREST_ONLY` or `_WHOLE_CHAIN`)."""
    if demand.point is None:
        distance = "0.0::float8"
    else:
        distance = distance_km_sql("%(lat)s", "%(lng)s", "l.latitude", "l.longitude")
    free = "s.on_hand - s.reserved - s.held"
    atp = f"{free} - s.safety_stock"
    # A plain ship order: every SKU is a line of it, and nothing is wanted besides.
    offers, universe, of_lines, has_all, wanted_units = "false", "true", "", "false", ""
    if at_store is not None:
        offers = f"l.{store_capability(at_store.method)}"
        universe = f"l.id <> %(store)s AND l.is_active AND ({offers} OR l.can_ship)"
        of_lines = "FILTER (WHERE qty IS NOT NULL)"
        has_all = "count(*) FILTER (WHERE wanted_units >= wanted) = %(wanted_lines)s"
        wanted = free if at_store.allow_safety_stock else atp
        wanted_units = f",\n           GREATEST(0, {wanted}) AS wanted_units"
    # Every fragment is written here; the demand goes in as parameters.
    return _SHIP_SNAPSHOT.format(
        **{**scope, "near": scope["near"].format(distance=distance)},
        columns=_LOCATION_COLUMNS.format(capacity_left="picked.capacity_left"),
        distance=distance,
        offers=offers,
        universe=universe,
        by_score=_BY_SCORE,
        by_distance=_BY_DISTANCE,
        units=free if demand.allow_safety_stock else atp,
        wanted_units=wanted_units,
        of_lines=of_lines,
        has_all=has_all,
        best=max(sourcing.EXACT_SEARCH_CANDIDATES, sourcing.CONSIDERED_SHOWN) + _RANK_MARGIN,
        wholes=1 + _RANK_MARGIN,
        dropped=sourcing.CONSIDERED_SHOWN + _RANK_MARGIN,
        alternatives=_ALTERNATIVES.format(
            out=_OUT, by_distance=_BY_DISTANCE, n=sourcing.ALTERNATIVES + _RANK_MARGIN
        )
        if at_store is not None
        else "",
        out=_OUT,
    )


def _snapshot(rows: list[tuple], *, nearest_only: bool = False) -> Snapshot:
    """The snapshot of `_SHIP_SNAPSHOT`'s rows. The locations it looked at by reason (the
    same on every row, as text: decoded once), less those returned: the router counts them
    itself."""
    counts = Counter(json.loads(rows[0][_COUNTS]) if rows else {})
    counts.subtract(row[_REASON] or "kept" for row in rows)
    left_out = {reason: n for reason, n in counts.items() if n}
    return Snapshot([_candidate(row) for row in rows], left_out=left_out, nearest_only=nearest_only)


def sourcing_candidates(
    *,
    sku_ids: Iterable[int],
    method: str,
    location_id: int | None = None,
    demand: Demand | Mapping[int, int] | None = None,
) -> list[Candidate]:
    """The routing engine's snapshot: plain rows, no model objects, one query (two for a
    pickup the store cannot fill, or a ship order its nearest locations cannot settle).
    Read without locks; the reservation that follows re-checks every quantity.

    Given the `Demand`, only the locations that can change its decision, whatever the size
    of the chain (see `_ship_snapshot`): for a ship order a `Snapshot` that counts the
    others it looked at; for a pickup or curbside the store, and when it lacks part of the
    demand the nearest other stores that have all of it (alternatives) and the sources that
    could ship the rest to it. Given only the lines (sku id -> units), or nothing: every location
    holding any of the SKUs (a re-route plans several demands on one snapshot); for a ship
    order whatever it can do, so the decision says why each was dropped; for a pickup the
    store and, when it lacks part of the lines, the active stores offering the method and
    the active locations that ship. Carry-out: the store.
    """
    sku_ids = sorted(set(sku_ids))
    lines = demand.lines if isinstance(demand, Demand) else demand
    if method == DeliveryMethod.SHIP:
        if isinstance(demand, Demand):
            return _ship_snapshot(demand=demand)
        return _holders(sku_ids=sku_ids, with_capacity=True, others="all")
    store = _holders(sku_ids=sku_ids, with_capacity=False, store=location_id)
    if method not in (DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE):
        return store
    if (
        lines
        and store
        and all(store[0].units(sku, allow_safety_stock=False) >= q for sku, q in lines.items())
    ):
        return store  # the common pickup: nobody else is needed, not even to explain
    if isinstance(demand, Demand) and store:
        missing = missing_at_store(demand, store[0])
        to_store = transfer_demand(demand, store[0], missing)
        return [*store, *_ship_snapshot(demand=to_store, at_store=demand)]
    return _holders(sku_ids=sku_ids, with_capacity=True, store=location_id, others=method)
