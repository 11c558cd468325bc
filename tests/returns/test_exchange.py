"""Exchanges at the receiving store: a new in-store sale handed over at once (or shipped
when the store has none), linked to the return; even moves no money, a difference is
charged at the till or refunded."""

from decimal import Decimal

import pytest

from orders.models import Order
from payments.models import Payment
from tests.inventory.factories import SkuFactory, stock_put
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
    order = web_checkout(web, [(tee, 1)], ship_delivery(), payments=card("114.00"))
    ship_all(order)
    return order


def exchange_at(client, order, tee, other, location):
    line = line_of(order, tee)
    response = open_return(client, order, [(line, 1)], location=location,
                           exchange=[(line, other, 1)])  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    inspect(client, body["rma"], [(line, "resalable", "restock")])
    return body, Order.objects.get(number=body["exchange_order"])


def test_an_even_exchange_for_another_size_is_handed_over_and_moves_no_money(
    shipped, pudong, tee, at_pudong
):
    large = SkuFactory(code="TEE-WHITE-L", name="White tee, L", price=Decimal("99.00"))
    stock_put(location=pudong, sku=large, on_hand=1)

    body, new = exchange_at(at_pudong, shipped, tee, large, pudong)

    assert (new.delivery_method, new.status, new.grand_total) == ("carry_out", "fulfilled", 0)
    assert new.lines.get().sku == large
    assert stock(pudong, large) == (0, 0)
    assert stock(pudong, tee) == (1, 1)
    assert refunded(shipped) == 0
    assert body["exchange"] == [{"line": line_of(shipped, tee).pk, "sku": large.code,
                                 "quantity": 1}]  # fmt: skip
    assert "return_exchanged" in shipped.events.values_list("kind", flat=True)
    assert_money_clean()


def test_an_exchange_for_a_dearer_item_charges_the_difference_at_the_till(
    shipped, pudong, tee, at_pudong
):
    dearer = SkuFactory(code="TEE-PRINT-M", name="Printed tee, M", price=Decimal("129.00"))
    stock_put(location=pudong, sku=dearer, on_hand=1)

    _, new = exchange_at(at_pudong, shipped, tee, dearer, pudong)

    assert new.grand_total == Decimal("30.00")
    [payment] = Payment.objects.filter(demand=new.number)
    assert (payment.method, payment.captured) == ("card_present", Decimal("30.00"))
    assert refunded(shipped) == 0
    assert_money_clean()


def test_an_exchange_for_a_cheaper_item_refunds_the_difference(shipped, pudong, tee, at_pudong):
    cheaper = SkuFactory(code="TEE-BASIC-M", name="Basic tee, M", price=Decimal("79.00"))
    stock_put(location=pudong, sku=cheaper, on_hand=1)

    _, new = exchange_at(at_pudong, shipped, tee, cheaper, pudong)

    assert new.grand_total == 0
    assert refunded(shipped) == Decimal("20.00")
    assert_money_clean()


def test_an_exchange_the_store_does_not_have_is_shipped_to_the_customer(
    shipped, kunshan, pudong, tee, at_pudong
):
    large = SkuFactory(code="TEE-WHITE-L", name="White tee, L", price=Decimal("99.00"))
    stock_put(location=kunshan, sku=large, on_hand=3)

    _, new = exchange_at(at_pudong, shipped, tee, large, pudong)

    assert new.delivery_method == "ship"
    assert new.status in ("placed", "processing")
    from fulfillment.models import FulfillmentOrder

    assert FulfillmentOrder.objects.get(order=new).location == kunshan
    assert new.discount_total == Decimal("99.00")
    assert_money_clean()
