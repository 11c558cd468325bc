"""Bad input to every write operation of the schema is a 400 with field errors (413 when too
large) and writes nothing: malformed JSON, wrong types, NUL bytes, overlong strings, huge
or hugely negative numbers. The operations come from the schema, so a new write endpoint is
covered by this table, and fails it until it has a row."""

import json
import uuid

import pytest
from django.db.models import Model
from rest_framework.test import APIClient

from common.models import OutboxEvent
from customers.models import Customer, PointsEntry
from fulfillment.models import FulfillmentOrder
from inventory.models import Reservation, Sku, StockMovement, Transfer
from orders.models import Order, OrderEvent
from payments.models import Payment, PaymentTransaction
from returns.models import Return
from tests.api_fuzz.test_schema_fuzz import api_schema

SCHEMA = api_schema()
WRITE_METHODS = {"post", "put", "patch", "delete"}
WRITES = sorted(
    (method.upper(), path)
    for path, operations in SCHEMA["paths"].items()
    for method in operations
    if method in WRITE_METHODS
)
# Where a path names a record the test world does not have, the 404 comes before any input
# is read: those rows expect it, and still write nothing.
NO_RECORD = {
    "/api/v1/returns/{rma}/receive",
    "/api/v1/returns/{rma}/inspect",
    "/api/v1/returns/{rma}/reject",
    "/api/v1/returns/{rma}/complete",
    "/api/v1/returns/{rma}/cancel",
    "/api/v1/transfers/{id}/{action}",
}
# Every write operation, by (method, path): bad input reaches its validation. A new write
# endpoint needs a row here (and a record for its path in `path_values`).
COVERED = {
    ("POST", "/api/v1/checkout"),
    ("POST", "/api/v1/customers/enrol"),
    ("POST", "/api/v1/customers/{id}/points/adjust"),
    ("POST", "/api/v1/fulfillment-orders/{id}/accept"),
    ("POST", "/api/v1/fulfillment-orders/{id}/handover"),
    ("POST", "/api/v1/fulfillment-orders/{id}/pack"),
    ("POST", "/api/v1/fulfillment-orders/{id}/pick"),
    ("POST", "/api/v1/fulfillment-orders/{id}/ready"),
    ("POST", "/api/v1/fulfillment-orders/{id}/receive"),
    ("POST", "/api/v1/fulfillment-orders/{id}/reject"),
    ("POST", "/api/v1/fulfillment-orders/{id}/resend-code"),
    ("POST", "/api/v1/fulfillment-orders/{id}/ship"),
    ("POST", "/api/v1/inventory/movements"),
    ("POST", "/api/v1/orders/{number}/cancel"),
    ("POST", "/api/v1/orders/{number}/lines/{line_id}/cancel"),
    ("POST", "/api/v1/pickups/{id}/arrived"),
    ("POST", "/api/v1/returns"),
    ("POST", "/api/v1/returns/{rma}/cancel"),
    ("POST", "/api/v1/returns/{rma}/complete"),
    ("POST", "/api/v1/returns/{rma}/inspect"),
    ("POST", "/api/v1/returns/{rma}/receive"),
    ("POST", "/api/v1/returns/{rma}/reject"),
    ("POST", "/api/v1/skus"),
    ("POST", "/api/v1/transfers"),
    ("POST", "/api/v1/transfers/{id}/{action}"),
}
WRITTEN: list[type[Model]] = [
    Order, OrderEvent, Reservation, Payment, PaymentTransaction, Return, StockMovement,
    PointsEntry, Customer, Sku, Transfer, OutboxEvent,
]  # fmt: skip
HUGE = 10**20


def test_every_write_operation_of_the_schema_has_a_row():
    assert set(WRITES) == COVERED


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for combined in ("allOf", "oneOf", "anyOf"):
        if combined in schema:
            return resolve(schema[combined][0])
    return schema


def shaped(schema: dict):
    """A body of the schema's shape, every property filled: the base each bad value goes in."""
    schema = resolve(schema)
    if "enum" in schema:
        return next(value for value in schema["enum"] if value is not None)
    kind = schema.get("type", "object")
    if kind == "object":
        return {name: shaped(prop) for name, prop in schema.get("properties", {}).items()}
    if kind == "array":
        return [shaped(schema.get("items", {}))]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if schema.get("format") == "decimal":
        return "1.00"
    return "x"


