"""POST /api/v1/checkout end to end: every delivery method, shortages and bad input."""

import pytest
from django.conf import settings

from common.models import IdempotencyRecord
from customers.models import Customer
from inventory.models import Reservation, StockLevel
from orders.models import Order
from stores.geo import haversine_km
from tests.factories import XUHUI, assert_stock_consistent, channel_client, staff_client, timeline
from tests.orders.factories import (
    LocationFactory,
    availability_at,
    body,
    level_of,
    pickup_at,
    post_checkout,
    ship_to,
    stock_put,
)


def held(line: dict) -> list[dict]:
    return [{"location": r["location"], "quantity": r["quantity"]} for r in line["reservations"]]


# --- at a store ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pickup", "curbside"])
def test_pickup_and_curbside_checkout_hold_the_stock_at_the_chosen_store(
    web, xuhui, pudong, tee, mug, method
):
    for store in (xuhui, pudong):
        stock_put(location=store, sku=tee, on_hand=5)
        stock_put(location=store, sku=mug, on_hand=5)

    response = post_checkout(
        web, body([(tee, 2), (mug, 1)], delivery={"method": method, "location": "SH-XUHUI"})
    )

    assert response.status_code == 201, response.content
    order = response.json()
    assert order["status"] == "placed"
    assert order["delivery"] == {"method": method, "location": "SH-XUHUI"}
    assert order["total"] == "233.50"  # 2 x 99.00 + 35.50, no shipping
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in order["lines"]] == [
        ("TEE-WHITE-M", 2, "99.00"),
        ("MUG-BLUE", 1, "35.50"),
    ]
    assert [held(line) for line in order["lines"]] == [
        [{"location": "SH-XUHUI", "quantity": 2}],
        [{"location": "SH-XUHUI", "quantity": 1}],
    ]
    assert Order.objects.filter(number=order["number"]).exists()
    tee_here = availability_at(web, tee, xuhui)
    assert (tee_here["on_hand"], tee_here["reserved"], tee_here["available"]) == (5, 2, 3)
    assert availability_at(web, mug, xuhui)["available"] == 4
    assert availability_at(web, tee, pudong)["available"] == 5, "the other store keeps its stock"
    assert timeline(order["number"], client=web) == ["placed", "routed", "reserved"]


# --- ship ---------------------------------------------------------------------------------


def test_ship_checkout_reserves_at_the_nearest_location_and_charges_shipping(
    web, xuhui, pudong, tee
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=5)
    lujiazui = (31.2352, 121.5055)  # a few hundred metres from the Pudong store

    response = post_checkout(web, body([(tee, 1)], delivery=ship_to(*lujiazui)))

    assert response.status_code == 201, response.content
    order = response.json()
    assert order["status"] == "placed"
    assert order["delivery"]["method"] == "ship"
    assert order["delivery"]["address"]["city"] == "Shanghai"
    address = order["delivery"]["address"]
    assert (address["latitude"], address["longitude"]) == lujiazui
    assert order["shipping_total"] == settings.OMS_SHIPPING_FEE
    assert order["total"] == "114.00"  # 99.00 + 15.00 shipping below the free threshold
    assert [held(line) for line in order["lines"]] == [[{"location": "SH-PUDONG", "quantity": 1}]]
    assert (level_of(pudong, tee).reserved, level_of(xuhui, tee).reserved) == (1, 0)
    assert timeline(order["number"], client=web) == ["placed", "routed", "reserved"]


@pytest.mark.parametrize(
    ("postcode", "city", "expected"),
    [
        ("200030", "Shanghai", "SH-XUHUI"),  # the Xuhui store's postcode
        ("200120", "Shanghai", "SH-PUDONG"),
        ("", "Kunshan", "DC-KUNSHAN"),  # no postcode: the centre of the city's locations
    ],
)
def test_ship_to_an_address_without_coordinates_uses_its_postcode_or_city(
    web, xuhui, pudong, kunshan, tee, postcode, city, expected
):
    for location in (xuhui, pudong, kunshan):
        stock_put(location=location, sku=tee, on_hand=5)
    delivery = {
        "method": "ship",
        "address": {"line1": "8 Some Road", "city": city, "postcode": postcode, "country": "CN"},
    }

    response = post_checkout(web, body([(tee, 1)], delivery=delivery))

    assert response.status_code == 201, response.content
    order = response.json()
    assert [held(line) for line in order["lines"]] == [[{"location": expected, "quantity": 1}]]
    assert {"latitude", "longitude"} <= set(order["delivery"]["address"])


