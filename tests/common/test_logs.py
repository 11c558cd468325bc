"""JSON log lines: every line of a request or a task names its request id and its order."""

import io
import json
import logging
from contextlib import contextmanager

import pytest

from common.logging import JsonFormatter
from fulfillment.models import FulfillmentOrder
from tests.conftest import wait_until
from tests.factories import new_key
from tests.inventory.factories import stock_put
from tests.orders.factories import pickup_at


@contextmanager
def console_output():
    """What the configured console handler (JSON formatter, context filter) writes."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def checkout_body(sku, location) -> dict:
    return {
        "customer": {"email": "ada@example.com", "name": "Ada"},
        "channel": "web",
        "lines": [{"sku": sku.code, "quantity": 1}],
        "delivery": pickup_at(location),
    }


def test_a_record_is_one_json_object_with_its_fields_and_extras():
    record = logging.LogRecord("orders.x", logging.WARNING, __file__, 1, "%s left", ("two",), None)
    record.request_id, record.order, record.location = "r-1", "OM-1", "SH-XUHUI"

    entry = json.loads(JsonFormatter().format(record))

    assert entry["level"] == "WARNING"
    assert entry["logger"] == "orders.x"
    assert entry["message"] == "two left"
    assert (entry["request_id"], entry["order"], entry["location"]) == ("r-1", "OM-1", "SH-XUHUI")
    assert entry["time"].endswith("+00:00")


def test_every_log_line_of_a_checkout_names_its_request_id_and_its_order(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)

    with console_output() as output:
        response = web.post(
            "/api/v1/checkout",
            checkout_body(tee, xuhui),
            format="json",
            HTTP_IDEMPOTENCY_KEY=new_key(),
            HTTP_X_REQUEST_ID="storefront-7f3a",
        )

    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == "storefront-7f3a"
    lines = json_lines(output.getvalue())
    placed = [line for line in lines if line["message"].endswith(" placed")]
    assert placed, lines
    assert all(line["request_id"] == "storefront-7f3a" for line in lines)
    assert placed[0]["order"] == response.json()["number"]
    assert {"time", "level", "logger", "message"} <= set(placed[0])


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 300, "bad\u00e9"])
@pytest.mark.django_db
def test_a_request_without_a_sane_request_id_gets_a_new_one(api_client, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}

    first = api_client.get("/healthz", **headers)["X-Request-ID"]
    second = api_client.get("/healthz", **headers)["X-Request-ID"]

    assert len(first) == 32
    assert first != second
    assert first != sent


@pytest.mark.worker
def test_the_workers_release_logs_json_lines_with_the_checkouts_request_id_and_order(
    orders_worker, web, xuhui, tee
):
    stock_put(location=xuhui, sku=tee, on_hand=5)

    response = web.post(
        "/api/v1/checkout",
        checkout_body(tee, xuhui),
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
        HTTP_X_REQUEST_ID="storefront-release-1",
    )
    number = response.json()["number"]
    wait_until(lambda: FulfillmentOrder.objects.filter(order__number=number).exists())

    def release_line():
        lines = [
            json.loads(line)
            for line in orders_worker.log_path.read_text().splitlines()
            if line.startswith("{")
        ]
        return next((line for line in lines if "released" in line["message"]), None)

    line = wait_until(release_line)
    assert line["order"] == number
    assert line["request_id"] == "storefront-release-1"
    assert line["logger"] == "fulfillment.services.routing"
