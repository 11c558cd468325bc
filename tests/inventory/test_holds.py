"""The hold: units on hand that nothing promises until someone decides what becomes of them."""

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from common import outbox
from common.errors import DomainError
from inventory import snapshot
from inventory.errors import (
    CountBelowReserved,
    InsufficientHeld,
    InsufficientStock,
    InvalidMovement,
)
from inventory.models import CountRequest, StockLevel, StockMovement, Transfer
from inventory.services import (
    HoldDisposition,
    StockRequest,
    stock_cycle_count,
    stock_hold_damaged,
    stock_hold_not_found,
    stock_hold_receive,
    stock_hold_release,
    stock_hold_reverse,
    stock_hold_transfer,
    stock_pos_sale,
    stock_reserve,
    stock_transfer_receive,
    stock_write_off,
)
from inventory.snapshot import sourcing_candidates
from inventory.sourcing import Demand, route
from tests.factories import XUHUI, assert_stock_consistent, channel_client
from tests.inventory.factories import SkuFactory, level_of, reserve_one, stock_put
from tests.orders.factories import body, post_checkout, ship_to
from tests.orders.test_query_count import CHECKOUT_3_LINES, STORE_TOKEN_SCOPE
from tests.stores.factories import LocationFactory, WarehouseFactory

Reason = StockMovement.Reason
RMA = "return:RMA-1:line:1"


@pytest.fixture
def store(db):
    return LocationFactory()


@pytest.fixture
def sku(db):
    return SkuFactory()


def buckets(location, sku) -> tuple[int, int, int, int]:
    """(on hand, reserved, held, available) of `sku` at `location`, read now."""
    level = level_of(location, sku)
    return level.on_hand, level.reserved, level.held, level.available


def ledger(location, sku) -> list[tuple[str, int, int, int, str]]:
    """(reason, delta on hand, delta reserved, delta held, reference), oldest first."""
    return list(
        StockMovement.objects.filter(location=location, sku=sku)
        .order_by("pk")
        .values_list("reason", "delta_on_hand", "delta_reserved", "delta_held", "reference")
    )


# --- receive --------------------------------------------------------------------------------


def test_received_return_is_on_hand_but_not_available(store, sku):
    stock_put(location=store, sku=sku, on_hand=3)

    movement = stock_hold_receive(location=store, sku=sku, quantity=2, reference=RMA)

    assert (movement.reason, movement.delta_on_hand, movement.delta_held) == (
        "return_receive",
        2,
        2,
    )
    assert buckets(store, sku) == (5, 0, 2, 3)
    assert level_of(store, sku).available_to_promise == 3
    assert_stock_consistent()


def test_a_return_can_be_received_where_the_sku_was_never_stocked(sku):
    elsewhere = LocationFactory()
    assert not StockLevel.objects.filter(location=elsewhere, sku=sku).exists()

    stock_hold_receive(location=elsewhere, sku=sku, quantity=1, reference=RMA)

    assert buckets(elsewhere, sku) == (1, 0, 1, 0)
    assert ledger(elsewhere, sku) == [("return_receive", 1, 0, 1, RMA)]
    assert_stock_consistent()


@pytest.mark.parametrize("quantity", [0, -1, 10_000_000])
def test_receiving_a_senseless_quantity_is_refused(store, sku, quantity):
    with pytest.raises(InvalidMovement):
        stock_hold_receive(location=store, sku=sku, quantity=quantity, reference=RMA)

    assert not StockMovement.objects.filter(location=store).exists()


# --- release: restock or write off ---------------------------------------------------------


def test_restocked_units_are_available_at_once(store, sku):
    stock_put(location=store, sku=sku, on_hand=1)
    stock_hold_receive(location=store, sku=sku, quantity=2, reference=RMA)

    stock_hold_release(
        location=store, sku=sku, quantity=2, disposition=HoldDisposition.RESTOCK, reference=RMA
    )

    assert buckets(store, sku) == (3, 0, 0, 3)
    assert ledger(store, sku)[-1] == ("return_restock", 0, 0, -2, RMA)
    assert_stock_consistent()


