"""A return wherever the customer brings it: the goods land where they are handed in, the
money goes back exactly once, and the order's timeline tells the whole story."""

from decimal import Decimal

import pytest
from django.core import mail

from orders.models import Order
from tests.factories import timeline
from tests.inventory.factories import stock_put
from tests.returns.factories import (
    CUSTOMER,
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


def test_web_order_shipped_from_a_warehouse_is_restocked_at_the_store_it_is_returned_to(
    web, kunshan, pudong, tee, at_pudong
):
    stock_put(location=kunshan, sku=tee, on_hand=10)
    order = web_checkout(web, [(tee, 2)], ship_delivery(), payments=card("213.00"))
    ship_all(order)
    assert stock(kunshan, tee) == (8, 8)

    response = open_return(at_pudong, order, [(line_of(order, tee), 1)], location=pudong)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["location"], body["opened_at"]) == ("received", "SH-PUDONG",
                                                                     "SH-PUDONG")  # fmt: skip
    assert stock(pudong, tee)[1] == 0  # on hand there, not sellable until inspected
    response = inspect(at_pudong, body["rma"], [(line_of(order, tee), "resalable", "restock")])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "inspected"
    assert body["refunds"] == [
        {"amount": "99.00", "currency": "CNY", "tender": "card", "status": "succeeded"}
    ]
    assert stock(pudong, tee) == (1, 1)
    assert stock(kunshan, tee) == (8, 8)
    assert refunded(order) == Decimal("99.00")
    order.refresh_from_db()
    assert order.return_status == Order.ReturnStatus.PARTIALLY_RETURNED
    assert line_of(order, tee).quantity_returned == 1
    kinds = timeline(order)
    for kind in ("shipped", "return_requested", "return_received", "return_inspected", "refunded"):
        assert kind in kinds
    assert any("refund" in m.subject.lower() for m in mail.outbox if CUSTOMER in m.to)
    assert_money_clean()


def till_sale(client, location, lines, amount: str) -> Order:
    return web_checkout(
        client,
        lines,
        {"method": "carry_out", "location": location.code},
        channel="store",
        payments=[{"method": "cash", "amount": amount}],
    )


def test_in_store_sale_at_one_store_is_returned_at_another(xuhui, pudong, tee, at_xuhui,
                                                           at_pudong):  # fmt: skip
    stock_put(location=xuhui, sku=tee, on_hand=3)
    order = till_sale(at_xuhui, xuhui, [(tee, 1)], "99.00")

    # Pudong finds the sale by the customer's phone, across stores and channels.
    found = at_pudong.get("/api/v1/orders", {"customer": "+8613800000000"}).json()
    assert [o["number"] for o in found["results"]] == [order.number]
    response = open_return(at_pudong, order, [(line_of(order, tee), 1)], location=pudong)
    assert response.status_code == 201, response.content
    response = inspect(at_pudong, response.json()["rma"],
                       [(line_of(order, tee), "resalable", "restock")])  # fmt: skip

    assert response.status_code == 200, response.content
    assert response.json()["refunds"] == [
        {"amount": "99.00", "currency": "CNY", "tender": "cash", "status": "succeeded"}
    ]
    assert stock(pudong, tee) == (1, 1)
    assert stock(xuhui, tee) == (2, 2)
    order.refresh_from_db()
    assert order.return_status == Order.ReturnStatus.RETURNED
    assert_money_clean()


def test_return_opened_online_is_dropped_at_a_third_store_by_its_code(
    web, kunshan, jingan, tee, at_jingan
):
    stock_put(location=kunshan, sku=tee, on_hand=5)
    order = web_checkout(web, [(tee, 1)], ship_delivery(), payments=card("114.00"))
    ship_all(order)

    response = open_return(web, order, [(line_of(order, tee), 1)], reason="changed mind")
    assert response.status_code == 201, response.content
    opened = response.json()
    assert (opened["status"], opened["location"], opened["opened_at"]) == ("requested", None, None)
    [email] = [m for m in mail.outbox if CUSTOMER in m.to and opened["rma"] in m.subject]
    assert f"Your return code: {opened['code']}" in email.body

    found = at_jingan.get("/api/v1/returns", {"code": opened["code"].lower()}).json()
    assert [r["rma"] for r in found["results"]] == [opened["rma"]]
    response = at_jingan.post(f"/api/v1/returns/{opened['rma']}/receive",
                              {"location": jingan.code}, format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["location"] == jingan.code
    response = inspect(at_jingan, opened["rma"], [(line_of(order, tee), "resalable", "restock")])

    assert response.status_code == 200, response.content
    # A whole-order return of a shipped order brings its shipping back too.
    assert response.json()["refund_total"] == "114.00"
    assert stock(jingan, tee) == (1, 1)
    assert any("received" in m.subject for m in mail.outbox if CUSTOMER in m.to)
    assert "return_received" in timeline(order)
    assert_money_clean()


def test_only_the_fulfilled_units_of_a_partly_fulfilled_order_are_returnable(
    web, xuhui, pudong, tee, mug, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=2)
    stock_put(location=pudong, sku=mug, on_hand=2)
    order = web_checkout(web, [(tee, 1), (mug, 1)], ship_delivery())
    from fulfillment.models import FulfillmentOrder
    from tests.fulfillment.factories import act

    fo = FulfillmentOrder.objects.get(order=order, location=xuhui)
    for step in ("accept", "pick", "pack"):
        act(at_xuhui, fo, step)
    assert act(at_xuhui, fo, "ship", carrier="SF", tracking_number="1").status_code == 200

    refused = open_return(at_xuhui, order, [(line_of(order, mug), 1)], location=xuhui)
    assert refused.status_code == 409
    assert refused.json()["code"] == "units_not_fulfilled"
    assert refused.json()["cancel"].endswith(f"/lines/{line_of(order, mug).pk}/cancel")
    accepted = open_return(at_xuhui, order, [(line_of(order, tee), 1)], location=xuhui)
    assert accepted.status_code == 201, accepted.content
    order.refresh_from_db()
    assert order.return_status == Order.ReturnStatus.PARTIALLY_RETURNED
    assert_money_clean()
