"""A store's app token handles returns as that store's associates do: a web order shipped
from a warehouse, returned at the counter or dropped off after opening it online, is
received, inspected and refunded through the store's token."""

from decimal import Decimal

import pytest

from tests.factories import channel_client
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
def pudong_app(pudong):
    return channel_client("store", location=pudong)


def test_store_app_inspects_a_return_it_took_at_the_counter(web, kunshan, pudong, tee, pudong_app):
    stock_put(location=kunshan, sku=tee, on_hand=5)
    order = web_checkout(web, [(tee, 2)], ship_delivery(), payments=card("213.00"))
    ship_all(order)

    response = open_return(pudong_app, order, [(line_of(order, tee), 1)], location=pudong)
    assert response.status_code == 201, response.content
    rma = response.json()["rma"]
    assert pudong_app.get(f"/api/v1/returns/{rma}").status_code == 200
    response = inspect(pudong_app, rma, [(line_of(order, tee), "resalable", "restock")])

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "inspected"
    assert refunded(order) == Decimal("99.00")
    assert stock(pudong, tee) == (1, 1)
    assert_money_clean()


def test_store_app_receives_a_return_opened_online(web, kunshan, pudong, tee, pudong_app):
    stock_put(location=kunshan, sku=tee, on_hand=5)
    order = web_checkout(web, [(tee, 1)], ship_delivery(), payments=card("114.00"))
    ship_all(order)
    opened = open_return(web, order, [(line_of(order, tee), 1)]).json()

    found = pudong_app.get("/api/v1/returns", {"code": opened["code"]}).json()
    assert [r["rma"] for r in found["results"]] == [opened["rma"]]
    response = pudong_app.post(f"/api/v1/returns/{opened['rma']}/receive",
                               {"location": pudong.code}, format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    response = inspect(pudong_app, opened["rma"], [(line_of(order, tee), "resalable", "restock")])

    assert response.status_code == 200, response.content
    assert response.json()["refund_total"] == "114.00"
    assert_money_clean()
