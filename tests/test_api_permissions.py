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


def test_a_customers_points_need_staff_or_a_channel_and_adjusting_a_manager(api_client, db):
    from customers.models import Customer

    customer = Customer.objects.create(email="ada@example.com")
    ledger = f"/api/v1/customers/{customer.pk}/points"

    assert api_client.get(ledger).status_code == 401
    assert api_client.post(f"{ledger}/adjust", {}, format="json").status_code == 401
