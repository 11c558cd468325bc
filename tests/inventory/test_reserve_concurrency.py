"""Real threads, each with its own PostgreSQL connection, racing for the same stock rows."""

import threading
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest
from django.db import connection
from django.db.models import Sum

from inventory.errors import InsufficientStock
from inventory.models import Reservation, StockLevel, StockMovement
from inventory.selectors import ship_orders_today, stock_breaches
from inventory.services import StockRequest, stock_consume, stock_release, stock_reserve
from tests.factories import assert_stock_consistent
from tests.inventory.factories import SkuFactory, level_of, stock_put
from tests.stores.factories import LocationFactory, WarehouseFactory

pytestmark = pytest.mark.django_db(transaction=True)

BARRIER_TIMEOUT = 60


def _race(workers: list[Callable[[], object]]) -> tuple[list[object], list[BaseException]]:
    """Run every worker in its own thread, released together; (results, unexpected errors).

    InsufficientStock is returned as a result: it is the answer a losing client expects.
    """
    barrier = threading.Barrier(len(workers), timeout=BARRIER_TIMEOUT)
    results: list[object] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(index: int, work: Callable[[], object]) -> None:
        try:
            connection.ensure_connection()  # connect first, so the race is on the stock row
            barrier.wait()
            try:
                results[index] = work()
            except InsufficientStock as exc:
                results[index] = exc
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()  # the others stop waiting for a client that will never arrive
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, work), name=f"client-{i}")
        for i, work in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BARRIER_TIMEOUT * 2)
    assert not any(thread.is_alive() for thread in threads), "a client never finished"
    return results, errors


def _stock_of(location, sku) -> tuple[int, int]:
    level = level_of(location, sku)
    return level.on_hand, level.reserved


def test_64_clients_racing_for_the_last_50_units_get_exactly_50():
    store, sku = LocationFactory(), SkuFactory()
    stock_put(location=store, sku=sku, on_hand=50)

    def client(n: int) -> Callable[[], object]:
        return lambda: stock_reserve(
            requests=[
                StockRequest(location_id=store.pk, sku_id=sku.pk, quantity=1, reference=f"W-{n}/1")
            ],
            demand=f"W-{n}",
            delivery_method="ship",
        )

    results, errors = _race([client(n) for n in range(64)])

    assert errors == []
    won = [r for r in results if isinstance(r, list)]
    lost = [r for r in results if isinstance(r, InsufficientStock)]
    assert (len(won), len(lost)) == (50, 14)
    for exc in lost:
        assert exc.extra["lines"] == [
            {"sku": sku.code, "location": store.code, "requested": 1, "available": 0}
        ]
    level = level_of(store, sku)
    assert (level.on_hand, level.reserved) == (50, 50)
    assert Reservation.objects.filter(status=Reservation.Status.ACTIVE).count() == 50
    assert StockMovement.objects.filter(reason=StockMovement.Reason.RESERVE).count() == 50
    assert_stock_consistent()


def test_multi_line_reserves_in_opposite_orders_never_deadlock_or_oversell():
    locations = [LocationFactory(), WarehouseFactory()]
    skus = [SkuFactory() for _ in range(3)]
    pairs = [(location, sku) for location in locations for sku in skus]
    for location, sku in pairs:
        stock_put(location=location, sku=sku, on_hand=12)

    def client(n: int) -> Callable[[], object]:
        # Every client wants every pair; some lines ask for two, so demand outruns stock.
        lines = [
            StockRequest(
                location_id=location.pk,
                sku_id=sku.pk,
                quantity=1 + (n + i) % 2,
                reference=f"M-{n}/{i}",
            )
            for i, (location, sku) in enumerate(pairs)
        ]
        if n % 2:
            lines.reverse()
        return lambda: stock_reserve(requests=lines, demand=f"M-{n}")

    results, errors = _race([client(n) for n in range(16)])

    assert errors == []  # in particular no OperationalError: deadlock detected
    won = [r for r in results if isinstance(r, list)]
    assert won, "some clients must get their stock"
    assert len(won) < 16, "demand was larger than stock, so some must be refused"
    held: dict[tuple[int, int], int] = defaultdict(int)
    for reservations in won:
        for reservation in reservations:
            held[(reservation.location_id, reservation.sku_id)] += reservation.quantity
    for location, sku in pairs:
        level = level_of(location, sku)
        assert level.reserved <= level.on_hand == 12
        assert level.reserved == held[(location.pk, sku.pk)]
    # Refused clients left nothing behind: every reservation belongs to a winner.
    assert Reservation.objects.count() == sum(len(reservations) for reservations in won)
    assert_stock_consistent()


