"""What every app's tests share: the places, the API clients of each kind of caller, orders
placed through checkout, their timeline and the stock check.

Stock goes on the shelf only through the inventory services (`tests.inventory.factories`)
and orders are placed through checkout, so the ledger, the reservations and the order always
agree as in production. Each app's own `factories.py` holds what only its tests use.
"""

import uuid
from collections.abc import Iterable
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from common.idempotency import IdempotencyKey, IdempotentResult, request_fingerprint
from common.models import Channel
from common.tokens import channel_user_get_or_create, token_issue
from inventory.models import Sku
from orders.models import Order
from orders.services.checkout import CheckoutLine, CheckoutRequest
from orders.views import checkout_idempotent
from stores.models import Location, StaffMembership
from stores.services import store_token_user_get_or_create

# Real places in and around Shanghai, so routing and distances are what a customer there
# would expect: the fields of a location at each.
XUHUI = {"latitude": 31.1951, "longitude": 121.4365, "city": "Shanghai", "postcode": "200030"}
PUDONG = {"latitude": 31.2397, "longitude": 121.4998, "city": "Shanghai", "postcode": "200120"}
JINGAN = {"latitude": 31.2286, "longitude": 121.4479, "city": "Shanghai", "postcode": "200040"}
KUNSHAN = {"latitude": 31.3856, "longitude": 120.9808, "city": "Kunshan", "postcode": "215300"}
BEIJING = {"latitude": 39.9334, "longitude": 116.4547, "city": "Beijing", "postcode": "100020"}
# Where customers are: (latitude, longitude).
CUSTOMER_NEAR_XUHUI = (31.1900, 121.4300)
PEOPLES_SQUARE = (31.2304, 121.4737)


def coordinates(place: dict[str, Any]) -> dict[str, float]:
    """Only the latitude and longitude of one of the places above."""
    return {"latitude": place["latitude"], "longitude": place["longitude"]}


def near(place: dict[str, Any] | tuple[float, float]) -> str:
    """A place or a point as the `near=latitude,longitude` parameter of the API."""
    lat, lng = (place["latitude"], place["longitude"]) if isinstance(place, dict) else place
    return f"{lat},{lng}"


# --- API clients -----------------------------------------------------------------------------


def api_client_for(user, *, channel: str = "") -> APIClient:
    """An API client with a real token of `user` (a channel token when `channel` is given)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user, channel=channel)}")
    client.user = user
    return client


def channel_client(channel: str = "web", *, location: Location | None = None) -> APIClient:
    """The backend of a sales channel with its channel token: web, app, or the store app of
    `location` (a store token is bound to its store)."""
    if channel == Channel.STORE:
        if location is None:
            raise ValueError("A store token acts for one store: give its location.")
        return api_client_for(store_token_user_get_or_create(location=location), channel=channel)
    return api_client_for(channel_user_get_or_create(channel=channel), channel=channel)


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


def staff_client(
    *locations: Location, user=None, role: str = StaffMembership.Role.ASSOCIATE
) -> APIClient:
    """The store app of a member of staff, with a personal token: `user`, or a new member
    (without an email address) working at `locations` with `role`."""
    if user is None:
        user = get_user_model().objects.create_user(username=f"staff-{uuid.uuid4().hex[:8]}")
        for location in locations:
            StaffMembership.objects.create(user=user, location=location, role=role)
    return api_client_for(user)


# --- orders ----------------------------------------------------------------------------------


def new_key() -> str:
    return uuid.uuid4().hex


def ship_address(latitude: float, longitude: float, **fields: Any) -> dict[str, Any]:
    """A customer's address at a point, as checkout takes it."""
    return {
        "line1": "1 Tianyaoqiao Road",
        "city": "Shanghai",
        "postcode": "200030",
        "country": "CN",
        "latitude": latitude,
        "longitude": longitude,
        **fields,
    }


