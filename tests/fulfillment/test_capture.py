"""Capture follows fulfilment: what leaves is captured once; what nobody will ship is voided."""

import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from common.models import OutboxEvent
from common.tasks import outbox_deliver
from fulfillment.tasks import expire_pickups
from orders.models import Order
from payments.models import Payment, PaymentTransaction
from payments.services import TOPIC_EXECUTE, payment_transaction_execute
from tests.factories import CUSTOMER_NEAR_XUHUI, assert_stock_consistent
from tests.fulfillment.factories import act, fulfillment_orders, pickup_code_in, sent_to
from tests.fulfillment.test_beat import past_deadline
from tests.inventory.factories import SkuFactory, stock_put
from tests.payments.factories import gateway_calls

pytestmark = pytest.mark.django_db(transaction=True)

Kind = PaymentTransaction.Kind
CUSTOMER = "ada@example.com"
SHIP_DATA = {"carrier": "SF Express", "tracking_number": "SF1234567890"}


@pytest.fixture
def mug(db):
    """A second item at the tee's price: the split amounts here are worked out for 99.00 each."""
    return SkuFactory(code="MUG-BLUE", name="Blue mug", price=Decimal("99.00"))


def assert_money_clean() -> None:
    for command in ("verify_money", "verify_payments"):
        err = StringIO()
        try:
            call_command(command, stdout=StringIO(), stderr=err)
        except SystemExit:
            pytest.fail(f"{command} found breaches:\n{err.getvalue()}")
    assert_stock_consistent()


def checkout(client, lines, delivery, *, payments=None, discounts=None) -> Order:
    payload = {
        "customer": {"email": CUSTOMER, "name": "Ada"},
        "channel": "web",
        "lines": [{"sku": sku.code, "quantity": quantity} for sku, quantity in lines],
        "delivery": delivery,
    }
    if payments is not None:
        payload["payments"] = payments
    if discounts is not None:
        payload["discounts"] = discounts
    response = client.post(
        "/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )
    assert response.status_code == 201, response.content
    return Order.objects.get(number=response.json()["number"])


def card(amount: str) -> list[dict]:
    return [
        {"method": "card", "gateway": "dummy", "reference": "auth_ada", "amount": amount},
    ]


def ship() -> dict:
    lat, lng = CUSTOMER_NEAR_XUHUI
    return {
        "method": "ship",
        "address": {"line1": "1 Tianyaoqiao Road", "city": "Shanghai", "latitude": lat,
                    "longitude": lng},
    }  # fmt: skip


def ship_it(client, fo) -> None:
    for step in ("accept", "pick", "pack"):
        assert act(client, fo, step).status_code == 200
    response = act(client, fo, "ship", **SHIP_DATA)
    assert response.status_code == 200, response.content


def captures(order: Order) -> dict[str, Decimal]:
    rows = PaymentTransaction.objects.filter(payment__demand=order.number, kind=Kind.CAPTURE)
    return {tx.idempotency_key: tx.amount for tx in rows if tx.status == "succeeded"}


def money(order: Order) -> Payment:
    [payment] = Payment.objects.filter(demand=order.number)
    return payment


@pytest.fixture
def split_order(web, xuhui, pudong, tee, mug):
    """2 tees from Xuhui, a mug from Pudong, 10.00 off, paid by card: 302.00 with shipping."""
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=mug, on_hand=5)
    order = checkout(
        web,
        [(tee, 2), (mug, 1)],
        ship(),
        discounts=[{"code": "TEN", "amount": "10.00"}],
        payments=card("302.00"),
    )
    by_location = {fo.location: fo for fo in fulfillment_orders(order)}
    return order, by_location[xuhui], by_location[pudong]


def test_a_ship_order_split_over_two_locations_captures_exactly_what_each_shipped(
    split_order, at_xuhui, at_pudong
):
    order, from_xuhui, from_pudong = split_order

    ship_it(at_xuhui, from_xuhui)
    # The tees' share of the discount is 6.67: 191.33 for them, with the shipping.
    assert captures(order) == {str(from_xuhui.pk): Decimal("206.33")}
    ship_it(at_pudong, from_pudong)

    assert captures(order) == {
        str(from_xuhui.pk): Decimal("206.33"),
        str(from_pudong.pk): Decimal("95.67"),
    }
    payment = money(order)
    assert (payment.authorized, payment.captured, payment.status) == (
        Decimal("302.00"),
        Decimal("302.00"),
        "captured",
    )
    for tx in PaymentTransaction.objects.filter(payment=payment, kind=Kind.CAPTURE):
        assert gateway_calls(operation="capture", key=tx.gateway_key, effective=True) == 1
    assert_money_clean()


def test_a_capture_run_twice_reaches_the_gateway_once(split_order, at_xuhui):
    order, from_xuhui, _ = split_order
    ship_it(at_xuhui, from_xuhui)
    [tx] = PaymentTransaction.objects.filter(payment__demand=order.number, kind=Kind.CAPTURE)
    event = OutboxEvent.objects.get(topic=TOPIC_EXECUTE, payload__transaction_id=tx.pk)

    outbox_deliver.apply(args=[event.pk])
    payment_transaction_execute(transaction_id=tx.pk)

    assert money(order).captured == Decimal("206.33")
    assert gateway_calls(operation="capture", key=tx.gateway_key, effective=True) == 1
    assert_money_clean()


