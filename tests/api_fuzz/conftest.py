"""The API as every kind of caller sees it, for the schema-driven tests: a small world (stores,
a warehouse, goods on the shelf, an order ready at a store) and a token of each role."""

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from stores.models import StaffMembership
from tests.factories import channel_client, place_order, staff_client
from tests.inventory.factories import stock_put

# Every caller the API knows, by name; "anonymous" sends no token.
ROLES = ["anonymous", "web", "app", "store", "associate", "manager", "other_store", "superuser"]


@pytest.fixture
def world(xuhui, pudong, kunshan, tee, mug, django_capture_on_commit_callbacks):
    """Goods on the shelf at every location and one pickup order at Xuhui, its fulfillment
    order created (the order's released work run)."""
    for location in (xuhui, pudong, kunshan):
        for sku in (tee, mug):
            stock_put(location=location, sku=sku, on_hand=50)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order([(tee, 1)], method="pickup", location=xuhui)
    return {"xuhui": xuhui, "pudong": pudong, "order": order}


@pytest.fixture
def role_headers(world, django_user_model) -> dict[str, dict[str, str]]:
    """The Authorization header of each role: the web and app channels, Xuhui's store token,
    an associate and a manager of Xuhui, an associate of Pudong and a superuser."""
    from tests.factories import api_client_for

    superuser = django_user_model.objects.create_superuser(username="root-fuzz")
    clients = {
        "web": channel_client("web"),
        "app": channel_client("app"),
        "store": channel_client("store", location=world["xuhui"]),
        "associate": staff_client(world["xuhui"]),
        "manager": staff_client(world["xuhui"], role=StaffMembership.Role.MANAGER),
        "other_store": staff_client(world["pudong"]),
        "superuser": api_client_for(superuser),
    }
    headers = {"anonymous": {}}
    for role, client in clients.items():
        headers[role] = {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}
    return headers


@pytest.fixture
def in_process_app(settings):
    """Django's WSGI application, called in the test's own database transaction: as Django's
    test client does, requests do not close the test's connection."""
    from django.core.wsgi import get_wsgi_application

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
