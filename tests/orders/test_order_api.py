"""Who may place, see and change which orders through the API."""

import pytest

from orders.models import Order
from tests.factories import channel_client, staff_client
from tests.orders.factories import body, level_of, pickup_at, post_checkout, stock_put


@pytest.fixture
def stocked(xuhui, pudong, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)
    stock_put(location=pudong, sku=tee, on_hand=10)


def place(client, location, *, channel="web", email="ada@example.com", method="pickup"):
    response = post_checkout(
        client,
        body(
            [("TEE-WHITE-M", 1)],
            delivery=pickup_at(location, method=method),
            channel=channel,
            email=email,
        ),
    )
    assert response.status_code == 201, response.content
    return response.json()["number"]


# --- placing ------------------------------------------------------------------------------


def test_web_client_cannot_place_an_app_order(web, xuhui, tee, stocked):
    response = post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui), channel="app"))

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not Order.objects.exists()
    assert level_of(xuhui, tee).reserved == 0


def test_staff_place_store_orders_only(xuhui, tee, stocked):
    response = post_checkout(
        staff_client(xuhui), body([(tee, 1)], delivery=pickup_at(xuhui), channel="web")
    )

    assert response.status_code == 403
    assert not Order.objects.exists()


def test_staff_cannot_sell_at_a_store_they_do_not_work_at(xuhui, pudong, tee, stocked):
    sale = body(
        [(tee, 1)], channel="store", delivery={"method": "carry_out", "location": "SH-PUDONG"}
    )

    response = post_checkout(staff_client(xuhui), sale)

    assert response.status_code == 403
    assert level_of(pudong, tee).on_hand == 10


def test_staff_without_a_store_cannot_place_orders(xuhui, tee, stocked):
    sale = body(
        [(tee, 1)], channel="store", delivery={"method": "carry_out", "location": "SH-XUHUI"}
    )

    response = post_checkout(staff_client(), sale)

    assert response.status_code == 403
    assert level_of(xuhui, tee).on_hand == 10


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/checkout"),
        ("get", "/api/v1/orders"),
        ("get", "/api/v1/orders/OM22222222"),
        ("get", "/api/v1/orders/OM22222222/timeline"),
        ("post", "/api/v1/orders/OM22222222/cancel"),
        ("post", "/api/v1/orders/OM22222222/lines/1/cancel"),
    ],
)
def test_unauthenticated_requests_are_401(api_client, method, path):
    response = getattr(api_client, method)(path, {}, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_revoked_or_unknown_token_is_401(api_client, xuhui, tee, stocked):
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    response = post_checkout(api_client, body([(tee, 1)], delivery=pickup_at(xuhui)))

    assert response.status_code == 401
    assert not Order.objects.exists()


# --- seeing -------------------------------------------------------------------------------


def test_channel_sees_its_orders_and_not_another_channels_order_of_a_stranger(web, xuhui, stocked):
    app = channel_client("app")
    ours = place(web, xuhui, email="ada@example.com")
    theirs = place(app, xuhui, channel="app", email="bob@example.com")

    listed = web.get("/api/v1/orders").json()

    assert [order["number"] for order in listed["results"]] == [ours]
    assert web.get(f"/api/v1/orders/{ours}").status_code == 200
    for path in (f"/api/v1/orders/{theirs}", f"/api/v1/orders/{theirs}/timeline"):
        response = web.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert web.post(f"/api/v1/orders/{theirs}/cancel", {}, format="json").status_code == 404
    assert Order.objects.get(number=theirs).status == Order.Status.PLACED


def test_channel_sees_the_other_orders_of_its_own_customers_but_cannot_change_them(
    web, xuhui, stocked
):
    app = channel_client("app")
    place(web, xuhui, email="ada@example.com")
    on_app = place(app, xuhui, channel="app", email="ada@example.com")

    seen = web.get(f"/api/v1/orders/{on_app}")
    cancel = web.post(f"/api/v1/orders/{on_app}/cancel", {}, format="json")

    assert seen.status_code == 200
    assert seen.json()["channel"] == "app"
    assert cancel.status_code == 403
    assert Order.objects.get(number=on_app).status == Order.Status.PLACED


def test_unknown_order_is_404(web):
    response = web.get("/api/v1/orders/OMNOSUCH1")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_order_detail_shows_the_order_as_checkout_answered(web, xuhui, tee, stocked):
    placed = post_checkout(web, body([(tee, 2)], delivery=pickup_at(xuhui))).json()

    shown = web.get(f"/api/v1/orders/{placed['number']}").json()

    assert shown == placed


def test_order_list_is_paginated_newest_first_and_filters(web, xuhui, stocked):
    first = place(web, xuhui)
    second = place(web, xuhui, method="curbside")
    web.post(f"/api/v1/orders/{first}/cancel", {}, format="json")

    everything = web.get("/api/v1/orders").json()
    cancelled = web.get("/api/v1/orders", {"status": "cancelled"}).json()
    paged = web.get("/api/v1/orders", {"limit": 1}).json()

    assert set(everything) == {"count", "next", "previous", "results"}
    assert [o["number"] for o in everything["results"]] == [second, first]
    assert [o["number"] for o in cancelled["results"]] == [first]
    assert (paged["count"], len(paged["results"]), paged["next"] is not None) == (2, 1, True)
    summary = everything["results"][0]
    assert (summary["delivery_method"], summary["pickup_location"]) == ("curbside", "SH-XUHUI")


# --- changing: store staff ----------------------------------------------------------------


def test_staff_may_cancel_a_pickup_at_their_store_but_not_at_another(
    web, xuhui, pudong, tee, stocked
):
    at_xuhui = place(web, xuhui)
    at_pudong = place(web, pudong)
    xuhui_staff = staff_client(xuhui)

    refused = xuhui_staff.post(f"/api/v1/orders/{at_pudong}/cancel", {}, format="json")
    allowed = xuhui_staff.post(f"/api/v1/orders/{at_xuhui}/cancel", {}, format="json")

    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert Order.objects.get(number=at_pudong).status == Order.Status.PLACED
    assert level_of(pudong, tee).reserved == 1
    assert allowed.status_code == 200
    assert allowed.json()["status"] == "cancelled"
    assert level_of(xuhui, tee).reserved == 0


def test_staff_line_cancel_at_another_store_is_403(web, xuhui, pudong, tee, stocked):
    number = place(web, pudong)
    line_id = Order.objects.get(number=number).lines.get().pk

    response = staff_client(xuhui).post(
        f"/api/v1/orders/{number}/lines/{line_id}/cancel", {"quantity": 1}, format="json"
    )

    assert response.status_code == 403
    assert level_of(pudong, tee).reserved == 1


def test_staff_list_shows_orders_touching_their_store_only(web, xuhui, pudong, stocked):
    at_xuhui = place(web, xuhui, email="a@example.com")
    place(web, pudong, email="b@example.com")

    listed = staff_client(xuhui).get("/api/v1/orders").json()

    assert [o["number"] for o in listed["results"]] == [at_xuhui]
