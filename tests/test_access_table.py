"""Who may call each API URL: every route the URL resolver knows, as every kind of caller,
against the table below. A route without a row fails, naming itself."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import get_resolver
from rest_framework.test import APIClient

from fulfillment.models import FulfillmentOrder
from inventory.services import stock_receive
from stores.models import StaffMembership
from tests.factories import api_client_for, channel_client, place_order, staff_client
from tests.test_api_permissions import _views

pytestmark = pytest.mark.django_db
Role = StaffMembership.Role
ROLES = ["anonymous", "web", "app", "store_a", "associate_a", "manager_a", "associate_b",
         "operator", "superuser"]  # fmt: skip
OK = "ok"  # let in: any answer but 401, 403 or 404 (a 400 for an empty body is fine)

# A fulfillment order of store A: its staff, its store token and a superuser act on it.
FO_STAFF = (401, 403, 403, OK, OK, OK, 404, 404, OK)
# A change to an order of store A: its channel, its staff and a superuser; other stores 403.
ORDER_CHANGE = (401, OK, 404, OK, OK, OK, 403, 403, OK)

# (method, route) -> the answer of each role, in the order of ROLES.
ACCESS: dict[tuple[str, str], tuple] = {
    ("get", "api/v1/locations"): (401, OK, OK, OK, OK, OK, OK, OK, OK),
    ("get", "api/v1/locations/<slug:code>"): (401, OK, OK, OK, OK, OK, OK, OK, OK),
    ("get", "api/v1/availability"): (401, OK, OK, OK, OK, OK, OK, OK, OK),
    ("post", "api/v1/skus"): (401, 403, 403, 403, 403, 403, 403, 403, OK),
    ("get", "api/v1/skus/<sku_code:code>"): (401, OK, OK, OK, OK, OK, OK, OK, OK),
    ("get", "api/v1/stock"): (401, 403, 403, OK, OK, OK, OK, OK, OK),
    ("post", "api/v1/inventory/movements"): (401, 403, 403, 403, 403, 403, 403, 403, OK),
    ("get", "api/v1/inventory/count-requests"): (401, 403, 403, OK, OK, OK, OK, OK, OK),
    ("get", "api/v1/transfers"): (401, 403, 403, OK, OK, OK, OK, OK, OK),
    ("post", "api/v1/transfers"): (401, 403, 403, OK, OK, OK, OK, OK, OK),
    ("post", "api/v1/transfers/<int:pk>/<str:action>"): (
        401,
        403,
        403,
        404,
        404,
        404,
        404,
        404,
        404,
    ),
    ("get", "api/v1/customers"): (401, OK, OK, OK, OK, OK, OK, OK, OK),
    ("post", "api/v1/customers/enrol"): (401, OK, OK, OK, OK, OK, OK, OK, OK),
    ("get", "api/v1/customers/<int:pk>"): (401, OK, 404, OK, OK, OK, 404, 404, OK),
    ("get", "api/v1/customers/<int:pk>/points"): (401, OK, 404, OK, OK, OK, 404, 404, OK),
    ("post", "api/v1/customers/<int:pk>/points/adjust"): (
        401,
        403,
        403,
        403,
        403,
        OK,
        403,
        403,
        OK,
    ),
    ("post", "api/v1/checkout"): (401, OK, OK, OK, OK, OK, OK, OK, OK),
    ("get", "api/v1/orders"): (401, OK, OK, OK, OK, OK, OK, OK, OK),
    ("get", "api/v1/orders/<order_number:number>"): (401, OK, 404, OK, OK, OK, OK, OK, OK),
    ("get", "api/v1/orders/<order_number:number>/timeline"): (401, OK, 404, OK, OK, OK, OK, OK, OK),
    ("post", "api/v1/orders/<order_number:number>/cancel"): ORDER_CHANGE,
    ("post", "api/v1/orders/<order_number:number>/lines/<int:line_id>/cancel"): ORDER_CHANGE,
    ("get", "api/v1/fulfillment-orders"): (401, 403, 403, OK, OK, OK, OK, OK, OK),
    ("get", "api/v1/fulfillment-orders/<int:pk>"): FO_STAFF,
    ("post", "api/v1/fulfillment-orders/<int:pk>/accept"): FO_STAFF,
    ("post", "api/v1/fulfillment-orders/<int:pk>/reject"): FO_STAFF,
    ("post", "api/v1/fulfillment-orders/<int:pk>/pick"): FO_STAFF,
    ("post", "api/v1/fulfillment-orders/<int:pk>/pack"): FO_STAFF,
    ("post", "api/v1/fulfillment-orders/<int:pk>/ship"): FO_STAFF,
    ("post", "api/v1/fulfillment-orders/<int:pk>/ready"): FO_STAFF,
    ("post", "api/v1/fulfillment-orders/<int:pk>/handover"): FO_STAFF,
    # receive is the destination store's step of a ship-to-store leg: this pickup has none.
    ("post", "api/v1/fulfillment-orders/<int:pk>/receive"): (401, 403, 403) + (404,) * 6,
    ("post", "api/v1/fulfillment-orders/<int:pk>/resend-code"): FO_STAFF,
    ("post", "api/v1/pickups/<int:pk>/arrived"): (401, OK, 404, OK, OK, OK, 404, 404, OK),
    ("get", "api/v1/returns"): (401, OK, OK, OK, OK, OK, OK, OK, OK),
    ("post", "api/v1/returns"): (401, OK, OK, OK, OK, OK, OK, OK, OK),
    ("get", "api/v1/returns/<rma:rma>"): (401, 404, 404, 404, 404, 404, 404, 404, 404),
    ("post", "api/v1/returns/<rma:rma>/receive"): (401, 403, 403, 404, 404, 404, 404, 404, 404),
    ("post", "api/v1/returns/<rma:rma>/inspect"): (401, 403, 403, 404, 404, 404, 404, 404, 404),
    ("post", "api/v1/returns/<rma:rma>/reject"): (401, 403, 403, 404, 404, 404, 404, 404, 404),
    ("post", "api/v1/returns/<rma:rma>/complete"): (401, 403, 403, 404, 404, 404, 404, 404, 404),
    ("post", "api/v1/returns/<rma:rma>/cancel"): (401, 404, 404, 404, 404, 404, 404, 404, 404),
}


def _routes():
    for route, view in _views(get_resolver().url_patterns):
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method) and route.startswith("api/v1/") and "^" not in route:
                yield method, route


@pytest.fixture
def world(xuhui, pudong, kunshan, tee, django_capture_on_commit_callbacks):
    for location in (xuhui, pudong, kunshan):
        stock_receive(location=location, sku=tee, quantity=5)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order([(tee, 1)], location=xuhui, key="access-a")
    fo = FulfillmentOrder.objects.get(order=order)
    customer = order.customer
    users = get_user_model().objects
    clients = {
        "anonymous": APIClient(),
        "web": channel_client("web"),
        "app": channel_client("app"),
        "store_a": channel_client("store", location=xuhui),
        "associate_a": staff_client(xuhui),
        "manager_a": staff_client(xuhui, role=Role.MANAGER),
        "associate_b": staff_client(pudong),
        "operator": staff_client(kunshan, role=Role.OPERATOR),
        "superuser": api_client_for(users.create_superuser("root", "root@example.com")),
    }
    values = {"code": xuhui.code, "number": order.number, "pk": fo.pk, "line_id":
              order.lines.first().pk, "rma": "RMA23456789", "action": "cancel"}  # fmt: skip
    return clients, values, customer, tee


def _url(route, values, customer, sku):
    url = "/" + route
    if route.startswith("api/v1/customers/"):
        url = url.replace("<int:pk>", str(customer.pk))
    url = url.replace("<sku_code:code>", sku.code).replace("<str:action>", "ship")
    for name, value in values.items():
        for kind in ("int", "slug", "str", "order_number", "rma"):
            url = url.replace(f"<{kind}:{name}>", str(value))
    return url


def _answer(status):
    return status if status in (401, 403, 404) else OK


def test_every_api_route_has_a_row_in_the_access_table():
    missing = [f"{method.upper()} /{route}" for method, route in _routes()
               if (method, route) not in ACCESS]  # fmt: skip
    assert missing == [], f"routes with no row in ACCESS: {missing}"


@pytest.mark.parametrize(("method", "route"), sorted(ACCESS))
def test_each_caller_gets_the_access_of_the_table(method, route, world):
    clients, values, customer, sku = world
    url = _url(route, values, customer, sku)
    got = {role: _answer(getattr(clients[role], method)(url, {}, format="json").status_code)
           for role in ROLES}  # fmt: skip
    assert got == dict(zip(ROLES, ACCESS[(method, route)], strict=True)), url
