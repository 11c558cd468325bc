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

from inventory import snapshot, sourcing
from inventory.models import ShipDay, Sku, StockLevel
from inventory.snapshot import sourcing_candidates
from inventory.sourcing import Candidate, Demand, Snapshot, route
from stores.models import Location

# A few shared spots, so that equal distances (and the tie-breaks after them) come up.
SPOTS = [(31.20, 121.40), (31.25, 121.45), (31.30, 121.50), (30.90, 121.10)]


def chain(*, size: int, skus: list[Sku], seed: int) -> list[Location]:
    """`size` locations with random capabilities, capacity used today, rejection rates and
    stock (empty rows and safety stock included), written straight to their tables."""
    rnd = random.Random(seed)
    locations = Location.objects.bulk_create(
        [
            Location(
                code=f"C{seed}-{index:03d}",
                name=f"Location {index}",
                kind=rnd.choice([Location.Kind.WAREHOUSE] + [Location.Kind.STORE] * 6),
                latitude=spot[0],
                longitude=spot[1],
                is_active=rnd.random() < 0.9,
                can_ship=rnd.random() < 0.85,
                can_pickup=rnd.random() < 0.7,
                can_curbside=rnd.random() < 0.5,
                daily_ship_capacity=rnd.choice([1, 2, 5, 100, 100]),
                recent_rejection_rate=rnd.choice([0.0, 0.0, 0.0, 0.1, 0.5, 1.0]),
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
            if rnd.random() < 0.3:
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


def demands(skus: list[Sku], locations: list[Location]):
    sku_ids = [sku.pk for sku in skus]
    return st.builds(
        Demand,
        method=st.just("ship"),
        lines=st.dictionaries(
            st.sampled_from(sku_ids),
            # One location fills the small ones; the large need splits, greedy or a 409.
            st.sampled_from([1, 1, 2, 3, 5]) | st.integers(1, 60) | st.integers(200, 600),
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
@pytest.mark.parametrize("seed", [1, 2])
def test_bounded_ship_snapshot_decides_as_the_whole_chain(skus, seed):
    locations = chain(size=90, skus=skus, seed=seed)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(demands(skus, locations))
    def decides_the_same(demand: Demand):
        bounded = sourcing_candidates(sku_ids=demand.lines, method="ship", demand=demand)
        whole = sourcing_candidates(sku_ids=demand.lines, method="ship")

        by_snapshot = route(demand, bounded)
        by_chain = route(demand, whole)

        event("ok" if by_chain.ok else "shortage")
        event(f"locations used: {len(by_chain.location_ids)}")
        assert isinstance(bounded, Snapshot)
        assert len(bounded) < len(whole)
        assert by_snapshot.as_dict() == by_chain.as_dict()
        assert by_snapshot.alternatives == by_chain.alternatives

    decides_the_same()


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


@pytest.mark.django_db
@pytest.mark.parametrize("size", [5, 60])
def test_ship_snapshot_is_one_query_whatever_the_size_of_the_chain(
    skus, size, django_assert_max_num_queries
):
    chain(size=size, skus=skus, seed=size)
    demand = Demand(
        method="ship", lines={skus[0].pk: 2, skus[1].pk: 1, skus[2].pk: 1}, point=SPOTS[0]
    )

    with django_assert_max_num_queries(1):
        snapshot = sourcing_candidates(sku_ids=demand.lines, method="ship", demand=demand)

    # The best by score and with every line, the deepest per line, the nearest dropped.
    assert len(snapshot) <= 60
    assert (
        route(demand, snapshot).summary["considered"]
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

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s",
            ["%WITH line AS%"],
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
