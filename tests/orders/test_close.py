"""A fulfilled order is closed once its return window is over, by a beat task in batches."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from orders.errors import OrderNotClosable
from orders.models import Order
from orders.services.lifecycle import order_close, order_lines_fulfilled
from orders.tasks import close_fulfilled_orders
from tests.factories import channel_client, place_order, timeline
from tests.orders.factories import stock_put

TIMEOUT = 60


def sale(location, sku) -> Order:
    """An in-store sale: fulfilled at the till."""
    return place_order([(sku, 1)], method="carry_out", location=location, channel="store")


def fulfilled_days_ago(order: Order, days: int) -> None:
    Order.objects.filter(pk=order.pk).update(fulfilled_at=timezone.now() - timedelta(days=days))


def status_of(order: Order) -> str:
    return Order.objects.get(pk=order.pk).status


@pytest.fixture
def shelf(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=50)


def test_a_fulfilled_order_closes_only_once_its_return_window_is_over(xuhui, tee, shelf):
    store_app = channel_client("store", location=xuhui)
    order = sale(xuhui, tee)
    assert order.fulfilled_at is not None

    with pytest.raises(OrderNotClosable) as too_early:
        order_close(order=order, now=order.fulfilled_at + timedelta(days=29))
    closed = order_close(order=order, now=order.fulfilled_at + timedelta(days=30))

    assert too_early.value.status == 409
    assert closed.status == Order.Status.CLOSED
    assert store_app.get(f"/api/v1/orders/{order.number}").json()["status"] == "closed"
    assert timeline(order.number, client=store_app)[-1] == "status_changed"


def test_an_order_fulfilled_by_shipping_or_handover_closes_after_the_window(xuhui, tee, shelf):
    order = place_order([(tee, 2)], method="pickup", location=xuhui)
    with pytest.raises(OrderNotClosable):
        order_close(order=order, now=timezone.now() + timedelta(days=365))

    order_lines_fulfilled(order=order, quantities={order.lines.get().pk: 2})

    fulfilled = Order.objects.get(pk=order.pk)
    assert fulfilled.status == Order.Status.FULFILLED
    closed = order_close(order=fulfilled, now=fulfilled.fulfilled_at + timedelta(days=31))
    assert closed.status == Order.Status.CLOSED


def test_the_return_window_is_a_setting(xuhui, tee, shelf, settings):
    settings.OMS_RETURN_WINDOW_DAYS = 7
    order = sale(xuhui, tee)

    closed = order_close(order=order, now=order.fulfilled_at + timedelta(days=7))

    assert closed.status == Order.Status.CLOSED


def test_the_beat_task_closes_every_order_past_its_window_in_batches(xuhui, tee, shelf):
    old = [sale(xuhui, tee) for _ in range(5)]
    recent = sale(xuhui, tee)
    still_open = place_order([(tee, 1)], method="pickup", location=xuhui)
    for order in old:
        fulfilled_days_ago(order, 31)

    closed = close_fulfilled_orders(batch_size=2)

    assert closed == 5
    assert {status_of(order) for order in old} == {Order.Status.CLOSED}
    assert status_of(recent) == Order.Status.FULFILLED
    assert status_of(still_open) == Order.Status.PLACED
    assert close_fulfilled_orders(batch_size=2) == 0


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_skips_an_order_another_worker_holds_instead_of_waiting(xuhui, tee, shelf):
    held, free = sale(xuhui, tee), sale(xuhui, tee)
    for order in (held, free):
        fulfilled_days_ago(order, 40)
    locked, release, errors = threading.Event(), threading.Event(), []

    def other_worker() -> None:
        try:
            with transaction.atomic():
                Order.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(TIMEOUT)
        except Exception as exc:
            errors.append(exc)
        finally:
            locked.set()
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(TIMEOUT)
        closed = close_fulfilled_orders(batch_size=10)
    finally:
        release.set()
        thread.join(TIMEOUT)

    assert errors == []
    assert closed == 1
    assert (status_of(held), status_of(free)) == (Order.Status.FULFILLED, Order.Status.CLOSED)
    assert close_fulfilled_orders(batch_size=10) == 1, "the next run takes the one it skipped"