def test_written_off_units_leave_on_hand_and_the_hold(store, sku):
    stock_put(location=store, sku=sku, on_hand=1)
    stock_hold_receive(location=store, sku=sku, quantity=2, reference=RMA)

    stock_hold_release(
        location=store, sku=sku, quantity=1, disposition="write_off", reference=RMA, note="torn"
    )

    assert buckets(store, sku) == (2, 0, 1, 1)
    assert ledger(store, sku)[-1] == ("write_off", -1, 0, -1, RMA)
    assert StockMovement.objects.filter(location=store).first().note == "torn"
    assert_stock_consistent()


@pytest.mark.parametrize("disposition", ["restock", "write_off"])
def test_releasing_more_than_is_held_is_a_409_and_moves_nothing(store, sku, disposition):
    stock_put(location=store, sku=sku, on_hand=5)
    stock_hold_receive(location=store, sku=sku, quantity=1, reference=RMA)

    with pytest.raises(InsufficientHeld) as caught:
        stock_hold_release(
            location=store, sku=sku, quantity=2, disposition=disposition, reference=RMA
        )

    assert (caught.value.code, caught.value.status) == ("insufficient_held", 409)
    assert caught.value.extra == {
        "sku": sku.code,
        "location": store.code,
        "requested": 2,
        "held": 1,
    }
    assert buckets(store, sku) == (6, 0, 1, 5)
    assert_stock_consistent()


def test_releasing_where_nothing_was_ever_stocked_is_a_409(store, sku):
    with pytest.raises(InsufficientHeld) as caught:
        stock_hold_release(
            location=store, sku=sku, quantity=1, disposition="restock", reference=RMA
        )

    assert caught.value.extra["held"] == 0


def test_an_unknown_disposition_is_refused(store, sku):
    stock_hold_receive(location=store, sku=sku, quantity=1, reference=RMA)

    with pytest.raises(InvalidMovement) as caught:
        stock_hold_release(location=store, sku=sku, quantity=1, disposition="sell", reference=RMA)

    assert caught.value.extra == {"field": "disposition"}
    assert buckets(store, sku) == (1, 0, 1, 0)


# --- transfer -------------------------------------------------------------------------------


def test_held_units_transferred_leave_now_and_arrive_available(store, sku):
    warehouse = WarehouseFactory()
    stock_hold_receive(location=store, sku=sku, quantity=3, reference=RMA)

    transfer = stock_hold_transfer(
        from_location=store, to_location=warehouse, sku=sku, quantity=2, reference=RMA
    )

    assert (transfer.status, transfer.quantity, transfer.reference) == ("in_transit", 2, RMA)
    assert buckets(store, sku) == (1, 0, 1, 0)
    assert ledger(store, sku)[-1] == ("transfer_out", -2, 0, -2, f"transfer:{transfer.pk}")
    assert not StockLevel.objects.filter(location=warehouse, sku=sku).exists()

    stock_transfer_receive(transfer=transfer)

    assert buckets(warehouse, sku) == (2, 0, 0, 2)
    assert ledger(warehouse, sku) == [("transfer_in", 2, 0, 0, f"transfer:{transfer.pk}")]
    assert_stock_consistent()


def test_transferring_more_than_is_held_writes_no_transfer(store, sku):
    warehouse = WarehouseFactory()
    stock_put(location=store, sku=sku, on_hand=10)  # available, not held
    stock_hold_receive(location=store, sku=sku, quantity=1, reference=RMA)

    with pytest.raises(InsufficientHeld):
        stock_hold_transfer(
            from_location=store, to_location=warehouse, sku=sku, quantity=2, reference=RMA
        )

    assert not Transfer.objects.exists()
    assert buckets(store, sku) == (11, 0, 1, 10)
    assert_stock_consistent()


