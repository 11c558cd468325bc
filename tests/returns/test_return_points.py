"""A return at a store takes back the points its units earned, at the rate they were earned
with, and gives back redeemed points first, into the lots they came from."""

from decimal import Decimal

import pytest

from customers.models import Customer, PointsEntry, PointsLot
from customers.points import points_adjust
from customers.selectors import customer_points_summary, customer_tier
from orders.models import Order
from tests.factories import assert_ledgers_clean
from tests.inventory.factories import stock_put
from tests.returns.factories import (
    CUSTOMER,
    card,
    inspect,
    line_of,
    open_return,
    ship_all,
    ship_delivery,
    web_checkout,
)

pytestmark = pytest.mark.django_db(transaction=True)


def ada() -> Customer:
    return Customer.objects.get(email=CUSTOMER)


def return_at(client, location, order: Order, sku, quantity: int) -> dict:
    opened = open_return(client, order, [(line_of(order, sku), quantity)], location=location)
    assert opened.status_code == 201, opened.content
    rma = opened.json()["rma"]
    inspected = inspect(client, rma, [(line_of(order, sku), "resalable", "restock")])
    assert inspected.status_code == 200, inspected.content
    return inspected.json()


def test_a_return_at_a_store_reverses_the_points_at_the_earned_rate_and_drops_the_tier(
    web, kunshan, xuhui, tee, at_xuhui, settings
):
    settings.LOYALTY_TIERS = [("member", "0", "1"), ("silver", "300", "2")]
    stock_put(location=kunshan, sku=tee, on_hand=4)
    order = web_checkout(web, [(tee, 4)], ship_delivery(), payments=card("396.00"))
    ship_all(order)
    assert (customer_points_summary(ada())["balance"], customer_tier(ada())) == (396, "silver")
    settings.LOYALTY_EARN_RATE = "3"  # the rate changes before the customer comes back

    returned = return_at(at_xuhui, xuhui, order, tee, 2)
    again = return_at(at_xuhui, xuhui, order, tee, 1)

    reverses = PointsEntry.objects.filter(kind="reverse").order_by("pk")
    assert [(e.points, e.rate) for e in reverses] == [(-198, Decimal("1")), (-99, Decimal("1"))]
    assert (returned["refund_total"], again["refund_total"]) == ("198.00", "99.00")
    assert (customer_points_summary(ada())["balance"], customer_tier(ada())) == (99, "member")
    assert_ledgers_clean()


def test_redeemed_points_come_back_first_and_into_their_lots(web, kunshan, xuhui, tee, at_xuhui):
    customer = Customer.objects.create(email=CUSTOMER, name="Ada")
    points_adjust(customer=customer, points=1000, reason="welcome", actor=None, source="adj/ada")
    stock_put(location=kunshan, sku=tee, on_hand=2)
    tenders = [*card("203.00"), {"method": "points", "points": 1000}]  # 10.00 of points
    order = web_checkout(web, [(tee, 2)], ship_delivery(), payments=tenders)
    ship_all(order)
    earned = customer_points_summary(ada())["balance"]

    returned = return_at(at_xuhui, xuhui, order, tee, 1)

    assert returned["refund_total"] == "99.00"
    by_tender = {r["tender"]: r["amount"] for r in returned["refunds"]}
    assert by_tender == {"points": "10.00", "card": "89.00"}
    lots = dict(
        PointsLot.objects.filter(entry__kind="adjust").values_list("entry__source", "remaining")
    )
    assert lots == {"adj/ada": 1000}, "the redeemed points are back in the lot they came from"
    reversed_points = -sum(
        PointsEntry.objects.filter(kind="reverse").values_list("points", flat=True)
    )
    assert customer_points_summary(ada())["balance"] == earned + 1000 - reversed_points
    assert_ledgers_clean()
