from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from inventory.errors import (
    CountBelowReserved,
    InsufficientStock,
    InvalidMovement,
    ShipCapacityExhausted,
    StaleCount,
)
from inventory.models import Reservation, ShipDay, StockLevel, StockMovement, Transfer
from inventory.selectors import ship_orders_today, stock_breaches
from inventory.services import (
    MovementOrigin,
    StockRequest,
    stock_adjust,
    stock_consume,
    stock_cycle_count,
    stock_pos_sale,
    stock_receive,
    stock_release,
    stock_reserve,
    stock_restock_return,
    stock_set_safety_stock,
    stock_transfer,
    stock_transfer_receive,
    stock_transfer_reserved,
    stock_write_off,
)
from stores.models import Location
from tests.inventory.factories import SkuFactory, level_of, reserve_one, stock_put
from tests.stores.factories import LocationFactory, WarehouseFactory

Reason = StockMovement.Reason


@pytest.fixture
def store(db):
    return LocationFactory()


@pytest.fixture
def other_store(db):
    return LocationFactory()


@pytest.fixture
def sku(db):
    return SkuFactory()


def _request(location, sku, quantity, reference="ORDER-1/1"):
    return StockRequest(
        location_id=location.pk, sku_id=sku.pk, quantity=quantity, reference=reference
    )


def _movements(location, sku) -> list[tuple[str, int, int]]:
    return list(
        StockMovement.objects.filter(location=location, sku=sku)
        .order_by("id")
        .values_list("reason", "delta_on_hand", "delta_reserved")
    )


def _stock(location, sku) -> tuple[int, int]:
    level = level_of(location, sku)
    return level.on_hand, level.reserved


# --- reserve ------------------------------------------------------------------------------


def test_reserve_holds_stock_and_records_the_reservation(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)

    [reservation] = stock_reserve(
        requests=[_request(store, sku, 3)], demand="ORDER-1", delivery_method="ship"
    )

    assert _stock(store, sku) == (5, 3)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.ACTIVE
    assert (reservation.quantity, reservation.demand, reservation.reference) == (
        3,
        "ORDER-1",
        "ORDER-1/1",
    )
    assert _movements(store, sku)[-1] == (Reason.RESERVE, 0, 3)


def test_second_reserve_for_last_unit_raises_insufficient_stock(store, sku):
    stock_put(location=store, sku=sku, on_hand=1)
    reserve_one(location=store, sku=sku, quantity=1, demand="ORDER-1")

    with pytest.raises(InsufficientStock) as caught:
        reserve_one(location=store, sku=sku, quantity=1, demand="ORDER-2")

    assert caught.value.extra["lines"] == [
        {"sku": sku.code, "location": store.code, "requested": 1, "available": 0}
    ]
    assert _stock(store, sku) == (1, 1)
    assert Reservation.objects.filter(demand="ORDER-2").count() == 0


def test_reserve_is_all_or_nothing_when_a_later_line_is_short(store, other_store, sku):
    stock_put(location=store, sku=sku, on_hand=10)
    stock_put(location=other_store, sku=sku, on_hand=1)
    movements_before = StockMovement.objects.count()

    with pytest.raises(InsufficientStock):
        stock_reserve(
            requests=[
                _request(store, sku, 4, "ORDER-1/1"),
                _request(other_store, sku, 2, "ORDER-1/2"),
            ],
            demand="ORDER-1",
        )

    assert _stock(store, sku) == (10, 0)
    assert _stock(other_store, sku) == (1, 0)
    assert not Reservation.objects.filter(demand="ORDER-1").exists()
    assert StockMovement.objects.count() == movements_before


def test_insufficient_stock_lists_every_short_line_with_requested_and_available(store, sku):
    plenty, short, missing = sku, SkuFactory(), SkuFactory()
    stock_put(location=store, sku=plenty, on_hand=10)
    stock_put(location=store, sku=short, on_hand=3)

    with pytest.raises(InsufficientStock) as caught:
        stock_reserve(
            requests=[
                _request(store, missing, 1, "ORDER-1/3"),
                _request(store, short, 5, "ORDER-1/2"),
                _request(store, plenty, 2, "ORDER-1/1"),
            ],
            demand="ORDER-1",
        )

    assert caught.value.code == "insufficient_stock"
    assert caught.value.status == 409
    assert sorted(caught.value.extra["lines"], key=lambda line: line["sku"]) == sorted(
        [
            {"sku": short.code, "location": store.code, "requested": 5, "available": 3},
            {"sku": missing.code, "location": store.code, "requested": 1, "available": 0},
        ],
        key=lambda line: line["sku"],
    )
    assert _stock(store, plenty) == (10, 0)


