import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView


def _views(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            view_class = getattr(pattern.callback, "cls", None)
            if view_class is not None and issubclass(view_class, APIView):
                yield prefix + str(pattern.pattern), view_class


def test_every_api_view_declares_its_permission_explicitly():
    missing = [
        route
        for route, view in _views(get_resolver().url_patterns)
        if route.startswith("api/v1/")
        and not any(
            "permission_classes" in vars(klass) for klass in view.__mro__ if klass is not APIView
        )
    ]

    assert missing == []


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/locations" in schema.content
    assert client.get("/api/docs/").status_code == 200


RETURN_ENDPOINTS = [
    ("get", "/api/v1/returns"),
    ("post", "/api/v1/returns"),
    ("get", "/api/v1/returns/RMA23456789"),
    ("post", "/api/v1/returns/RMA23456789/receive"),
    ("post", "/api/v1/returns/RMA23456789/inspect"),
    ("post", "/api/v1/returns/RMA23456789/reject"),
    ("post", "/api/v1/returns/RMA23456789/complete"),
    ("post", "/api/v1/returns/RMA23456789/cancel"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url"), RETURN_ENDPOINTS)
def test_returns_endpoints_refuse_anonymous_callers(client, method, url):
    response = getattr(client, method)(url, content_type="application/json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["receive", "inspect", "reject", "complete"])
def test_only_store_staff_handle_returns_at_a_counter(action):
    from tests.factories import channel_client

    response = channel_client("web").post(f"/api/v1/returns/RMA23456789/{action}", {},
                                          format="json")  # fmt: skip

    assert response.status_code == 403


def test_schema_documents_the_returns_api(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()

    for path in ("/api/v1/returns", "/api/v1/returns/{rma}/inspect"):
        assert path in schema
    assert "ReturnOpenInput" in schema


# Who may call the customers API: channel clients and staff of any location look customers
# up; a plain account (a customer's own login) and anonymous callers may not.
CUSTOMER_ENDPOINTS = [
    ("get", "/api/v1/customers?email=ada@example.com"),
    ("get", "/api/v1/customers/{id}"),
    ("post", "/api/v1/customers/enrol"),
    ("get", "/api/v1/customers/{id}/points"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), CUSTOMER_ENDPOINTS)
@pytest.mark.parametrize(
    ("caller", "allowed"),
    [("anonymous", 401), ("plain", 403), ("channel", None), ("staff", None), ("superuser", None)],
)
def test_customer_endpoints_are_for_channels_and_staff(method, path, caller, allowed, xuhui):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from tests.factories import api_client_for, channel_client, staff_client
    from tests.orders.factories import CustomerFactory

    ada = CustomerFactory(email="ada@example.com")
    users = get_user_model().objects
    client = {
        "anonymous": APIClient,
        "plain": lambda: api_client_for(users.create_user("plain")),
        "channel": lambda: channel_client("web"),
        "staff": lambda: staff_client(xuhui),
        "superuser": lambda: api_client_for(users.create_superuser("root", "r@example.com")),
    }[caller]()

    response = getattr(client, method)(path.format(id=ada.pk), {"email": "ada@example.com"})

    if allowed is not None:
        assert response.status_code == allowed
    else:
        assert response.status_code in {200, 404}  # 404: by id, a customer they do not serve


def test_the_customers_api_is_in_the_schema(client):
    schema = client.get("/api/schema/").content

    assert b"/api/v1/customers/{id}" in schema
    assert b"PointsSummaryOutput" in schema


def test_a_customers_points_need_staff_or_a_channel_and_adjusting_a_manager(api_client, db):
    from customers.models import Customer

    customer = Customer.objects.create(email="ada@example.com")
    ledger = f"/api/v1/customers/{customer.pk}/points"

    assert api_client.get(ledger).status_code == 401
    assert api_client.post(f"{ledger}/adjust", {}, format="json").status_code == 401
