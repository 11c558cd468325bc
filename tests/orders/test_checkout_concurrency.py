"""Real threads, each with its own PostgreSQL connection, checking out the same stock."""

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from common.idempotency import IdempotentResult
from customers.models import Customer
from inventory.errors import InsufficientStock
from inventory.models import Reservation
from inventory.snapshot import sourcing_candidates
from orders.models import Order
from orders.services import checkout as checkout_service
from tests.factories import assert_stock_consistent, channel_client, checkout, place_order
from tests.orders.factories import body, level_of, pickup_at, post_checkout, stock_put

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 60


def race(workers: list[Callable[[], object]]) -> tuple[list[object], list[BaseException]]:
    """Run each worker in its own thread, released together: (results, unexpected errors).

    A shortage is a result, not an error: it is the answer a losing customer expects.
    """
    barrier = threading.Barrier(len(workers), timeout=TIMEOUT)
    results: list[object] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(index: int, work: Callable[[], object]) -> None:
        try:
            connection.ensure_connection()
            barrier.wait()
            try:
                results[index] = work()
            except InsufficientStock as exc:
                results[index] = exc
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT * 2)
    assert not any(thread.is_alive() for thread in threads), "a checkout never finished"
    return results, errors


def test_32_checkouts_for_the_last_10_units_at_one_store_place_exactly_10_orders(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)

    def customer(n: int) -> Callable[[], object]:
        return lambda: checkout(
            [(tee, 1)], method="pickup", location=xuhui, email=f"shopper{n}@example.com"
        )

    results, errors = race([customer(n) for n in range(32)])

    assert errors == []
    placed = [r for r in results if isinstance(r, IdempotentResult)]
    refused = [r for r in results if isinstance(r, InsufficientStock)]
    assert (len(placed), len(refused)) == (10, 22)
    assert {r.status for r in placed} == {201}
    for shortage in refused:
        assert shortage.status == 409
        [line] = shortage.extra["lines"]
        assert (line["sku"], line["requested"], line["available"]) == (tee.code, 1, 0)
    assert Order.objects.count() == 10
    assert {r.body["number"] for r in placed} == set(Order.objects.values_list("number", flat=True))
    level = level_of(xuhui, tee)
    assert (level.on_hand, level.reserved) == (10, 10)
    assert Reservation.objects.filter(status=Reservation.Status.ACTIVE).count() == 10
    assert_stock_consistent()


def test_32_api_checkouts_for_the_last_10_units_get_10_orders_and_22_clean_409s(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    channel_client("web")

    def customer(n: int) -> Callable[[], object]:
        def checkout():
            response = post_checkout(
                channel_client("web"),
                body([(tee, 1)], delivery=pickup_at(xuhui), email=f"shopper{n}@example.com"),
            )
            return response.status_code, response.json()

        return checkout

    results, errors = race([customer(n) for n in range(32)])

    assert errors == []
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 10 + [409] * 22
    for status, answer in results:
        if status == 409:
            assert answer["code"] == "insufficient_stock"
            assert [(x["requested"], x["available"]) for x in answer["lines"]] == [(1, 0)]
    assert Order.objects.count() == 10
    assert level_of(xuhui, tee).reserved == 10
    assert_stock_consistent()


def test_first_orders_of_one_new_customer_at_once_make_one_customer(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=20)
    channels = ["web", "app", "web", "app", "web", "app", "web", "app"]

    def order_on(channel: str) -> Callable[[], object]:
        return lambda: checkout(
            [(tee, 1)], method="pickup", location=xuhui, channel=channel, email="NEW@example.com"
        )

    results, errors = race([order_on(channel) for channel in channels])

    assert errors == []
    assert all(isinstance(r, IdempotentResult) and r.status == 201 for r in results)
    [customer] = Customer.objects.all()
    assert customer.email == "new@example.com"
    assert customer.orders.count() == 8
    assert_stock_consistent()


# --- losing the race more than once -------------------------------------------------------


@pytest.fixture
def last_unit_gone(xuhui, pudong, tee, monkeypatch):
    """Xuhui's last tee sold after this checkout's routing snapshot was taken.

    `stale_calls` routing snapshots still show it (None: all of them); later ones are live.
    """
    stock_put(location=xuhui, sku=tee, on_hand=1)
    stock_put(location=pudong, sku=tee, on_hand=3)
    stale = sourcing_candidates(sku_ids=[tee.pk], method="pickup", location_id=xuhui.pk)
    place_order([(tee, 1)], method="pickup", location=xuhui, email="quicker@example.com")
    calls = []

    def patch(stale_calls: int | None) -> list:
        def snapshot(**kwargs):
            calls.append(kwargs)
            if stale_calls is None or len(calls) <= stale_calls:
                return stale
            return sourcing_candidates(**kwargs)

        monkeypatch.setattr(checkout_service, "sourcing_candidates", snapshot)
        return calls

    return patch


def test_checkout_losing_the_race_twice_explains_the_shortage_with_alternatives(
    web, xuhui, tee, last_unit_gone
):
    calls = last_unit_gone(stale_calls=2)

    response = post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui)))

    assert response.status_code == 409, response.content
    problem = response.json()
    assert problem["code"] == "insufficient_stock"
    assert problem["lines"] == [{"sku": tee.code, "requested": 1, "available": 0}]
    assert [alt["location"] for alt in problem["alternatives"]] == ["SH-PUDONG"]
    assert len(calls) == 3, "two lost races, then the routing that explains the shortage"
    assert Order.objects.count() == 1
    assert level_of(xuhui, tee).reserved == 1


def test_checkout_that_loses_every_race_still_answers_in_the_contracts_shape(
    web, xuhui, tee, last_unit_gone
):
    last_unit_gone(stale_calls=None)

    response = post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui)))

    assert response.status_code == 409, response.content
    problem = response.json()
    assert problem["code"] == "insufficient_stock"
    assert problem["lines"] == [{"sku": tee.code, "requested": 1, "available": 0}]
    assert problem["alternatives"] == []
    assert Order.objects.count() == 1
    assert_stock_consistent()
