"""Two counters returning the same units at once, over the API on real concurrent
connections: one return, one clear 409; the units are restocked and refunded once."""

from decimal import Decimal

import pytest

from returns.models import Return
from tests.inventory.factories import stock_put
from tests.orders.test_checkout_concurrency import race
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


def test_two_counters_returning_the_same_units_at_once_one_wins_the_other_gets_409(
    web, kunshan, xuhui, pudong, tee, at_xuhui, at_pudong
):
    stock_put(location=kunshan, sku=tee, on_hand=5)
    order = web_checkout(web, [(tee, 2)], ship_delivery(), payments=card("213.00"))
    ship_all(order)
    line = line_of(order, tee)

    def counter(client, location):
        return lambda: open_return(client, order, [(line, 2)], location=location)

    results, errors = race([counter(at_xuhui, xuhui), counter(at_pudong, pudong)])

    assert errors == []
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409]
    [lost] = [r for r in results if r.status_code == 409]
    assert lost.json()["code"] == "return_quantity_exceeded"
    assert lost.json()["returnable"] == 0
    [won] = [r for r in results if r.status_code == 201]
    body = won.json()
    winner = xuhui if body["location"] == xuhui.code else pudong
    client = at_xuhui if winner == xuhui else at_pudong
    inspect(client, body["rma"], [(line, "resalable", "restock")])
    assert Return.objects.filter(order=order).count() == 1
    assert stock(xuhui, tee)[0] + stock(pudong, tee)[0] == 2
    assert refunded(order) == Decimal("213.00")
    assert line_of(order, tee).quantity_returned == 2
    assert_money_clean()
