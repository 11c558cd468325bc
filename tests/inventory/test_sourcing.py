"""The routing engine: unit tests, properties over random networks, and its snapshot."""

import json
from decimal import Decimal
from itertools import combinations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from inventory import sourcing
from inventory.models import DeliveryMethod, Sku, store_capability
from inventory.services import StockRequest, stock_receive, stock_reserve, stock_set_safety_stock
from inventory.snapshot import sourcing_candidates
from inventory.sourcing import Candidate, Demand, RoutingDecision, route
from stores.geo import haversine_km
from tests.stores.factories import LocationFactory, WarehouseFactory

CUSTOMER = (31.2304, 121.4737)
SKU_A, SKU_B, SKU_C = 1, 2, 3


def location(
    location_id: int,
    *,
    code: str | None = None,
    kind: str = "warehouse",
    at: tuple[float, float] = CUSTOMER,
    stock: dict[int, int | tuple[int, int]] | None = None,
    **fields,
) -> Candidate:
    """A candidate that can ship; `stock` maps a SKU to units, or to (atp, free)."""
    fields = {"can_ship": True, "capacity_left": 10, **fields}
    return Candidate(
        location_id=location_id,
        code=code or f"L{location_id:02d}",
        kind=kind,
        latitude=at[0],
        longitude=at[1],
        stock={
            sku: units if isinstance(units, tuple) else (units, units)
            for sku, units in (stock or {}).items()
        },
        **fields,
    )


def north_of(point: tuple[float, float], km: float) -> tuple[float, float]:
    """A point `km` due north (one degree of latitude is about 111.2 km everywhere)."""
    return (point[0] + km / 111.195, point[1])


def ship(lines: dict[int, int], **fields) -> Demand:
    return Demand(method="ship", lines=lines, point=CUSTOMER, **fields)


def entry(decision: RoutingDecision, code: str) -> dict:
    [found] = [e for e in decision.considered if e["location"] == code]
    return found


def codes_used(decision: RoutingDecision) -> set[str]:
    return {a.code for a in decision.allocations}


def allocated(decision: RoutingDecision) -> dict[tuple[str, int], int]:
    return {(a.code, a.sku_id): a.quantity for a in decision.allocations}


# --- ship ---------------------------------------------------------------------------------


def test_ship_prefers_one_location_with_every_line_over_a_nearer_split():
    near_a = location(1, at=north_of(CUSTOMER, 2), stock={SKU_A: 5})
    near_b = location(2, at=north_of(CUSTOMER, 3), stock={SKU_B: 5})
    far_both = location(3, at=north_of(CUSTOMER, 400), stock={SKU_A: 5, SKU_B: 5})

    decision = route(ship({SKU_A: 2, SKU_B: 1}), [near_a, near_b, far_both])

    assert decision.ok
    assert decision.location_ids == [3]
    assert allocated(decision) == {("L03", SKU_A): 2, ("L03", SKU_B): 1}
    assert entry(decision, "L03")["chosen"] is True
    assert entry(decision, "L01")["chosen"] is False


def test_ship_prefers_a_complete_location_ranked_below_the_exact_search_pool():
    # More near locations than the exact search looks at, each with one of the two lines.
    near = [
        location(10 + i, at=north_of(CUSTOMER, 1 + i), stock={SKU_A if i % 2 else SKU_B: 5})
        for i in range(sourcing.EXACT_SEARCH_CANDIDATES + 2)
    ]
    far_both = location(1, code="FAR-BOTH", at=north_of(CUSTOMER, 500), stock={SKU_A: 5, SKU_B: 5})

    decision = route(ship({SKU_A: 1, SKU_B: 1}), [*near, far_both])

    assert decision.location_ids == [1]


def test_ship_without_a_complete_location_uses_the_fewest_locations():
    only_a = location(1, at=north_of(CUSTOMER, 1), stock={SKU_A: 5})
    only_b = location(2, at=north_of(CUSTOMER, 2), stock={SKU_B: 5})
    only_c_near = location(3, at=north_of(CUSTOMER, 3), stock={SKU_C: 5})
    a_and_b_far = location(4, at=north_of(CUSTOMER, 300), stock={SKU_A: 5, SKU_B: 5})
    only_c_far = location(5, at=north_of(CUSTOMER, 500), stock={SKU_C: 5})

    decision = route(
        ship({SKU_A: 1, SKU_B: 1, SKU_C: 1}),
        [only_a, only_b, only_c_near, a_and_b_far, only_c_far],
    )

    assert decision.ok
    # Two locations instead of the three nearest; of the two-location covers, the nearer.
    assert decision.location_ids == [3, 4]
    assert allocated(decision) == {("L04", SKU_A): 1, ("L04", SKU_B): 1, ("L03", SKU_C): 1}


