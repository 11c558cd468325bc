"""Ship-to-store: what the pickup store lacks is sent there, and the pickup waits for it."""

import pytest
from django.core import mail
from django.db import transaction

from common.models import OutboxEvent
from inventory.models import Reservation, Transfer
from orders.models import OrderEvent
from stores.models import StaffMembership
from tests.factories import (
    assert_stock_consistent,
    place_order,
    staff_client,
    staff_member,
    timeline,
)
from tests.fulfillment.factories import (
    act,
    fulfillment_orders,
    level,
    pickup_code_in,
    sent_to,
    stock_put,
)

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "ada@example.com"


@pytest.fixture
def at_kunshan(kunshan):
    return staff_client(user=staff_member(kunshan))


def send(client, fo) -> None:
    """The sending location prepares the transfer and hands it to the carrier."""
    for step in ("accept", "pick", "pack"):
        assert act(client, fo, step).status_code == 200
    response = act(client, fo, "ship", carrier="SF Express", tracking_number="SF-T1")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "shipped"


def ready_email(order):
    [message] = [m for m in sent_to(CUSTOMER) if "ready for pickup" in m.subject]
    assert order.number in message.subject
    return message


@pytest.fixture
def split_pickup(xuhui, kunshan, tee, mug):
    """A pickup at Xuhui of a mug it has and two tees only the Kunshan warehouse has."""
    stock_put(location=xuhui, sku=mug, on_hand=3)
    stock_put(location=kunshan, sku=tee, on_hand=10)
    return place_order(
        [(mug, 1), (tee, 2)], method="pickup", location=xuhui, email=CUSTOMER, ship_to_store=True
    )


def test_checkout_holds_the_missing_items_at_a_warehouse_and_releases_a_transfer(
    split_pickup, xuhui, kunshan, tee, mug
):
    order = split_pickup

    store_fo, transfer_fo = fulfillment_orders(order)

    assert (store_fo.location, store_fo.kind, store_fo.status) == (xuhui, "pickup", "pending")
    assert [fl.order_line.sku_code for fl in store_fo.lines.all()] == [mug.code]
    assert (transfer_fo.location, transfer_fo.kind, transfer_fo.destination) == (
        kunshan,
        "transfer",
        xuhui,
    )
    assert [(fl.order_line.sku_code, fl.quantity) for fl in transfer_fo.lines.all()] == [
        (tee.code, 2)
    ]
    assert level(xuhui, mug) == (3, 1)
    assert level(kunshan, tee) == (10, 2)
    assert order.ship_to_store is True
    assert order.routing["allocations"][-1] == {
        "location": kunshan.code,
        "sku": tee.code,
        "quantity": 2,
        "transfer_to": xuhui.code,
    }
    reserved = order.events.get(kind=OrderEvent.Kind.RESERVED)
    assert f"2 x {tee.code} at {kunshan.code}, to be sent to {xuhui.code}" in reserved.message
    assert_stock_consistent()


def test_pickup_cannot_be_ready_while_items_are_on_their_way(split_pickup, at_xuhui):
    store_fo, _ = fulfillment_orders(split_pickup)
    for step in ("accept", "pick"):
        assert act(at_xuhui, store_fo, step).status_code == 200

    response = act(at_xuhui, store_fo, "ready")

    assert response.status_code == 409
    assert response.json()["code"] == "awaiting_transfer"
    store_fo.refresh_from_db()
    assert store_fo.status == "picked"
    assert store_fo.pickup_code_hash == ""