def leaves(value, path=()):
    if isinstance(value, dict):
        for name, inner in value.items():
            yield from leaves(inner, (*path, name))
    elif isinstance(value, list) and value:
        yield from leaves(value[0], (*path, 0))
    else:
        yield path, value


def replaced(body, path, new):
    body = json.loads(json.dumps(body))
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return body


def bad_values(value):
    """Values no field of that kind takes."""
    yield "object", {"x": 1}
    if isinstance(value, bool):
        yield "string", "maybe"
    elif isinstance(value, (int, float)) or (isinstance(value, str) and value == "1.00"):
        yield "huge", HUGE
        yield "hugely-negative", -HUGE
        yield "string", "many"
    elif isinstance(value, str):
        yield "nul", "a\x00b"
        yield "overlong", "x" * 20_000


def request_body_schema(method: str, path: str) -> dict | None:
    body = SCHEMA["paths"][path][method.lower()].get("requestBody")
    return body["content"]["application/json"]["schema"] if body else None


def bad_requests():
    """(id, method, path, body bytes) for every write: malformed JSON and wrong top-level
    types for each; then, where it takes a body, each property given bad values."""
    for method, path in WRITES:
        yield pytest.param(method, path, b'{"lines": [', id=f"{method} {path} malformed")
        schema = request_body_schema(method, path)
        if schema is None:
            continue
        yield pytest.param(method, path, b"[]", id=f"{method} {path} list")
        yield pytest.param(method, path, b'"x"', id=f"{method} {path} string")
        base = shaped(schema)
        for leaf, value in leaves(base):
            if not leaf:
                continue
            for name, bad in bad_values(value):
                body = json.dumps(replaced(base, leaf, bad)).encode()
                where = ".".join(str(step) for step in leaf)
                yield pytest.param(method, path, body, id=f"{method} {path} {where}={name}")


@pytest.fixture
def path_values(world) -> dict[str, str]:
    order = world["order"]
    return {
        "number": order.number,
        "line_id": str(order.lines.first().pk),
        "id": str(FulfillmentOrder.objects.filter(order=order).first().pk),
        "rma": "RMA-NOSUCH1",
        "action": "decline",
    }


def url_of(path: str, values: dict[str, str], *, customer_id: str) -> str:
    if path.startswith("/api/v1/customers/{id}"):
        values = {**values, "id": customer_id}
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in WRITTEN}


@pytest.mark.parametrize(("method", "path", "body"), list(bad_requests()))
def test_bad_input_is_a_400_with_field_errors_and_writes_nothing(
    method, path, body, world, role_headers, path_values
):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=role_headers["superuser"]["Authorization"])
    customer_id = str(world["order"].customer_id)
    before = counts()

    response = client.generic(
        method,
        url_of(path, path_values, customer_id=customer_id),
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )

    # No record: a 404, or the 400 of a body that is not JSON, read before the record.
    expected = {404, 400} if path in NO_RECORD else {400}
    assert response.status_code in expected, response.content
    answer = response.json()
    assert answer["code"]
    assert answer["detail"]
    if answer["code"] == "invalid":
        assert answer["errors"]
    assert counts() == before


@pytest.mark.parametrize(("method", "path"), [w for w in WRITES if w[1] not in NO_RECORD])
def test_a_body_over_the_size_limit_is_a_413_in_the_error_shape(
    method, path, world, role_headers, path_values, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=role_headers["superuser"]["Authorization"])
    before = counts()

    response = client.generic(
        method,
        url_of(path, path_values, customer_id=str(world["order"].customer_id)),
        json.dumps({"note": "x" * 20_000}),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )

    assert response.status_code == 413, response.content
    assert response.json()["code"] == "request_too_large"
    assert counts() == before


@pytest.mark.parametrize("field", ["price", "unit_price", "total"])
def test_a_checkout_line_with_its_own_price_is_refused(field, world, role_headers):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=role_headers["web"]["Authorization"])
    before = counts()

    response = client.post(
        "/api/v1/checkout",
        {
            "customer": {"email": "ada@example.com", "name": "Ada"},
            "channel": "web",
            "lines": [{"sku": "TEE-WHITE-M", "quantity": 1, field: "0.01"}],
            "delivery": {"method": "pickup", "location": "SH-XUHUI"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]["lines"]["0"]
    assert counts() == before
