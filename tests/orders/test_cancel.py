"""Cancelling an order or part of a line gives its stock back at once; too late is a 409."""

import pytest
from django_fsm import TransitionNotAllowed

from inventory.models import Reservation, StockMovement
from orders.errors import LineNotCancellable, OrderNotCancellable
from orders.models import Order, OrderEvent
from orders.services.lifecycle import order_cancel, order_line_cancel
from tests.factories import assert_stock_consistent, channel_client, place_order, timeline
from tests.orders.factories import (
    address_at,
    availability_at,
    body,
    level_of,
    pickup_at,
    post_checkout,
    ship_to,
    stock_put,
)


@pytest.fixture
def pickup_order(web, xuhui, tee, mug):
    """A web order of 3 tees and 2 mugs to collect at Xuhui, which holds 5 of each."""
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=xuhui, sku=mug, on_hand=5)
    response = post_checkout(web, body([(tee, 3), (mug, 2)], delivery=pickup_at(xuhui)))
    assert response.status_code == 201, response.content
    return response.json()


def cancel(client, number: str, **data):
    return client.post(f"/api/v1/orders/{number}/cancel", data, format="json")


def cancel_line(client, number: str, line_id: int, **data):
    return client.post(f"/api/v1/orders/{number}/lines/{line_id}/cancel", data, format="json")


# --- whole order --------------------------------------------------------------------------


def test_cancel_gives_the_stock_back_at_once_and_tells_the_timeline(
    web, xuhui, tee, mug, pickup_order
):
    assert availability_at(web, tee, xuhui)["available"] == 2

    response = cancel(web, pickup_order["number"], reason="changed my mind")

    assert response.status_code == 200, response.content
    order = response.json()
    assert order["status"] == "cancelled"
    assert [line["quantity_cancelled"] for line in order["lines"]] == [3, 2]
    assert [line["reservations"] for line in order["lines"]] == [[], []]
    assert availability_at(web, tee, xuhui)["available"] == 5
    assert availability_at(web, mug, xuhui)["available"] == 5
    assert (level_of(xuhui, tee).reserved, level_of(xuhui, mug).reserved) == (0, 0)
    kinds = timeline(pickup_order["number"], client=web)
    assert kinds[:3] == ["placed", "routed", "reserved"]
    assert "cancelled" in kinds[3:]
    events = web.get(f"/api/v1/orders/{pickup_order['number']}/timeline").json()["results"]
    cancelled = next(e for e in events if e["kind"] == "cancelled")
    assert cancelled["data"]["reason"] == "changed my mind"
    assert_stock_consistent()


def test_cancelling_twice_is_409_and_changes_nothing(web, xuhui, tee, pickup_order):
    cancel(web, pickup_order["number"])

    response = cancel(web, pickup_order["number"])

    assert response.status_code == 409
    assert response.json()["code"] == "order_not_cancellable"
    assert level_of(xuhui, tee).reserved == 0
    released = StockMovement.objects.filter(reason=StockMovement.Reason.RELEASE, sku=tee)
    assert released.count() == 1, "the stock was given back once"


def test_cancelling_an_in_store_sale_is_409_because_it_was_handed_over(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    store_app_client = channel_client("store", location=xuhui)
    sale = post_checkout(
        store_app_client,
        body([(tee, 2)], channel="store", delivery={"method": "carry_out", "location": "SH-XUHUI"}),
    ).json()

    response = cancel(store_app_client, sale["number"])

    assert response.status_code == 409
    assert response.json()["code"] == "order_not_cancellable"
    assert Order.objects.get(number=sale["number"]).status == Order.Status.FULFILLED
    assert (level_of(xuhui, tee).on_hand, level_of(xuhui, tee).reserved) == (3, 0)


def test_cancel_of_a_split_shipment_releases_every_location(web, xuhui, pudong, tee, mug):
    stock_put(location=xuhui, sku=tee, on_hand=2)
    stock_put(location=pudong, sku=mug, on_hand=2)
    order = post_checkout(web, body([(tee, 1), (mug, 1)], delivery=ship_to(31.22, 121.47))).json()
    assert (level_of(xuhui, tee).reserved, level_of(pudong, mug).reserved) == (1, 1)

    response = cancel(web, order["number"])

    assert response.status_code == 200
    assert (level_of(xuhui, tee).reserved, level_of(pudong, mug).reserved) == (0, 0)
    assert_stock_consistent()


def test_cancel_with_a_long_reason_is_kept_on_the_timeline(web, pickup_order):
    reason = "The customer called the store: " + "x" * 224  # 255 characters, the most allowed

    response = cancel(web, pickup_order["number"], reason=reason)

    assert response.status_code == 200, response.content
    event = OrderEvent.objects.get(kind=OrderEvent.Kind.CANCELLED)
    assert event.data["reason"] == reason
    assert event.message.startswith("Cancelled: The customer called the store")


# --- one line -----------------------------------------------------------------------------


def test_line_cancel_gives_back_that_many_units_and_keeps_the_rest(
    web, xuhui, tee, mug, pickup_order
):
    tee_line = pickup_order["lines"][0]

    response = cancel_line(web, pickup_order["number"], tee_line["id"], quantity=2)

    assert response.status_code == 200, response.content
    order = response.json()
    assert order["status"] == "placed"
    line = order["lines"][0]
    assert line["quantity_cancelled"] == 2
    assert [(r["location"], r["quantity"]) for r in line["reservations"]] == [("SH-XUHUI", 1)]
    assert (level_of(xuhui, tee).reserved, level_of(xuhui, mug).reserved) == (1, 2)
    assert availability_at(web, tee, xuhui)["available"] == 4
    assert timeline(pickup_order["number"], client=web)[-1] == "line_cancelled"
    assert_stock_consistent()


def test_line_cancel_of_a_line_held_at_two_locations_keeps_the_rest_held(web, xuhui, pudong, tee):
    stock_put(location=xuhui, sku=tee, on_hand=2)
    stock_put(location=pudong, sku=tee, on_hand=1)
    order = post_checkout(web, body([(tee, 3)], delivery=ship_to(31.22, 121.47))).json()
    assert sorted((r["location"], r["quantity"]) for r in order["lines"][0]["reservations"]) == [
        ("SH-PUDONG", 1),
        ("SH-XUHUI", 2),
    ]

    response = cancel_line(web, order["number"], order["lines"][0]["id"], quantity=2)

    assert response.status_code == 200, response.content
    [line] = response.json()["lines"]
    assert (line["quantity_cancelled"], sum(r["quantity"] for r in line["reservations"])) == (2, 1)
    assert level_of(xuhui, tee).reserved + level_of(pudong, tee).reserved == 1
    assert_stock_consistent()


def test_line_cancel_of_more_than_is_open_is_409(web, xuhui, tee, pickup_order):
    tee_line = pickup_order["lines"][0]
    cancel_line(web, pickup_order["number"], tee_line["id"], quantity=2)

    response = cancel_line(web, pickup_order["number"], tee_line["id"], quantity=2)

    assert response.status_code == 409
    assert response.json()["code"] == "line_not_cancellable"
    assert level_of(xuhui, tee).reserved == 1


def test_cancelling_every_line_cancels_the_order(web, xuhui, tee, mug, pickup_order):
    tee_line, mug_line = pickup_order["lines"]

    cancel_line(web, pickup_order["number"], tee_line["id"], quantity=3)
    response = cancel_line(web, pickup_order["number"], mug_line["id"], quantity=2)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert (level_of(xuhui, tee).reserved, level_of(xuhui, mug).reserved) == (0, 0)
    assert not Reservation.objects.filter(status=Reservation.Status.ACTIVE).exists()


def test_line_cancel_of_an_unknown_line_is_404(web, xuhui, tee, pickup_order):
    other = post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui))).json()

    unknown = cancel_line(web, pickup_order["number"], 999999, quantity=1)
    of_another_order = cancel_line(web, pickup_order["number"], other["lines"][0]["id"], quantity=1)

    assert (unknown.status_code, of_another_order.status_code) == (404, 404)
    assert unknown.json()["code"] == "not_found"
    assert level_of(xuhui, tee).reserved == 4