def test_transfer_travels_to_the_store_and_the_picked_pickup_becomes_ready_on_receipt(
    split_pickup, xuhui, kunshan, tee, mug, at_xuhui, at_kunshan, xuhui_associate
):
    order = split_pickup
    store_fo, transfer_fo = fulfillment_orders(order)
    for step in ("accept", "pick"):
        assert act(at_xuhui, store_fo, step).status_code == 200
    mail.outbox.clear()

    send(at_kunshan, transfer_fo)

    [transfer] = Transfer.objects.all()
    assert (transfer.from_location, transfer.to_location, transfer.quantity) == (kunshan, xuhui, 2)
    assert transfer.status == Transfer.Status.IN_TRANSIT
    assert level(kunshan, tee) == (8, 0)  # left the warehouse with its reservation
    [alert] = [m for m in mail.outbox if "Incoming transfer" in m.subject]
    assert xuhui_associate.email in alert.to
    incoming = at_xuhui.get("/api/v1/fulfillment-orders", {"queue": "incoming"}).json()
    assert [(r["id"], r["destination"]) for r in incoming["results"]] == [
        (transfer_fo.pk, xuhui.code)
    ]
    assert sent_to(CUSTOMER) == []  # an internal move: nothing to tell the customer yet

    response = act(at_xuhui, transfer_fo, "receive")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "received"
    transfer.refresh_from_db()
    assert transfer.status == Transfer.Status.RECEIVED
    assert level(xuhui, tee) == (2, 2)  # on hand at the store, held for this order
    store_fo.refresh_from_db()
    assert store_fo.status == "ready_for_pickup"
    assert sorted((fl.order_line.sku_code, fl.quantity) for fl in store_fo.lines.all()) == [
        (mug.code, 1),
        (tee.code, 2),
    ]
    code = pickup_code_in(ready_email(order).body)
    assert act(at_xuhui, store_fo, "handover", code=code).status_code == 200
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert [line.quantity_fulfilled for line in order.lines.order_by("pk")] == [1, 2]
    assert level(xuhui, tee) == (0, 0)
    assert level(xuhui, mug) == (2, 0)
    kinds = timeline(order)
    assert (
        kinds.index("transfer_shipped")
        < kinds.index("transfer_received")
        < kinds.index("ready_for_pickup")
        < kinds.index("handed_over")
    )
    assert_stock_consistent()


def test_store_with_nothing_of_its_own_gets_a_ready_pickup_when_the_transfer_arrives(
    xuhui, kunshan, tee, at_xuhui, at_kunshan
):
    stock_put(location=kunshan, sku=tee, on_hand=4)
    order = place_order(
        [(tee, 1)], method="curbside", location=xuhui, email=CUSTOMER, ship_to_store=True
    )
    [transfer_fo] = fulfillment_orders(order)
    assert (transfer_fo.kind, transfer_fo.destination) == ("transfer", xuhui)
    send(at_kunshan, transfer_fo)

    assert act(at_xuhui, transfer_fo, "receive").status_code == 200

    _, pickup = fulfillment_orders(order)
    assert (pickup.location, pickup.kind, pickup.status) == (xuhui, "curbside", "ready_for_pickup")
    assert "curbside pickup" in ready_email(order).body
    assert level(xuhui, tee) == (1, 1)
    assert_stock_consistent()


def test_only_the_store_a_transfer_goes_to_may_receive_it(split_pickup, at_kunshan, at_pudong):
    _, transfer_fo = fulfillment_orders(split_pickup)
    send(at_kunshan, transfer_fo)

    assert act(at_kunshan, transfer_fo, "receive").status_code == 404
    assert act(at_pudong, transfer_fo, "receive").status_code == 404
    assert act(at_pudong, transfer_fo, "accept").status_code == 404
    transfer_fo.refresh_from_db()
    assert transfer_fo.status == "shipped"


def test_receiving_twice_is_409_and_changes_nothing(split_pickup, xuhui, tee, at_xuhui, at_kunshan):
    _, transfer_fo = fulfillment_orders(split_pickup)
    send(at_kunshan, transfer_fo)
    assert act(at_xuhui, transfer_fo, "receive").status_code == 200
    before = level(xuhui, tee)

    again = act(at_xuhui, transfer_fo, "receive")

    assert again.status_code == 409
    assert level(xuhui, tee) == before
    assert Reservation.objects.filter(location=xuhui, sku=tee).count() == 1
    assert_stock_consistent()