def test_ship_to_a_place_we_do_not_serve_without_coordinates_is_400(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    delivery = {"method": "ship", "address": {"line1": "1 Barkhor St", "city": "Lhasa"}}

    response = post_checkout(web, body([(tee, 1)], delivery=delivery))

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "latitude" in response.json()["errors"]["delivery"]["address"]
    assert not Order.objects.exists()


# --- in-store sale ------------------------------------------------------------------------


def test_in_store_sale_by_store_staff_is_fulfilled_at_once_and_leaves_the_shelf(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    cashier = staff_client(xuhui)
    sale = body(
        [(tee, 2)],
        channel="store",
        delivery={"method": "carry_out", "location": "SH-XUHUI"},
        email=None,
        phone="138 0013 8000",
    )

    response = post_checkout(cashier, sale)

    assert response.status_code == 201, response.content
    order = response.json()
    assert order["status"] == "fulfilled"
    assert order["delivery"] == {"method": "carry_out", "location": "SH-XUHUI"}
    assert order["customer"]["phone"] == "+8613800138000"
    [line] = order["lines"]
    assert line["quantity_fulfilled"] == 2
    assert held(line) == [{"location": "SH-XUHUI", "quantity": 2}]
    level = level_of(xuhui, tee)
    assert (level.on_hand, level.reserved) == (3, 0)
    assert availability_at(cashier, tee, xuhui)["on_hand"] == 3
    events = cashier.get(f"/api/v1/orders/{order['number']}/timeline").json()["results"]
    assert [event["kind"] for event in events] == ["placed", "routed", "reserved", "fulfilled"]
    assert events[0]["actor"] == cashier.user.username
    assert events[0]["location"] == "SH-XUHUI"
    assert_stock_consistent()


def test_in_store_sale_with_a_store_channel_token_is_fulfilled(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=1)
    store_app = channel_client("store", location=xuhui)
    sale = body(
        [(tee, 1)], channel="store", delivery={"method": "carry_out", "location": "SH-XUHUI"}
    )

    response = post_checkout(store_app, sale)

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "fulfilled"
    assert (level_of(xuhui, tee).on_hand, level_of(xuhui, tee).reserved) == (0, 0)
    assert timeline(response.json()["number"], client=store_app)[-1] == "fulfilled"


# --- shortage -----------------------------------------------------------------------------


def _store_at(code: str, north_km: float, **fields):
    """A pickup store `north_km` north of Xuhui (one degree of latitude is ~111.2 km)."""
    return LocationFactory(
        code=code,
        latitude=XUHUI["latitude"] + north_km / 111.195,
        longitude=XUHUI["longitude"],
        **fields,
    )


def test_pickup_shortage_is_409_with_what_is_available_and_the_nearest_stores_with_everything(
    web, xuhui, tee, mug
):
    stock_put(location=xuhui, sku=tee, on_hand=1)
    stock_put(location=xuhui, sku=mug, on_hand=9)
    stocked = [_store_at(f"SH-ALT-{n}", north_km=2 * n) for n in range(1, 8)]
    near_but_no_pickup = _store_at("SH-NO-PICKUP", north_km=0.5, can_pickup=False)
    near_but_closed = _store_at("SH-CLOSED", north_km=0.6, is_active=False)
    near_but_short = _store_at("SH-SHORT", north_km=0.7)
    for store in [*stocked, near_but_no_pickup, near_but_closed]:
        stock_put(location=store, sku=tee, on_hand=3)
        stock_put(location=store, sku=mug, on_hand=3)
    stock_put(location=near_but_short, sku=tee, on_hand=3)  # no mugs there

    response = post_checkout(web, body([(tee, 2), (mug, 1)], delivery=pickup_at(xuhui)))

    assert response.status_code == 409, response.content
    problem = response.json()
    assert problem["code"] == "insufficient_stock"
    assert problem["lines"] == [{"sku": "TEE-WHITE-M", "requested": 2, "available": 1}]
    assert [alt["location"] for alt in problem["alternatives"]] == [
        "SH-ALT-1",
        "SH-ALT-2",
        "SH-ALT-3",
        "SH-ALT-4",
        "SH-ALT-5",
    ]
    first = problem["alternatives"][0]
    assert first["distance_km"] == pytest.approx(
        haversine_km(xuhui.latitude, xuhui.longitude, stocked[0].latitude, stocked[0].longitude),
        abs=0.01,
    )
    assert first["distance_km"] == pytest.approx(2, abs=0.05)


def test_ship_shortage_is_409_with_the_stock_of_every_location_added_up(web, xuhui, pudong, tee):
    stock_put(location=xuhui, sku=tee, on_hand=2)
    stock_put(location=pudong, sku=tee, on_hand=3)

    response = post_checkout(web, body([(tee, 6)], delivery=ship_to(31.23, 121.47)))

    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert response.json()["lines"] == [{"sku": "TEE-WHITE-M", "requested": 6, "available": 5}]


def test_shortage_leaves_nothing_behind(web, xuhui, tee, mug):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=xuhui, sku=mug, on_hand=1)
    post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui)))
    before = list(StockLevel.objects.order_by("pk").values_list("on_hand", "reserved"))
    customers = Customer.objects.count()

    response = post_checkout(
        web, body([(tee, 3), (mug, 2)], delivery=pickup_at(xuhui), email="new@example.com")
    )

    assert response.status_code == 409
    assert list(StockLevel.objects.order_by("pk").values_list("on_hand", "reserved")) == before
    assert Order.objects.count() == 1
    assert Reservation.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert Customer.objects.count() == customers
    assert availability_at(web, tee, xuhui)["available"] == 4
    assert_stock_consistent()


