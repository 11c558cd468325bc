"""The routing snapshot: bounded to what can change the decision, the same decision as the
whole chain, a constant number of queries whatever the size of the chain."""

import json
import random
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from inventory import snapshot, sourcing
from inventory.models import ShipDay, Sku, StockLevel
from inventory.snapshot import sourcing_candidates
from inventory.sourcing import Candidate, Demand, Snapshot, route
from stores.models import Location

# A few shared spots, so that equal distances (and the tie-breaks after them) come up.
SPOTS = [(31.20, 121.40), (31.25, 121.45), (31.30, 121.50), (30.90, 121.10)]


def chain(*, size: int, skus: list[Sku], seed: int, busy: float = 1.0) -> list[Location]:
    """`size` locations with random capabilities, capacity used today, rejection rates and
    stock (empty rows and safety stock included), written straight to their tables. With
    `busy` under 1 fewer of them are closed, cannot ship, are full or get rejected."""
    rnd = random.Random(seed)

    def odds(p: float) -> bool:  # an unusual state, as often as `busy` makes it
        return rnd.random() < p * busy

    locations = Location.objects.bulk_create(
        [
            Location(
                code=f"C{seed}-{index:03d}",
                name=f"Location {index}",
                kind=rnd.choice([Location.Kind.WAREHOUSE] + [Location.Kind.STORE] * 6),
                latitude=spot[0],
                longitude=spot[1],
                is_active=not odds(0.1),
                can_ship=not odds(0.15),
                can_pickup=rnd.random() < 0.7,
                can_curbside=rnd.random() < 0.5,
                daily_ship_capacity=rnd.choice([1, 2, 5]) if odds(0.6) else 100,
                recent_rejection_rate=rnd.choice([0.1, 0.5, 1.0]) if odds(0.5) else 0.0,
            )
            for index in range(size)
            for spot in [
                rnd.choice(SPOTS)
                if rnd.random() < 0.4
                else (rnd.uniform(30.5, 32.0), rnd.uniform(120.5, 122.0))
            ]
        ]
    )
    levels = []
    for location in locations:
        for sku in skus:
            if odds(0.3):
                continue
            on_hand = rnd.choice([0, 0, 1, 2, 3, 5, 8, 12, 30])
            reserved = rnd.randint(0, on_hand) if rnd.random() < 0.3 else 0
            levels.append(
                StockLevel(
                    location=location,
                    sku=sku,
                    on_hand=on_hand,
                    reserved=reserved,
                    safety_stock=rnd.choice([0, 0, 1, 2]),
                )
            )
    StockLevel.objects.bulk_create(levels)
    ShipDay.objects.bulk_create(
        [
            ShipDay(location=location, day=timezone.localdate(), orders=rnd.randint(1, 5))
            for location in locations
            if rnd.random() < 0.3
        ]
    )
    return locations


@pytest.fixture
def skus(db) -> list[Sku]:
    return Sku.objects.bulk_create(
        [Sku(code=f"SNAP-{n}", name=f"Item {n}", price=Decimal("10.00")) for n in range(4)]
    )