def test_ship_splits_one_line_over_locations_when_none_has_enough():
    first = location(1, at=north_of(CUSTOMER, 5), stock={SKU_A: 3})
    second = location(2, at=north_of(CUSTOMER, 10), stock={SKU_A: 4})
    third = location(3, at=north_of(CUSTOMER, 20), stock={SKU_A: 2})

    decision = route(ship({SKU_A: 6}), [third, second, first])

    assert decision.ok
    assert decision.location_ids == [1, 2]
    assert allocated(decision) == {("L01", SKU_A): 3, ("L02", SKU_A): 3}


def test_ship_tie_on_locations_goes_to_the_nearest_by_great_circle_distance():
    customer = (60.0, 10.0)
    # At 60 degrees north a degree of longitude is half as long as one of latitude, so the
    # location 0.9 degrees east is nearer than the one 0.5 degrees north.
    east = location(1, code="EAST", at=(60.0, 10.9), stock={SKU_A: 5})
    north = location(2, code="NORTH", at=(60.5, 10.0), stock={SKU_A: 5})

    decision = route(Demand(method="ship", lines={SKU_A: 1}, point=customer), [north, east])

    assert codes_used(decision) == {"EAST"}
    assert entry(decision, "EAST")["distance_km"] == round(haversine_km(*customer, 60.0, 10.9), 2)
    assert entry(decision, "EAST")["distance_km"] < entry(decision, "NORTH")["distance_km"]


def test_ship_equal_distance_prefers_a_warehouse_by_default():
    # The store holds more, so only the kind preference can make the warehouse win.
    store = location(1, code="A-STORE", kind="store", stock={SKU_A: 50})
    warehouse = location(2, code="B-WAREHOUSE", kind="warehouse", stock={SKU_A: 5})

    decision = route(ship({SKU_A: 1}), [store, warehouse])

    assert codes_used(decision) == {"B-WAREHOUSE"}


def test_ship_prefer_store_reverses_the_kind_preference():
    store = location(1, code="B-STORE", kind="store", stock={SKU_A: 5})
    warehouse = location(2, code="A-WAREHOUSE", kind="warehouse", stock={SKU_A: 50})

    decision = route(ship({SKU_A: 1}, prefer="store"), [store, warehouse])

    assert codes_used(decision) == {"B-STORE"}


def test_ship_equal_distance_and_kind_prefers_deeper_stock():
    shallow = location(1, code="A-SHALLOW", stock={SKU_A: 2, SKU_B: 2})
    deep = location(2, code="B-DEEP", stock={SKU_A: 2, SKU_B: 9})

    decision = route(ship({SKU_A: 1, SKU_B: 1}), [shallow, deep])

    assert codes_used(decision) == {"B-DEEP"}


def test_ship_deeper_stock_counts_only_demanded_skus():
    # Stock of a SKU nobody asked for must not make a location look deeper.
    plain = location(1, code="A-PLAIN", stock={SKU_A: 3})
    padded = location(2, code="B-PADDED", stock={SKU_A: 3, SKU_B: 900})

    decision = route(ship({SKU_A: 1}), [padded, plain])

    assert codes_used(decision) == {"A-PLAIN"}


def test_ship_nearer_location_with_high_rejection_rate_loses_to_a_slightly_farther_one():
    rejecting = location(
        1, code="REJECTS", at=north_of(CUSTOMER, 10), stock={SKU_A: 5}, rejection_rate=0.5
    )
    reliable = location(2, code="RELIABLE", at=north_of(CUSTOMER, 11), stock={SKU_A: 5})

    decision = route(ship({SKU_A: 1}), [rejecting, reliable])

    assert codes_used(decision) == {"RELIABLE"}
    shown = entry(decision, "REJECTS")
    assert shown["rejection_rate"] == 0.5
    assert shown["kept"] is True
    assert shown["chosen"] is False
    # The distance shown is the real one; the score carries the stretched one.
    assert shown["distance_km"] == pytest.approx(10, abs=0.05)
    assert shown["score"][0] == pytest.approx(
        10 * (1 + sourcing.REJECTION_PENALTY * 0.5) + sourcing.REJECTION_PENALTY_KM * 0.5, 0.01
    )
    assert entry(decision, "RELIABLE")["rejection_rate"] == 0.0


def test_ship_a_location_that_rejects_everything_loses_even_at_the_customer_s_door():
    at_the_door = location(1, code="AT-DOOR", stock={SKU_A: 5}, rejection_rate=1.0)
    reliable = location(2, code="RELIABLE", at=north_of(CUSTOMER, 0.056), stock={SKU_A: 5})

    decision = route(ship({SKU_A: 1}), [at_the_door, reliable])

    assert codes_used(decision) == {"RELIABLE"}
    assert entry(decision, "AT-DOOR")["score"][0] == pytest.approx(sourcing.REJECTION_PENALTY_KM)


def test_ship_low_rejection_rate_does_not_outweigh_a_much_shorter_distance():
    slightly_rejecting = location(
        1, code="NEAR", at=north_of(CUSTOMER, 5), stock={SKU_A: 5}, rejection_rate=0.05
    )
    far = location(2, code="FAR", at=north_of(CUSTOMER, 50), stock={SKU_A: 5})

    decision = route(ship({SKU_A: 1}), [far, slightly_rejecting])

    assert codes_used(decision) == {"NEAR"}