# --- bad input ----------------------------------------------------------------------------


def _error_at(errors, *path):
    """The error at `path` in DRF's nested errors (lists may come as {"0": ...} dicts)."""
    for step in path:
        if isinstance(errors, dict):
            errors = errors[str(step)] if str(step) in errors else errors[step]
        else:
            errors = errors[step]
    return errors


XUHUI_PICKUP = {"method": "pickup", "location": "SH-XUHUI"}
TEE = "TEE-WHITE-M"


@pytest.mark.parametrize(
    ("lines", "delivery", "extra", "where"),
    [
        pytest.param([("NO-SUCH-SKU", 1)], XUHUI_PICKUP, {}, ("lines", 0, "sku"), id="unknown-sku"),
        pytest.param([(TEE, 0)], XUHUI_PICKUP, {}, ("lines", 0, "quantity"), id="zero"),
        pytest.param([(TEE, -2)], XUHUI_PICKUP, {}, ("lines", 0, "quantity"), id="negative"),
        pytest.param(
            [(TEE, settings.OMS_MAX_LINE_QUANTITY + 1)],
            XUHUI_PICKUP,
            {},
            ("lines", 0, "quantity"),
            id="absurd-quantity",
        ),
        pytest.param([(TEE, 1), (TEE, 2)], XUHUI_PICKUP, {}, ("lines", 1, "sku"), id="duplicate"),
        pytest.param([], XUHUI_PICKUP, {}, ("lines",), id="no-lines"),
        pytest.param(
            [(TEE, 1)],
            {"method": "pickup", "location": "NOWHERE"},
            {},
            ("delivery", "location"),
            id="unknown-location",
        ),
        pytest.param(
            [(TEE, 1)],
            {"method": "pickup", "location": "SH-CLOSED"},
            {},
            ("delivery", "location"),
            id="closed-location",
        ),
        pytest.param(
            [(TEE, 1)],
            {"method": "pickup", "location": "SH-NO-PICKUP"},
            {},
            ("delivery", "location"),
            id="pickup-not-offered",
        ),
        pytest.param(
            [(TEE, 1)],
            {"method": "curbside", "location": "SH-NO-PICKUP"},
            {},
            ("delivery", "location"),
            id="curbside-not-offered",
        ),
        pytest.param(
            [(TEE, 1)], {"method": "ship"}, {}, ("delivery", "address"), id="ship-without-address"
        ),
        pytest.param(
            [(TEE, 1)],
            {"method": "carry_out", "location": "SH-XUHUI"},
            {"channel": "web"},
            ("delivery", "method"),
            id="carry-out-on-the-web",
        ),
        pytest.param(
            [(TEE, 1)],
            XUHUI_PICKUP,
            {"email": None, "phone": None},
            ("customer", "email"),
            id="no-email-or-phone",
        ),
        pytest.param(
            [(TEE, 1)], XUHUI_PICKUP, {"phone": "12345"}, ("customer", "phone"), id="bad-phone"
        ),
    ],
)
def test_bad_checkout_is_400_with_field_errors_and_places_nothing(
    web, xuhui, tee, lines, delivery, extra, where
):
    LocationFactory(code="SH-CLOSED", is_active=False)
    LocationFactory(code="SH-NO-PICKUP", can_pickup=False, can_curbside=False)
    stock_put(location=xuhui, sku=tee, on_hand=5)

    response = post_checkout(web, body(lines, delivery=delivery, **extra))

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert _error_at(response.json()["errors"], *where)
    assert not Order.objects.exists()
    assert not Reservation.objects.exists()
    assert level_of(xuhui, tee).reserved == 0
