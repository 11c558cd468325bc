"""Loyalty points across channels, end to end through the API: earned by a sale at the
till and by a shipment, spent online and at the till, held with the order's stock,
released on cancel, restored by a refund, never overspent by concurrent checkouts."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from customers.models import Customer, PointsEntry, PointsLot
from customers.points import points_adjust
from customers.selectors import customer_points_summary, customer_tier
from orders.models import Order
from orders.services.points import order_points_earn, order_points_returned
from payments.models import Payment
from payments.services import refund_issue
from tests.factories import assert_ledgers_clean, channel_client, new_key
from tests.fulfillment.factories import act, fulfillment_orders, level, stock_put
from tests.orders.factories import body, post_checkout, ship_to

pytestmark = pytest.mark.django_db(transaction=True)

ADA = "ada@example.com"
TILL = {"method": "carry_out", "location": "SH-XUHUI"}
NEAR_XUHUI = ship_to(31.19, 121.43)
SHIP = {"carrier": "SF Express", "tracking_number": "SF1"}


@pytest.fixture
def stocked(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=20)


def points_of(email: str = ADA) -> dict:
    return customer_points_summary(Customer.objects.get(email=email))


def order_with(client, lines, delivery, payments, *, channel="web", email=ADA):
    payload = body(lines, delivery=delivery, channel=channel, email=email) | {"payments": payments}
    return post_checkout(client, payload)


def card(amount: str) -> dict:
    return {
        "method": "card",
        "gateway": "dummy",
        "reference": f"auth_{new_key()}",
        "amount": amount,
    }


def ship_all(client, number: str) -> None:
    [fo] = fulfillment_orders(Order.objects.get(number=number))
    for step in ("accept", "pick", "pack"):
        assert act(client, fo, step).status_code == 200
    assert act(client, fo, "ship", **SHIP).status_code == 200


def test_a_store_sale_earns_points_redeemed_online_the_same_day(stocked, tee, xuhui, at_xuhui):
    till = channel_client("store", location=xuhui)
    sale = order_with(
        till, [(tee, 2)], TILL, [{"method": "cash", "amount": "198.00"}], channel="store"
    )
    assert sale.status_code == 201, sale.content
    assert points_of()["balance"] == 198  # one point a yuan, at once: handed over at the till

    # Online, the same day: 1 tee shipped (99.00 + 15.00 shipping), 100 points pay 1.00.
    web = channel_client("web")
    online = order_with(
        web, [(tee, 1)], NEAR_XUHUI, [card("113.00"), {"method": "points", "points": 100}]
    )

    assert online.status_code == 201, online.content
    tenders = {p["method"]: p for p in online.json()["payments"]}
    assert tenders["points"]["amount"] == "1.00"
    assert (points_of()["balance"], points_of()["held"]) == (98, 100)
    assert points_of()["pending"] == 98  # what the 98.00 not paid by points will earn

    ship_all(at_xuhui, online.json()["number"])

    # Spent on shipment; the 98.00 the card paid for the goods earned 98.
    assert points_of() == points_of() | {"balance": 196, "held": 0, "pending": 0}
    points_tender = Payment.objects.get(demand=online.json()["number"], method="points")
    assert points_tender.captured == Decimal("1.00")
    assert_ledgers_clean()


def test_an_online_orders_points_are_spent_at_the_till(stocked, tee, xuhui, at_xuhui):
    web = channel_client("web")
    online = order_with(web, [(tee, 2)], NEAR_XUHUI, [card("213.00")])
    assert online.status_code == 201, online.content
    assert points_of()["pending"] == 198
    ship_all(at_xuhui, online.json()["number"])
    assert points_of()["balance"] == 198

    till = channel_client("store", location=xuhui)
    sale = order_with(
        till,
        [(tee, 1)],
        TILL,
        [{"method": "points", "points": 198}, {"method": "cash", "amount": "97.02"}],
        channel="store",
    )

    assert sale.status_code == 201, sale.content
    number = sale.json()["number"]
    kinds = sorted(PointsEntry.objects.filter(demand=number).values_list("kind", flat=True))
    assert kinds == ["earn", "redeem", "spend"]
    # Spent at once; the 97.02 in cash earned 97 in a new lot.
    assert (points_of()["balance"], points_of()["held"]) == (97, 0)
    assert level(xuhui, tee) == (17, 0)
    assert_ledgers_clean()


def test_cancel_releases_the_held_points_into_the_same_lots(stocked, tee, xuhui):
    customer = Customer.objects.create(email=ADA)
    points_adjust(customer=customer, points=500, reason="welcome", actor=None, source="adj/1")
    web = channel_client("web")
    placed = order_with(
        web, [(tee, 1)], NEAR_XUHUI, [card("111.00"), {"method": "points", "points": 300}]
    )
    assert placed.status_code == 201, placed.content
    assert list(PointsLot.objects.values_list("remaining", flat=True)) == [200]

    cancelled = web.post(f"/api/v1/orders/{placed.json()['number']}/cancel", {}, format="json")

    assert cancelled.status_code == 200, cancelled.content
    assert list(PointsLot.objects.values_list("remaining", flat=True)) == [500]
    assert (points_of()["balance"], points_of()["held"], points_of()["pending"]) == (500, 0, 0)
    kinds = sorted(
        PointsEntry.objects.filter(demand=placed.json()["number"]).values_list("kind", flat=True)
    )
    assert kinds == ["earn_pending", "redeem", "release", "reverse"]
    assert level(xuhui, tee) == (20, 0)
    assert_ledgers_clean()


def test_points_beyond_the_balance_are_409_and_nothing_is_held(stocked, tee, xuhui):
    customer = Customer.objects.create(email=ADA)
    points_adjust(customer=customer, points=50, reason="welcome", actor=None, source="adj/2")
    web = channel_client("web")

    response = order_with(
        web, [(tee, 1)], NEAR_XUHUI, [card("113.49"), {"method": "points", "points": 51}]
    )

    assert response.status_code == 409, response.content
    assert (response.json()["code"], response.json()["balance"]) == ("insufficient_points", 50)
    assert not Order.objects.exists()
    assert level(xuhui, tee) == (20, 0)
    assert points_of()["balance"] == 50
    assert_ledgers_clean()


def test_a_points_tender_with_an_amount_is_400(stocked, tee, xuhui):
    web = channel_client("web")

    response = order_with(
        web, [(tee, 1)], NEAR_XUHUI, [{"method": "points", "points": 5, "amount": "0.05"}]
    )

    assert response.status_code == 400
    assert "amount" in str(response.json()["errors"]["payments"]), response.json()


def test_a_refund_restores_redeemed_points_first_into_their_lots(stocked, tee, xuhui, at_xuhui):
    customer = Customer.objects.create(email=ADA)
    points_adjust(customer=customer, points=1000, reason="welcome", actor=None, source="adj/3")
    web = channel_client("web")
    placed = order_with(
        web, [(tee, 1)], NEAR_XUHUI, [card("104.00"), {"method": "points", "points": 1000}]
    )
    number = placed.json()["number"]
    ship_all(at_xuhui, number)
    assert points_of()["balance"] == 89  # 1000 spent; 89.00 of goods paid by card earned 89

    # A refund of 5.00 (a return's) comes from the points first: 500 points.
    refund_issue(
        payments=list(Payment.objects.filter(demand=number)),
        amount=Decimal("5.00"),
        reason="return",
        key="return-1",
    )

    lots = dict(PointsLot.objects.values_list("entry__kind", "remaining"))
    assert lots == {"adjust": 500, "earn": 89}
    assert points_of()["balance"] == 589
    assert Payment.objects.get(demand=number, method="points").refunded == Decimal("5.00")
    assert_ledgers_clean()


def test_a_replayed_fulfilment_earns_once(stocked, tee, xuhui, at_xuhui):
    web = channel_client("web")
    placed = order_with(web, [(tee, 1)], NEAR_XUHUI, [card("114.00")])
    number = placed.json()["number"]
    ship_all(at_xuhui, number)
    [fo] = fulfillment_orders(Order.objects.get(number=number))

    order_points_earn(number=number, key=str(fo.pk), value=Decimal("99.00"))
    order_points_earn(number=number, key=str(fo.pk), value=Decimal("99.00"))

    assert PointsEntry.objects.filter(kind="earn").count() == 1
    assert points_of()["balance"] == 99
    assert_ledgers_clean()


def test_concurrent_redemptions_of_one_balance_never_overspend(stocked, tee, xuhui):
    customer = Customer.objects.create(email=ADA)
    points_adjust(customer=customer, points=100, reason="welcome", actor=None, source="adj/4")
    web = channel_client("web")
    clients = 6
    barrier = threading.Barrier(clients, timeout=60)
    answers: list = [None] * clients

    def redeem(index: int) -> None:
        try:
            barrier.wait()
            answers[index] = order_with(
                web, [(tee, 1)], NEAR_XUHUI, [card("113.40"), {"method": "points", "points": 60}]
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * (clients - 1)
    codes = {a.json()["code"] for a in answers if a.status_code == 409}
    assert codes == {"insufficient_points"}
    assert (points_of()["balance"], points_of()["held"]) == (40, 60)
    assert level(xuhui, tee) == (20, 1)
    assert_ledgers_clean()


def test_fulfilment_moves_the_customer_up_a_tier(stocked, tee, xuhui, at_xuhui, settings):
    settings.LOYALTY_TIERS = [("member", "0", "1"), ("silver", "300", "2")]
    web = channel_client("web")
    first = order_with(web, [(tee, 3)], NEAR_XUHUI, [card("312.00")])  # with shipping
    ship_all(at_xuhui, first.json()["number"])  # 297.00 spent: still a member
    assert customer_tier(Customer.objects.get(email=ADA)) == "member"
    second = order_with(web, [(tee, 1)], NEAR_XUHUI, [card("114.00")])

    ship_all(at_xuhui, second.json()["number"])

    ada = Customer.objects.get(email=ADA)
    assert customer_tier(ada) == "silver"
    assert customer_points_summary(ada)["balance"] == 297 + 99
    assert_ledgers_clean()


def test_a_return_reverses_at_the_rate_earned_with_and_can_drop_the_tier(
    stocked, tee, xuhui, at_xuhui, settings
):
    settings.LOYALTY_TIERS = [("member", "0", "1"), ("silver", "300", "2")]
    web = channel_client("web")
    first = order_with(web, [(tee, 4)], NEAR_XUHUI, [card("396.00")])  # free shipping
    ship_all(at_xuhui, first.json()["number"])  # 396 points at 1 a yuan; silver from now
    assert customer_tier(Customer.objects.get(email=ADA)) == "silver"
    settings.LOYALTY_EARN_RATE = "3"  # the rate changes before the return
    order = Order.objects.get(number=first.json()["number"])
    line = order.lines.get()
    # What the returns app records before it calls the service: two units came back.
    type(line).objects.filter(pk=line.pk).update(quantity_returned=2)

    [reversed_entry] = order_points_returned(
        order=order, source="return/R1", quantities={line.pk: 2}
    )
    again = order_points_returned(order=order, source="return/R1", quantities={line.pk: 2})

    assert (reversed_entry.points, reversed_entry.rate) == (-198, Decimal("1"))
    assert [entry.pk for entry in again] == [reversed_entry.pk]
    ada = Customer.objects.get(email=ADA)
    assert (customer_points_summary(ada)["balance"], customer_tier(ada)) == (198, "member")
    assert_ledgers_clean()