def test_ship_decision_gives_each_dropped_location_its_reason():
    candidates = [
        location(1, code="OK", stock={SKU_A: 5}),
        location(2, code="INACTIVE", stock={SKU_A: 5}, is_active=False),
        location(3, code="NO-SHIP", stock={SKU_A: 5}, can_ship=False, can_pickup=True),
        location(4, code="FULL", stock={SKU_A: 5}, capacity_left=0),
        location(5, code="OVERBOOKED", stock={SKU_A: 5}, capacity_left=-2),
        location(6, code="REJECTED", stock={SKU_A: 5}),
        location(7, code="EMPTY", stock={SKU_A: 0, SKU_B: 9}),
        location(8, code="SAFETY", stock={SKU_A: (0, 3)}),
        location(9, code="BELOW-SAFETY", stock={SKU_A: (-2, 1)}),
    ]

    decision = route(ship({SKU_A: 1}, exclude=frozenset({6})), candidates)

    reasons = {e["location"]: e.get("reason") for e in decision.considered}
    assert reasons == {
        "OK": None,
        "INACTIVE": "inactive",
        "NO-SHIP": "no_capability",
        "FULL": "capacity_used_up",
        "OVERBOOKED": "capacity_used_up",
        "REJECTED": "excluded_after_rejection",
        "EMPTY": "no_stock",
        "SAFETY": "safety_stock",
        "BELOW-SAFETY": "safety_stock",
    }
    assert codes_used(decision) == {"OK"}
    for shown in decision.considered:
        assert shown["kept"] is (shown["location"] == "OK")
        assert ("score" in shown) is shown["kept"]


def test_ship_never_returns_to_an_excluded_location_even_when_it_is_the_best():
    rejected = location(1, at=north_of(CUSTOMER, 1), stock={SKU_A: 5, SKU_B: 5})
    split_a = location(2, at=north_of(CUSTOMER, 30), stock={SKU_A: 5})
    split_b = location(3, at=north_of(CUSTOMER, 40), stock={SKU_B: 5})

    decision = route(
        ship({SKU_A: 1, SKU_B: 1}, exclude=frozenset({1})), [rejected, split_a, split_b]
    )

    assert decision.location_ids == [2, 3]


def test_ship_shortage_reports_what_the_usable_locations_have():
    candidates = [
        location(1, stock={SKU_A: 2, SKU_B: 9}),
        location(2, stock={SKU_A: (1, 4)}),
        location(3, stock={SKU_A: 50}, is_active=False),
    ]

    decision = route(ship({SKU_A: 5, SKU_B: 3}), candidates)

    assert not decision.ok
    assert decision.allocations == []
    assert decision.shortages == {SKU_A: (5, 3)}


def test_ship_with_safety_stock_allowed_uses_it():
    held_back = location(1, stock={SKU_A: (0, 3)})

    assert not route(ship({SKU_A: 3}), [held_back]).ok
    decision = route(ship({SKU_A: 3}, allow_safety_stock=True), [held_back])
    assert decision.ok
    assert allocated(decision) == {("L01", SKU_A): 3}


# --- at a store -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pickup", "curbside"])
def test_at_store_method_takes_every_line_from_the_chosen_store(method):
    chosen = location(
        1,
        kind="store",
        at=north_of(CUSTOMER, 20),
        stock={SKU_A: 2, SKU_B: 1},
        can_pickup=True,
        can_curbside=True,
    )
    nearer = location(
        2, kind="store", stock={SKU_A: 9, SKU_B: 9}, can_pickup=True, can_curbside=True
    )

    decision = route(
        Demand(method=method, lines={SKU_A: 2, SKU_B: 1}, location_id=1), [nearer, chosen]
    )

    assert decision.ok
    assert decision.method == method
    assert decision.location_ids == [1]
    assert allocated(decision) == {("L01", SKU_A): 2, ("L01", SKU_B): 1}
    assert decision.alternatives == []
    assert decision.considered == [{"location": "L01", "kept": True, "chosen": True}]


