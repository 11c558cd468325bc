"""Beat: uncollected pickups expire back to the shelf; unaccepted work goes elsewhere."""

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from fulfillment import tasks
from fulfillment.models import FulfillmentOrder
from fulfillment.services import routing
from fulfillment.services.actions import fulfillment_accept
from fulfillment.services.deadlines import fulfillment_escalate
from fulfillment.tasks import escalate_unaccepted, expire_pickups
from orders.models import OrderEvent
from stores.models import Location
from tests.factories import KUNSHAN, assert_stock_consistent, place_order, timeline
from tests.fulfillment.factories import act, fulfillment_orders, level, sent_to, stock_put

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "ada@example.com"


@pytest.fixture
def ready_pickup(xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="pickup", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    for step in ("accept", "pick", "ready"):
        act(at_xuhui, fo, step)
    return order, fo


def past_deadline(fo: FulfillmentOrder) -> None:
    FulfillmentOrder.objects.filter(pk=fo.pk).update(
        pickup_deadline=timezone.now() - timedelta(minutes=1)
    )


def created_ago(fo: FulfillmentOrder, minutes: int) -> None:
    """As if it arrived `minutes` ago at a location open around the clock."""
    sla = Location.objects.get(pk=fo.location_id).accept_sla_minutes
    created_at = timezone.now() - timedelta(minutes=minutes)
    FulfillmentOrder.objects.filter(pk=fo.pk).update(
        created_at=created_at, accept_by=created_at + timedelta(minutes=sla)
    )


def test_uncollected_pickup_expires_and_its_stock_goes_back_on_the_shelf(ready_pickup, xuhui, tee):
    order, fo = ready_pickup
    past_deadline(fo)

    assert expire_pickups() == 1

    fo.refresh_from_db()
    assert fo.status == "expired"
    assert fo.completed_at is not None
    assert level(xuhui, tee) == (5, 0)  # reserved drops, on hand unchanged
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert order.lines.get().quantity_cancelled == 2
    told = [m for m in sent_to(CUSTOMER) if "was cancelled" in m.subject]
    assert len(told) == 1
    assert "not collected at SH-XUHUI in time" in told[0].body
    assert "2 x TEE-WHITE-M" in told[0].body
    kinds = timeline(order)
    assert kinds.index("expired") < kinds.index("line_cancelled")
    assert_stock_consistent()


def test_pickup_within_its_hold_period_is_left_waiting(ready_pickup, xuhui, tee):
    _, fo = ready_pickup

    assert expire_pickups() == 0

    fo.refresh_from_db()
    assert fo.status == "ready_for_pickup"
    assert level(xuhui, tee) == (5, 2)


def test_expired_pickup_can_no_longer_be_handed_over(ready_pickup, at_xuhui):
    _, fo = ready_pickup
    past_deadline(fo)
    expire_pickups()

    response = act(at_xuhui, fo, "handover", override_reason="customer came late")

    assert response.status_code == 409
    assert response.json()["code"] == "transition_not_allowed"


@pytest.fixture
def pending_ship(xuhui, pudong, tee):
    """2 tees to ship from Xuhui (30-minute SLA); Pudong could take them too."""
    Location.objects.filter(pk=xuhui.pk).update(accept_sla_minutes=30)
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="ship", email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    assert fo.location == xuhui
    return order, fo


def test_fulfillment_order_not_accepted_within_the_sla_is_rerouted(
    pending_ship, xuhui, pudong, tee, pudong_associate
):
    order, fo = pending_ship
    created_ago(fo, 31)

    assert escalate_unaccepted() == 1

    escalated, elsewhere = fulfillment_orders(order)
    assert (escalated.status, escalated.rejection_reason) == ("rejected", "sla_expired")
    assert "30 minutes" in escalated.rejection_note
    assert (elsewhere.location, elsewhere.status, elsewhere.rerouted_from_id) == (
        pudong,
        "pending",
        fo.pk,
    )
    assert level(xuhui, tee) == (5, 0)
    assert level(pudong, tee) == (5, 2)
    rejected = order.events.get(kind=OrderEvent.Kind.REJECTED)
    assert rejected.actor is None
    assert "rerouted" in timeline(order)
    assert any(order.number in m.subject for m in sent_to(pudong_associate.email))
    assert_stock_consistent()


def test_fulfillment_order_within_its_sla_is_not_escalated(pending_ship, xuhui, tee):
    order, fo = pending_ship
    created_ago(fo, 29)

    assert escalate_unaccepted() == 0

    assert [f.status for f in fulfillment_orders(order)] == ["pending"]
    assert level(xuhui, tee) == (5, 2)


def test_accepted_fulfillment_order_is_never_escalated(pending_ship, at_xuhui):
    order, fo = pending_ship
    act(at_xuhui, fo, "accept")
    created_ago(fo, 600)

    assert escalate_unaccepted() == 0

    assert [f.status for f in fulfillment_orders(order)] == ["accepted"]


def test_store_accepting_while_the_escalation_runs_keeps_its_order(
    pending_ship, xuhui, tee, xuhui_associate
):
    order, fo = pending_ship
    created_ago(fo, 31)
    claimed = FulfillmentOrder.objects.get(pk=fo.pk)  # as the beat task claimed it
    accepting, go_on = threading.Event(), threading.Event()
    errors = []

    def store_accepts():
        try:
            with transaction.atomic():
                fulfillment_accept(fulfillment_order=fo, actor=xuhui_associate)
                accepting.set()
                go_on.wait(10)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    store = threading.Thread(target=store_accepts)
    store.start()
    assert accepting.wait(10)
    timer = threading.Timer(1.0, go_on.set)  # the escalation is waiting on the locks by then
    timer.start()
    try:
        escalated = fulfillment_escalate(fulfillment_order=claimed)
    finally:
        go_on.set()
        store.join(10)
        timer.cancel()

    assert errors == []
    assert escalated is None
    assert [f.status for f in fulfillment_orders(order)] == ["accepted"]
    assert level(xuhui, tee) == (5, 2)
    assert_stock_consistent()


def test_a_long_queue_within_its_sla_does_not_hold_back_overdue_work_elsewhere(
    xuhui, kunshan, tee, monkeypatch
):
    Location.objects.filter(pk=kunshan.pk).update(accept_sla_minutes=24 * 60)
    stock_put(location=kunshan, sku=tee, on_hand=10)
    stock_put(location=xuhui, sku=tee, on_hand=10)
    near_kunshan = (KUNSHAN["latitude"], KUNSHAN["longitude"])
    queued = [place_order([(tee, 1)], method="ship", point=near_kunshan) for _ in range(2)]
    late = place_order([(tee, 1)], method="ship")
    for fo in FulfillmentOrder.objects.all():
        created_ago(fo, 3 * 60)
    monkeypatch.setattr(tasks, "BATCH", 2)  # the warehouse's queue fills a whole batch

    assert escalate_unaccepted() == 1

    assert [f.status for f in fulfillment_orders(late)] == ["rejected", "pending"]
    assert FulfillmentOrder.objects.filter(order__in=queued, status="pending").count() == 2
    assert_stock_consistent()


def test_pickup_not_accepted_in_time_is_kept_and_its_managers_are_told_once(
    xuhui, tee, xuhui_associate, xuhui_manager, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="pickup", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    created_ago(fo, xuhui.accept_sla_minutes + 1)

    assert escalate_unaccepted() == 1
    assert escalate_unaccepted() == 0

    fo.refresh_from_db()
    assert fo.status == "pending"  # the customer chose this store: it is not taken away
    assert fo.escalated_at is not None
    assert level(xuhui, tee) == (5, 1)
    [alert] = [m for m in mail.outbox if m.subject.startswith("Not accepted in time")]
    assert alert.to == [xuhui_manager.email]
    assert order.number in alert.subject
    late = at_xuhui.get("/api/v1/fulfillment-orders", {"queue": "late"}).json()["results"]
    assert [r["id"] for r in late] == [fo.pk]
    assert sent_to(CUSTOMER) == []


def test_work_that_arrives_after_closing_is_due_the_next_morning(xuhui, tee, monkeypatch):
    hours = {day: ["10:00", "22:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    Location.objects.filter(pk=xuhui.pk).update(
        opening_hours=hours, timezone="Asia/Shanghai", accept_sla_minutes=60
    )
    stock_put(location=xuhui, sku=tee, on_hand=5)
    night = datetime(2026, 12, 7, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))

    # The release happens at 23:30 Shanghai time, whatever time the test runs at.
    monkeypatch.setattr(routing.timezone, "now", lambda: night)
    order = place_order([(tee, 1)], method="ship")

    [fo] = fulfillment_orders(order)
    assert fo.accept_by == datetime(2026, 12, 8, 11, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