def demands(skus: list[Sku], locations: list[Location], *, large: bool = True):
    sku_ids = [sku.pk for sku in skus]
    # One location fills the small ones; the large need splits, greedy or a 409.
    small = st.sampled_from([1, 1, 2, 3, 5])
    return st.builds(
        Demand,
        method=st.just("ship"),
        lines=st.dictionaries(
            st.sampled_from(sku_ids),
            small | st.integers(1, 60) | st.integers(200, 600) if large else small,
            min_size=1,
            max_size=len(sku_ids),
        ),
        point=st.none()
        | st.sampled_from(SPOTS)
        | st.tuples(st.floats(30.5, 32.0), st.floats(120.5, 122.0)),
        exclude=st.frozensets(st.sampled_from([loc.pk for loc in locations]), max_size=3),
        prefer=st.sampled_from([Location.Kind.WAREHOUSE, Location.Kind.STORE]),
        allow_safety_stock=st.booleans(),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("seed", "busy", "size", "large"),
    [
        (1, 1.0, 90, True),
        (2, 1.0, 90, True),
        # Small orders in quiet chains: the nearest locations mostly settle those alone.
        (5, 0.2, 90, False),
        (6, 0.1, 90, False),
        # A chain the nearest cover whole: the same decision, every location counted.
        (7, 1.0, snapshot.NEAREST - 4, False),
    ],
)
def test_bounded_ship_snapshot_decides_as_the_whole_chain(skus, seed, busy, size, large):
    locations = chain(size=size, skus=skus, seed=seed, busy=busy)

    nearest_only = []

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(demands(skus, locations, large=large))
    def decides_the_same(demand: Demand):
        bounded = sourcing_candidates(sku_ids=demand.lines, method="ship", demand=demand)
        whole = sourcing_candidates(sku_ids=demand.lines, method="ship")
        nearest_only.append(bounded.nearest_only)

        by_snapshot = route(demand, bounded)
        by_chain = route(demand, whole)

        event("ok" if by_chain.ok else "shortage")
        event(f"locations used: {len(by_chain.location_ids)}")
        event(f"nearest only: {bounded.nearest_only}")
        assert isinstance(bounded, Snapshot)
        assert len(bounded) <= len(whole)  # all of them when a split needs every holder
        assert by_snapshot.alternatives == by_chain.alternatives
        got, expected = by_snapshot.as_dict(), by_chain.as_dict()
        if not bounded.nearest_only:
            assert got == expected
            return
        # Only the nearest were looked at: the same decision and runners-up, the nearest
        # dropped among them (fewer when they hold fewer, more runners-up instead), and a
        # summary that counts only them.
        summary, shown = got.pop("summary"), got.pop("considered")
        whole_summary, whole_shown = expected.pop("summary"), expected.pop("considered")
        assert got == expected
        assert len(shown) == len(whole_shown)
        kept = [entry for entry in shown if entry["kept"]]
        whole_kept = [entry for entry in whole_shown if entry["kept"]]
        assert whole_kept == kept[: len(whole_kept)]
        dropped = [entry for entry in shown if not entry["kept"]]
        assert dropped == [entry for entry in whole_shown if not entry["kept"]][: len(dropped)]
        assert summary["nearest_only"] is True
        assert summary["considered"] <= snapshot.NEAREST < whole_summary["considered"]
        assert summary["kept"] + sum(summary["dropped"].values()) == summary["considered"]
        assert summary["kept"] >= sourcing.CONSIDERED_SHOWN

    decides_the_same()
    if not large and size > snapshot.NEAREST:  # both ways were taken, often
        assert 10 <= sum(nearest_only) <= len(nearest_only) - 10


def at_store_demands(skus: list[Sku], locations: list[Location]):
    return st.builds(
        Demand,
        method=st.sampled_from(["pickup", "curbside"]),
        lines=st.dictionaries(
            st.sampled_from([sku.pk for sku in skus]),
            st.sampled_from([1, 2, 3, 5, 8, 13]) | st.integers(1, 60),
            min_size=1,
            max_size=len(skus),
        ),
        location_id=st.sampled_from([loc.pk for loc in locations]),
        exclude=st.frozensets(st.sampled_from([loc.pk for loc in locations]), max_size=2),
        prefer=st.sampled_from([Location.Kind.WAREHOUSE, Location.Kind.STORE]),
        allow_transfer=st.booleans(),
    )


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [3, 4])
def test_bounded_pickup_snapshot_decides_as_the_whole_chain(skus, seed):
    locations = chain(size=90, skus=skus, seed=seed)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(at_store_demands(skus, locations))
    def decides_the_same(demand: Demand):
        ask = {"sku_ids": demand.lines, "method": demand.method, "location_id": demand.location_id}
        bounded = sourcing_candidates(**ask, demand=demand)
        whole = sourcing_candidates(**ask, demand=demand.lines)

        by_snapshot = route(demand, bounded)
        by_chain = route(demand, whole)

        event("ok" if by_chain.ok else "shortage")
        event(f"transfer possible: {by_chain.transfer_possible}")
        assert len(bounded) <= len(whole)
        assert by_snapshot.as_dict() == by_chain.as_dict()
        assert by_snapshot.alternatives == by_chain.alternatives

    decides_the_same()