@pytest.mark.parametrize("method", ["pickup", "curbside"])
def test_at_store_shortage_offers_the_nearest_stores_with_every_line(method):
    offers = {"can_pickup": method == "pickup", "can_curbside": method == "curbside"}
    doesnt = {"can_pickup": method != "pickup", "can_curbside": method != "curbside"}
    home = (31.0, 121.0)
    chosen = location(1, code="CHOSEN", kind="store", at=home, stock={SKU_A: 1}, **offers)
    # Seven that qualify, given out of order; only the five nearest are offered.
    qualifying = [
        location(
            10 + km,
            code=f"OK-{km:02d}",
            kind="store",
            at=north_of(home, km),
            stock={SKU_A: 2, SKU_B: 1},
            **offers,
        )
        for km in (7, 3, 12, 5, 1, 9, 4)
    ]
    # Nearer than all of them, but each fails one condition.
    disqualified = [
        location(
            2,
            code="SHORT-B",
            kind="store",
            at=north_of(home, 0.5),
            stock={SKU_A: 9, SKU_B: 0},
            **offers,
        ),
        location(
            3,
            code="SHORT-A",
            kind="store",
            at=north_of(home, 0.5),
            stock={SKU_A: (1, 5), SKU_B: 5},
            **offers,
        ),
        location(
            4,
            code="NOT-OFFERED",
            kind="store",
            at=north_of(home, 0.5),
            stock={SKU_A: 9, SKU_B: 9},
            **doesnt,
        ),
        location(
            5,
            code="INACTIVE",
            kind="store",
            at=north_of(home, 0.5),
            stock={SKU_A: 9, SKU_B: 9},
            is_active=False,
            **offers,
        ),
    ]

    decision = route(
        Demand(method=method, lines={SKU_A: 2, SKU_B: 1}, location_id=1),
        [*qualifying, chosen, *disqualified],
    )

    assert not decision.ok
    assert decision.allocations == []
    assert decision.shortages == {SKU_A: (2, 1), SKU_B: (1, 0)}
    assert [a["location"] for a in decision.alternatives] == [
        "OK-01",
        "OK-03",
        "OK-04",
        "OK-05",
        "OK-07",
    ]
    assert len(decision.alternatives) == sourcing.ALTERNATIVES
    distances = [a["distance_km"] for a in decision.alternatives]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(1, abs=0.01)
    assert decision.considered == [
        {"location": "CHOSEN", "kept": False, "chosen": False, "reason": "no_stock"}
    ]


@pytest.mark.parametrize(
    ("method", "fields", "reason"),
    [
        ("pickup", {"can_pickup": False, "can_curbside": True}, "no_capability"),
        ("curbside", {"can_pickup": True, "can_curbside": False}, "no_capability"),
        ("pickup", {"can_pickup": True, "is_active": False}, "inactive"),
        ("carry_out", {"is_active": False}, "inactive"),
    ],
)
def test_at_store_refuses_a_store_that_is_closed_or_does_not_offer_the_method(
    method, fields, reason
):
    store = location(1, kind="store", stock={SKU_A: 9}, **fields)
    other = location(2, kind="store", stock={SKU_A: 9}, can_pickup=True, can_curbside=True)

    decision = route(Demand(method=method, lines={SKU_A: 1}, location_id=1), [store, other])

    assert not decision.ok
    assert decision.allocations == []
    assert decision.shortages == {SKU_A: (1, 0)}
    assert decision.considered == [
        {"location": "L01", "kept": False, "chosen": False, "reason": reason}
    ]
    if method != "carry_out":
        assert [a["location"] for a in decision.alternatives] == ["L02"]


def test_carry_out_sells_at_any_open_location():
    store = location(1, kind="store", stock={SKU_A: 2}, can_pickup=False, can_curbside=False)

    decision = route(Demand(method="carry_out", lines={SKU_A: 2}, location_id=1), [store])

    assert decision.ok
    assert allocated(decision) == {("L01", SKU_A): 2}


def test_at_store_shortage_when_the_store_is_not_in_the_snapshot():
    elsewhere = location(2, kind="store", stock={SKU_A: 9}, can_pickup=True)

    decision = route(Demand(method="pickup", lines={SKU_A: 1}, location_id=1), [elsewhere])

    assert not decision.ok
    assert decision.shortages == {SKU_A: (1, 0)}
    assert decision.alternatives == []


def test_carry_out_may_sell_safety_stock():
    store = location(1, kind="store", stock={SKU_A: (0, 3)})
    lines = {SKU_A: 3}

    online = route(Demand(method="carry_out", lines=lines, location_id=1), [store])
    at_till = route(
        Demand(method="carry_out", lines=lines, location_id=1, allow_safety_stock=True), [store]
    )

    assert online.shortages == {SKU_A: (3, 0)}
    assert at_till.ok
    assert allocated(at_till) == {("L01", SKU_A): 3}


def test_carry_out_cannot_sell_more_than_the_free_stock():
    store = location(1, kind="store", stock={SKU_A: (0, 3)})

    decision = route(
        Demand(method="carry_out", lines={SKU_A: 4}, location_id=1, allow_safety_stock=True),
        [store],
    )

    assert decision.shortages == {SKU_A: (4, 3)}


def test_unknown_delivery_method_is_refused():
    with pytest.raises(ValueError, match="teleport"):
        route(Demand(method="teleport", lines={SKU_A: 1}), [location(1, stock={SKU_A: 1})])


# --- ship-to-store ---------------------------------------------------------------------------


def pickup_store(location_id: int = 1, **fields) -> Candidate:
    return location(
        location_id, code="STORE", kind="store", can_pickup=True, can_curbside=True, **fields
    )


