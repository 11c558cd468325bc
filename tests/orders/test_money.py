"""The order's money at checkout and after cancels: discounts, tenders, totals, verify_money."""

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from orders.errors import CheckoutMoneyInvalid
from orders.models import Order, OrderEvent
from orders.services.checkout import CheckoutLine, CheckoutRequest
from orders.services.checkout import checkout as checkout_service
from payments.models import Payment, PaymentTransaction
from payments.services import Tender
from tests.factories import assert_stock_consistent, channel_client
from tests.orders.factories import (
    SkuFactory,
    body,
    pickup_at,
    post_checkout,
    reserved_at,
    ship_to,
    stock_put,
)

pytestmark = pytest.mark.django_db

Kind = PaymentTransaction.Kind


def assert_verify_money_clean() -> None:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_money", stdout=out, stderr=err)
    except SystemExit:
        pytest.fail(f"verify_money found breaches:\n{err.getvalue()}")
    assert "The orders' money adds up." in out.getvalue()


def assert_money_clean() -> None:
    assert_verify_money_clean()
    assert_stock_consistent()


def card(amount: str, reference: str = "auth_123") -> dict:
    return {"method": "card", "gateway": "dummy", "reference": reference, "amount": amount}


@pytest.fixture
def stocked(xuhui, tee, mug):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    stock_put(location=xuhui, sku=mug, on_hand=10)


def checkout(client, payload: dict) -> dict:
    response = post_checkout(client, payload)
    assert response.status_code == 201, response.content
    return response.json()


def discounted(xuhui, tee, mug, **extra) -> dict:
    """2 tees at 99.00 with 18.00 off them, a mug at 35.50, and 10.00 off the order."""
    payload = body([(tee, 2), (mug, 1)], delivery=pickup_at(xuhui))
    payload["lines"][0]["discount"] = "18.00"
    payload["discounts"] = [{"code": "SUMMER10", "amount": "10.00"}]
    return payload | extra


# --- checkout ----------------------------------------------------------------------------


def test_checkout_spreads_discounts_over_lines_and_units_and_takes_the_card(
    web, xuhui, tee, mug, stocked
):
    # Lines worth 180.00 and 35.50 after their own discounts share the 10.00 in proportion:
    # 8.35 (8.3527...) and 1.65 (1.6473...: the larger remainder takes the odd cent).
    order = checkout(web, discounted(xuhui, tee, mug, payments=[card("205.50")]))

    assert order["totals"] == {
        "subtotal": "233.50",
        "discount": "28.00",
        "shipping": "0.00",
        "grand_total": "205.50",
        "authorized": "205.50",
        "captured": "0.00",
        "refunded": "0.00",
        "balance": "205.50",
    }
    assert order["total"] == "205.50"
    assert order["discounts"] == [{"code": "SUMMER10", "amount": "10.00"}]
    tees, mugs = order["lines"]
    assert (tees["line_discount"], tees["order_discount"]) == ("18.00", "8.35")
    assert (tees["unit_paid"], tees["units_paid_extra"]) == ("85.82", 1)
    assert (mugs["order_discount"], mugs["unit_paid"]) == ("1.65", "33.85")
    assert order["payments"] == [
        {
            "method": "card",
            "amount": "205.50",
            "authorized": "205.50",
            "captured": "0.00",
            "refunded": "0.00",
            "status": "authorized",
        }
    ]
    detail = web.get(f"/api/v1/orders/{order['number']}").json()
    assert (detail["totals"], detail["payments"]) == (order["totals"], order["payments"])
    [listed] = web.get("/api/v1/orders").json()["results"]
    assert listed["totals"] == order["totals"]
    assert_money_clean()


def test_checkout_without_payments_is_owed_as_one_pending_payment(web, xuhui, tee, stocked):
    order = checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui)))

    [payment] = Payment.objects.filter(demand=order["number"])
    assert (payment.method, payment.amount, payment.status) == ("", Decimal("99.00"), "pending")
    assert order["payments"][0]["status"] == "pending"
    assert (order["totals"]["authorized"], order["totals"]["balance"]) == ("0.00", "99.00")
    assert_money_clean()


def test_split_tenders_add_up_to_the_total(web, xuhui, tee, stocked):
    gift = {"method": "gift_card", "gateway": "dummy", "reference": "gc_1", "amount": "20.00"}
    order = checkout(
        web, body([(tee, 1)], delivery=pickup_at(xuhui)) | {"payments": [gift, card("79.00")]}
    )

    assert [p["method"] for p in order["payments"]] == ["gift_card", "card"]
    assert order["totals"]["authorized"] == "99.00"
    assert_money_clean()


