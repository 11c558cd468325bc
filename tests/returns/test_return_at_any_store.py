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