def test_concurrent_release_and_consume_apply_each_reservation_once():
    store, sku = LocationFactory(), SkuFactory()
    stock_put(location=store, sku=sku, on_hand=40)
    reservations = [
        stock_reserve(
            requests=[
                StockRequest(
                    location_id=store.pk, sku_id=sku.pk, quantity=1 + n % 3, reference=f"R-{n}/1"
                )
            ],
            demand=f"R-{n}",
        )[0]
        for n in range(12)
    ]
    ids = [r.pk for r in reservations]
    total = sum(r.quantity for r in reservations)

    def client(n: int) -> Callable[[], object]:
        order = ids if n % 4 < 2 else list(reversed(ids))
        if n % 2:
            return lambda: ("consumed", stock_consume(reservations=order))
        return lambda: ("released", stock_release(reservations=order))

    results, errors = _race([client(n) for n in range(8)])

    assert errors == []
    settled = Counter(r.pk for _, done in results for r in done)
    assert sorted(settled) == sorted(ids)
    assert set(settled.values()) == {1}, "a reservation was settled twice"
    final = {r.pk: (r.status, r.quantity) for r in Reservation.objects.filter(pk__in=ids)}
    assert {status for status, _ in final.values()} <= {
        Reservation.Status.CONSUMED,
        Reservation.Status.RELEASED,
    }
    consumed = sum(q for status, q in final.values() if status == Reservation.Status.CONSUMED)
    released = sum(q for status, q in final.values() if status == Reservation.Status.RELEASED)
    assert consumed + released == total
    level = StockLevel.objects.get(location=store, sku=sku)
    assert (level.on_hand, level.reserved) == (40 - consumed, 0)
    ledger = {
        row["reason"]: row["reserved"]
        for row in StockMovement.objects.filter(location=store, sku=sku)
        .order_by()
        .values("reason")
        .annotate(reserved=Sum("delta_reserved"))
    }
    assert ledger.get(StockMovement.Reason.FULFIL, 0) == -consumed
    assert ledger.get(StockMovement.Reason.RELEASE, 0) == -released
    assert_stock_consistent()


def test_clients_racing_for_the_last_ship_slot_of_the_day_get_exactly_one():
    store, sku = LocationFactory(daily_ship_capacity=1), SkuFactory()
    stock_put(location=store, sku=sku, on_hand=100)

    def client(n: int) -> Callable[[], object]:
        return lambda: stock_reserve(
            requests=[
                StockRequest(location_id=store.pk, sku_id=sku.pk, quantity=1, reference=f"S-{n}/1")
            ],
            demand=f"S-{n}",
            delivery_method="ship",
        )

    results, errors = _race([client(n) for n in range(12)])

    assert errors == []
    won = [r for r in results if isinstance(r, list)]
    lost = [r for r in results if isinstance(r, InsufficientStock)]
    assert (len(won), len(lost)) == (1, 11)
    assert {exc.code for exc in lost} == {"ship_capacity_exhausted"}
    assert ship_orders_today(location_ids=[store.pk]) == {store.pk: 1}
    assert _stock_of(store, sku) == (100, 1)
    assert stock_breaches() == []
    assert_stock_consistent()


def test_a_line_freed_again_before_its_shortage_is_read_is_still_reported_in_full():
    store, sku = LocationFactory(), SkuFactory()
    stock_put(location=store, sku=sku, on_hand=1)
    [held] = stock_reserve(
        requests=[StockRequest(store.pk, sku.pk, 1, "ORDER-1/1")], demand="ORDER-1"
    )

    def release_right_after_the_refused_update(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('UPDATE "inventory_stocklevel"') and context["cursor"].rowcount == 0:
            # Another client gives its unit back, committed, before the shortage is read.
            other = threading.Thread(target=_release_on_own_connection, args=(held.pk,))
            other.start()
            other.join(timeout=BARRIER_TIMEOUT)
        return result

    with (
        connection.execute_wrapper(release_right_after_the_refused_update),
        pytest.raises(InsufficientStock) as caught,
    ):
        stock_reserve(requests=[StockRequest(store.pk, sku.pk, 1, "ORDER-2/1")], demand="ORDER-2")

    assert caught.value.extra["lines"] == [
        {"sku": sku.code, "location": store.code, "requested": 1, "available": 1}
    ]
    assert _stock_of(store, sku) == (1, 0)
    assert_stock_consistent()


def _release_on_own_connection(reservation_id: int) -> None:
    try:
        stock_release(reservations=[reservation_id])
    finally:
        connection.close()
