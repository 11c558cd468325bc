"""Orders test data: customers, API clients of each kind, checkout bodies and orders.

Stock is put in place through the inventory services (see `tests.inventory.factories`), so
the ledger and the stock levels always agree.
"""

import uuid
from collections.abc import Iterable
from io import StringIO
from typing import Any

import factory
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from common.idempotency import IdempotencyKey, IdempotentResult, request_fingerprint
from common.tokens import channel_user_get_or_create, token_issue
from customers.models import Customer
from inventory.models import Sku, StockLevel
from orders.models import Order
from orders.services.checkout import CheckoutLine, CheckoutRequest
from orders.views import checkout_idempotent
from stores.models import Location, StaffMembership
from tests.inventory.factories import SkuFactory, level_of, stock_put
from tests.stores.factories import LocationFactory, WarehouseFactory

__all__ = [
    "CustomerFactory",
    "LocationFactory",
    "SkuFactory",
    "WarehouseFactory",
    "level_of",
    "stock_put",
]

# Real places in and around Shanghai, so distances are the ones a customer would expect.
XUHUI = {"latitude": 31.1951, "longitude": 121.4365, "postcode": "200030", "city": "Shanghai"}
PUDONG = {"latitude": 31.2397, "longitude": 121.4998, "postcode": "200120", "city": "Shanghai"}
KUNSHAN = {"latitude": 31.3856, "longitude": 120.9808, "postcode": "215300", "city": "Kunshan"}
PEOPLES_SQUARE = (31.2304, 121.4737)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = None
    name = factory.Sequence(lambda n: f"Customer {n}")


def new_key() -> str:
    return uuid.uuid4().hex


def _client_for(user, *, channel: str = "") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user, channel=channel)}")
    client.user = user
    return client


def channel_client(channel: str) -> APIClient:
    """The backend of a sales channel (web, app or the store app), with its channel token."""
    return _client_for(channel_user_get_or_create(channel=channel), channel=channel)


def staff_client(*locations: Location, role: str = StaffMembership.Role.ASSOCIATE) -> APIClient:
    """A member of store staff working at `locations`, with a personal token."""
    user = get_user_model().objects.create_user(username=f"staff-{uuid.uuid4().hex[:8]}")
    for location in locations:
        StaffMembership.objects.create(user=user, location=location, role=role)
    return _client_for(user)


def body(
    lines: Iterable[tuple[Sku | str, int]],
    *,
    delivery: dict[str, Any],
    channel: str = "web",
    email: str | None = "ada@example.com",
    phone: str | None = None,
    name: str = "Ada",
) -> dict[str, Any]:
    """A checkout request body as a storefront sends it."""
    customer: dict[str, Any] = {"name": name}
    if email is not None:
        customer["email"] = email
    if phone is not None:
        customer["phone"] = phone
    return {
        "customer": customer,
        "channel": channel,
        "lines": [
            {"sku": sku if isinstance(sku, str) else sku.code, "quantity": quantity}
            for sku, quantity in lines
        ],
        "delivery": delivery,
    }


def pickup_at(location: Location, method: str = "pickup") -> dict[str, Any]:
    return {"method": method, "location": location.code}


def address_at(latitude: float, longitude: float, **fields: Any) -> dict[str, Any]:
    return {
        "line1": "1 Nanjing Road",
        "city": "Shanghai",
        "postcode": "200001",
        "country": "CN",
        "latitude": latitude,
        "longitude": longitude,
        **fields,
    }


def ship_to(latitude: float, longitude: float, **fields: Any) -> dict[str, Any]:
    return {"method": "ship", "address": address_at(latitude, longitude, **fields)}


def post_checkout(client: APIClient, payload: dict[str, Any], *, key: str | None = None):
    """POST /api/v1/checkout with an Idempotency-Key (a fresh one unless given)."""
    return client.post(
        "/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY=key or new_key()
    )


def place_order(
    lines: Iterable[tuple[Sku, int]],
    *,
    method: str = "pickup",
    location: Location | None = None,
    address: dict[str, Any] | None = None,
    channel: str = "web",
    email: str | None = "ada@example.com",
    phone: str | None = None,
    actor=None,
    key: str | None = None,
) -> IdempotentResult:
    """Checkout through the service, as the API view calls it."""
    actor = actor or channel_user_get_or_create(channel=channel)
    request = CheckoutRequest(
        channel=channel,
        method=method,
        lines=[CheckoutLine(sku=sku, quantity=quantity) for sku, quantity in lines],
        email=email,
        phone=phone,
        location=location,
        address=address,
        store=location if channel == "store" else None,
    )
    key = key or new_key()
    return checkout_idempotent(
        request=request,
        key=IdempotencyKey(actor=actor, key=key, fingerprint=request_fingerprint(request)),
    )


def order_of(result: IdempotentResult) -> Order:
    return Order.objects.get(number=result.body["number"])


def reserved_at(location: Location, sku: Sku) -> int:
    return StockLevel.objects.get(location=location, sku=sku).reserved


def availability_at(client: APIClient, sku: Sku, location: Location) -> dict:
    """The row of GET /api/v1/availability for one SKU at one location."""
    response = client.get("/api/v1/availability", {"sku": sku.code, "location": location.code})
    assert response.status_code == 200, response.content
    [row] = response.json()["results"]
    return row


def timeline(client: APIClient, number: str) -> list[str]:
    """The kinds of the order's events, oldest first, as GET .../timeline shows them."""
    response = client.get(f"/api/v1/orders/{number}/timeline")
    assert response.status_code == 200, response.content
    return [event["kind"] for event in response.json()["results"]]


def assert_verify_stock_clean() -> None:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_stock", stdout=out, stderr=err)
    except SystemExit:
        pytest.fail(f"verify_stock found breaches:\n{err.getvalue()}")
    assert "Stock invariants hold." in out.getvalue()