@pytest.mark.parametrize("quantity", [0, -1])
def test_line_cancel_needs_a_positive_quantity(web, xuhui, tee, pickup_order, quantity):
    response = cancel_line(
        web, pickup_order["number"], pickup_order["lines"][0]["id"], quantity=quantity
    )

    assert response.status_code == 400
    assert "quantity" in response.json()["errors"]
    assert level_of(xuhui, tee).reserved == 3


# --- the state machine --------------------------------------------------------------------


@pytest.fixture
def handed_over(xuhui, tee):
    """An in-store sale: fulfilled at the till."""
    stock_put(location=xuhui, sku=tee, on_hand=5)
    return place_order([(tee, 2)], method="carry_out", location=xuhui, channel="store")


def test_cancel_transition_on_a_fulfilled_order_raises_and_changes_nothing(handed_over, xuhui, tee):
    with pytest.raises(TransitionNotAllowed):
        handed_over.cancel()

    handed_over.refresh_from_db()
    assert handed_over.status == Order.Status.FULFILLED
    assert (level_of(xuhui, tee).on_hand, level_of(xuhui, tee).reserved) == (3, 0)


def test_cancel_service_refuses_a_fulfilled_order_and_changes_nothing(handed_over, xuhui, tee):
    events = handed_over.events.count()

    with pytest.raises(OrderNotCancellable):
        order_cancel(order=handed_over, reason="too late")

    handed_over.refresh_from_db()
    assert handed_over.status == Order.Status.FULFILLED
    assert handed_over.events.count() == events
    assert (level_of(xuhui, tee).on_hand, level_of(xuhui, tee).reserved) == (3, 0)


def test_line_cancel_service_refuses_a_cancelled_order(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="pickup", location=xuhui)
    order_line_cancel(order=order, line_id=order.lines.get().pk, quantity=2)

    order.refresh_from_db()
    with pytest.raises(LineNotCancellable):
        order_line_cancel(order=order, line_id=order.lines.get().pk, quantity=1)

    assert order.status == Order.Status.CANCELLED
    assert level_of(xuhui, tee).reserved == 0


def test_order_status_cannot_be_assigned_directly(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="pickup", location=xuhui)

    with pytest.raises(AttributeError):
        order.status = Order.Status.CANCELLED

    order.refresh_from_db()
    assert order.status == Order.Status.PLACED
    assert level_of(xuhui, tee).reserved == 1


def test_cancel_leaves_a_release_in_the_ledger_for_every_location(xuhui, pudong, tee):
    stock_put(location=xuhui, sku=tee, on_hand=1)
    stock_put(location=pudong, sku=tee, on_hand=1)
    order = place_order(
        [(tee, 2)],
        method="ship",
        address=address_at(31.22, 121.47),
    )

    order_cancel(order=order, reason="test")

    releases = StockMovement.objects.filter(
        reason=StockMovement.Reason.RELEASE, reference=order.number
    )
    assert sorted(releases.values_list("location__code", "delta_reserved")) == [
        ("SH-PUDONG", -1),
        ("SH-XUHUI", -1),
    ]
    assert_stock_consistent()