def test_an_in_store_sale_is_paid_at_the_till_and_captured_at_once(xuhui, tee, stocked):
    till = channel_client("store", location=xuhui)
    payload = body([(tee, 1)], delivery=pickup_at(xuhui, "carry_out"), channel="store")
    payload["payments"] = [
        {"method": "cash", "amount": "50.00"},
        {"method": "card_present", "amount": "49.00"},
    ]

    order = checkout(till, payload)

    assert order["status"] == "fulfilled"
    assert order["totals"]["captured"] == "99.00"
    assert order["totals"]["balance"] == "0.00"
    assert {p["status"] for p in order["payments"]} == {"captured"}
    assert_money_clean()


def test_a_free_shipping_threshold_counts_the_goods_after_discounts(web, kunshan, tee, settings):
    settings.OMS_FREE_SHIPPING_FROM = "150.00"
    stock_put(location=kunshan, sku=tee, on_hand=5)
    payload = body([(tee, 2)], delivery=ship_to(31.23, 121.47))
    payload["discounts"] = [{"code": "BIG", "amount": "60.00"}]

    order = checkout(web, payload)

    assert (order["totals"]["shipping"], order["totals"]["grand_total"]) == ("15.00", "153.00")
    assert_money_clean()


# --- bad money input ---------------------------------------------------------------------


def _line_discount(value):
    def change(payload):
        payload["lines"][0]["discount"] = value

    return change


def _set(name, value):
    def change(payload):
        payload[name] = value

    return change


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_line_discount("1.234"), "lines"),
        (_line_discount("-1.00"), "lines"),
        (_line_discount("198.01"), "lines"),
        (_line_discount("abc"), "lines"),
        (_set("discounts", [{"code": "X", "amount": "0.001"}]), "discounts"),
        (_set("discounts", [{"code": "X", "amount": "-5.00"}]), "discounts"),
        (_set("discounts", [{"code": "X", "amount": "198.01"}]), "discounts"),
        (_set("discounts", [{"code": "X", "amount": "5.00", "currency": "USD"}]), "discounts"),
        (_set("discounts", [{"code": "X", "amount": "1e400"}]), "discounts"),
        (_set("payments", [card("100.00")]), "payments"),
        (_set("payments", [card("198.001")]), "payments"),
        (_set("payments", [card("-198.00")]), "payments"),
        (_set("payments", [card("198.00") | {"currency": "EUR"}]), "payments"),
        (_set("payments", [card("198.00") | {"gateway": "nowhere"}]), "payments"),
        (_set("payments", [card("198.00") | {"reference": ""}]), "payments"),
        (_set("payments", [{"method": "cash", "amount": "198.00"}]), "payments"),
        (_set("payments", [{"method": "points", "amount": "198.00"}]), "payments"),
        (_set("payments", "198.00"), "payments"),
    ],
)
def test_bad_money_is_a_400_with_field_errors_and_reserves_nothing(
    web, xuhui, tee, stocked, change, field
):
    payload = body([(tee, 2)], delivery=pickup_at(xuhui))
    change(payload)

    response = post_checkout(web, payload)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert field in response.json()["errors"]
    assert reserved_at(xuhui, tee) == 0
    assert not Order.objects.exists()
    assert not Payment.objects.exists()
    assert_money_clean()


def test_an_in_store_sale_is_not_paid_through_a_gateway(xuhui, tee, stocked):
    payload = body([(tee, 1)], delivery=pickup_at(xuhui, "carry_out"), channel="store")
    payload["payments"] = [card("99.00")]

    response = post_checkout(channel_client("store", location=xuhui), payload)

    assert response.status_code == 400
    assert "method" in response.json()["errors"]["payments"][0]
    assert reserved_at(xuhui, tee) == 0
    assert_money_clean()


def test_lines_in_two_currencies_are_a_400_naming_the_skus(web, xuhui, tee, stocked):
    euro = SkuFactory(code="TEE-EU", price=Decimal("20.00"), currency="EUR")
    stock_put(location=xuhui, sku=euro, on_hand=5)

    response = post_checkout(web, body([(tee, 1), (euro, 1)], delivery=pickup_at(xuhui)))

    assert response.status_code == 400
    [message] = response.json()["errors"]["lines"]
    assert "TEE-WHITE-M" in message
    assert "TEE-EU" in message
    assert reserved_at(xuhui, tee) == 0
    assert_money_clean()


