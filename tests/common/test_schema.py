"""The OpenAPI schema describes what the API really takes and answers."""

import pytest
import yaml
from django.core.management import call_command

from fulfillment.staff_actions import STAFF_ACTIONS


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    """The schema as `manage.py spectacular` writes it, which fails on any warning."""
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def operation(schema: dict, method: str, path: str) -> dict:
    return schema["paths"][path][method]


def request_schema(op: dict) -> str | None:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    return body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1] or None


def response_schema(op: dict, code: str) -> str:
    body = op["responses"][code]["content"]["application/json"]["schema"]
    return body["$ref"].rsplit("/", 1)[-1]


def test_it_documents_checkouts_errors_besides_its_201(schema):
    checkout = operation(schema, "post", "/api/v1/checkout")

    assert request_schema(checkout) == "CheckoutInput"
    assert set(checkout["responses"]) == {
        "201", "400", "401", "403", "409", "413", "415", "422", "429"
    }  # fmt: skip
    assert response_schema(checkout, "201") == "OrderOutput"
    assert response_schema(checkout, "400") == "InvalidOutput"
    for code in ("401", "403", "409", "413", "415", "422", "429"):
        assert response_schema(checkout, code) == "ErrorOutput"


def test_it_documents_each_fulfillment_actions_own_body(schema):
    bodies = {
        name: request_schema(operation(schema, "post", f"/api/v1/fulfillment-orders/{{id}}/{name}"))
        for name in STAFF_ACTIONS
    }

    assert bodies == {
        "accept": None,
        "reject": "RejectInput",
        "pick": None,
        "pack": None,
        "ship": "ShipInput",
        "ready": None,
        "handover": "HandoverInput",
        "receive": None,
        "resend-code": None,
    }


def test_it_documents_the_one_error_shape_on_every_operation(schema):
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/"):
            continue  # /healthz answers its own checks, 503 included
        for method, op in operations.items():
            errors = [code for code in op["responses"] if code >= "400" and code != "503"]
            assert errors, f"{method} {path} documents no error"
            for code in errors:
                assert response_schema(op, code) in {"ErrorOutput", "InvalidOutput"}, (
                    method,
                    path,
                    code,
                )


def test_the_error_shape_is_code_and_detail(schema):
    error = schema["components"]["schemas"]["ErrorOutput"]

    assert error["required"] == ["code", "detail"]
    assert "errors" in schema["components"]["schemas"]["InvalidOutput"]["properties"]


def test_reads_document_no_conflict_and_writes_do(schema):
    assert "409" not in operation(schema, "get", "/api/v1/orders/{number}")["responses"]
    assert "404" in operation(schema, "get", "/api/v1/orders/{number}")["responses"]
    assert "409" in operation(schema, "post", "/api/v1/orders/{number}/cancel")["responses"]
    assert "413" in operation(schema, "post", "/api/v1/inventory/movements")["responses"]