def test_what_no_location_can_take_is_cancelled_from_the_totals_and_voided(
    web, xuhui, tee, mug, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=2)
    stock_put(location=xuhui, sku=mug, on_hand=2)
    order = checkout(web, [(tee, 1), (mug, 1)], ship(), payments=card("213.00"))
    [fo] = fulfillment_orders(order)

    act(at_xuhui, fo, "reject", reason="no_capacity")

    order.refresh_from_db()
    assert (order.status, order.grand_total, order.shipping_total) == (
        "cancelled",
        Decimal("0.00"),
        Decimal("0.00"),
    )
    payment = money(order)
    assert (payment.authorized, payment.status) == (Decimal("0.00"), "voided")
    assert_money_clean()


def test_an_expired_pickup_leaves_the_totals_and_its_authorization_is_voided(
    web, xuhui, tee, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = checkout(
        web, [(tee, 2)], {"method": "pickup", "location": xuhui.code}, payments=card("198.00")
    )
    [fo] = fulfillment_orders(order)
    for step in ("accept", "pick", "ready"):
        act(at_xuhui, fo, step)
    past_deadline(fo)

    assert expire_pickups() == 1

    order.refresh_from_db()
    assert (order.status, order.subtotal, order.grand_total) == (
        "cancelled",
        Decimal("0.00"),
        Decimal("0.00"),
    )
    event = order.events.get(kind="line_cancelled")
    assert event.data["totals"]["cancelled"] == "198.00"
    assert money(order).status == "voided"
    assert_money_clean()


def test_a_handed_over_pickup_captures_what_the_customer_took(web, xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = checkout(
        web, [(tee, 2)], {"method": "pickup", "location": xuhui.code}, payments=card("198.00")
    )
    [fo] = fulfillment_orders(order)
    line = order.lines.get()
    web.post(f"/api/v1/orders/{order.number}/lines/{line.pk}/cancel", {"quantity": 1},
             format="json")  # fmt: skip
    for step in ("accept", "pick", "ready"):
        act(at_xuhui, fo, step)
    [ready] = [m for m in sent_to(CUSTOMER) if "ready" in m.subject]

    response = act(at_xuhui, fo, "handover", code=pickup_code_in(ready.body))

    assert response.status_code == 200, response.content
    payment = money(order)
    assert (payment.authorized, payment.captured) == (Decimal("99.00"), Decimal("99.00"))
    assert captures(order) == {str(fo.pk): Decimal("99.00")}
    assert_money_clean()


def test_an_order_nothing_was_tendered_for_ships_without_a_capture(web, xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = checkout(web, [(tee, 1)], ship())
    [fo] = fulfillment_orders(order)

    ship_it(at_xuhui, fo)

    assert captures(order) == {}
    assert money(order).status == "pending"
    assert_money_clean()


def test_cancel_after_one_of_two_shipments_voids_the_rest_and_keeps_what_was_captured(
    split_order, web, at_xuhui
):
    order, from_xuhui, from_pudong = split_order
    ship_it(at_xuhui, from_xuhui)

    response = web.post(f"/api/v1/orders/{order.number}/cancel", {}, format="json")

    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.status == "fulfilled"  # what shipped stays; the mug is cancelled
    assert order.grand_total == Decimal("206.33")
    from_pudong.refresh_from_db()
    assert from_pudong.status == "cancelled"
    payment = money(order)
    assert (payment.authorized, payment.captured, payment.refunded, payment.status) == (
        Decimal("206.33"),
        Decimal("206.33"),
        Decimal("0.00"),
        "captured",
    )
    assert captures(order) == {str(from_xuhui.pk): Decimal("206.33")}
    [void] = PaymentTransaction.objects.filter(payment=payment, kind=Kind.VOID)
    assert (void.amount, void.status) == (Decimal("95.67"), "succeeded")
    assert gateway_calls(operation="void", key=void.gateway_key, effective=True) == 1
    assert not PaymentTransaction.objects.filter(payment=payment, kind=Kind.REFUND).exists()
    assert_money_clean()


def test_the_timeline_shows_each_capture_and_the_release_of_what_a_cancel_left(
    split_order, web, at_xuhui
):
    order, from_xuhui, _from_pudong = split_order
    ship_it(at_xuhui, from_xuhui)
    response = web.post(f"/api/v1/orders/{order.number}/cancel", {}, format="json")
    assert response.status_code == 200, response.content

    money_events = [
        (event.kind, event.data)
        for event in order.events.filter(kind__in=["payment_captured", "payment_voided"])
    ]
    assert money_events == [
        ("payment_captured", {"amount": "206.33", "fulfillment_order": from_xuhui.pk}),
        ("payment_voided", {"amount": "95.67"}),
    ]
    shown = web.get(f"/api/v1/orders/{order.number}/timeline").json()["results"]
    assert f"Capturing 206.33 CNY for fulfillment order {from_xuhui.pk}" in [
        event["message"] for event in shown
    ]
