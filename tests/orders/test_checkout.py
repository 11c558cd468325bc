"""The checkout service: routing, reservations, totals and what one checkout writes."""

from decimal import Decimal

import pytest
from django.conf import settings

from common.models import IdempotencyRecord, OutboxEvent
from customers.models import Customer
from inventory.errors import InsufficientStock
from inventory.models import Reservation
from inventory.services.catalogue import sku_upsert_many
from orders.errors import DuplicateLines, NoShippingCoordinates
from orders.models import Order, OrderEvent
from orders.services import checkout as checkout_service
from tests.factories import PEOPLES_SQUARE, checkout, order_of, place_order
from tests.orders.factories import (
    LocationFactory,
    SkuFactory,
    WarehouseFactory,
    address_at,
    body,
    level_of,
    pickup_at,
    post_checkout,
    reserved_at,
    stock_put,
)

CUSTOMER = PEOPLES_SQUARE
SHIP_TO = address_at(*CUSTOMER)


def km_north_of_customer(km: float) -> dict:
    return {"latitude": CUSTOMER[0] + km / 111.195, "longitude": CUSTOMER[1]}


def reservations_of(order: Order) -> list[tuple[str, str, int]]:
    """(location, sku, quantity) of every active reservation of the order."""
    return sorted(
        Reservation.objects.filter(
            demand=order.number, status=Reservation.Status.ACTIVE
        ).values_list("location__code", "sku__code", "quantity")
    )


# --- ship routing -------------------------------------------------------------------------


def test_ship_takes_every_line_from_one_location_rather_than_splitting(tee, mug):
    near = LocationFactory(code="SH-NEAR", **km_north_of_customer(1))
    far = WarehouseFactory(code="DC-FAR", **km_north_of_customer(40))
    stock_put(location=near, sku=tee, on_hand=10)  # has the tee, but no mug
    stock_put(location=far, sku=tee, on_hand=10)
    stock_put(location=far, sku=mug, on_hand=10)

    order = place_order([(tee, 2), (mug, 1)], method="ship", address=SHIP_TO)

    assert reservations_of(order) == [("DC-FAR", "MUG-BLUE", 1), ("DC-FAR", "TEE-WHITE-M", 2)]
    assert order.routing["locations"] == ["DC-FAR"]
    considered = {entry["location"]: entry for entry in order.routing["considered"]}
    assert considered["DC-FAR"]["chosen"] is True
    assert considered["SH-NEAR"]["kept"] is True
    assert considered["SH-NEAR"]["chosen"] is False
    assert considered["SH-NEAR"]["distance_km"] == pytest.approx(1, abs=0.05)
    assert level_of(near, tee).reserved == 0


def test_ship_splits_across_the_fewest_locations_when_none_has_everything(tee, mug):
    cap = SkuFactory(code="CAP-RED", price=Decimal("59.00"))
    nearest = LocationFactory(code="SH-A", **km_north_of_customer(1))
    middle = LocationFactory(code="SH-B", **km_north_of_customer(5))
    farthest = WarehouseFactory(code="DC-C", **km_north_of_customer(30))
    stock_put(location=nearest, sku=cap, on_hand=5)  # only the cap
    stock_put(location=middle, sku=tee, on_hand=5)
    stock_put(location=middle, sku=cap, on_hand=5)
    stock_put(location=farthest, sku=mug, on_hand=5)

    order = place_order([(tee, 1), (mug, 1), (cap, 1)], method="ship", address=SHIP_TO)

    # Two parcels (B: tee and cap, C: mug), not three, although A is nearest for the cap.
    assert reservations_of(order) == [
        ("DC-C", "MUG-BLUE", 1),
        ("SH-B", "CAP-RED", 1),
        ("SH-B", "TEE-WHITE-M", 1),
    ]
    assert order.routing["locations"] == ["DC-C", "SH-B"]
    chosen = {e["location"]: e.get("chosen") for e in order.routing["considered"]}
    assert chosen == {"SH-A": False, "SH-B": True, "DC-C": True}
    assert reserved_at(nearest, cap) == 0


