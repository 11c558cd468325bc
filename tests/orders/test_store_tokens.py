"""A store token is bound to its store: it acts as that store's associates may, no further."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from common.tokens import channel_user_get_or_create
from orders.models import Order
from tests.factories import api_client_for, channel_client
from tests.orders.factories import body, pickup_at, post_checkout, stock_put


@pytest.fixture
def stocked(xuhui, pudong, tee):
    for location in (xuhui, pudong):
        stock_put(location=location, sku=tee, on_hand=10)


def pickup(client, location) -> dict:
    response = post_checkout(client, body([("TEE-WHITE-M", 1)], delivery=pickup_at(location)))
    assert response.status_code == 201, response.content
    return response.json()


def sale(client, location):
    payload = body([("TEE-WHITE-M", 1)], channel="store", delivery=pickup_at(location, "carry_out"))
    return post_checkout(client, payload)


def issue_token(*args: str) -> str:
    out = StringIO()
    call_command("issue_token", *args, stdout=out)
    return out.getvalue().strip()


def test_another_stores_token_cannot_cancel_an_order_this_store_took(xuhui, pudong, stocked):
    payload = body([("TEE-WHITE-M", 1)], channel="store", delivery=pickup_at(xuhui))
    order = post_checkout(channel_client("store", location=xuhui), payload).json()

    refused = channel_client("store", location=pudong).post(
        f"/api/v1/orders/{order['number']}/cancel", {}, format="json"
    )
    allowed = channel_client("store", location=xuhui).post(
        f"/api/v1/orders/{order['number']}/cancel", {}, format="json"
    )

    assert refused.status_code == 403, refused.content
    assert allowed.status_code == 200, allowed.content
    assert Order.objects.get(number=order["number"]).status == Order.Status.CANCELLED


def test_a_store_token_lists_its_stores_orders_not_another_stores(web, xuhui, pudong, stocked):
    here, there = pickup(web, xuhui), pickup(web, pudong)

    listed = channel_client("store", location=xuhui).get("/api/v1/orders").json()["results"]

    assert [order["number"] for order in listed] == [here["number"]]
    assert there["number"] not in {order["number"] for order in listed}


def test_a_store_token_sells_at_its_own_till_only(xuhui, pudong, stocked):
    till = channel_client("store", location=xuhui)

    own, other = sale(till, xuhui), sale(till, pudong)

    assert own.status_code == 201, own.content
    assert other.status_code == 403, other.content
    assert list(Order.objects.values_list("store__code", flat=True)) == ["SH-XUHUI"]


def test_a_store_token_bound_to_no_store_is_refused_and_writes_nothing(xuhui, stocked):
    unbound = api_client_for(channel_user_get_or_create(channel="store"), channel="store")

    response = sale(unbound, xuhui)

    assert response.status_code == 403
    assert "--location" in response.json()["detail"]
    assert unbound.get("/api/v1/orders").json()["results"] == []
    assert not Order.objects.exists()


def test_issue_token_binds_a_store_token_to_the_store_it_names(xuhui, stocked):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {issue_token('--channel', 'store', '--location', 'SH-XUHUI')}"
    )

    response = sale(client, xuhui)

    assert response.status_code == 201, response.content
    assert Order.objects.get().store == xuhui


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--channel", "store"], "--location", id="no-store"),
        pytest.param(
            ["--channel", "store", "--location", "DC-KUNSHAN"],
            "not the code of a store",
            id="warehouse",
        ),
        pytest.param(
            ["--channel", "store", "--location", "NOWHERE"], "not the code of a store", id="unknown"
        ),
        pytest.param(["--channel", "web", "--location", "SH-XUHUI"], "--location names", id="web"),
    ],
)
def test_issue_token_refuses_a_store_token_without_a_store(kunshan, args, message):
    with pytest.raises(CommandError, match=message):
        issue_token(*args)