def test_a_transfer_that_arrives_after_the_order_was_cancelled_goes_on_the_shelf(
    split_pickup, xuhui, kunshan, tee, web, at_xuhui, at_kunshan
):
    order = split_pickup
    _, transfer_fo = fulfillment_orders(order)
    send(at_kunshan, transfer_fo)
    assert web.post(f"/api/v1/orders/{order.number}/cancel", {}, format="json").status_code == 200

    assert act(at_xuhui, transfer_fo, "receive").status_code == 200

    assert level(xuhui, tee) == (2, 0)  # sellable at the store at once
    assert level(kunshan, tee) == (8, 0)
    received = order.events.get(kind=OrderEvent.Kind.TRANSFER_RECEIVED)
    assert "went on the shelf" in received.message
    assert len(fulfillment_orders(order)) == 2  # no pickup was started for a cancelled order
    assert_stock_consistent()


def test_cancelling_before_the_transfer_left_releases_it_at_the_warehouse(
    split_pickup, kunshan, tee, web
):
    order = split_pickup

    assert web.post(f"/api/v1/orders/{order.number}/cancel", {}, format="json").status_code == 200

    assert {fo.status for fo in fulfillment_orders(order)} == {"cancelled"}
    assert level(kunshan, tee) == (10, 0)
    assert_stock_consistent()


def test_rejected_transfer_is_sent_from_the_next_location_to_the_same_store(
    split_pickup, xuhui, pudong, kunshan, tee, at_kunshan
):
    order = split_pickup
    stock_put(location=pudong, sku=tee, on_hand=5)
    _, transfer_fo = fulfillment_orders(order)

    assert act(at_kunshan, transfer_fo, "reject", reason="not_found").status_code == 200

    _, rejected, again = fulfillment_orders(order)
    assert rejected.status == "rejected"
    assert (again.location, again.kind, again.destination, again.status) == (
        pudong,
        "transfer",
        xuhui,
        "pending",
    )
    assert level(kunshan, tee) == (10, 0)
    assert level(pudong, tee) == (5, 2)
    assert Reservation.objects.get(location=pudong, sku=tee).delivery_method == "transfer"
    assert_stock_consistent()


def test_store_that_cannot_prepare_the_pickup_cancels_what_was_coming_too(
    split_pickup, xuhui, kunshan, tee, mug, at_xuhui
):
    order = split_pickup
    store_fo, transfer_fo = fulfillment_orders(order)
    mail.outbox.clear()

    assert act(at_xuhui, store_fo, "reject", reason="no_capacity").status_code == 200

    order.refresh_from_db()
    assert order.status == "cancelled"
    transfer_fo.refresh_from_db()
    assert transfer_fo.status == "cancelled"
    assert level(kunshan, tee) == (10, 0)
    assert level(xuhui, mug) == (3, 0)
    assert any("cancelled" in m.subject for m in sent_to(CUSTOMER))
    assert_stock_consistent()