def test_ship_to_store_takes_what_the_store_has_and_sends_the_rest_from_the_nearest_source():
    store = pickup_store(stock={SKU_A: 1, SKU_B: 4})
    near = location(2, code="NEAR-WH", at=north_of(CUSTOMER, 10), stock={SKU_A: 5})
    far = location(3, code="FAR-WH", at=north_of(CUSTOMER, 300), stock={SKU_A: 5})

    decision = route(
        Demand(method="pickup", lines={SKU_A: 3, SKU_B: 2}, location_id=1, allow_transfer=True),
        [far, store, near],
    )

    assert decision.ok
    assert allocated(decision) == {("STORE", SKU_A): 1, ("STORE", SKU_B): 2, ("NEAR-WH", SKU_A): 2}
    assert [(a.code, a.transfer_to) for a in decision.transfers] == [("NEAR-WH", "STORE")]
    assert decision.considered[0] == {
        "location": "STORE",
        "kept": True,
        "chosen": True,
        "receives_transfer": True,
    }
    assert entry(decision, "NEAR-WH")["chosen"] is True
    assert entry(decision, "FAR-WH")["chosen"] is False


def test_ship_to_store_sources_must_be_able_to_ship_today():
    store = pickup_store(stock={})
    no_ship = location(2, code="NO-SHIP", stock={SKU_A: 5}, can_ship=False)
    full = location(3, code="FULL", stock={SKU_A: 5}, capacity_left=0)
    closed = location(4, code="CLOSED", stock={SKU_A: 5}, is_active=False)
    candidates = [store, no_ship, full, closed]

    decision = route(
        Demand(method="pickup", lines={SKU_A: 1}, location_id=1, allow_transfer=True), candidates
    )

    assert not decision.ok
    assert decision.shortages == {SKU_A: (1, 0)}
    assert decision.transfer_possible is False


def test_pickup_shortage_says_whether_ship_to_store_would_cover_it():
    store = pickup_store(stock={SKU_A: 1})
    source = location(2, stock={SKU_A: 5})

    decision = route(Demand(method="pickup", lines={SKU_A: 3}, location_id=1), [store, source])

    assert not decision.ok
    assert decision.allocations == []
    assert decision.shortages == {SKU_A: (3, 1)}
    assert decision.transfer_possible is True
    assert decision.as_dict()["transfer_possible"] is True


def test_in_store_sale_is_never_sent_from_elsewhere():
    store = pickup_store(stock={})
    source = location(2, stock={SKU_A: 5})

    decision = route(
        Demand(method="carry_out", lines={SKU_A: 1}, location_id=1, allow_transfer=True),
        [store, source],
    )

    assert not decision.ok
    assert decision.transfer_possible is False


# --- the stored decision --------------------------------------------------------------------


def test_decision_as_dict_is_json_serialisable():
    codes = {SKU_A: "TEE-M", SKU_B: "CAP"}
    shipped = route(
        ship({SKU_A: 2, SKU_B: 1}, exclude=frozenset({3})),
        [
            location(1, stock={SKU_A: 2}, rejection_rate=0.25),
            location(2, kind="store", at=north_of(CUSTOMER, 5), stock={SKU_B: 1}),
            location(3, stock={SKU_A: 9, SKU_B: 9}),
            location(4, stock={SKU_A: (0, 9)}),
        ],
    )
    short = route(
        Demand(method="pickup", lines={SKU_A: 5}, location_id=1),
        [location(1, kind="store", stock={SKU_A: 1}, can_pickup=True)],
    )

    for decision in (shipped, short):
        stored = json.loads(json.dumps(decision.as_dict(codes)))
        assert stored == decision.as_dict(codes)

    stored = json.loads(json.dumps(shipped.as_dict(codes)))
    assert stored["ok"] is True
    assert stored["method"] == "ship"
    assert stored["locations"] == ["L01", "L02"]
    assert sorted((a["location"], a["sku"], a["quantity"]) for a in stored["allocations"]) == [
        ("L01", "TEE-M", 2),
        ("L02", "CAP", 1),
    ]
    assert stored["shortages"] == []
    assert json.loads(json.dumps(short.as_dict(codes)))["shortages"] == [
        {"sku": "TEE-M", "requested": 5, "available": 1}
    ]
    # Without codes the SKU ids stand in.
    assert json.loads(json.dumps(short.as_dict()))["shortages"][0]["sku"] == SKU_A


def test_considered_entries_are_capped_and_keep_the_chosen_first():
    far_complete = location(1, at=north_of(CUSTOMER, 900), stock={SKU_A: 1, SKU_B: 1})
    crowd = [
        location(100 + i, at=north_of(CUSTOMER, 1 + i / 10), stock={SKU_A: 1}) for i in range(40)
    ]

    decision = route(ship({SKU_A: 1, SKU_B: 1}), [*crowd, far_complete])

    assert len(decision.considered) == sourcing.CONSIDERED_SHOWN
    assert decision.considered[0]["location"] == "L01"
    assert decision.considered[0]["chosen"] is True


# --- properties over small random networks --------------------------------------------------

SKUS = (SKU_A, SKU_B, SKU_C)
# A few shared spots, so that equal distances (and the tie-breaks after them) come up.
SPOTS = [(31.20, 121.40), (31.25, 121.45), (31.30, 121.50), (30.90, 121.10)]
mostly_true = st.sampled_from([True] * 7 + [False])
points = st.one_of(
    st.sampled_from(SPOTS),
    st.tuples(st.floats(30.5, 32.0), st.floats(120.5, 122.0)),
)


