"""Background work may run twice (a redelivery, a sweep, two beats): the second does nothing."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from common.models import OutboxEvent
from common.outbox import outbox_publish
from common.tasks import outbox_deliver
from fulfillment.models import FulfillmentOrder
from fulfillment.services.deadlines import fulfillment_expire
from fulfillment.services.routing import fulfillment_release, fulfillment_reroute
from fulfillment.tasks import escalate_unaccepted, expire_pickups
from inventory.models import Reservation, StockLevel
from orders.models import OrderEvent, OrderLine
from tests.factories import assert_stock_consistent, channel_client, place_order
from tests.fulfillment.factories import act, fulfillment_orders, pickup_code_in, stock_put

pytestmark = pytest.mark.django_db(transaction=True)


def state() -> dict:
    """Everything a second run could change, and the customer or store could notice."""
    return {
        "fulfillment_orders": list(
            FulfillmentOrder.objects.order_by("pk").values_list("pk", "status", "location_id")
        ),
        "stock": list(StockLevel.objects.order_by("pk").values_list("pk", "on_hand", "reserved")),
        "reservations": list(
            Reservation.objects.order_by("pk").values_list("pk", "status", "quantity")
        ),
        "lines": list(
            OrderLine.objects.order_by("pk").values_list(
                "pk", "quantity_cancelled", "quantity_fulfilled"
            )
        ),
        "emails": [(m.subject, tuple(m.to)) for m in mail.outbox],
        "timeline": OrderEvent.objects.count(),
        "outbox": OutboxEvent.objects.count(),
    }


def publish_again(topic: str, **payload) -> OutboxEvent:
    """The same event recorded a second time, processed after commit as any other."""
    with transaction.atomic():
        event = outbox_publish(topic, **payload)
    event.refresh_from_db()
    assert event.processed_at is not None
    return event


def test_releasing_an_order_twice_creates_nothing_more(xuhui, tee, xuhui_associate):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="pickup", location=xuhui)
    before = state()

    assert fulfillment_release(order_number=order.number) == []
    publish_again("order.placed", number=order.number)

    after = state()
    assert after["outbox"] == before["outbox"] + 1
    assert {**after, "outbox": 0} == {**before, "outbox": 0}
    assert len(fulfillment_orders(order)) == 1
    assert_stock_consistent()


def test_rerouting_a_rejection_twice_reserves_nothing_more(xuhui, pudong, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="ship")
    [fo] = fulfillment_orders(order)
    act(at_xuhui, fo, "reject", reason="not_found")
    before = state()

    assert fulfillment_reroute(fulfillment_order_id=fo.pk) == []
    publish_again("fulfillment.rejected", fulfillment_order=fo.pk)

    after = state()
    assert {**after, "outbox": 0} == {**before, "outbox": 0}
    assert [(f.location_id, f.status) for f in fulfillment_orders(order)] == [
        (xuhui.pk, "rejected"),
        (pudong.pk, "pending"),
    ]
    assert_stock_consistent()


def test_rerouting_a_cancelled_rejection_twice_cancels_nothing_more(xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="ship")
    [fo] = fulfillment_orders(order)
    act(at_xuhui, fo, "reject", reason="not_found")
    before = state()

    assert fulfillment_reroute(fulfillment_order_id=fo.pk) == []

    assert state() == before
    assert order.lines.get().quantity_cancelled == 2
    assert_stock_consistent()


def test_expiring_a_pickup_twice_releases_and_tells_once(xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="pickup", location=xuhui)
    [fo] = fulfillment_orders(order)
    for step in ("accept", "pick", "ready"):
        act(at_xuhui, fo, step)
    FulfillmentOrder.objects.filter(pk=fo.pk).update(
        pickup_deadline=timezone.now() - timedelta(minutes=1)
    )
    assert expire_pickups() == 1
    before = state()

    assert expire_pickups() == 0
    assert fulfillment_expire(fulfillment_order=fo) is None

    assert state() == before
    assert_stock_consistent()


def test_escalating_twice_reroutes_once(xuhui, pudong, tee):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="ship")
    FulfillmentOrder.objects.filter(order=order).update(
        accept_by=timezone.now() - timedelta(minutes=1)
    )
    assert escalate_unaccepted() == 1
    before = state()

    assert escalate_unaccepted() == 0

    assert state() == before
    assert len(fulfillment_orders(order)) == 2


def test_every_outbox_event_delivered_again_changes_nothing(
    xuhui, pudong, tee, mug, at_xuhui, at_pudong, xuhui_associate, pudong_associate
):
    """A whole day's work: a re-routed shipment, a collected pickup, a curbside arrival,
    an expiry and a cancellation; then every event is delivered a second time."""
    for location in (xuhui, pudong):
        stock_put(location=location, sku=tee, on_hand=10)
        stock_put(location=location, sku=mug, on_hand=10)
    shipped = place_order([(tee, 1), (mug, 1)], method="ship")
    [first] = fulfillment_orders(shipped)
    act(at_xuhui, first, "reject", reason="damaged")
    [second] = [fo for fo in fulfillment_orders(shipped) if fo.status == "pending"]
    for step in ("accept", "pick", "pack"):
        act(at_pudong, second, step)
    act(at_pudong, second, "ship", carrier="SF Express", tracking_number="SF9")
    collected = place_order([(tee, 1)], method="curbside", location=xuhui, email="bo@example.com")
    [pickup] = fulfillment_orders(collected)
    for step in ("accept", "pick", "ready"):
        act(at_xuhui, pickup, step)
    [ready] = [m for m in mail.outbox if collected.number in m.subject and "ready" in m.subject]
    channel_client("web").post(f"/api/v1/pickups/{pickup.pk}/arrived", {}, format="json")
    act(at_xuhui, pickup, "handover", code=pickup_code_in(ready.body))
    expiring = place_order([(mug, 2)], method="pickup", location=xuhui)
    [uncollected] = fulfillment_orders(expiring)
    for step in ("accept", "pick", "ready"):
        act(at_xuhui, uncollected, step)
    FulfillmentOrder.objects.filter(pk=uncollected.pk).update(
        pickup_deadline=timezone.now() - timedelta(minutes=1)
    )
    expire_pickups()
    cancelled = place_order([(tee, 1)], method="pickup", location=pudong)
    channel_client("web").post(f"/api/v1/orders/{cancelled.number}/cancel", {}, format="json")
    events = list(OutboxEvent.objects.order_by("pk"))
    assert {e.topic for e in events} >= {
        "order.placed",
        "fulfillment.released",
        "fulfillment.rejected",
        "fulfillment.shipped",
        "fulfillment.ready",
        "fulfillment.customer_arrived",
        "order.lines_cancelled",
        "order.cancelled",
    }
    assert all(e.processed_at is not None and e.attempts == 1 for e in events)
    before = state()

    # `.result`, not `.get()`: eager tasks run from threads in other tests can leave
    # Celery's process-wide "inside a task" flag set, and `.get()` would refuse to run.
    results = [outbox_deliver.apply(args=[e.pk]).result for e in events]

    assert results == [False] * len(events)
    assert state() == before
    assert all(e.attempts == 1 for e in OutboxEvent.objects.all())
    assert_stock_consistent()
