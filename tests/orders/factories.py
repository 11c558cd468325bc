"""Orders test data: customers and checkout bodies as a storefront sends them (what every
app's tests share, orders placed through the service among them, is in `tests.factories`)."""

from collections.abc import Iterable
from typing import Any

import factory
from rest_framework.test import APIClient

from customers.models import Customer
from inventory.models import Sku, StockLevel
from stores.models import Location
from tests.factories import new_key
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


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = None
    name = factory.Sequence(lambda n: f"Customer {n}")


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


def reserved_at(location: Location, sku: Sku) -> int:
    return StockLevel.objects.get(location=location, sku=sku).reserved


def availability_at(client: APIClient, sku: Sku, location: Location) -> dict:
    """The row of GET /api/v1/availability for one SKU at one location."""
    response = client.get("/api/v1/availability", {"sku": sku.code, "location": location.code})
    assert response.status_code == 200, response.content
    [row] = response.json()["results"]
    return row