def usable_units(c: Candidate, sku: int, *, allow_safety_stock: bool) -> int:
    atp, free = c.stock.get(sku, (0, 0))
    return max(0, free if allow_safety_stock else atp)


def can_take_ship_orders(c: Candidate, *, exclude: frozenset[int]) -> bool:
    return c.is_active and c.can_ship and c.capacity_left > 0 and c.location_id not in exclude


@st.composite
def candidate_lists(draw) -> list[Candidate]:
    size = draw(st.integers(2, 6))
    candidates = []
    for index in range(size):
        stock = {}
        for sku in SKUS:
            if not draw(mostly_true):
                continue
            free = draw(st.integers(1, 6))
            safety = draw(st.integers(0, 2))
            # As the selector reports it: ATP goes negative when reserved eats into safety.
            stock[sku] = (free - safety, free)
        lat, lng = draw(points)
        candidates.append(
            Candidate(
                location_id=index + 1,
                code=f"L{index + 1}",
                kind=draw(st.sampled_from(["warehouse", "store"])),
                latitude=lat,
                longitude=lng,
                is_active=draw(mostly_true),
                can_ship=draw(mostly_true),
                can_pickup=draw(st.booleans()),
                can_curbside=draw(st.booleans()),
                capacity_left=draw(st.sampled_from([-1, 0, *[1, 2, 3, 5, 8] * 3])),
                rejection_rate=draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0])),
                stock=stock,
            )
        )
    return candidates


@st.composite
def ship_cases(draw) -> tuple[Demand, list[Candidate]]:
    candidates = draw(candidate_lists())
    skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3, unique=True))
    ids = [c.location_id for c in candidates]
    exclude = draw(st.frozensets(st.sampled_from(ids), max_size=1))
    allow_safety_stock = draw(st.booleans())
    open_for_orders = [c for c in candidates if can_take_ship_orders(c, exclude=exclude)]
    on_offer = {
        sku: sum(
            usable_units(c, sku, allow_safety_stock=allow_safety_stock) for c in open_for_orders
        )
        for sku in skus
    }
    # Orders one location can fill, orders for nearly all the network has (which need many
    # locations), and now and then one line more than the usable locations hold together.
    short = draw(st.sampled_from([*[None] * 8, *skus]))
    lines = {
        sku: on_offer[sku] + draw(st.integers(1, 3))
        if sku == short or not on_offer[sku]
        else draw(
            st.integers(1, on_offer[sku]) | st.integers(max(1, on_offer[sku] - 3), on_offer[sku])
        )
        for sku in skus
    }
    demand = Demand(
        method="ship",
        lines=lines,
        point=draw(points),
        exclude=exclude,
        prefer=draw(st.sampled_from(["warehouse", "store"])),
        allow_safety_stock=allow_safety_stock,
    )
    return demand, candidates


def fewest_covering(demand: Demand, candidates: list[Candidate]) -> int | None:
    """Brute force: the size of the smallest set of usable locations that covers the demand."""
    usable = [c for c in candidates if can_take_ship_orders(c, exclude=demand.exclude)]
    for size in range(1, len(usable) + 1):
        for combo in combinations(usable, size):
            if all(
                sum(
                    usable_units(c, sku, allow_safety_stock=demand.allow_safety_stock)
                    for c in combo
                )
                >= qty
                for sku, qty in demand.lines.items()
            ):
                return size
    return None


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@PROPERTY_SETTINGS
@given(ship_cases())
def test_ship_never_allocates_more_than_a_location_can_promise(case):
    demand, candidates = case
    by_id = {c.location_id: c for c in candidates}

    decision = route(demand, candidates)

    taken: dict[tuple[int, int], int] = {}
    for a in decision.allocations:
        assert a.quantity > 0
        assert a.sku_id in demand.lines
        taken[(a.location_id, a.sku_id)] = taken.get((a.location_id, a.sku_id), 0) + a.quantity
    for (location_id, sku), quantity in taken.items():
        assert quantity <= usable_units(
            by_id[location_id], sku, allow_safety_stock=demand.allow_safety_stock
        )


@PROPERTY_SETTINGS
@given(ship_cases())
def test_ship_never_allocates_to_a_location_that_cannot_take_the_order(case):
    demand, candidates = case
    by_id = {c.location_id: c for c in candidates}

    decision = route(demand, candidates)

    for location_id in decision.location_ids:
        c = by_id[location_id]
        assert c.is_active
        assert c.can_ship
        assert c.capacity_left > 0
        assert location_id not in demand.exclude
    for a in decision.allocations:
        assert a.code == by_id[a.location_id].code


@PROPERTY_SETTINGS
@given(ship_cases())
def test_ship_ok_decision_allocates_exactly_the_demand(case):
    demand, candidates = case

    decision = route(demand, candidates)

    totals = dict.fromkeys(demand.lines, 0)
    for a in decision.allocations:
        totals[a.sku_id] += a.quantity
    if decision.ok:
        assert totals == demand.lines
    else:
        assert decision.allocations == []