def test_lines_for_the_same_sku_and_location_are_checked_together(store, sku):
    stock_put(location=store, sku=sku, on_hand=3)

    with pytest.raises(InsufficientStock) as caught:
        stock_reserve(
            requests=[_request(store, sku, 2, "ORDER-1/1"), _request(store, sku, 2, "ORDER-1/2")],
            demand="ORDER-1",
        )

    assert caught.value.extra["lines"][0]["requested"] == 4
    assert _stock(store, sku) == (3, 0)


def test_online_reserve_cannot_use_safety_stock(store, sku):
    stock_put(location=store, sku=sku, on_hand=5, safety_stock=2)
    reserve_one(location=store, sku=sku, quantity=3, demand="ORDER-1")

    with pytest.raises(InsufficientStock) as caught:
        reserve_one(location=store, sku=sku, quantity=1, demand="ORDER-2")

    assert caught.value.extra["lines"][0]["available"] == 0
    assert _stock(store, sku) == (5, 3)


def test_store_reserve_with_allow_safety_stock_can_use_it_but_not_beyond_on_hand(store, sku):
    stock_put(location=store, sku=sku, on_hand=5, safety_stock=2)

    stock_reserve(
        requests=[_request(store, sku, 5)], demand="STORE-SALE-1", allow_safety_stock=True
    )

    assert _stock(store, sku) == (5, 5)
    with pytest.raises(InsufficientStock):
        stock_reserve(
            requests=[_request(store, sku, 1, "STORE-SALE-2/1")],
            demand="STORE-SALE-2",
            allow_safety_stock=True,
        )


def test_reserve_at_a_location_that_never_held_the_sku_is_insufficient_stock(store, sku):
    with pytest.raises(InsufficientStock) as caught:
        reserve_one(location=store, sku=sku, quantity=1)

    assert caught.value.extra["lines"] == [
        {"sku": sku.code, "location": store.code, "requested": 1, "available": 0}
    ]


@pytest.mark.parametrize("quantity", [0, -1])
def test_reserve_of_a_non_positive_quantity_is_invalid(store, sku, quantity):
    stock_put(location=store, sku=sku, on_hand=5)

    with pytest.raises(InvalidMovement):
        reserve_one(location=store, sku=sku, quantity=quantity)

    assert _stock(store, sku) == (5, 0)


def test_reserve_of_nothing_holds_nothing(store, sku):
    assert stock_reserve(requests=[], demand="ORDER-1") == []
    assert not Reservation.objects.exists()


# --- ship capacity -------------------------------------------------------------------------


def _ship(location, sku, demand, quantity=1, *, delivery_method="ship", line=1):
    return stock_reserve(
        requests=[_request(location, sku, quantity, f"{demand}/{line}")],
        demand=demand,
        delivery_method=delivery_method,
    )


def test_ship_order_past_the_daily_capacity_is_refused_as_ship_capacity_exhausted(db, sku):
    store = LocationFactory(daily_ship_capacity=1)
    stock_put(location=store, sku=sku, on_hand=5)
    _ship(store, sku, "ORDER-1")

    with pytest.raises(ShipCapacityExhausted) as caught:
        _ship(store, sku, "ORDER-2", 2)

    assert isinstance(caught.value, InsufficientStock)  # checkout re-routes on it
    assert (caught.value.code, caught.value.status) == ("ship_capacity_exhausted", 409)
    assert store.code in caught.value.detail
    assert caught.value.extra == {
        "locations": [{"location": store.code, "daily_ship_capacity": 1}],
        "lines": [{"sku": sku.code, "location": store.code, "requested": 2, "available": 0}],
    }
    assert _stock(store, sku) == (5, 1)
    assert not Reservation.objects.filter(demand="ORDER-2").exists()
    assert stock_breaches() == []


