"""A store-channel order records the store that took it: staff list and may cancel it there."""

import pytest

from orders.models import Order
from tests.factories import PEOPLES_SQUARE, channel_client, staff_client
from tests.orders.factories import (
    LocationFactory,
    body,
    level_of,
    pickup_at,
    post_checkout,
    ship_to,
    stock_put,
)


@pytest.fixture
def stocked(xuhui, pudong, kunshan, tee):
    for location in (xuhui, pudong, kunshan):
        stock_put(location=location, sku=tee, on_hand=10)


def store_order(delivery: dict, **fields) -> dict:
    return body([("TEE-WHITE-M", 1)], channel="store", delivery=delivery) | fields


def placed_event_location(client, number: str) -> str | None:
    events = client.get(f"/api/v1/orders/{number}/timeline").json()["results"]
    assert events[0]["kind"] == "placed"
    return events[0]["location"]


def listed(client) -> list[str]:
    return [order["number"] for order in client.get("/api/v1/orders").json()["results"]]


def test_order_in_store_deliver_home_is_recorded_at_the_staffs_store(xuhui, stocked):
    at_xuhui = staff_client(xuhui)

    response = post_checkout(at_xuhui, store_order(ship_to(*PEOPLES_SQUARE)))

    assert response.status_code == 201, response.content
    number = response.json()["number"]
    assert Order.objects.get(number=number).store == xuhui
    assert placed_event_location(at_xuhui, number) == "SH-XUHUI"
    assert number in listed(at_xuhui)
    cancel = at_xuhui.post(f"/api/v1/orders/{number}/cancel", {}, format="json")
    assert cancel.status_code == 200, cancel.content


def test_pickup_elsewhere_taken_by_staff_is_recorded_at_the_store_that_took_it(
    xuhui, pudong, stocked
):
    at_xuhui = staff_client(xuhui)

    response = post_checkout(at_xuhui, store_order(pickup_at(pudong)))

    assert response.status_code == 201, response.content
    number = response.json()["number"]
    order = Order.objects.get(number=number)
    assert (order.store, order.pickup_location) == (xuhui, pudong)
    assert placed_event_location(at_xuhui, number) == "SH-XUHUI"
    assert number in listed(at_xuhui)
    assert number in listed(staff_client(pudong)), "the pickup store sees it too"


def test_staff_of_several_stores_name_the_store_taking_the_order(xuhui, pudong, stocked):
    at_both = staff_client(xuhui, pudong)

    missing = post_checkout(at_both, store_order(ship_to(*PEOPLES_SQUARE)))
    named = post_checkout(at_both, store_order(ship_to(*PEOPLES_SQUARE), store="SH-PUDONG"))

    assert missing.status_code == 400
    assert missing.json()["code"] == "invalid"
    assert "store" in missing.json()["errors"]
    assert named.status_code == 201, named.content
    assert Order.objects.get().store == pudong


def test_staff_cannot_record_an_order_at_a_store_they_do_not_work_at(xuhui, pudong, stocked):
    response = post_checkout(
        staff_client(xuhui), store_order(ship_to(*PEOPLES_SQUARE), store="SH-PUDONG")
    )

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not Order.objects.exists()


def test_staff_of_a_warehouse_only_cannot_take_store_orders(kunshan, stocked):
    response = post_checkout(staff_client(kunshan), store_order(ship_to(*PEOPLES_SQUARE)))

    assert response.status_code == 403
    assert not Order.objects.exists()


def test_a_store_app_token_records_its_own_store_and_cannot_order_for_another(
    xuhui, pudong, stocked
):
    store_app = channel_client("store", location=xuhui)

    named = post_checkout(store_app, store_order(pickup_at(pudong), store="SH-XUHUI"))
    unnamed = post_checkout(store_app, store_order(pickup_at(pudong)))
    other = post_checkout(store_app, store_order(pickup_at(pudong), store="SH-PUDONG"))

    assert (named.status_code, unnamed.status_code, other.status_code) == (201, 201, 403)
    placed = dict(Order.objects.values_list("number", "store__code"))
    assert placed == {named.json()["number"]: "SH-XUHUI", unnamed.json()["number"]: "SH-XUHUI"}


@pytest.mark.parametrize(
    ("store", "channel", "delivery"),
    [
        pytest.param("NOWHERE", "store", "pickup", id="unknown"),
        pytest.param("DC-KUNSHAN", "store", "pickup", id="a-warehouse"),
        pytest.param("SH-CLOSED", "store", "pickup", id="closed"),
        pytest.param("SH-XUHUI", "web", "pickup", id="on-the-web"),
        pytest.param("SH-PUDONG", "store", "carry_out", id="sale-at-another-till"),
    ],
)
def test_a_store_that_cannot_have_taken_the_order_is_400(xuhui, stocked, store, channel, delivery):
    LocationFactory(code="SH-CLOSED", is_active=False)
    client = channel_client(channel, location=xuhui if channel == "store" else None)
    where = {"method": delivery, "location": "SH-XUHUI"}
    payload = body([("TEE-WHITE-M", 1)], channel=channel, delivery=where) | {"store": store}

    response = post_checkout(client, payload)

    assert response.status_code == 400, response.content
    assert "store" in response.json()["errors"]
    assert not Order.objects.exists()


@pytest.mark.parametrize("client_kind", ["staff", "store_app"])
def test_an_in_store_sale_at_a_warehouse_is_400(kunshan, xuhui, tee, stocked, client_kind):
    if client_kind == "staff":
        client = staff_client(kunshan)
    else:
        client = channel_client("store", location=xuhui)

    response = post_checkout(client, store_order({"method": "carry_out", "location": "DC-KUNSHAN"}))

    assert response.status_code == 400, response.content
    assert "location" in response.json()["errors"]["delivery"]
    assert level_of(kunshan, tee).on_hand == 10
