"""The steps a store or a customer takes in fulfillment tests (what every app's tests share
is in `tests.factories`)."""

import re
from typing import Any

from django.core import mail
from rest_framework.test import APIClient

from fulfillment.models import FulfillmentOrder
from inventory.models import Sku, StockLevel
from orders.models import Order
from stores.models import Location
from tests.inventory.factories import SkuFactory, stock_put
from tests.stores.factories import LocationFactory, WarehouseFactory

__all__ = [
    "LocationFactory",
    "SkuFactory",
    "WarehouseFactory",
    "act",
    "fulfillment_orders",
    "level",
    "pickup_code_in",
    "sent_to",
    "stock_put",
]

PICKUP_CODE = re.compile(r"Your pickup code: ([2-9A-Z]{6})\b")


def level(location: Location, sku: Sku) -> tuple[int, int]:
    """(on hand, reserved) of `sku` at `location`, read now."""
    row = StockLevel.objects.get(location=location, sku=sku)
    return row.on_hand, row.reserved


def act(client: APIClient, fo: FulfillmentOrder | int, action: str, **data: Any):
    """POST /api/v1/fulfillment-orders/{id}/{action} as the store app does."""
    pk = fo if isinstance(fo, int) else fo.pk
    return client.post(f"/api/v1/fulfillment-orders/{pk}/{action}", data, format="json")


def fulfillment_orders(order: Order) -> list[FulfillmentOrder]:
    """The order's fulfillment orders, oldest first, read now."""
    return list(
        FulfillmentOrder.objects.filter(order=order).select_related("location").order_by("pk")
    )


# --- email ----------------------------------------------------------------------------------


def sent_to(address: str) -> list[mail.EmailMessage]:
    """Emails sent (in this process) to `address`."""
    return [message for message in mail.outbox if address in message.to]


def pickup_code_in(body: str) -> str:
    """The pickup code as the customer reads it in the ready email."""
    found = PICKUP_CODE.search(body)
    assert found, f"no pickup code in:\n{body}"
    return found.group(1)
