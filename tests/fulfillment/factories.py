"""Fulfillment test data and the steps a store or a customer takes.

Stock goes on the shelf only through the inventory services, and orders are placed through
checkout, so the ledger, the reservations and the order always agree as in production.
"""

import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from rest_framework.test import APIClient

from common.idempotency import IdempotencyKey, request_fingerprint
from common.tokens import channel_user_get_or_create, token_issue
from fulfillment.models import FulfillmentOrder
from inventory.models import Sku, StockLevel
from orders.models import Order
from orders.services.checkout import CheckoutLine, CheckoutRequest
from orders.views import checkout_idempotent
from stores.models import Location, StaffMembership
from tests.inventory.factories import SkuFactory
from tests.inventory.factories import stock_put as put_stock
from tests.stores.factories import LocationFactory, WarehouseFactory

__all__ = [
    "CUSTOMER_NEAR_XUHUI",
    "JINGAN",
    "KUNSHAN",
    "PUDONG",
    "XUHUI",
    "LocationFactory",
    "SkuFactory",
    "WarehouseFactory",
    "act",
    "assert_stock_invariants",
    "channel_client",
    "fulfillment_orders",
    "level",
    "pickup_code_in",
    "place_order",
    "put_stock",
    "staff_client",
    "staff_member",
    "timeline",
]

# Real places in Shanghai, so routing picks what a customer there would expect.
XUHUI = {"latitude": 31.1951, "longitude": 121.4365, "city": "Shanghai", "postcode": "200030"}
PUDONG = {"latitude": 31.2397, "longitude": 121.4998, "city": "Shanghai", "postcode": "200120"}
JINGAN = {"latitude": 31.2286, "longitude": 121.4479, "city": "Shanghai", "postcode": "200040"}
KUNSHAN = {"latitude": 31.3856, "longitude": 120.9808, "city": "Kunshan", "postcode": "215300"}
CUSTOMER_NEAR_XUHUI = (31.1900, 121.4300)

PICKUP_CODE = re.compile(r"Your pickup code: ([2-9A-Z]{6})\b")


def level(location: Location, sku: Sku) -> tuple[int, int]:
    """(on hand, reserved) of `sku` at `location`, read now."""
    row = StockLevel.objects.get(location=location, sku=sku)
    return row.on_hand, row.reserved


def assert_stock_invariants() -> None:
    """`verify_stock` exits 1 on any breach of the ledger or reservation invariants."""
    try:
        call_command("verify_stock")
    except SystemExit as exc:
        raise AssertionError(f"verify_stock found breaches (exit {exc.code})") from None


# --- people and their API clients ----------------------------------------------------------


def _client_for(user, *, channel: str = "") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user, channel=channel)}")
    client.user = user
    return client


def staff_member(
    location: Location, *, role: str = StaffMembership.Role.ASSOCIATE, email: bool = True
):
    """A member of staff working at `location`, with an email address unless told not to."""
    username = f"{role}-{location.code.lower()}-{uuid.uuid4().hex[:6]}"
    user = get_user_model().objects.create_user(
        username=username, email=f"{username}@stores.example.com" if email else ""
    )
    StaffMembership.objects.create(user=user, location=location, role=role)
    return user


def staff_client(user) -> APIClient:
    """The store app of one member of staff (a personal token)."""
    return _client_for(user)


def channel_client(channel: str = "web") -> APIClient:
    """A storefront's backend with its channel token: it places and follows its orders."""
    return _client_for(channel_user_get_or_create(channel=channel), channel=channel)


def act(client: APIClient, fo: FulfillmentOrder | int, action: str, **data: Any):
    """POST /api/v1/fulfillment-orders/{id}/{action} as the store app does."""
    pk = fo if isinstance(fo, int) else fo.pk
    return client.post(f"/api/v1/fulfillment-orders/{pk}/{action}", data, format="json")


# --- orders ---------------------------------------------------------------------------------


def place_order(
    lines: Iterable[tuple[Sku, int]],
    *,
    method: str = "pickup",
    location: Location | None = None,
    point: tuple[float, float] = CUSTOMER_NEAR_XUHUI,
    channel: str = "web",
    email: str | None = "ada@example.com",
    name: str = "Ada",
    phone: str | None = None,
    ship_to_store: bool = False,
) -> Order:
    """Checkout through the service, as the checkout API calls it; returns the order."""
    address = None
    if method == "ship":
        address = {
            "line1": "1 Tianyaoqiao Road",
            "city": "Shanghai",
            "postcode": "200030",
            "country": "CN",
            "latitude": point[0],
            "longitude": point[1],
        }
    request = CheckoutRequest(
        channel=channel,
        method=method,
        lines=[CheckoutLine(sku=sku, quantity=quantity) for sku, quantity in lines],
        email=email,
        phone=phone,
        name=name,
        location=location if method != "ship" else None,
        address=address,
        ship_to_store=ship_to_store,
    )
    key = uuid.uuid4().hex
    result = checkout_idempotent(
        request=request,
        key=IdempotencyKey(
            actor=channel_user_get_or_create(channel=channel),
            key=key,
            fingerprint=request_fingerprint(key),
        ),
    )
    assert result.status == 201, result.body
    return Order.objects.get(number=result.body["number"])


def fulfillment_orders(order: Order) -> list[FulfillmentOrder]:
    """The order's fulfillment orders, oldest first, read now."""
    return list(
        FulfillmentOrder.objects.filter(order=order).select_related("location").order_by("pk")
    )


def timeline(order: Order) -> list[str]:
    """The kinds of the order's timeline events, oldest first."""
    return list(order.events.order_by("created_at", "pk").values_list("kind", flat=True))


# --- email ----------------------------------------------------------------------------------


def sent_to(address: str) -> list[mail.EmailMessage]:
    """Emails sent (in this process) to `address`."""
    return [message for message in mail.outbox if address in message.to]


def pickup_code_in(body: str) -> str:
    """The pickup code as the customer reads it in the ready email."""
    found = PICKUP_CODE.search(body)
    assert found, f"no pickup code in:\n{body}"
    return found.group(1)
