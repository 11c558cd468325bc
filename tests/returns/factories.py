"""Orders as customers bring them back, and the counter's steps of a return."""

import uuid
from decimal import Decimal
from typing import Any

from rest_framework.test import APIClient

from fulfillment.models import FulfillmentOrder
from inventory.models import Sku, StockLevel
from orders.models import Order, OrderLine
from stores.models import Location
from tests.factories import CUSTOMER_NEAR_XUHUI, staff_client
from tests.fulfillment.factories import act
from tests.fulfillment.test_capture import assert_money_clean

__all__ = ["assert_money_clean"]

CUSTOMER = "ada@example.com"
SHIP_DATA = {"carrier": "SF Express", "tracking_number": "SF1234567890"}


def card(amount: str) -> list[dict]:
    return [{"method": "card", "gateway": "dummy", "reference": "auth_ada", "amount": amount}]


def ship_delivery() -> dict:
    lat, lng = CUSTOMER_NEAR_XUHUI
    return {
        "method": "ship",
        "address": {"line1": "1 Tianyaoqiao Road", "city": "Shanghai", "postcode": "200030",
                    "country": "CN", "latitude": lat, "longitude": lng},
    }  # fmt: skip


def web_checkout(client: APIClient, lines, delivery: dict, **extra: Any) -> Order:
    payload = {
        "customer": {"email": CUSTOMER, "name": "Ada", "phone": "+8613800000000"},
        "channel": extra.pop("channel", "web"),
        "lines": [{"sku": sku.code, "quantity": quantity} for sku, quantity in lines],
        "delivery": delivery,
        **extra,
    }
    response = client.post(
        "/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )
    assert response.status_code == 201, response.content
    return Order.objects.get(number=response.json()["number"])


def ship_all(order: Order) -> None:
    """Every open fulfillment order of `order` accepted, picked, packed and shipped by its
    location's staff."""
    for fo in FulfillmentOrder.objects.filter(order=order, status="pending").select_related(
        "location"
    ):
        client = staff_client(fo.location)
        for step in ("accept", "pick", "pack"):
            assert act(client, fo, step).status_code == 200
        response = act(client, fo, "ship", **SHIP_DATA)
        assert response.status_code == 200, response.content


def line_of(order: Order, sku: Sku) -> OrderLine:
    return order.lines.get(sku=sku)


def open_return(
    client: APIClient,
    order: Order,
    lines: list[tuple[OrderLine, int]],
    *,
    location: Location | None = None,
    reason: str = "too small",
    exchange: list[tuple[OrderLine, Sku, int]] = (),
    key: str | None = None,
    **extra: Any,
):
    payload: dict[str, Any] = {
        "order": order.number,
        "lines": [{"line": line.pk, "quantity": q, "reason": reason} for line, q in lines],
        **extra,
    }
    if location is not None:
        payload["location"] = location.code
    if exchange:
        payload["exchange"] = [
            {"line": line.pk, "sku": sku.code, "quantity": q} for line, sku, q in exchange
        ]
    return client.post(
        "/api/v1/returns", payload, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex
    )


def inspect(client: APIClient, rma: str, lines: list[tuple[OrderLine, str, str]], **target):
    payload = {
        "lines": [
            {"line": line.pk, "condition": condition, "disposition": disposition, **target}
            for line, condition, disposition in lines
        ]
    }
    return client.post(f"/api/v1/returns/{rma}/inspect", payload, format="json")


def stock(location: Location, sku: Sku) -> tuple[int, int]:
    """(on hand, available) of `sku` at `location`: held units are on hand, not available;
    (0, 0) where it never was."""
    row = StockLevel.objects.filter(location=location, sku=sku).first()
    return (row.on_hand, row.on_hand - row.reserved - row.held) if row else (0, 0)


def refunded(order: Order) -> Decimal:
    from payments.models import Payment

    return sum((p.refunded for p in Payment.objects.filter(demand=order.number)), Decimal("0"))