def test_a_hold_transfer_to_the_same_location_is_refused(store, sku):
    stock_hold_receive(location=store, sku=sku, quantity=1, reference=RMA)

    with pytest.raises(InvalidMovement):
        stock_hold_transfer(
            from_location=store, to_location=store, sku=sku, quantity=1, reference=RMA
        )


# --- damaged and not found ------------------------------------------------------------------


def test_damaged_units_leave_what_can_be_promised(store, sku):
    stock_put(location=store, sku=sku, on_hand=4, safety_stock=1)
    reserve_one(location=store, sku=sku, quantity=1)

    stock_hold_damaged(location=store, sku=sku, quantity=3, reference="shelf check")

    assert buckets(store, sku) == (4, 1, 3, 0)
    assert ledger(store, sku)[-1] == ("damaged", 0, 0, 3, "shelf check")
    assert_stock_consistent()


def test_reserved_units_cannot_be_reported_damaged_on_the_shelf(store, sku):
    stock_put(location=store, sku=sku, on_hand=2)
    reserve_one(location=store, sku=sku, quantity=2)

    with pytest.raises(InsufficientStock):
        stock_hold_damaged(location=store, sku=sku, quantity=1, reference="shelf check")

    assert buckets(store, sku) == (2, 2, 0, 0)


def test_units_not_found_are_held_and_a_count_is_requested(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)

    request = stock_hold_not_found(location=store, sku=sku, quantity=2, reference="FO-1")

    assert (request.status, request.quantity, request.reference) == ("open", 2, "FO-1")
    assert (request.location, request.sku) == (store, sku)
    assert buckets(store, sku) == (5, 0, 2, 3)
    assert ledger(store, sku)[-1] == ("not_found", 0, 0, 2, "FO-1")
    assert_stock_consistent()