def test_a_service_caller_is_held_to_the_same_money_rules(xuhui, tee, stocked):
    request = CheckoutRequest(
        channel="web",
        method="pickup",
        lines=[CheckoutLine(sku=tee, quantity=1, discount=Decimal("-1.00"))],
        email="ada@example.com",
        location=xuhui,
        payments=(Tender(amount=Decimal("100.001"), method="card", gateway="dummy",
                         reference="a"),),
    )  # fmt: skip

    with pytest.raises(CheckoutMoneyInvalid) as refused:
        checkout_service(request=request, actor=None)

    assert "discount" in refused.value.extra["errors"]["lines"][0]
    assert reserved_at(xuhui, tee) == 0


def test_the_schema_shows_the_money_fields(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    parts = schema["components"]["schemas"]

    assert {"discount"} <= set(parts["CheckoutLineInput"]["properties"])
    assert {"discounts", "payments"} <= set(parts["CheckoutInput"]["properties"])
    assert {"totals", "payments", "discounts"} <= set(parts["OrderOutput"]["properties"])
    assert {"totals"} <= set(parts["OrderSummaryOutput"]["properties"])
    assert {"balance", "captured", "refunded"} <= set(parts["TotalsOutput"]["properties"])
    assert {"unit_paid", "units_paid_extra", "order_discount"} <= set(
        parts["OrderLineOutput"]["properties"]
    )
    assert {"method", "authorized", "captured", "status"} <= set(
        parts["PaymentOutput"]["properties"]
    )


# --- totals follow cancels ---------------------------------------------------------------


def test_cancelling_units_lowers_the_totals_records_them_and_voids_what_is_not_needed(
    web, xuhui, tee, mug, stocked
):
    order = checkout(web, discounted(xuhui, tee, mug, payments=[card("205.50")]))
    tees = order["lines"][0]

    response = web.post(
        f"/api/v1/orders/{order['number']}/lines/{tees['id']}/cancel",
        {"quantity": 1},
        format="json",
    )

    assert response.status_code == 200, response.content
    # The last unit is the one cancelled: 85.82 (the first one pays the extra cent, 85.83).
    totals = response.json()["totals"]
    assert (totals["subtotal"], totals["discount"], totals["grand_total"]) == (
        "134.50",
        "14.82",
        "119.68",
    )
    event = OrderEvent.objects.get(order__number=order["number"], kind="line_cancelled")
    assert event.data["totals"]["cancelled"] == "85.82"
    assert event.data["totals"]["grand_total"] == "119.68"
    [void] = PaymentTransaction.objects.filter(kind=Kind.VOID)
    assert (void.amount, void.status) == (Decimal("85.82"), "pending")
    assert_money_clean()


def test_cancelling_the_whole_order_leaves_nothing_to_pay_and_voids_the_card(
    web, xuhui, tee, mug, stocked
):
    order = checkout(web, discounted(xuhui, tee, mug, payments=[card("205.50")]))

    response = web.post(f"/api/v1/orders/{order['number']}/cancel", {}, format="json")

    totals = response.json()["totals"]
    assert [totals[k] for k in ("subtotal", "discount", "shipping", "grand_total")] == ["0.00"] * 4
    assert response.json()["total"] == "0.00"
    [void] = PaymentTransaction.objects.filter(kind=Kind.VOID)
    assert void.amount == Decimal("205.50")
    event = OrderEvent.objects.get(order__number=order["number"], kind="cancelled")
    assert event.data["totals"]["cancelled"] == "205.50"
    assert_money_clean()


def test_a_cancelled_order_nothing_was_tendered_for_voids_its_pending_payment(
    web, xuhui, tee, stocked
):
    order = checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui)))

    web.post(f"/api/v1/orders/{order['number']}/cancel", {}, format="json")

    assert Payment.objects.get(demand=order["number"]).status == "voided"
    assert_money_clean()


def test_what_is_owed_without_a_tender_follows_a_partial_cancel(web, xuhui, tee, stocked):
    order = checkout(web, body([(tee, 2)], delivery=pickup_at(xuhui)))
    [line] = order["lines"]

    web.post(
        f"/api/v1/orders/{order['number']}/lines/{line['id']}/cancel",
        {"quantity": 1},
        format="json",
    )

    payment = Payment.objects.get(demand=order["number"])
    assert (payment.amount, payment.status) == (Decimal("99.00"), "pending")
    assert_money_clean()