def test_ship_routing_explains_why_each_location_was_dropped(tee):
    chosen = LocationFactory(code="SH-CHOSEN", **km_north_of_customer(3))
    closed = LocationFactory(code="SH-CLOSED", is_active=False, **km_north_of_customer(1))
    busy = LocationFactory(code="SH-BUSY", daily_ship_capacity=0, **km_north_of_customer(1))
    held_back = LocationFactory(code="SH-SAFETY", **km_north_of_customer(1))
    empty = LocationFactory(code="SH-EMPTY", **km_north_of_customer(1))
    no_ship = LocationFactory(code="SH-NO-SHIP", can_ship=False, **km_north_of_customer(1))
    for location in (chosen, closed, busy, no_ship):
        stock_put(location=location, sku=tee, on_hand=5)
    stock_put(location=held_back, sku=tee, on_hand=2, safety_stock=2)
    stock_put(location=empty, sku=tee, on_hand=0)

    order = place_order([(tee, 1)], method="ship", address=SHIP_TO)

    assert reservations_of(order) == [("SH-CHOSEN", "TEE-WHITE-M", 1)]
    reasons = {e["location"]: e.get("reason") for e in order.routing["considered"]}
    assert reasons == {
        "SH-CHOSEN": None,
        "SH-CLOSED": "inactive",
        "SH-BUSY": "capacity_used_up",
        "SH-SAFETY": "safety_stock",
        "SH-EMPTY": "no_stock",
        "SH-NO-SHIP": "no_capability",
    }
    assert order.routing["summary"] == {
        "considered": 6,
        "kept": 1,
        "dropped": {
            "capacity_used_up": 1,
            "inactive": 1,
            "no_capability": 1,
            "no_stock": 1,
            "safety_stock": 1,
        },
    }
    routed = order.events.get(kind=OrderEvent.Kind.ROUTED)
    assert routed.data == order.routing


# --- stock rules --------------------------------------------------------------------------


def test_online_checkout_cannot_take_safety_stock_but_an_in_store_sale_can(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5, safety_stock=3)

    with pytest.raises(InsufficientStock) as shortage:
        place_order([(tee, 3)], method="pickup", location=xuhui)
    sale = checkout(
        [(tee, 5)], method="carry_out", location=xuhui, channel="store", email="walk-in@example.com"
    )

    assert shortage.value.extra["lines"] == [{"sku": "TEE-WHITE-M", "requested": 3, "available": 2}]
    assert sale.body["status"] == "fulfilled"
    level = level_of(xuhui, tee)
    assert (level.on_hand, level.reserved) == (0, 0)


def test_shortage_writes_nothing_at_all(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=1)

    with pytest.raises(InsufficientStock):
        place_order([(tee, 2)], method="pickup", location=xuhui, email="someone@example.com")

    assert not Order.objects.exists()
    assert not Customer.objects.exists()
    assert not IdempotencyRecord.objects.exists()
    assert not OutboxEvent.objects.exists()
    assert not Reservation.objects.exists()
    assert level_of(xuhui, tee).reserved == 0


# --- what an order records ----------------------------------------------------------------


def test_line_keeps_the_price_and_name_it_was_sold_at(web, xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="pickup", location=xuhui)

    sku_upsert_many(rows=[{"code": tee.code, "name": "White tee (new)", "price": "149.00"}])

    tee.refresh_from_db()
    assert tee.price == Decimal("149.00")
    shown = web.get(f"/api/v1/orders/{order.number}").json()
    assert (shown["lines"][0]["unit_price"], shown["lines"][0]["name"]) == ("99.00", "White tee, M")
    assert shown["total"] == "198.00"