def looked_at(scope: str) -> float:
    """Ship snapshots so far that looked at `scope`, as /metrics counts them."""
    sample = REGISTRY.get_sample_value(
        "omnistock_routing_ship_snapshots_total", {"looked_at": scope}
    )
    return sample or 0.0


def healthy_chain(*, size: int, skus: list[Sku]) -> list[Location]:
    """`size` active locations that ship, with capacity and every SKU in stock."""
    rnd = random.Random(size)
    locations = Location.objects.bulk_create(
        [
            Location(
                code=f"H-{index:04d}",
                name=f"Location {index}",
                kind=Location.Kind.STORE,
                latitude=rnd.uniform(30.5, 32.0),
                longitude=rnd.uniform(120.5, 122.0),
                can_ship=True,
                daily_ship_capacity=100,
            )
            for index in range(size)
        ]
    )
    StockLevel.objects.bulk_create(
        [StockLevel(location=loc, sku=sku, on_hand=10) for loc in locations for sku in skus]
    )
    return locations


@pytest.mark.django_db
@pytest.mark.parametrize("size", [snapshot.NEAREST * 2, snapshot.NEAREST * 8])
def test_ship_snapshot_is_one_query_whatever_the_size_of_the_chain(
    skus, size, django_assert_max_num_queries
):
    healthy_chain(size=size, skus=skus)
    demand = Demand(
        method="ship", lines={skus[0].pk: 2, skus[1].pk: 1, skus[2].pk: 1}, point=SPOTS[0]
    )

    before = looked_at("nearest")
    with django_assert_max_num_queries(1):
        bounded = sourcing_candidates(sku_ids=demand.lines, method="ship", demand=demand)

    # The nearest settle it: only they are looked at, and the decision counts only them.
    assert looked_at("nearest") == before + 1
    assert bounded.nearest_only
    assert len(bounded) <= 60
    decision = route(demand, bounded)
    assert decision.summary["considered"] == decision.summary["kept"] == snapshot.NEAREST
    assert decision.summary["nearest_only"] is True
    whole = route(demand, sourcing_candidates(sku_ids=demand.lines, method="ship"))
    assert decision.location_ids == whole.location_ids


def place(code: str, kind: str, km_north: float, stock: dict[Sku, int]) -> Location:
    """A location that ships, `km_north` of SPOTS[0], holding `stock`."""
    lat, lng = SPOTS[0]
    location = Location.objects.create(
        code=code, name=code, kind=kind, latitude=lat + km_north / 111.195, longitude=lng,
        can_ship=True, daily_ship_capacity=100,
    )  # fmt: skip
    StockLevel.objects.bulk_create(
        [StockLevel(location=location, sku=sku, on_hand=units) for sku, units in stock.items()]
    )
    return location


def routed_as_over_every_holder(demand: Demand) -> sourcing.RoutingDecision:
    """`demand` routed as checkout routes it, asserted to be the decision the whole chain's
    snapshot gives, without `nearest_only`."""
    bounded = sourcing_candidates(sku_ids=demand.lines, method="ship", demand=demand)
    assert not bounded.nearest_only
    decision = route(demand, bounded)
    whole = sourcing_candidates(sku_ids=demand.lines, method="ship")
    assert decision.as_dict() == route(demand, whole).as_dict()
    return decision


@pytest.mark.django_db
def test_a_whole_location_as_far_as_the_farthest_looked_at_sends_the_order_to_the_chain(skus):
    # 31 near locations with one line of two; the 32nd nearest has both, and so has a
    # warehouse a hair farther, which wins the tie of distance (warehouse before store).
    one, both = {skus[0]: 5}, {skus[0]: 5, skus[1]: 5}
    for n in range(snapshot.NEAREST - 1):
        place(f"P-{n:02d}", Location.Kind.STORE, 1 + n / 100, one)
    place("Z-STORE", Location.Kind.STORE, 5.0, both)
    warehouse = place("A-WH", Location.Kind.WAREHOUSE, 5.0001, both)
    demand = Demand(method="ship", lines={skus[0].pk: 1, skus[1].pk: 1}, point=SPOTS[0])

    decision = routed_as_over_every_holder(demand)

    assert decision.location_ids == [warehouse.pk]