def test_shipping_stays_while_anything_is_left_and_goes_with_the_last_unit(web, kunshan, tee, mug):
    stock_put(location=kunshan, sku=tee, on_hand=5)
    stock_put(location=kunshan, sku=mug, on_hand=5)
    order = checkout(web, body([(tee, 1), (mug, 1)], delivery=ship_to(31.23, 121.47)))
    tees, mugs = order["lines"]
    assert order["totals"]["shipping"] == "15.00"

    url = f"/api/v1/orders/{order['number']}/lines"
    after_one = web.post(f"{url}/{tees['id']}/cancel", {"quantity": 1}, format="json").json()
    after_all = web.post(f"{url}/{mugs['id']}/cancel", {"quantity": 1}, format="json").json()

    assert (after_one["totals"]["shipping"], after_one["totals"]["grand_total"]) == (
        "15.00",
        "50.50",
    )
    assert (after_all["totals"]["shipping"], after_all["totals"]["grand_total"]) == (
        "0.00",
        "0.00",
    )
    assert after_all["status"] == "cancelled"
    assert_money_clean()


def test_cancelling_a_pickup_paid_at_the_till_refunds_what_the_till_took(xuhui, tee, stocked):
    till = channel_client("store", location=xuhui)
    payload = body([(tee, 2)], delivery=pickup_at(xuhui), channel="store")
    payload["payments"] = [{"method": "cash", "amount": "198.00"}]
    order = checkout(till, payload)
    [line] = order["lines"]

    till.post(
        f"/api/v1/orders/{order['number']}/lines/{line['id']}/cancel",
        {"quantity": 1},
        format="json",
    )

    [refund] = PaymentTransaction.objects.filter(kind=Kind.REFUND)
    assert (refund.amount, refund.status) == (Decimal("99.00"), "pending")
    totals = till.get(f"/api/v1/orders/{order['number']}").json()["totals"]
    assert (totals["grand_total"], totals["captured"], totals["balance"]) == (
        "99.00",
        "198.00",
        "-99.00",
    )
    shown = till.get(f"/api/v1/orders/{order['number']}/timeline").json()["results"]
    assert [(e["kind"], e["message"]) for e in shown if e["kind"] == "refunded"] == [
        ("refunded", "Refunding 99.00 CNY for cancelled units")
    ]
    assert_money_clean()


# --- verify_money ------------------------------------------------------------------------


def test_verify_money_exits_1_when_totals_are_not_the_sum_of_the_lines(web, xuhui, tee, stocked):
    order = checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui)))
    assert_verify_money_clean()
    Order.objects.filter(number=order["number"]).update(grand_total=Decimal("1.00"))

    err = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("verify_money", stdout=StringIO(), stderr=err)

    assert exit_.value.code == 1
    assert order["number"] in err.getvalue()
    assert "grand_total" in err.getvalue()


def test_verify_money_exits_1_when_a_line_units_do_not_pay_its_value(web, xuhui, tee, stocked):
    order = checkout(web, body([(tee, 2)], delivery=pickup_at(xuhui)))
    Order.objects.get(number=order["number"]).lines.update(units_paid_extra=1)

    with pytest.raises(SystemExit):
        call_command("verify_money", stdout=StringIO(), stderr=StringIO())


def test_a_cancel_voids_the_card_before_the_gift_card(web, xuhui, tee, stocked):
    gift = {"method": "gift_card", "gateway": "dummy", "reference": "gc_1", "amount": "120.00"}
    order = checkout(
        web, body([(tee, 2)], delivery=pickup_at(xuhui)) | {"payments": [gift, card("78.00")]}
    )
    [line] = order["lines"]

    web.post(
        f"/api/v1/orders/{order['number']}/lines/{line['id']}/cancel",
        {"quantity": 1},
        format="json",
    )

    voids = PaymentTransaction.objects.filter(kind=Kind.VOID).select_related("payment")
    assert sorted((tx.payment.method, tx.amount) for tx in voids) == [
        ("card", Decimal("78.00")),
        ("gift_card", Decimal("21.00")),
    ]
    assert_money_clean()


def test_the_admin_shows_the_orders_totals_and_payments(client, web, xuhui, tee, stocked):
    order = checkout(
        web, body([(tee, 1)], delivery=pickup_at(xuhui)) | {"payments": [card("99.00")]}
    )
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)
    pk = Order.objects.get(number=order["number"]).pk

    page = client.get(f"/admin/orders/order/{pk}/change/").content.decode()

    assert "grand total: 99.00" in page
    assert "authorized: 99.00" in page
    assert "balance: 99.00" in page
    assert "Card (through a gateway) 99.00 CNY" in page