@pytest.mark.parametrize(
    ("quantity", "shipping"),
    [(1, Decimal(settings.OMS_SHIPPING_FEE)), (4, Decimal("0.00"))],  # 99.00 vs 396.00
)
def test_shipping_is_charged_below_the_free_shipping_threshold_only(xuhui, tee, quantity, shipping):
    stock_put(location=xuhui, sku=tee, on_hand=10)

    order = place_order([(tee, quantity)], method="ship", address=SHIP_TO)

    assert order.subtotal == tee.price * quantity
    assert order.shipping_total == shipping
    assert order.grand_total == order.subtotal + shipping


def test_pickup_is_never_charged_shipping(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=10)

    order = place_order([(tee, 1)], method="pickup", location=xuhui)

    assert (order.shipping_total, order.grand_total) == (Decimal("0.00"), Decimal("99.00"))


def test_checkout_records_the_order_for_background_work(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)

    order = place_order([(tee, 1)], method="pickup", location=xuhui)

    event = OutboxEvent.objects.get(topic="order.placed")
    assert event.payload == {"number": order.number}


def test_store_order_remembers_the_store_and_the_cashier(xuhui, tee, django_user_model):
    cashier = django_user_model.objects.create_user(username="cashier")
    stock_put(location=xuhui, sku=tee, on_hand=5)

    order = place_order(
        [(tee, 1)], method="carry_out", location=xuhui, channel="store", actor=cashier
    )

    assert (order.channel, order.store, order.created_by) == ("store", xuhui, cashier)
    assert list(order.events.values_list("kind", "actor__username")) == [
        ("placed", "cashier"),
        ("routed", "cashier"),
        ("reserved", "cashier"),
        ("fulfilled", "cashier"),
    ]


def test_a_long_order_keeps_a_readable_timeline(xuhui):
    skus = [SkuFactory(code=f"LONG-SKU-CODE-{n:03d}") for n in range(40)]
    for sku in skus:
        stock_put(location=xuhui, sku=sku, on_hand=3)

    result = checkout([(sku, 2) for sku in skus], method="pickup", location=xuhui)

    order = order_of(result)
    assert order.lines.count() == 40
    reserved = order.events.get(kind=OrderEvent.Kind.RESERVED)
    assert reserved.message.startswith("Reserved 2 x LONG-SKU-CODE-000 at SH-XUHUI")
    assert len(reserved.message) <= 255
    assert len(reserved.data["reservations"]) == 40, "the event's data keeps every line"


def test_an_order_number_already_taken_is_drawn_again(web, xuhui, tee, monkeypatch):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    taken = place_order([(tee, 1)], method="pickup", location=xuhui).number
    numbers = iter([taken, "OMZZZZ2222"])
    monkeypatch.setattr(checkout_service, "_new_number", lambda: next(numbers))

    response = post_checkout(web, body([(tee, 1)], delivery=pickup_at(xuhui)))

    assert response.status_code == 201, response.content
    assert response.json()["number"] == "OMZZZZ2222"
    assert Order.objects.count() == 2
    assert level_of(xuhui, tee).reserved == 2


def test_checkout_refuses_a_sku_on_two_lines_rather_than_merge_them(xuhui, tee, mug):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=xuhui, sku=mug, on_hand=5)

    with pytest.raises(DuplicateLines) as refused:
        place_order([(tee, 1), (mug, 1), (tee, 2)], method="pickup", location=xuhui)

    assert (refused.value.status, refused.value.as_dict()["code"]) == (400, "duplicate_lines")
    assert refused.value.extra["skus"] == [tee.code]
    assert not Order.objects.exists()
    assert level_of(xuhui, tee).reserved == 0


def test_a_ship_order_without_coordinates_is_refused_before_routing(xuhui, tee, monkeypatch):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    routed = []
    monkeypatch.setattr(checkout_service, "route", lambda *args: routed.append(args))

    with pytest.raises(NoShippingCoordinates) as refused:
        place_order([(tee, 1)], method="ship", address={"line1": "1 Road", "city": "Nowhere"})

    assert (refused.value.status, refused.value.code) == (400, "invalid")
    assert "latitude" in refused.value.extra["errors"]["delivery"]["address"]
    assert routed == []
    assert not Order.objects.exists()
