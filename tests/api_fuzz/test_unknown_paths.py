"""An unknown path under /api/ answers the API's JSON 404 whatever the method, with DEBUG on
as well as off, with or without a token, and without a CSRF token for a POST."""

import pytest
from django.test import Client

from tests.factories import staff_client

METHODS = ["get", "post", "put", "patch", "delete", "options", "head"]
UNKNOWN = [
    "/api/v1/no-such-thing",
    "/api/v2/orders",
    "/api/",
    "/api/v1/orders/OM2222222%00",
    "/api/v1/orders/not-an-order/cancel",
    "/api/v1/fulfillment-orders/1/dance",
    "/api/v1/fulfillment-orders/not-a-number/accept",
    "/api/v1/returns/%00/receive",
    "/api/v1/customers/abc",
]


def assert_json_404(response, method: str) -> None:
    assert response.status_code == 404, (method, response.content)
    assert response["Content-Type"].startswith("application/json")
    if method != "head":
        assert response.json()["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", UNKNOWN)
def test_an_unknown_api_path_is_a_json_404_for_staff(settings, xuhui, debug, method, path):
    settings.DEBUG = debug
    client = staff_client(xuhui)

    response = getattr(client, method)(path)

    assert_json_404(response, method)


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize("method", METHODS)
def test_an_unknown_api_path_is_a_json_404_without_a_token_or_csrf(settings, debug, method):
    settings.DEBUG = debug
    client = Client(enforce_csrf_checks=True)

    response = getattr(client, method)("/api/v1/no-such-thing", content_type="application/json")

    assert_json_404(response, method)
