"""After checkout commits, the order is released to the locations that hold its stock."""

import pytest
from django.core import mail

from orders.models import OrderEvent
from stores.models import StaffMembership
from tests.factories import assert_stock_consistent, place_order, staff_member, timeline
from tests.fulfillment.factories import fulfillment_orders, level, stock_put

pytestmark = pytest.mark.django_db(transaction=True)


def test_checkout_releases_one_pending_fulfillment_order_to_the_routed_store(xuhui, pudong, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=5)

    order = place_order([(tee, 2)], method="ship")

    [fo] = fulfillment_orders(order)
    assert (fo.location.code, fo.kind, fo.status) == ("SH-XUHUI", "ship", "pending")
    assert [(line.order_line.sku_code, line.quantity) for line in fo.lines.all()] == [
        ("TEE-WHITE-M", 2)
    ]
    assert fo.routing["locations"] == ["SH-XUHUI"]
    order.refresh_from_db()
    assert order.status == "processing"
    assert timeline(order)[:3] == ["placed", "routed", "reserved"]
    assert "released" in timeline(order)
    released = order.events.get(kind=OrderEvent.Kind.RELEASED)
    assert released.location == xuhui
    assert released.data["fulfillment_order"] == fo.pk
    assert level(xuhui, tee) == (5, 2)
    assert level(pudong, tee) == (5, 0)
    assert_stock_consistent()


def test_store_staff_with_an_email_are_told_of_the_new_fulfillment_order(xuhui, pudong, tee):
    associate = staff_member(xuhui)
    manager = staff_member(xuhui, role=StaffMembership.Role.MANAGER)
    staff_member(xuhui, email=False)
    elsewhere = staff_member(pudong)
    stock_put(location=xuhui, sku=tee, on_hand=5)

    order = place_order([(tee, 2)], method="pickup", location=xuhui)

    [fo] = fulfillment_orders(order)
    [message] = [m for m in mail.outbox if order.number in m.subject and "New" in m.subject]
    assert sorted(message.to) == sorted([associate.email, manager.email])
    assert elsewhere.email not in message.to
    assert "SH-XUHUI" in message.subject
    assert f"fulfillment order {fo.pk}" in message.body
    assert "2 x TEE-WHITE-M" in message.body
    notified = order.events.get(kind=OrderEvent.Kind.NOTIFIED, data__to="store")
    assert notified.data["recipients"] == 2
    assert notified.location == xuhui
    assert_stock_consistent()


def test_order_split_across_two_locations_gets_a_fulfillment_order_at_each(xuhui, pudong, tee, mug):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    stock_put(location=pudong, sku=mug, on_hand=3)

    order = place_order([(tee, 1), (mug, 2)], method="ship")

    fos = fulfillment_orders(order)
    assert sorted(
        (
            fo.location.code,
            fo.status,
            [(fl.order_line.sku_code, fl.quantity) for fl in fo.lines.all()],
        )
        for fo in fos
    ) == [
        ("SH-PUDONG", "pending", [("MUG-BLUE", 2)]),
        ("SH-XUHUI", "pending", [("TEE-WHITE-M", 1)]),
    ]
    assert timeline(order).count("released") == 2
    assert_stock_consistent()


def test_pickup_placed_through_the_checkout_api_shows_in_the_store_queue(web, xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)

    response = web.post(
        "/api/v1/checkout",
        {
            "customer": {"email": "ada@example.com", "name": "Ada"},
            "channel": "web",
            "lines": [{"sku": "TEE-WHITE-M", "quantity": 1}],
            "delivery": {"method": "pickup", "location": "SH-XUHUI"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="release-api-1",
    )
    assert response.status_code == 201, response.content
    number = response.json()["number"]

    listed = at_xuhui.get("/api/v1/fulfillment-orders", {"queue": "to_accept"}).json()
    assert listed["count"] == 1
    [row] = listed["results"]
    assert (row["order"], row["location"], row["kind"], row["status"]) == (
        number,
        "SH-XUHUI",
        "pickup",
        "pending",
    )
    assert [(line["sku"], line["quantity"]) for line in row["lines"]] == [("TEE-WHITE-M", 1)]
    assert web.get(f"/api/v1/orders/{number}").json()["status"] == "processing"
    assert_stock_consistent()


def test_in_store_sale_gets_no_fulfillment_order(xuhui, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)

    order = place_order([(tee, 1)], method="carry_out", location=xuhui, channel="store")

    assert fulfillment_orders(order) == []
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert level(xuhui, tee) == (4, 0)
    assert_stock_consistent()