@pytest.mark.django_db
def test_too_few_near_locations_that_can_take_the_order_send_it_to_the_chain(skus):
    # The nearest has every line; with it only CONSIDERED_SHOWN - 1 near ones can take the
    # order (the other nearest hold none of it), so runners-up farther away may be shown.
    one, both = {skus[0]: 5}, {skus[0]: 5, skus[1]: 5}
    nearest = place("N-WHOLE", Location.Kind.STORE, 0.5, both)
    for n in range(sourcing.CONSIDERED_SHOWN - 2):
        place(f"P-{n:02d}", Location.Kind.STORE, 1 + n / 100, one)
    for n in range(snapshot.NEAREST):
        place(f"E-{n:02d}", Location.Kind.STORE, 2 + n / 100, {skus[2]: 5})
    for n in range(3):
        place(f"F-{n:02d}", Location.Kind.STORE, 50 + n, one)
    demand = Demand(method="ship", lines={skus[0].pk: 1, skus[1].pk: 1}, point=SPOTS[0])

    decision = routed_as_over_every_holder(demand)

    assert decision.location_ids == [nearest.pk]
    assert "F-00" in {entry["location"] for entry in decision.considered}


@pytest.mark.django_db
def test_a_chain_smaller_than_the_nearest_is_decided_and_counted_whole(skus):
    near, *_ = healthy_chain(size=4, skus=skus)
    far = Location.objects.create(
        code="FAR", name="Far", kind=Location.Kind.STORE, latitude=39.9, longitude=116.4,
        can_ship=True, is_active=False,
    )  # fmt: skip
    StockLevel.objects.create(location=far, sku=skus[0], on_hand=10)
    demand = Demand(method="ship", lines={skus[0].pk: 1}, point=(near.latitude, near.longitude))

    decision = routed_as_over_every_holder(demand)

    assert decision.location_ids == [near.pk]
    assert {"location": "FAR", "reason": "inactive"}.items() <= decision.considered[-1].items()
    assert decision.summary == {"considered": 5, "kept": 4, "dropped": {"inactive": 1}}


def _nearest_plan(cursor, demand: Demand) -> str:
    """EXPLAIN of the nearest-only ship statement for `demand` (a plain ship order)."""
    sql = snapshot._ship_snapshot_sql(demand, None, snapshot._NEAREST_ONLY)
    skus = sorted(demand.lines)
    cursor.execute(
        f"EXPLAIN {sql}",
        {
            "skus": skus, "qtys": [demand.lines[sku] for sku in skus], "lines": len(skus),
            "wanted": [None] * len(skus), "wanted_lines": -1, "store": None, "exclude": [],
            "today": timezone.localdate(), "lat": demand.point[0], "lng": demand.point[1],
            "penalty": sourcing.REJECTION_PENALTY, "penalty_km": sourcing.REJECTION_PENALTY_KM,
            "prefer": Location.Kind.WAREHOUSE,
        },
    )  # fmt: skip
    return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_nearest_locations_are_found_by_the_index_not_by_reading_the_chain(skus):
    healthy_chain(size=1000, skus=skus[:1])  # a chain the size retailers run
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE stores_location")
        # The index must fit the statement's expression; a table bloated by earlier tests
        # may make its cost look no better than reading it, which is not the question here.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = _nearest_plan(cursor, Demand(method="ship", lines={skus[0].pk: 1}, point=SPOTS[0]))
    assert "Index Scan using stores_location_unit_sphere" in plan