def test_a_new_location_that_can_ship_takes_ship_orders_without_a_capacity_set(db, sku):
    store = Location.objects.create(
        code="NEW-SHIP", name="New", latitude=31.2, longitude=121.4, can_ship=True
    )
    stock_put(location=store, sku=sku, on_hand=5)

    _ship(store, sku, "ORDER-1")

    assert _stock(store, sku) == (5, 1)


def test_units_bound_for_a_pickup_store_use_the_source_s_ship_capacity(db, sku):
    store = LocationFactory(daily_ship_capacity=1)
    stock_put(location=store, sku=sku, on_hand=5)
    _ship(store, sku, "ORDER-1")

    with pytest.raises(ShipCapacityExhausted):
        stock_reserve(
            requests=[StockRequest(store.pk, sku.pk, 1, "ORDER-2/1", delivery_method="transfer")],
            demand="ORDER-2",
            delivery_method="pickup",
        )


def test_more_lines_of_an_order_already_shipping_there_take_no_second_slot(db, sku):
    store = LocationFactory(daily_ship_capacity=1)
    stock_put(location=store, sku=sku, on_hand=5)
    _ship(store, sku, "ORDER-1")

    _ship(store, sku, "ORDER-1", line=2)  # a re-route adding a line to the same order

    assert _stock(store, sku) == (5, 2)


def test_pickup_and_store_sales_use_no_ship_capacity(db, sku):
    store = LocationFactory(daily_ship_capacity=0)
    stock_put(location=store, sku=sku, on_hand=5)

    _ship(store, sku, "ORDER-1", delivery_method="pickup")
    _ship(store, sku, "ORDER-2", delivery_method="carry_out")

    assert _stock(store, sku) == (5, 2)


def test_a_released_ship_order_gives_its_slot_back(db, sku):
    store = LocationFactory(daily_ship_capacity=1)
    stock_put(location=store, sku=sku, on_hand=5)
    stock_release(reservations=_ship(store, sku, "ORDER-1"))

    _ship(store, sku, "ORDER-2")

    assert _stock(store, sku) == (5, 1)


def test_a_ship_order_keeps_its_slot_while_any_of_its_stock_there_is_held_or_gone(db, sku):
    store = LocationFactory(daily_ship_capacity=1)
    stock_put(location=store, sku=sku, on_hand=9)
    [first] = _ship(store, sku, "ORDER-1", 2)
    [second] = _ship(store, sku, "ORDER-1", line=2)

    stock_release(reservations=[first], quantities={first.pk: 1})  # part of a line
    stock_release(reservations=[first])  # the rest of it
    stock_consume(reservations=[second])  # the other line shipped

    assert ship_orders_today(location_ids=[store.pk]) == {store.pk: 1}
    with pytest.raises(ShipCapacityExhausted):
        _ship(store, sku, "ORDER-2")
    assert stock_breaches() == []


def test_verify_stock_finds_a_ship_count_that_does_not_match_the_reservations(db, sku):
    store = LocationFactory(daily_ship_capacity=5)
    stock_put(location=store, sku=sku, on_hand=5)
    _ship(store, sku, "ORDER-1")
    ShipDay.objects.filter(location=store).update(orders=3)

    [breach] = stock_breaches()

    assert breach.startswith(f"ship capacity: location {store.pk} on ")
    assert "3 ship orders counted, 1 held or shipped" in breach


# --- release and consume ------------------------------------------------------------------