def test_pickup_without_ship_to_store_still_refuses_a_shortage(xuhui, kunshan, tee, web):
    stock_put(location=kunshan, sku=tee, on_hand=10)
    payload = {
        "customer": {"email": CUSTOMER},
        "channel": "web",
        "lines": [{"sku": tee.code, "quantity": 1}],
        "delivery": {"method": "pickup", "location": xuhui.code},
    }

    refused = web.post("/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY="s1")
    payload["delivery"]["ship_to_store"] = True
    placed = web.post("/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY="s2")

    assert refused.status_code == 409
    assert refused.json()["code"] == "insufficient_stock"
    assert refused.json()["ship_to_store_available"] is True
    assert placed.status_code == 201, placed.content
    assert placed.json()["delivery"] == {
        "method": "pickup",
        "location": xuhui.code,
        "ship_to_store": True,
    }
    [line] = placed.json()["lines"]
    assert line["reservations"] == [{"location": kunshan.code, "quantity": 1, "status": "active"}]


def test_ship_to_store_is_only_for_pickups(xuhui, tee, web):
    payload = {
        "customer": {"email": CUSTOMER},
        "channel": "web",
        "lines": [{"sku": tee.code, "quantity": 1}],
        "delivery": {
            "method": "ship",
            "ship_to_store": True,
            "address": {
                "line1": "1 Road",
                "city": "Shanghai",
                "latitude": 31.2,
                "longitude": 121.4,
            },
        },
    }

    response = web.post("/api/v1/checkout", payload, format="json", HTTP_IDEMPOTENCY_KEY="s3")

    assert response.status_code == 400
    assert "ship_to_store" in response.json()["errors"]["delivery"]


def test_manager_of_the_sender_cannot_receive_at_the_store(split_pickup, kunshan, at_kunshan):
    _, transfer_fo = fulfillment_orders(split_pickup)
    send(at_kunshan, transfer_fo)
    manager = staff_client(user=staff_member(kunshan, role=StaffMembership.Role.MANAGER))

    assert act(manager, transfer_fo, "receive").status_code == 404


# --- what happens between a rejection and its re-route -------------------------------------


def test_pickup_rejected_after_part_of_a_line_arrived_is_cancelled_whole(
    xuhui, kunshan, tee, at_xuhui, at_kunshan
):
    stock_put(location=xuhui, sku=tee, on_hand=1)
    stock_put(location=kunshan, sku=tee, on_hand=10)
    order = place_order(
        [(tee, 3)], method="pickup", location=xuhui, email=CUSTOMER, ship_to_store=True
    )
    pickup, transfer = fulfillment_orders(order)
    send(at_kunshan, transfer)
    act(at_xuhui, transfer, "receive")  # the pickup now has two lines for the one order line

    assert act(at_xuhui, pickup, "reject", reason="not_found").status_code == 200

    order.refresh_from_db()
    assert order.status == "cancelled"
    assert order.lines.get().quantity_open == 0
    assert level(xuhui, tee) == (3, 0)
    assert_stock_consistent()


def test_pickup_cannot_be_ready_while_a_rejected_transfer_waits_for_its_re_route(
    split_pickup, pudong, tee, at_xuhui, at_kunshan
):
    order = split_pickup
    stock_put(location=pudong, sku=tee, on_hand=5)
    pickup, transfer = fulfillment_orders(order)
    for step in ("accept", "pick"):
        act(at_xuhui, pickup, step)

    with transaction.atomic():  # the re-route is delivered once this commits
        assert act(at_kunshan, transfer, "reject", reason="not_found").status_code == 200
        early = act(at_xuhui, pickup, "ready")

    assert (early.status_code, early.json()["code"]) == (409, "awaiting_transfer")
    again = [f for f in fulfillment_orders(order) if f.kind == "transfer" and f.status == "pending"]
    assert [f.location for f in again] == [pudong]
    pickup.refresh_from_db()
    assert pickup.status == "picked"


def test_store_rejecting_the_pickup_after_the_customer_cancelled_leaves_nothing_to_retry(
    split_pickup, at_xuhui, at_kunshan, web
):
    order = split_pickup
    pickup, transfer = fulfillment_orders(order)
    send(at_kunshan, transfer)

    with transaction.atomic():  # the re-route is delivered once this commits
        assert act(at_xuhui, pickup, "reject", reason="damaged").status_code == 200
        cancelled = web.post(f"/api/v1/orders/{order.number}/cancel", {}, format="json")

    assert cancelled.status_code == 200
    [rerouted] = OutboxEvent.objects.filter(topic="fulfillment.rejected")
    assert (rerouted.processed_at is not None, rerouted.last_error) == (True, "")
    assert_stock_consistent()


def test_picked_pickup_is_ready_when_a_transfer_arrives_that_is_no_longer_needed(
    split_pickup, xuhui, tee, at_xuhui, at_kunshan, web
):
    order = split_pickup
    pickup, transfer = fulfillment_orders(order)
    for step in ("accept", "pick"):
        act(at_xuhui, pickup, step)
    send(at_kunshan, transfer)
    tee_line = order.lines.get(sku_code=tee.code)
    web.post(
        f"/api/v1/orders/{order.number}/lines/{tee_line.pk}/cancel", {"quantity": 2}, format="json"
    )

    assert act(at_xuhui, transfer, "receive").status_code == 200

    pickup.refresh_from_db()
    assert pickup.status == "ready_for_pickup"
    assert level(xuhui, tee) == (2, 0)  # on the shelf, not held
    assert_stock_consistent()
