"""The return policy refuses clearly and moves nothing: outside the window, more than was
fulfilled, final sale, a withdrawn return brought in anyway."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from fulfillment.models import FulfillmentOrder
from orders.models import Order
from returns.models import Return
from tests.inventory.factories import stock_put
from tests.returns.factories import (
    assert_money_clean,
    card,
    inspect,
    line_of,
    open_return,
    refunded,
    ship_all,
    ship_delivery,
    stock,
    web_checkout,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shipped(web, kunshan, tee):
    stock_put(location=kunshan, sku=tee, on_hand=5)
    order = web_checkout(web, [(tee, 2)], ship_delivery(), payments=card("213.00"))
    ship_all(order)
    return order


def assert_nothing_moved(order: Order, pudong, tee) -> None:
    assert not Return.objects.filter(order=order).exclude(status="cancelled").exists()
    assert stock(pudong, tee) == (0, 0)
    assert line_of(order, tee).quantity_returned == 0
    assert Order.objects.get(pk=order.pk).return_status == "none"
    assert refunded(order) == 0
    assert_money_clean()


def test_a_line_shipped_longer_ago_than_the_window_is_refused(shipped, pudong, tee, at_pudong):
    FulfillmentOrder.objects.filter(order=shipped).update(
        completed_at=timezone.now() - timedelta(days=31)
    )

    response = open_return(at_pudong, shipped, [(line_of(shipped, tee), 1)], location=pudong)

    assert response.status_code == 409
    assert response.json()["code"] == "return_window_closed"
    assert_nothing_moved(shipped, pudong, tee)


def test_a_sku_with_a_longer_window_of_its_own_is_still_returnable(shipped, pudong, tee,
                                                                   at_pudong):  # fmt: skip
    FulfillmentOrder.objects.filter(order=shipped).update(
        completed_at=timezone.now() - timedelta(days=31)
    )
    tee.return_window_days = 60
    tee.save()

    response = open_return(at_pudong, shipped, [(line_of(shipped, tee), 1)], location=pudong)

    assert response.status_code == 201, response.content


def test_more_units_than_were_fulfilled_are_refused(shipped, pudong, tee, at_pudong):
    response = open_return(at_pudong, shipped, [(line_of(shipped, tee), 3)], location=pudong)

    assert response.status_code == 409
    assert response.json()["code"] == "return_quantity_exceeded"
    assert response.json()["returnable"] == 2
    assert_nothing_moved(shipped, pudong, tee)


def test_units_already_in_an_open_return_are_not_returnable_twice(shipped, web, pudong, tee,
                                                                   at_pudong):  # fmt: skip
    assert open_return(web, shipped, [(line_of(shipped, tee), 2)]).status_code == 201

    response = open_return(at_pudong, shipped, [(line_of(shipped, tee), 1)], location=pudong)

    assert response.status_code == 409
    assert response.json()["code"] == "return_quantity_exceeded"


def test_final_sale_is_refused(shipped, pudong, tee, at_pudong):
    tee.final_sale = True
    tee.save()

    response = open_return(at_pudong, shipped, [(line_of(shipped, tee), 1)], location=pudong)

    assert response.status_code == 409
    assert response.json()["code"] == "final_sale"
    assert_nothing_moved(shipped, pudong, tee)


def test_a_cancelled_return_cannot_be_received(shipped, web, pudong, tee, at_pudong):
    rma = open_return(web, shipped, [(line_of(shipped, tee), 1)]).json()["rma"]
    assert web.post(f"/api/v1/returns/{rma}/cancel").json()["status"] == "cancelled"

    response = at_pudong.post(f"/api/v1/returns/{rma}/receive", {"location": pudong.code},
                              format="json")  # fmt: skip

    assert response.status_code == 409
    assert response.json()["code"] == "return_status_conflict"
    assert_nothing_moved(shipped, pudong, tee)
    # Its units are returnable again.
    assert open_return(web, shipped, [(line_of(shipped, tee), 2)]).status_code == 201


def test_bad_input_is_a_400_with_field_errors(shipped, web, pudong, kunshan, tee, at_pudong):
    line = line_of(shipped, tee)
    unknown_reason = open_return(web, shipped, [(line, 1)], reason="meh")
    no_such_line = web.post("/api/v1/returns", {"order": shipped.number, "lines": [
        {"line": 999999, "quantity": 1, "reason": "other"}]}, format="json",
        HTTP_IDEMPOTENCY_KEY="k1")  # fmt: skip
    warehouse = open_return(at_pudong, shipped, [(line, 1)], location=kunshan)
    zero = open_return(web, shipped, [(line, 0)])

    assert unknown_reason.status_code == 400
    assert "reason" in unknown_reason.json()["errors"]["lines"]["0"]
    assert no_such_line.status_code == 400
    assert warehouse.status_code == 400
    assert warehouse.json()["code"] == "location_does_not_accept_returns"
    assert zero.status_code == 400
    assert_nothing_moved(shipped, pudong, tee)


def test_another_channel_cannot_open_a_return_of_a_web_order(shipped, tee):
    from tests.factories import channel_client

    response = open_return(channel_client("app"), shipped, [(line_of(shipped, tee), 1)])

    assert response.status_code in (403, 404)


def test_staff_of_another_store_cannot_inspect_a_return_received_elsewhere(
    shipped, pudong, xuhui, tee, at_pudong, at_xuhui
):
    rma = open_return(at_pudong, shipped, [(line_of(shipped, tee), 1)], location=pudong).json()[
        "rma"
    ]

    response = inspect(at_xuhui, rma, [(line_of(shipped, tee), "resalable", "restock")])

    assert response.status_code == 404
    assert at_xuhui.get(f"/api/v1/returns/{rma}").status_code == 404
    assert at_pudong.get(f"/api/v1/returns/{rma}").status_code == 200


def test_the_same_idempotency_key_opens_one_return(shipped, web, tee):
    first = open_return(web, shipped, [(line_of(shipped, tee), 1)], key="same-key")
    again = open_return(web, shipped, [(line_of(shipped, tee), 1)], key="same-key")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert first.json()["rma"] == again.json()["rma"]
    assert Return.objects.filter(order=shipped).count() == 1


@override_settings(OMS_RETURN_RESTOCKING_FEE_PERCENT={"changed_mind": "10"})
def test_a_restocking_fee_applies_per_reason(shipped, pudong, tee, at_pudong):
    response = open_return(at_pudong, shipped, [(line_of(shipped, tee), 1)], location=pudong,
                           reason="changed_mind")  # fmt: skip
    rma = response.json()["rma"]
    body = inspect(at_pudong, rma, [(line_of(shipped, tee), "resalable", "restock")]).json()

    assert body["lines"][0]["fee"] == "9.90"
    assert body["refund_total"] == "89.10"
    assert refunded(shipped) == Decimal("89.10")
    assert_money_clean()


def test_listing_a_customers_returns_takes_a_bounded_number_of_queries(
    shipped, web, tee, django_assert_max_num_queries
):
    for _ in range(2):
        rma = open_return(web, shipped, [(line_of(shipped, tee), 1)]).json()["rma"]
        web.post(f"/api/v1/returns/{rma}/cancel")
    open_return(web, shipped, [(line_of(shipped, tee), 1)])

    with django_assert_max_num_queries(14):
        response = web.get("/api/v1/returns", {"customer": "ada@example.com"})

    assert response.json()["count"] == 3


@override_settings(OMS_RETURN_REFUND_ON="receipt")
def test_policy_may_refund_at_receipt(shipped, pudong, tee, at_pudong):
    response = open_return(at_pudong, shipped, [(line_of(shipped, tee), 1)], location=pudong)

    assert response.status_code == 201, response.content
    assert response.json()["refund_total"] == "99.00"
    body = inspect(at_pudong, response.json()["rma"],
                   [(line_of(shipped, tee), "resalable", "restock")]).json()  # fmt: skip
    assert body["refund_total"] == "99.00"
    assert refunded(shipped) == Decimal("99.00")
    assert_money_clean()


def test_a_return_with_units_not_in_the_parcel_refunds_only_what_came_back(
    shipped, pudong, tee, at_pudong
):
    rma = open_return(at_pudong, shipped, [(line_of(shipped, tee), 2)], location=pudong).json()[
        "rma"
    ]

    response = inspect(at_pudong, rma, [(line_of(shipped, tee), "missing", "write_off")])

    assert response.status_code == 200, response.content
    # Nothing came back: nothing to refund, not even the shipping.
    assert response.json()["refund_total"] == "0.00"
    assert refunded(shipped) == 0
    assert stock(pudong, tee) == (0, 0)
    assert_money_clean()
