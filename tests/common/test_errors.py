"""Whatever goes wrong, an API client reads the API's error shape, never an HTML page."""

import pytest
from django.test import Client

from orders.models import Order
from tests.factories import channel_client


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/v2/orders", "/api/"])
def test_unknown_api_path_is_json_404_with_debug_on_too(client, settings, path):
    settings.DEBUG = True

    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.django_db
def test_unknown_page_outside_the_api_is_django_404_page(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.urls("tests.common.failing_urls")
def test_a_bug_behind_the_api_is_a_json_500():
    response = Client(raise_request_exception=False).get("/api/v1/broken")

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


@pytest.mark.django_db
def test_a_body_over_the_size_limit_is_a_json_413_and_writes_nothing(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    lines = [{"sku": "TEE-WHITE-M", "quantity": 1}] * 1_000
    payload = {"channel": "web", "lines": lines, "delivery": {"method": "pickup"}}

    response = channel_client("web").post(
        "/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY="big-1"
    )

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert not Order.objects.exists()