@pytest.mark.django_db
def test_the_nearest_stock_is_read_by_index_for_the_nearest_only():
    """The nearest locations' stock rows are read by index for those locations together
    (on a large vacuumed chain the planner takes the covering (SKU, location) index, where
    one SKU's rows at every location lie together; on a small one it may read them by
    location), and their locations and ship days by key."""
    assortment = Sku.objects.bulk_create(
        [Sku(code=f"WIDE-{n}", name=f"Item {n}", price=Decimal("10.00")) for n in range(60)]
    )
    locations = healthy_chain(size=500, skus=assortment)
    today = timezone.localdate()
    ShipDay.objects.bulk_create([ShipDay(location=loc, day=today, orders=1) for loc in locations])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inventory_stocklevel, stores_location, inventory_shipday")
        # What is asked is which rows each step reads, not whether a table this small is
        # cheaper to read whole (see the test above).
        cursor.execute("SET LOCAL enable_seqscan = off")
        demand = Demand(method="ship", lines={sku.pk: 1 for sku in assortment[:3]}, point=SPOTS[0])
        plan = _nearest_plan(cursor, demand)
    by_nearest = [
        line for line in plan.splitlines() if "Index Cond:" in line and "location_id = ANY" in line
    ]
    assert by_nearest, plan
    # Each location by its key, as the stock rows name it (not the chain's table, hashed).
    assert any(
        "Index Cond: (id = s" in line and ".location_id)" in line for line in plan.splitlines()
    )
    assert "Seq Scan" not in plan, plan


@pytest.mark.django_db
@pytest.mark.parametrize("size", [5, 60])
def test_ship_snapshot_counts_every_holder_when_the_nearest_cannot_settle_it(
    skus, size, django_assert_max_num_queries
):
    chain(size=size, skus=skus, seed=size)
    # More of the first SKU than any one location holds: a split, which may use any holder.
    demand = Demand(
        method="ship", lines={skus[0].pk: 40, skus[1].pk: 1, skus[2].pk: 1}, point=SPOTS[0]
    )

    before = looked_at("every_holder")
    with django_assert_max_num_queries(2):
        bounded = sourcing_candidates(sku_ids=demand.lines, method="ship", demand=demand)

    assert looked_at("every_holder") == before + 1
    assert not bounded.nearest_only
    assert len(bounded) <= 60
    summary = route(demand, bounded).summary
    assert "nearest_only" not in summary
    assert (
        summary["considered"]
        == StockLevel.objects.filter(sku_id__in=demand.lines).values("location").distinct().count()
    )


@pytest.mark.django_db
@pytest.mark.parametrize("size", [5, 60])
@pytest.mark.parametrize("method", ["pickup", "curbside", "carry_out"])
def test_at_store_snapshot_is_one_or_two_queries_whatever_the_size_of_the_chain(
    skus, size, method, django_assert_max_num_queries
):
    store, *_ = chain(size=size, skus=skus, seed=size)
    StockLevel.objects.update_or_create(
        location=store, sku=skus[0], defaults={"on_hand": 5, "reserved": 0, "safety_stock": 0}
    )
    has = {skus[0].pk: 5}
    lacks = {skus[0].pk: 10_000}

    with django_assert_max_num_queries(1):
        sourcing_candidates(sku_ids=has, method=method, location_id=store.pk, demand=has)
    with django_assert_max_num_queries(2):
        sourcing_candidates(sku_ids=lacks, method=method, location_id=store.pk, demand=lacks)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["ship", "pickup"])
