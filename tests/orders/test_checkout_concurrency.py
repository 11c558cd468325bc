"""Real threads, each with its own PostgreSQL connection, checking out the same stock."""

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from inventory.errors import InsufficientStock
from inventory.models import Reservation
from orders.models import Customer, Order
from orders.services.checkout import CheckoutResult
from tests.orders.factories import (
    assert_verify_stock_clean,
    body,
    channel_client,
    level_of,
    pickup_at,
    place_order,
    post_checkout,
    stock_put,
)

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
        return lambda: place_order(
            [(tee, 1)], method="pickup", location=xuhui, email=f"shopper{n}@example.com"
        )

    results, errors = race([customer(n) for n in range(32)])

    assert errors == []
    placed = [r for r in results if isinstance(r, CheckoutResult)]
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
    assert_verify_stock_clean()


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
    assert_verify_stock_clean()


def test_first_orders_of_one_new_customer_at_once_make_one_customer(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=20)
    channels = ["web", "app", "web", "app", "web", "app", "web", "app"]

    def order_on(channel: str) -> Callable[[], object]:
        return lambda: place_order(
            [(tee, 1)], method="pickup", location=xuhui, channel=channel, email="NEW@example.com"
        )

    results, errors = race([order_on(channel) for channel in channels])

    assert errors == []
    assert all(isinstance(r, CheckoutResult) and r.status == 201 for r in results)
    [customer] = Customer.objects.all()
    assert customer.email == "new@example.com"
    assert customer.orders.count() == 8
    assert_verify_stock_clean()