def test_the_count_settles_the_not_found_hold_with_what_was_counted(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    request = stock_hold_not_found(location=store, sku=sku, quantity=2, reference="FO-1")

    count = stock_cycle_count(location=store, sku=sku, counted=3)

    assert buckets(store, sku) == (3, 0, 0, 3)
    assert (count.delta_on_hand, count.delta_held) == (-2, -2)
    request.refresh_from_db()
    assert (request.status, request.count_id) == ("counted", count.pk)
    assert request.counted_at == count.created_at
    assert_stock_consistent()


def test_a_count_that_finds_the_units_after_all_makes_them_available(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    stock_hold_not_found(location=store, sku=sku, quantity=2, reference="FO-1")

    stock_cycle_count(location=store, sku=sku, counted=5)

    assert buckets(store, sku) == (5, 0, 0, 5)
    assert_stock_consistent()


def test_a_count_keeps_returns_awaiting_inspection_held(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    stock_hold_receive(location=store, sku=sku, quantity=1, reference=RMA)
    stock_hold_not_found(location=store, sku=sku, quantity=2, reference="FO-1")

    stock_cycle_count(location=store, sku=sku, counted=4)  # 3 on the shelf + the return

    assert buckets(store, sku) == (4, 0, 1, 3)
    assert_stock_consistent()


def test_a_count_below_what_is_reserved_and_held_is_refused(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    reserve_one(location=store, sku=sku, quantity=1)
    stock_hold_receive(location=store, sku=sku, quantity=2, reference=RMA)

    with pytest.raises(CountBelowReserved) as caught:
        stock_cycle_count(location=store, sku=sku, counted=2)

    assert caught.value.extra == {"counted": 2, "on_hand_now": 2, "reserved": 1, "held": 2}
    assert buckets(store, sku) == (7, 1, 2, 4)


def test_a_count_taken_before_the_report_leaves_the_request_open(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    taken = timezone.now()
    request = stock_hold_not_found(location=store, sku=sku, quantity=2, reference="FO-1")

    stock_cycle_count(location=store, sku=sku, counted=5, counted_at=taken)

    request.refresh_from_db()
    assert request.status == "open"
    assert buckets(store, sku) == (5, 0, 2, 3)
    assert_stock_consistent()


def test_no_disposition_takes_units_waiting_for_their_count(store, sku):
    stock_put(location=store, sku=sku, on_hand=5)
    stock_hold_not_found(location=store, sku=sku, quantity=2, reference="FO-1")
    stock_hold_receive(location=store, sku=sku, quantity=1, reference=RMA)

    with pytest.raises(InsufficientHeld) as caught:
        stock_hold_release(
            location=store, sku=sku, quantity=2, disposition="write_off", reference=RMA
        )

    assert caught.value.extra["held"] == 1
    assert buckets(store, sku) == (6, 0, 3, 3)


# --- reversing a disposition ----------------------------------------------------------------


def test_a_restock_is_reversed_back_into_the_hold(store, sku):
    stock_hold_receive(location=store, sku=sku, quantity=2, reference=RMA)
    stock_hold_release(location=store, sku=sku, quantity=2, disposition="restock", reference=RMA)

    stock_hold_reverse(location=store, sku=sku, quantity=1, disposition="restock", reference=RMA)
    stock_hold_release(location=store, sku=sku, quantity=1, disposition="write_off", reference=RMA)

    assert buckets(store, sku) == (1, 0, 0, 1)
    assert [row[0] for row in ledger(store, sku)] == [
        "return_receive",
        "return_restock",
        "hold_reversal",
        "write_off",
    ]
    assert_stock_consistent()


def test_a_write_off_is_reversed_back_on_hand_and_held(store, sku):
    stock_hold_receive(location=store, sku=sku, quantity=1, reference=RMA)
    stock_hold_release(location=store, sku=sku, quantity=1, disposition="write_off", reference=RMA)

    stock_hold_reverse(location=store, sku=sku, quantity=1, disposition="write_off", reference=RMA)
    stock_hold_release(location=store, sku=sku, quantity=1, disposition="restock", reference=RMA)

    assert buckets(store, sku) == (1, 0, 0, 1)
    assert ledger(store, sku)[2] == ("hold_reversal", 1, 0, 1, RMA)
    assert_stock_consistent()


def test_a_restock_already_sold_cannot_be_reversed(store, sku):
    stock_hold_receive(location=store, sku=sku, quantity=1, reference=RMA)
    stock_hold_release(location=store, sku=sku, quantity=1, disposition="restock", reference=RMA)
    stock_pos_sale(location=store, sku=sku, quantity=1)

    with pytest.raises(InsufficientStock):
        stock_hold_reverse(
            location=store, sku=sku, quantity=1, disposition="restock", reference=RMA
        )

    assert buckets(store, sku) == (0, 0, 0, 0)
    assert_stock_consistent()


# --- nothing promises held units ------------------------------------------------------------


def test_reserve_refuses_held_units(store, sku):
    stock_put(location=store, sku=sku, on_hand=1)
    stock_hold_receive(location=store, sku=sku, quantity=3, reference=RMA)

    with pytest.raises(InsufficientStock) as caught:
        stock_reserve(
            requests=[
                StockRequest(location_id=store.pk, sku_id=sku.pk, quantity=2, reference="O/1")
            ],
            demand="O",
        )

    [line] = caught.value.extra["lines"]
    assert (line["requested"], line["available"]) == (2, 1)
    assert buckets(store, sku) == (4, 0, 3, 1)


def test_a_till_sale_may_take_safety_stock_but_never_held_units(store, sku):
    stock_put(location=store, sku=sku, on_hand=2, safety_stock=2)
    stock_hold_receive(location=store, sku=sku, quantity=1, reference=RMA)

    stock_pos_sale(location=store, sku=sku, quantity=2)
    with pytest.raises(InsufficientStock):
        stock_pos_sale(location=store, sku=sku, quantity=1)
    with pytest.raises(InsufficientStock):
        stock_write_off(location=store, sku=sku, quantity=1)

    assert buckets(store, sku) == (1, 0, 1, 0)


def test_the_database_refuses_more_held_and_reserved_than_on_hand(store, sku):
    stock_put(location=store, sku=sku, on_hand=2)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(location=store, sku=sku).update(held=1, reserved=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(location=store, sku=sku).update(held=-1)


# --- verify_stock ---------------------------------------------------------------------------


def _verify_stock() -> tuple[int, str]:
    err = StringIO()
    try:
        call_command("verify_stock", stdout=StringIO(), stderr=err)
    except SystemExit as exit_:
        return exit_.code, err.getvalue()
    return 0, err.getvalue()


def test_verify_stock_finds_a_held_level_the_ledger_does_not_explain(store, sku):
    stock_hold_receive(location=store, sku=sku, quantity=2, reference=RMA)
    assert _verify_stock() == (0, "")
    StockLevel.objects.filter(location=store, sku=sku).update(held=1)  # a forged change

    code, err = _verify_stock()

    assert code == 1
    assert (
        f"ledger: location {store.pk} sku {sku.pk}: level 2/0/1 held, ledger sums 2/0/2 held"
    ) in err


def test_verify_stock_finds_a_count_request_the_hold_does_not_cover(store, sku):
    stock_put(location=store, sku=sku, on_hand=3)
    request = stock_hold_not_found(location=store, sku=sku, quantity=1, reference="FO-1")
    CountRequest.objects.filter(pk=request.pk).update(quantity=3)  # a forged change

    code, err = _verify_stock()

    assert code == 1
    assert (
        f"count requests: location {store.pk} sku {sku.pk}: 3 not found awaiting a count, 1 held"
    ) in err


# --- concurrency: real connections racing for the same held units ---------------------------


def _race(*workers):
    """Run each worker on its own thread and connection, released together; their results
    (a DomainError is a result: the answer a losing caller expects)."""
    barrier = threading.Barrier(len(workers), timeout=60)
    results: list[object] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(index, work):
        try:
            connection.ensure_connection()
            barrier.wait()
            try:
                results[index] = work()
            except DomainError as exc:
                results[index] = exc
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("first", "second"), [("restock", "restock"), ("restock", "write_off"), ("write_off", "")]
)
def test_two_concurrent_dispositions_of_the_same_held_units_only_one_succeeds(first, second):
    store, warehouse, sku = LocationFactory(), WarehouseFactory(), SkuFactory()
    stock_put(location=store, sku=sku, on_hand=1)
    stock_hold_receive(location=store, sku=sku, quantity=2, reference=RMA)

    def release(disposition):
        if not disposition:  # the other counter sends the units to the warehouse
            return lambda: stock_hold_transfer(
                from_location=store, to_location=warehouse, sku=sku, quantity=2, reference=RMA
            )
        return lambda: stock_hold_release(
            location=store, sku=sku, quantity=2, disposition=disposition, reference=RMA
        )

    results = _race(release(first), release(second))

    refused = [r for r in results if isinstance(r, DomainError)]
    done = [r for r in results if not isinstance(r, DomainError)]
    assert len(done) == 1, results
    assert [r.code for r in refused] == ["insufficient_held"]
    on_hand, reserved, held, _ = buckets(store, sku)
    assert (reserved, held) == (0, 0)
    restocked = getattr(done[0], "reason", "") == Reason.RETURN_RESTOCK
    assert on_hand == (3 if restocked else 1)  # restocked stays on hand; the others left
    assert Transfer.objects.count() == (1 if isinstance(done[0], Transfer) else 0)
    assert_stock_consistent()


@pytest.mark.django_db(transaction=True)
def test_a_count_racing_a_not_found_report_settles_exactly_what_it_saw():
    store, sku = LocationFactory(), SkuFactory()
    stock_put(location=store, sku=sku, on_hand=5)

    results = _race(
        lambda: stock_hold_not_found(location=store, sku=sku, quantity=2, reference="FO-1"),
        lambda: stock_cycle_count(location=store, sku=sku, counted=4),
    )

    assert not [r for r in results if isinstance(r, DomainError)], results
    [request] = CountRequest.objects.all()
    on_hand, _, held, _ = buckets(store, sku)
    if request.status == "counted":  # the report came first: the count settled it
        assert (on_hand, held) == (4, 0)
    else:  # the count came first: the report waits for the next one
        assert (on_hand, held) == (4, 2)
    assert_stock_consistent()


# --- routing and checkout never promise held units --------------------------------------


@pytest.mark.parametrize("native", [True, False], ids=["postgresql", "portable"])
def test_the_routing_snapshot_leaves_held_units_out(store, sku, monkeypatch, native):
    if not native:
        monkeypatch.setattr(snapshot, "native_sql", lambda: False)
    warehouse = WarehouseFactory()
    stock_put(location=store, sku=sku, on_hand=4, safety_stock=1)
    stock_hold_damaged(location=store, sku=sku, quantity=2, reference="shelf check")
    stock_put(location=warehouse, sku=sku, on_hand=3)

    [at_store] = sourcing_candidates(sku_ids=[sku.pk], method="carry_out", location_id=store.pk)
    assert at_store.stock[sku.pk] == (1, 2)  # (ATP, free): 4 on hand - 2 held [- 1 safety]
    pickup = Demand(method="pickup", lines={sku.pk: 2}, location_id=store.pk)
    assert not route(
        pickup,
        sourcing_candidates(sku_ids=[sku.pk], method="pickup", location_id=store.pk, demand=pickup),
    ).ok
    ship = Demand(
        method="ship", lines={sku.pk: 2}, point=(store.latitude, store.longitude), prefer="store"
    )
    decision = route(ship, sourcing_candidates(sku_ids=[sku.pk], method="ship", demand=ship))
    assert [a.location_id for a in decision.allocations] == [warehouse.pk]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["ship", "pickup", "carry_out"])
def test_checkout_takes_no_more_statements_with_held_units_on_the_shelf(
    method, django_assert_max_num_queries, monkeypatch
):
    xuhui = LocationFactory(code="SH-XUHUI", **XUHUI)
    items = [SkuFactory(code=f"QH-{n}") for n in range(3)]
    for sku in items:
        stock_put(location=xuhui, sku=sku, on_hand=5)
        stock_hold_receive(location=xuhui, sku=sku, quantity=3, reference=RMA)
    channel = "store" if method == "carry_out" else "web"
    delivery = (
        ship_to(XUHUI["latitude"], XUHUI["longitude"])
        if method == "ship"
        else {"method": method, "location": "SH-XUHUI"}
    )
    client = channel_client(channel, location=xuhui)
    client.get("/api/v1/orders")  # a token's last use is written at most once a minute
    monkeypatch.setattr(outbox, "_enqueue", lambda *event, more=(): None)
    most = CHECKOUT_3_LINES + (STORE_TOKEN_SCOPE if channel == "store" else 0)

    with django_assert_max_num_queries(most):
        response = post_checkout(
            client, body([(sku, 6) for sku in items], channel=channel, delivery=delivery)
        )
        assert response.status_code == 409  # the 3 held units of each are not for sale
    with django_assert_max_num_queries(most):
        response = post_checkout(
            client, body([(sku, 2) for sku in items], channel=channel, delivery=delivery)
        )

    assert response.status_code == 201, response.content
    assert [buckets(xuhui, sku)[1:3] for sku in items] == (
        [(0, 3)] * 3 if method == "carry_out" else [(2, 3)] * 3
    )
    assert_stock_consistent()