def checkout(
    lines: Iterable[tuple[Sku, int]],
    *,
    method: str = "pickup",
    location: Location | None = None,
    address: dict[str, Any] | None = None,
    point: tuple[float, float] = CUSTOMER_NEAR_XUHUI,
    channel: str = "web",
    email: str | None = "ada@example.com",
    phone: str | None = None,
    name: str = "Ada",
    ship_to_store: bool = False,
    actor=None,
    key: str | None = None,
) -> IdempotentResult:
    """Checkout through the service, as the API view calls it: its answer (or its domain
    error raised). A ship order goes to `address`, else to an address at `point`; a store
    order is taken at `location`; `actor` is the channel's client unless given."""
    if method == "ship":
        address, location = address or ship_address(*point), None
    request = CheckoutRequest(
        channel=channel,
        method=method,
        lines=[CheckoutLine(sku=sku, quantity=quantity) for sku, quantity in lines],
        email=email,
        phone=phone,
        name=name,
        location=location,
        address=address,
        store=location if channel == "store" else None,
        ship_to_store=ship_to_store,
    )
    return checkout_idempotent(
        request=request,
        key=IdempotencyKey(
            actor=actor or channel_user_get_or_create(channel=channel),
            key=key or new_key(),
            fingerprint=request_fingerprint(request),
        ),
    )


def api_checkout(
    client: APIClient,
    lines: Iterable[tuple[Sku | str, int]],
    delivery: dict[str, Any],
    *,
    customer: dict[str, Any] | None = None,
    channel: str = "web",
    key: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Checkout through the API as a storefront calls it (Ada's order on the web unless told,
    a fresh Idempotency-Key unless given, `extra` fields added to the body): its 201 answer."""
    payload = {
        "customer": customer or {"email": "ada@example.com", "name": "Ada"},
        "channel": channel,
        "lines": [
            {"sku": sku if isinstance(sku, str) else sku.code, "quantity": quantity}
            for sku, quantity in lines
        ],
        "delivery": delivery,
        **extra,
    }
    response = client.post(
        "/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY=key or new_key()
    )
    assert response.status_code == 201, response.content
    return response.json()


def order_of(result: IdempotentResult) -> Order:
    """The order a checkout answered with."""
    return Order.objects.get(number=result.body["number"])


def place_order(lines: Iterable[tuple[Sku, int]], **how: Any) -> Order:
    """The order placed by `checkout(lines, **how)`, which must succeed."""
    result = checkout(lines, **how)
    assert result.status == 201, result.body
    return order_of(result)


def timeline(order: Order | str, *, client: APIClient | None = None) -> list[str]:
    """The kinds of the events of `order` (or of the order of that number), oldest first:
    as GET .../timeline shows them to `client`, or as stored when no client is given."""
    if client is None:
        if isinstance(order, str):
            order = Order.objects.get(number=order)
        return list(order.events.order_by("created_at", "pk").values_list("kind", flat=True))
    number = order if isinstance(order, str) else order.number
    response = client.get(f"/api/v1/orders/{number}/timeline")
    assert response.status_code == 200, response.content
    return [event["kind"] for event in response.json()["results"]]


# --- stock -----------------------------------------------------------------------------------


def assert_stock_consistent() -> None:
    """`verify_stock` finds no breach of the ledger, reservation or ship-slot invariants."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_stock", stdout=out, stderr=err)
    except SystemExit:
        pytest.fail(f"verify_stock found breaches:\n{err.getvalue()}")
    assert "Stock invariants hold." in out.getvalue()


# --- money and points --------------------------------------------------------------------


def verify(command: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `manage.py <command>` (a verify_* command)."""
    out, err = StringIO(), StringIO()
    try:
        call_command(command, stdout=out, stderr=err)
    except SystemExit as exit_:
        return exit_.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def assert_ledgers_clean() -> None:
    """verify_points, verify_money and verify_stock find no breach."""
    for command in ("verify_points", "verify_money", "verify_stock"):
        code, _out, err = verify(command)
        assert code == 0, f"{command} found breaches:\n{err}"