def test_snapshot_is_planned_once_not_for_every_order(skus, method):
    """Prepared on the connection, the snapshot keeps PostgreSQL's generic plan, whatever
    the number of lines: no estimate depends on the demand, so no order pays for planning."""
    if connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        pytest.skip("statements are not prepared on this connection")
    locations = chain(size=30, skus=skus, seed=9)
    rnd = random.Random(9)
    for _ in range(20):
        lines = {sku.pk: rnd.choice([1, 2, 5]) for sku in rnd.sample(skus, rnd.randint(1, 4))}
        if method == "ship":
            demand = Demand(method="ship", lines=lines, point=rnd.choice(SPOTS))
        else:  # more than any store holds: the transfer's snapshot is the statement asked
            lines = dict.fromkeys(lines, 1_000)
            demand = Demand(method="pickup", lines=lines, location_id=locations[0].pk)
        sourcing_candidates(
            sku_ids=demand.lines, method=method, location_id=demand.location_id, demand=demand
        )

    # A ship order to a point asks the nearest first; the transfer to a store, every holder.
    asked = "%near AS MATERIALIZED%" if method == "ship" else "%WITH line AS%"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s",
            [asked],
        )
        (generic, custom), *others = cursor.fetchall()
    assert not others
    # PostgreSQL plans the first five executions for their values, then compares.
    assert custom == 5
    assert generic >= 5


def test_stored_decision_is_bounded_whatever_the_size_of_the_chain():
    rnd = random.Random(4)
    candidates = [
        Candidate(
            location_id=index,
            code=f"L{index:04d}",
            kind=rnd.choice(["store", "warehouse"]),
            latitude=rnd.uniform(30.5, 32.0),
            longitude=rnd.uniform(120.5, 122.0),
            is_active=rnd.random() < 0.95,
            can_ship=rnd.random() < 0.9,
            capacity_left=rnd.choice([0, 5, 50]),
            stock={sku: (units, units) for sku in (1, 2, 3) for units in [rnd.randint(0, 4)]},
        )
        for index in range(1, 1001)
    ]
    demand = Demand(method="ship", lines={1: 3, 2: 2, 3: 9}, point=SPOTS[0])

    decision = route(demand, candidates)

    stored = decision.as_dict()
    assert decision.ok
    assert len(stored["considered"]) <= sourcing.CONSIDERED_SHOWN
    shown = {e["location"] for e in stored["considered"]}
    assert set(stored["locations"]) <= shown
    assert sum(not e["chosen"] and e["kept"] for e in stored["considered"]) >= min(
        sourcing.RUNNERS_UP_SHOWN, stored["summary"]["kept"] - len(stored["locations"])
    )
    assert stored["summary"]["considered"] == 1000
    assert stored["summary"]["kept"] + sum(stored["summary"]["dropped"].values()) == 1000
    assert len(json.dumps(stored)) < 5000


def test_the_summary_counts_the_locations_a_snapshot_left_out():
    kept = Candidate(
        location_id=1, code="L1", kind="store", latitude=31.2, longitude=121.4,
        can_ship=True, capacity_left=5, stock={1: (3, 3)},
    )  # fmt: skip
    snapshot = Snapshot([kept], left_out={"kept": 7, "inactive": 2, "no_stock": 1})

    decision = route(Demand(method="ship", lines={1: 1}, point=SPOTS[0]), snapshot)

    assert decision.summary == {
        "considered": 11,
        "kept": 8,
        "dropped": {"inactive": 2, "no_stock": 1},
    }


@pytest.mark.django_db
def test_portable_snapshot_elsewhere_than_postgresql_decides_the_same(skus, monkeypatch):
    """The embedded SQLite reads every holder with portable queries: same decisions."""
    locations = chain(size=40, skus=skus, seed=7)
    rnd = random.Random(7)
    cases = [
        Demand(
            method=method,
            lines={sku.pk: rnd.choice([1, 2, 5, 40]) for sku in rnd.sample(skus, 2)},
            point=rnd.choice(SPOTS) if method == "ship" else None,
            location_id=None if method == "ship" else rnd.choice(locations).pk,
            allow_transfer=True,
        )
        for method in ["ship", "pickup", "curbside", "carry_out"] * 8
    ]

    def decisions():
        found = []
        for demand in cases:
            candidates = sourcing_candidates(
                sku_ids=demand.lines,
                method=demand.method,
                location_id=demand.location_id,
                demand=demand,
            )
            decision = route(demand, candidates)
            found.append((decision.as_dict(), decision.alternatives))
        return found

    native = decisions()
    monkeypatch.setattr(snapshot, "native_sql", lambda: False)

    assert decisions() == native
