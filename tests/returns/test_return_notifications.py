"""A return reaches its customer: texted when only a phone is known, and kept with the
surviving record when two records of one person are merged."""

import re
import uuid

import pytest
from django.core import mail

from customers.services import customer_merge
from orders.models import Order
from returns.models import Return
from stores.models import StaffMembership
from tests.customers.factories import CustomerFactory
from tests.factories import staff_member
from tests.inventory.factories import stock_put
from tests.returns.factories import (
    assert_money_clean,
    card,
    inspect,
    line_of,
    open_return,
    ship_all,
    ship_delivery,
    web_checkout,
)

PHONE = "+8613900000000"


def phone_only_web_order(client, sku) -> Order:
    payload = {
        "customer": {"phone": "139 0000 0000", "name": "Bo"},
        "channel": "web",
        "lines": [{"sku": sku.code, "quantity": 1}],
        "delivery": ship_delivery(),
        "payments": card("114.00"),
    }
    response = client.post(
        "/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )
    assert response.status_code == 201, response.content
    return Order.objects.get(number=response.json()["number"])


def texts(printed: str) -> list[str]:
    """The bodies the console SMS backend printed to PHONE."""
    return [
        block.split("\n\n", 1)[-1].strip()
        for block in printed.split("-" * 79)
        if f"To: {PHONE}" in block
    ]


@pytest.mark.django_db(transaction=True)
def test_a_phone_only_customer_is_texted_the_code_then_the_receipt_and_the_refund(
    capsys, web, kunshan, xuhui, tee, at_xuhui
):
    stock_put(location=kunshan, sku=tee, on_hand=2)
    order = phone_only_web_order(web, tee)
    ship_all(order)
    capsys.readouterr()

    opened = open_return(web, order, [(line_of(order, tee), 1)], reason="changed mind").json()
    [code_text] = texts(capsys.readouterr().out)
    assert f"Show code {opened['code']}" in code_text
    assert re.search(r"Return RMA\w+ for order", code_text)

    at_xuhui.post(f"/api/v1/returns/{opened['rma']}/receive", {"location": "SH-XUHUI"},
                  format="json")  # fmt: skip
    response = inspect(at_xuhui, opened["rma"], [(line_of(order, tee), "resalable", "restock")])
    assert response.status_code == 200, response.content

    received, refunded = texts(capsys.readouterr().out)
    assert f"received your return {opened['rma']}" in received
    assert f"refunding {response.json()['refund_total']} CNY" in refunded
    assert not [m for m in mail.outbox if opened["rma"] in m.subject]  # no email address
    notified = order.events.filter(kind="notified", data__template__startswith="return_")
    assert sorted(notified.values_list("data__channel", flat=True)) == ["sms"] * 3
    assert_money_clean()


@pytest.mark.django_db
def test_a_customer_merge_moves_the_returns_to_the_survivor(xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    till = {"method": "carry_out", "location": "SH-XUHUI"}
    cash = [{"method": "cash", "amount": "99.00"}]
    sale = web_checkout(at_xuhui, [(tee, 1)], till, channel="store", payments=cash)
    other = CustomerFactory(email="ada.at.home@example.com")
    opened = open_return(at_xuhui, sale, [(line_of(sale, tee), 1)], location=xuhui).json()
    manager = staff_member(xuhui, role=StaffMembership.Role.MANAGER)

    customer_merge(survivor=other, merged=sale.customer, actor=manager)

    assert Return.objects.get(rma=opened["rma"]).customer == other
    assert list(other.returns.values_list("rma", flat=True)) == [opened["rma"]]