@PROPERTY_SETTINGS
@given(ship_cases())
def test_ship_uses_the_fewest_locations_a_brute_force_search_finds(case):
    demand, candidates = case

    decision = route(demand, candidates)
    fewest = fewest_covering(demand, candidates)
    event(f"fewest locations: {fewest}")

    if fewest is None:
        assert not decision.ok
        assert decision.allocations == []
        usable = [c for c in candidates if can_take_ship_orders(c, exclude=demand.exclude)]
        on_offer = {
            sku: sum(
                usable_units(c, sku, allow_safety_stock=demand.allow_safety_stock) for c in usable
            )
            for sku in demand.lines
        }
        assert decision.shortages
        assert decision.shortages == {
            sku: (qty, on_offer[sku]) for sku, qty in demand.lines.items() if on_offer[sku] < qty
        }
    else:
        assert decision.ok
        if fewest <= sourcing.MAX_SPLITS:
            assert len(decision.location_ids) == fewest
        else:
            assert len(decision.location_ids) >= fewest


@PROPERTY_SETTINGS
@given(ship_cases(), st.data())
def test_ship_decision_does_not_depend_on_candidate_order(case, data):
    demand, candidates = case
    shuffled = data.draw(st.permutations(candidates))

    first = route(demand, candidates)
    again = route(demand, shuffled)

    assert again.allocations == first.allocations
    assert again.shortages == first.shortages
    assert again.considered == first.considered


@PROPERTY_SETTINGS
@given(
    candidate_lists(),
    st.sampled_from(["pickup", "curbside", "carry_out"]),
    st.dictionaries(st.sampled_from(SKUS), st.integers(1, 8), min_size=1),
    st.booleans(),
    st.data(),
)
def test_at_store_allocates_only_at_the_chosen_store_within_its_stock(
    candidates, method, lines, allow_safety_stock, data
):
    store = data.draw(st.sampled_from(candidates))
    demand = Demand(
        method=method,
        lines=lines,
        location_id=store.location_id,
        allow_safety_stock=allow_safety_stock,
    )

    decision = route(demand, candidates)

    offers = {"pickup": store.can_pickup, "curbside": store.can_curbside}.get(method, True)
    has_every_line = all(
        usable_units(store, sku, allow_safety_stock=allow_safety_stock) >= qty
        for sku, qty in lines.items()
    )
    assert decision.ok is (store.is_active and offers and has_every_line)
    if not (store.is_active and offers):
        [considered] = decision.considered
        assert considered["reason"] == ("inactive" if not store.is_active else "no_capability")
    if decision.ok:
        assert decision.location_ids == [store.location_id]
        assert {a.sku_id: a.quantity for a in decision.allocations} == lines
        assert decision.alternatives == []
    else:
        assert decision.allocations == []
        offered = [a["location"] for a in decision.alternatives]
        assert store.code not in offered
        assert len(offered) <= sourcing.ALTERNATIVES
        distances = [a["distance_km"] for a in decision.alternatives]
        assert distances == sorted(distances)


@st.composite
def ship_to_store_cases(draw) -> tuple[Demand, list[Candidate]]:
    candidates = draw(candidate_lists())
    store = draw(st.sampled_from(candidates))
    lines = draw(st.dictionaries(st.sampled_from(SKUS), st.integers(1, 8), min_size=1))
    demand = Demand(
        method=draw(st.sampled_from(["pickup", "curbside"])),
        lines=lines,
        location_id=store.location_id,
        allow_transfer=True,
    )
    return demand, candidates


@PROPERTY_SETTINGS
@given(ship_to_store_cases())
def test_ship_to_store_holds_at_the_store_only_what_it_has_and_sends_only_from_shippers(case):
    demand, candidates = case
    by_id = {c.location_id: c for c in candidates}
    store = by_id[demand.location_id]

    decision = route(demand, candidates)

    if not store.is_active or not getattr(store, f"can_{demand.method}"):
        assert not decision.ok, "a store that is closed, or does not offer it, hands nothing over"
        assert decision.transfer_possible is False
    if not decision.ok:
        assert decision.allocations == []
        return
    totals: dict[int, int] = {}
    for a in decision.allocations:
        totals[a.sku_id] = totals.get(a.sku_id, 0) + a.quantity
        c = by_id[a.location_id]
        assert a.quantity <= usable_units(c, a.sku_id, allow_safety_stock=False)
        if a.location_id == demand.location_id:
            assert a.transfer_to == ""
        else:
            assert a.transfer_to == by_id[demand.location_id].code
            assert can_take_ship_orders(c, exclude=frozenset())
    assert totals == demand.lines
    store_has_all = all(
        usable_units(by_id[demand.location_id], sku, allow_safety_stock=False) >= qty
        for sku, qty in demand.lines.items()
    )
    assert bool(decision.transfers) is not store_has_all