def test_release_gives_held_stock_back_to_the_shelf(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reservation = reserve_one(location=store, sku=sku, quantity=3)

    released = stock_release(reservations=[reservation])

    assert [r.pk for r in released] == [reservation.pk]
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.RELEASED
    assert _stock(store, sku) == (5, 0)
    assert _movements(store, sku)[-1] == (Reason.RELEASE, 0, -3)
    reserve_one(location=store, sku=sku, quantity=5, demand="ORDER-2")  # sellable again


def test_partial_release_gives_back_part_and_keeps_the_rest_held(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reservation = reserve_one(location=store, sku=sku, quantity=4)

    stock_release(reservations=[reservation.pk], quantities={reservation.pk: 1})

    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.ACTIVE
    assert reservation.quantity == 3
    assert _stock(store, sku) == (5, 3)
    assert _movements(store, sku)[-1] == (Reason.RELEASE, 0, -1)
    assert stock_breaches() == []


def test_partial_release_of_more_than_held_releases_the_whole_reservation(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reservation = reserve_one(location=store, sku=sku, quantity=2)

    stock_release(reservations=[reservation], quantities={reservation.pk: 9})

    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.RELEASED
    assert _stock(store, sku) == (5, 0)


def test_releasing_twice_changes_nothing_the_second_time(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reservation = reserve_one(location=store, sku=sku, quantity=3)
    stock_release(reservations=[reservation])
    movements = StockMovement.objects.count()

    assert stock_release(reservations=[reservation]) == []

    assert _stock(store, sku) == (5, 0)
    assert StockMovement.objects.count() == movements


def test_consume_drops_on_hand_and_reserved_together(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reservation = reserve_one(location=store, sku=sku, quantity=3)

    consumed = stock_consume(reservations=[reservation])

    assert [r.pk for r in consumed] == [reservation.pk]
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONSUMED
    assert _stock(store, sku) == (2, 0)
    assert _movements(store, sku)[-1] == (Reason.FULFIL, -3, -3)


def test_consuming_twice_takes_the_stock_once(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reservation = reserve_one(location=store, sku=sku, quantity=3)
    stock_consume(reservations=[reservation])

    assert stock_consume(reservations=[reservation.pk]) == []

    assert _stock(store, sku) == (2, 0)
    assert StockMovement.objects.filter(reason=Reason.FULFIL).count() == 1


def test_a_consumed_reservation_cannot_be_released_afterwards(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reservation = reserve_one(location=store, sku=sku, quantity=3)
    stock_consume(reservations=[reservation])

    assert stock_release(reservations=[reservation]) == []

    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONSUMED
    assert _stock(store, sku) == (2, 0)


def test_release_and_consume_record_when_each_reservation_was_settled(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    released, consumed, partly = (
        reserve_one(location=store, sku=sku, quantity=n, demand=f"ORDER-{n}") for n in (1, 1, 2)
    )
    settled_from = timezone.now()

    stock_release(reservations=[released])
    stock_consume(reservations=[consumed])
    stock_release(reservations=[partly], quantities={partly.pk: 1})

    for reservation in (released, consumed, partly):
        reservation.refresh_from_db()
        assert reservation.updated_at >= settled_from > reservation.created_at


def test_release_of_several_reservations_settles_each_location(store, other_store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    stock_put(location=other_store, sku=sku, on_hand=5)
    reservations = stock_reserve(
        requests=[
            _request(store, sku, 2, "ORDER-1/1"),
            _request(other_store, sku, 1, "ORDER-1/2"),
            _request(store, sku, 1, "ORDER-1/3"),
        ],
        demand="ORDER-1",
    )

    stock_release(reservations=reservations)

    assert _stock(store, sku) == (5, 0)
    assert _stock(other_store, sku) == (5, 0)
    assert _movements(store, sku)[-1] == (Reason.RELEASE, 0, -3)
    assert stock_breaches() == []


# --- receive, adjust, write off, in-store sale --------------------------------------------


def test_receive_adds_stock_where_there_was_none(store, sku):
    movement = stock_receive(
        location=store, sku=sku, quantity=7, origin=MovementOrigin(reference="PO-1")
    )

    assert _stock(store, sku) == (7, 0)
    assert (movement.reason, movement.delta_on_hand, movement.reference) == (
        Reason.RECEIPT,
        7,
        "PO-1",
    )


@pytest.mark.parametrize("quantity", [0, -3])
def test_receive_of_a_non_positive_quantity_is_invalid(store, sku, quantity):
    with pytest.raises(InvalidMovement):
        stock_receive(location=store, sku=sku, quantity=quantity)

    assert not StockMovement.objects.filter(location=store, sku=sku).exists()


@pytest.mark.parametrize(
    "move",
    [
        lambda store, sku: stock_receive(location=store, sku=sku, quantity=1_000_001),
        lambda store, sku: stock_adjust(location=store, sku=sku, delta=-1_000_001),
        lambda store, sku: stock_cycle_count(location=store, sku=sku, counted=1_000_001),
        lambda store, sku: stock_write_off(location=store, sku=sku, quantity=1_000_001),
    ],
    ids=["receive", "adjust", "cycle_count", "write_off"],
)
def test_a_movement_of_more_than_a_million_units_is_invalid(store, sku, move):
    with pytest.raises(InvalidMovement) as caught:
        move(store, sku)

    assert caught.value.extra == {"field": "quantity"}
    assert not StockMovement.objects.exists()


def test_a_receipt_past_the_largest_storable_on_hand_is_invalid_not_a_database_error(store, sku):
    most = 2**31 - 1
    # More than receipts of at most a million could build here quickly: rows as they would be.
    StockLevel.objects.create(location=store, sku=sku, on_hand=most - 500_000)
    StockMovement.objects.create(
        location=store, sku=sku, reason=Reason.RECEIPT, delta_on_hand=most - 500_000
    )

    with pytest.raises(InvalidMovement) as caught:
        stock_receive(location=store, sku=sku, quantity=500_001)

    assert caught.value.extra == {"field": "quantity"}
    stock_receive(location=store, sku=sku, quantity=500_000)
    assert _stock(store, sku) == (most, 0)
    assert stock_breaches() == []


def test_adjust_corrects_on_hand_up_and_down(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)

    stock_adjust(location=store, sku=sku, delta=3, origin=MovementOrigin(note="found in the back"))
    stock_adjust(
        location=store, sku=sku, delta=-6, origin=MovementOrigin(note="miscounted delivery")
    )

    assert _stock(store, sku) == (2, 0)
    assert _movements(store, sku)[-2:] == [(Reason.ADJUSTMENT, 3, 0), (Reason.ADJUSTMENT, -6, 0)]


def test_adjust_cannot_take_away_reserved_stock(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reserve_one(location=store, sku=sku, quantity=4)

    with pytest.raises(InsufficientStock) as caught:
        stock_adjust(location=store, sku=sku, delta=-2)

    assert caught.value.extra["lines"] == [
        {"sku": sku.code, "location": store.code, "requested": 2, "available": 1}
    ]
    assert _stock(store, sku) == (5, 4)


def test_adjust_by_zero_is_invalid(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)

    with pytest.raises(InvalidMovement):
        stock_adjust(location=store, sku=sku, delta=0)


def test_write_off_takes_unreserved_stock_only(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reserve_one(location=store, sku=sku, quantity=2)

    stock_write_off(location=store, sku=sku, quantity=3, origin=MovementOrigin(note="water damage"))

    assert _stock(store, sku) == (2, 2)
    assert _movements(store, sku)[-1] == (Reason.WRITE_OFF, -3, 0)
    with pytest.raises(InsufficientStock):
        stock_write_off(location=store, sku=sku, quantity=1)
    assert _stock(store, sku) == (2, 2)


def test_pos_sale_may_dig_into_safety_stock(store, sku):
    stock_put(location=store, sku=sku, on_hand=3, safety_stock=2)

    stock_pos_sale(location=store, sku=sku, quantity=3, origin=MovementOrigin(reference="TILL-7"))

    assert _stock(store, sku) == (0, 0)
    assert _movements(store, sku)[-1] == (Reason.POS_SALE, -3, 0)


def test_pos_sale_never_takes_stock_reserved_for_other_orders(store, sku):
    stock_put(location=store, sku=sku, on_hand=3, safety_stock=1)
    reserve_one(location=store, sku=sku, quantity=2)

    with pytest.raises(InsufficientStock) as caught:
        stock_pos_sale(location=store, sku=sku, quantity=2)

    assert caught.value.extra["lines"][0]["available"] == 1
    assert _stock(store, sku) == (3, 2)
    stock_pos_sale(location=store, sku=sku, quantity=1)
    assert _stock(store, sku) == (2, 2)


def test_restocked_return_is_sellable_at_once(store, sku):
    stock_restock_return(
        location=store, sku=sku, quantity=1, origin=MovementOrigin(reference="RMA-1")
    )

    assert _stock(store, sku) == (1, 0)
    reserve_one(location=store, sku=sku, quantity=1)
    assert _movements(store, sku)[0] == (Reason.RETURN_RESTOCK, 1, 0)


# --- cycle count ---------------------------------------------------------------------------


def test_cycle_count_sets_on_hand_to_what_was_counted(store, sku):
    stock_put(location=store, sku=sku, on_hand=12)

    movement = stock_cycle_count(location=store, sku=sku, counted=9)

    assert _stock(store, sku) == (9, 0)
    assert (movement.reason, movement.delta_on_hand) == (Reason.CYCLE_COUNT, -3)


def test_cycle_count_in_the_past_replays_movements_recorded_after_it(store, sku):
    stock_put(location=store, sku=sku, on_hand=20)
    counted_at = timezone.now()
    stock_pos_sale(location=store, sku=sku, quantity=2)  # sold while the count went on

    stock_cycle_count(location=store, sku=sku, counted=10, counted_at=counted_at)

    assert _stock(store, sku) == (8, 0)
    assert stock_breaches() == []


def test_cycle_count_of_a_sku_never_held_there_creates_its_stock(store, sku):
    stock_cycle_count(location=store, sku=sku, counted=4)

    assert _stock(store, sku) == (4, 0)
    assert stock_breaches() == []


def test_cycle_count_below_reserved_is_refused(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reserve_one(location=store, sku=sku, quantity=3)

    with pytest.raises(CountBelowReserved) as caught:
        stock_cycle_count(location=store, sku=sku, counted=2)

    assert caught.value.code == "count_below_reserved"
    assert caught.value.extra == {"counted": 2, "on_hand_now": 2, "reserved": 3}
    assert _stock(store, sku) == (5, 3)


def test_cycle_count_in_the_future_is_rejected(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)

    with pytest.raises(InvalidMovement) as caught:
        stock_cycle_count(
            location=store, sku=sku, counted=1, counted_at=timezone.now() + timedelta(hours=1)
        )

    assert caught.value.extra == {"field": "counted_at"}
    assert _stock(store, sku) == (5, 0)


def test_a_count_received_after_a_newer_count_is_refused_as_stale(store, sku):
    stock_put(location=store, sku=sku, on_hand=10)
    now = timezone.now()
    stock_cycle_count(location=store, sku=sku, counted=8, counted_at=now - timedelta(minutes=1))
    assert _stock(store, sku) == (18, 0)  # the count of 8, and the receipt recorded after it

    with pytest.raises(StaleCount) as caught:
        stock_cycle_count(location=store, sku=sku, counted=9, counted_at=now - timedelta(minutes=5))

    assert (caught.value.code, caught.value.status) == ("stale_count", 409)
    assert _stock(store, sku) == (18, 0)
    assert stock_breaches() == []


def test_a_newer_count_recorded_after_an_older_one_replays_only_goods_that_moved(store, sku):
    stock_put(location=store, sku=sku, on_hand=10)
    now = timezone.now()
    StockMovement.objects.update(created_at=now - timedelta(hours=1))  # received this morning
    stock_cycle_count(location=store, sku=sku, counted=7, counted_at=now - timedelta(minutes=5))
    stock_pos_sale(location=store, sku=sku, quantity=1)

    stock_cycle_count(location=store, sku=sku, counted=12, counted_at=now - timedelta(minutes=1))

    # 12 counted, then the sale; the older count's correction is not replayed on top.
    assert _stock(store, sku) == (11, 0)
    assert stock_breaches() == []


def test_a_cycle_count_older_than_the_replay_window_is_rejected(store, sku, settings):
    settings.OMS_CYCLE_COUNT_MAX_AGE_DAYS = 7
    stock_put(location=store, sku=sku, on_hand=5)

    with pytest.raises(InvalidMovement) as caught:
        stock_cycle_count(
            location=store, sku=sku, counted=1, counted_at=timezone.now() - timedelta(days=8)
        )

    assert (caught.value.status, caught.value.extra) == (400, {"field": "counted_at"})
    assert _stock(store, sku) == (5, 0)


def test_a_count_records_when_it_was_taken(store, sku):
    counted_at = timezone.now() - timedelta(hours=2)

    movement = stock_cycle_count(location=store, sku=sku, counted=3, counted_at=counted_at)

    movement.refresh_from_db()
    assert movement.counted_at == counted_at


def test_movements_update_the_level_before_writing_their_ledger_row(store, sku):
    """A count that takes the level's lock meanwhile sees either both or neither."""
    stock_put(location=store, sku=sku, on_hand=5)
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql.split(" ", 3)[:3])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        stock_receive(location=store, sku=sku, quantity=2)
        stock_write_off(location=store, sku=sku, quantity=1)

    writes = [words for words in statements if words[0] in ("UPDATE", "INSERT")]
    tables = [words[2 if words[0] == "INSERT" else 1] for words in writes]
    assert tables == [
        '"inventory_stocklevel"',  # receive: the missing level (ON CONFLICT DO NOTHING)
        '"inventory_stocklevel"',
        '"inventory_stockmovement"',
        '"inventory_stocklevel"',  # write-off
        '"inventory_stockmovement"',
    ]


def test_negative_cycle_count_is_invalid(store, sku):
    with pytest.raises(InvalidMovement):
        stock_cycle_count(location=store, sku=sku, counted=-1)


# --- safety stock --------------------------------------------------------------------------


def test_safety_stock_is_a_setting_whose_ledger_row_moves_nothing(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    movements = StockMovement.objects.count()

    row = stock_set_safety_stock(location=store, sku=sku, safety_stock=4, note="promo")
    again = stock_set_safety_stock(location=store, sku=sku, safety_stock=4)

    assert level_of(store, sku).safety_stock == 4
    assert level_of(store, sku).available_to_promise == 1
    assert StockMovement.objects.count() == movements + 1  # setting it again records nothing
    assert again is None
    assert (row.reason, row.delta_on_hand, row.delta_reserved, row.delta_held) == (
        "safety_stock",
        0,
        0,
        0,
    )
    assert row.note == "safety stock 0 → 4: promo"
    with pytest.raises(InvalidMovement):
        stock_set_safety_stock(location=store, sku=sku, safety_stock=-1)


# --- transfers -----------------------------------------------------------------------------


def test_transfer_takes_stock_out_at_once_and_in_only_on_receipt(sku):
    warehouse, store = WarehouseFactory(), LocationFactory()
    stock_put(location=warehouse, sku=sku, on_hand=10)

    transfer = stock_transfer(
        from_location=warehouse, to_location=store, sku=sku, quantity=4, reference="TR-1"
    )

    assert transfer.status == Transfer.Status.IN_TRANSIT
    assert _stock(warehouse, sku) == (6, 0)
    assert not StockLevel.objects.filter(location=store, sku=sku, on_hand__gt=0).exists()
    assert _movements(warehouse, sku)[-1] == (Reason.TRANSFER_OUT, -4, 0)

    received = stock_transfer_receive(transfer=transfer)

    assert received.status == Transfer.Status.RECEIVED
    assert received.received_at is not None
    assert _stock(store, sku) == (4, 0)
    assert _movements(store, sku) == [(Reason.TRANSFER_IN, 4, 0)]


def test_receiving_a_transfer_twice_adds_its_stock_once(store, other_store, sku):
    stock_put(location=store, sku=sku, on_hand=10)
    transfer = stock_transfer(from_location=store, to_location=other_store, sku=sku, quantity=4)

    stock_transfer_receive(transfer=transfer)
    stock_transfer_receive(transfer=transfer)

    assert _stock(other_store, sku) == (4, 0)
    assert StockMovement.objects.filter(reason=Reason.TRANSFER_IN).count() == 1


def test_transfer_cannot_send_reserved_stock(store, other_store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reserve_one(location=store, sku=sku, quantity=3)

    with pytest.raises(InsufficientStock):
        stock_transfer(from_location=store, to_location=other_store, sku=sku, quantity=3)

    assert _stock(store, sku) == (5, 3)
    assert not Transfer.objects.exists()


def test_transfer_to_the_same_location_is_invalid(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)

    with pytest.raises(InvalidMovement):
        stock_transfer(from_location=store, to_location=store, sku=sku, quantity=1)

    assert _stock(store, sku) == (5, 0)


def test_transfer_of_reserved_stock_takes_the_held_units_with_their_reservation(
    store, other_store, sku
):
    stock_put(location=store, sku=sku, on_hand=5)
    reservation = reserve_one(location=store, sku=sku, quantity=2)

    transfer = stock_transfer_reserved(reservation=reservation, to_location=other_store)

    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.CONSUMED
    assert (transfer.from_location, transfer.to_location, transfer.quantity) == (
        store,
        other_store,
        2,
    )
    assert transfer.reference == reservation.reference
    assert _stock(store, sku) == (3, 0)
    assert _movements(store, sku)[-1] == (Reason.TRANSFER_OUT, -2, -2)
    assert stock_transfer_reserved(reservation=reservation, to_location=other_store) is None
    assert Transfer.objects.count() == 1
    stock_transfer_receive(transfer=transfer)
    assert _stock(other_store, sku) == (2, 0)
    assert stock_breaches() == []


def test_transfer_of_reserved_stock_to_its_own_location_is_invalid(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reservation = reserve_one(location=store, sku=sku, quantity=2)

    with pytest.raises(InvalidMovement):
        stock_transfer_reserved(reservation=reservation, to_location=store)

    assert _stock(store, sku) == (5, 2)
    assert not Transfer.objects.exists()


# --- the ledger and the database guards ----------------------------------------------------


def test_every_change_is_one_movement_row_and_the_ledger_sums_to_the_level(store, other_store, sku):
    stock_receive(location=store, sku=sku, quantity=10)
    stock_adjust(location=store, sku=sku, delta=-1)
    reservation = reserve_one(location=store, sku=sku, quantity=3)
    stock_release(reservations=[reservation], quantities={reservation.pk: 1})
    stock_consume(reservations=[reservation])
    stock_pos_sale(location=store, sku=sku, quantity=1)
    stock_write_off(location=store, sku=sku, quantity=1)
    stock_cycle_count(location=store, sku=sku, counted=4)
    transfer = stock_transfer(from_location=store, to_location=other_store, sku=sku, quantity=2)
    stock_transfer_receive(transfer=transfer)
    stock_restock_return(location=store, sku=sku, quantity=1)

    assert [reason for reason, _, _ in _movements(store, sku)] == [
        Reason.RECEIPT,
        Reason.ADJUSTMENT,
        Reason.RESERVE,
        Reason.RELEASE,
        Reason.FULFIL,
        Reason.POS_SALE,
        Reason.WRITE_OFF,
        Reason.CYCLE_COUNT,
        Reason.TRANSFER_OUT,
        Reason.RETURN_RESTOCK,
    ]
    sums = StockMovement.objects.filter(location=store, sku=sku).aggregate(
        on_hand=Sum("delta_on_hand"), reserved=Sum("delta_reserved")
    )
    assert _stock(store, sku) == (sums["on_hand"], sums["reserved"]) == (3, 0)
    assert _stock(other_store, sku) == (2, 0)
    assert stock_breaches() == []


def test_a_refused_change_leaves_no_movement_behind(store, sku):
    stock_put(location=store, sku=sku, on_hand=2)
    before = StockMovement.objects.count()

    for refused in (
        lambda: stock_write_off(location=store, sku=sku, quantity=3),
        lambda: stock_pos_sale(location=store, sku=sku, quantity=3),
        lambda: stock_adjust(location=store, sku=sku, delta=-3),
        lambda: reserve_one(location=store, sku=sku, quantity=3),
    ):
        with pytest.raises(InsufficientStock):
            refused()

    assert StockMovement.objects.count() == before
    assert stock_breaches() == []


def test_database_refuses_reserved_above_on_hand(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(location=store, sku=sku).update(reserved=F("on_hand") + 1)

    assert _stock(store, sku) == (5, 0)


@pytest.mark.parametrize(
    "change",
    [{"on_hand": -1}, {"reserved": -1}, {"safety_stock": -1}],
    ids=["negative-on-hand", "negative-reserved", "negative-safety-stock"],
)
def test_database_refuses_negative_quantities(store, sku, change):
    stock_put(location=store, sku=sku, on_hand=0)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(location=store, sku=sku).update(**change)


def test_a_reservation_status_changes_only_by_its_transitions(store, sku):
    stock_put(location=store, sku=sku, on_hand=2)
    reservation = reserve_one(location=store, sku=sku, quantity=1)

    with pytest.raises(AttributeError):
        reservation.status = Reservation.Status.CONSUMED
    [released] = stock_release(reservations=[reservation])

    assert released.status == Reservation.Status.RELEASED
    with pytest.raises(TransitionNotAllowed):
        released.consume()


def test_a_transfer_status_changes_only_by_its_transition(store, other_store, sku):
    stock_put(location=store, sku=sku, on_hand=2)
    transfer = stock_transfer(from_location=store, to_location=other_store, sku=sku, quantity=1)

    with pytest.raises(AttributeError):
        transfer.status = Transfer.Status.RECEIVED
    received = stock_transfer_receive(transfer=transfer)

    assert received.status == Transfer.Status.RECEIVED
    with pytest.raises(TransitionNotAllowed):
        received.receive()