# --- the snapshot ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_sourcing_candidates_snapshot_has_stock_and_capacity_left_today():
    tee = Sku.objects.create(code="TEE-M", name="Tee, medium", price=Decimal("99.00"))
    cap = Sku.objects.create(code="CAP", name="Cap", price=Decimal("59.00"))
    unasked = Sku.objects.create(code="SOCKS", name="Socks", price=Decimal("19.00"))
    warehouse = WarehouseFactory(
        code="WH-EAST", latitude=31.1, longitude=121.6, daily_ship_capacity=3
    )
    store = LocationFactory(
        code="SH-XUHUI", latitude=31.19, longitude=121.44, recent_rejection_rate=0.2
    )
    no_ship = LocationFactory(code="SH-NOSHIP", can_ship=False)
    no_stock = LocationFactory(code="SH-EMPTY")

    stock_receive(location=warehouse, sku=tee, quantity=10)
    stock_set_safety_stock(location=warehouse, sku=tee, safety_stock=2)
    stock_receive(location=warehouse, sku=cap, quantity=4)
    stock_receive(location=store, sku=tee, quantity=3)
    stock_set_safety_stock(location=store, sku=cap, safety_stock=1)
    stock_receive(location=no_ship, sku=tee, quantity=8)
    stock_receive(location=no_stock, sku=unasked, quantity=8)
    # One ship order of two lines at the warehouse today; a pickup hold does not use capacity.
    stock_reserve(
        requests=[
            StockRequest(location_id=warehouse.pk, sku_id=tee.pk, quantity=3, reference="D1/1"),
            StockRequest(location_id=warehouse.pk, sku_id=cap.pk, quantity=1, reference="D1/2"),
        ],
        demand="D1",
        delivery_method="ship",
    )
    stock_reserve(
        requests=[
            StockRequest(location_id=warehouse.pk, sku_id=cap.pk, quantity=1, reference="D2/1")
        ],
        demand="D2",
        delivery_method="pickup",
    )

    snapshot = {c.code: c for c in sourcing_candidates(sku_ids=[tee.pk, cap.pk], method="ship")}

    # Every location holding the goods, so the decision can say why one that cannot ship
    # was dropped; the store that holds none of them is not in it.
    assert set(snapshot) == {"WH-EAST", "SH-XUHUI", "SH-NOSHIP"}
    assert snapshot["SH-NOSHIP"].can_ship is False
    wh = snapshot["WH-EAST"]
    # (available to promise, free including safety stock)
    assert wh.stock == {tee.pk: (10 - 3 - 2, 10 - 3), cap.pk: (4 - 2, 4 - 2)}
    assert wh.capacity_left == 3 - 1
    assert wh.kind == "warehouse"
    assert (wh.latitude, wh.longitude) == (31.1, 121.6)
    assert wh.can_ship is True
    assert wh.location_id == warehouse.pk
    xuhui = snapshot["SH-XUHUI"]
    assert xuhui.stock == {tee.pk: (3, 3), cap.pk: (-1, 0)}
    assert xuhui.capacity_left == 100
    assert xuhui.rejection_rate == 0.2

    decision = route(
        Demand(method="ship", lines={tee.pk: 4, cap.pk: 2}, point=(31.1, 121.6)),
        list(snapshot.values()),
    )
    assert decision.ok
    assert decision.location_ids == [warehouse.pk]
    assert entry(decision, "SH-NOSHIP")["reason"] == "no_capability"


@pytest.mark.django_db
def test_a_pickup_store_that_has_everything_is_the_whole_snapshot(django_assert_num_queries):
    tee = Sku.objects.create(code="TEE-M", name="Tee, medium", price=Decimal("99.00"))
    store = LocationFactory(code="SH-XUHUI")
    other = LocationFactory(code="SH-PUDONG")
    warehouse = WarehouseFactory(code="WH-EAST")
    for location in (store, other, warehouse):
        stock_receive(location=location, sku=tee, quantity=5)

    with django_assert_num_queries(1):  # the store's stock rows, its location joined
        enough = sourcing_candidates(
            sku_ids=[tee.pk], method="pickup", location_id=store.pk, demand={tee.pk: 5}
        )
    short = sourcing_candidates(
        sku_ids=[tee.pk], method="pickup", location_id=store.pk, demand={tee.pk: 6}
    )

    assert [c.code for c in enough] == ["SH-XUHUI"]
    # Short of one: the other stores (alternatives) and the shippers (ship-to-store) too.
    assert {c.code for c in short} == {"SH-XUHUI", "SH-PUDONG", "WH-EAST"}
    assert {c.code: c.capacity_left for c in short}["WH-EAST"] == warehouse.daily_ship_capacity


@pytest.mark.parametrize(
    ("method", "flag"),
    [
        (DeliveryMethod.PICKUP, "can_pickup"),
        (DeliveryMethod.CURBSIDE, "can_curbside"),
        (DeliveryMethod.SHIP, None),
        (DeliveryMethod.CARRY_OUT, None),
        (DeliveryMethod.TRANSFER, None),
    ],
)
def test_each_at_store_method_names_the_store_capability_it_needs(method, flag):
    assert store_capability(method) == flag
