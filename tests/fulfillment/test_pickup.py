"""Buy online, pick up in store: the pickup code, its lock-out, manager overrides, curbside."""

import json
from datetime import timedelta

import pytest
from django.core import mail

from common.models import OutboxEvent
from orders.models import OrderEvent
from stores.models import StaffMembership
from tests.factories import (
    assert_stock_consistent,
    channel_client,
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


def make_ready(client, fo) -> None:
    """The store accepts, picks and puts the order on the pickup shelf."""
    for action, status in (
        ("accept", "accepted"),
        ("pick", "picked"),
        ("ready", "ready_for_pickup"),
    ):
        response = act(client, fo, action)
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status


def ready_email(order):
    [message] = [m for m in sent_to(CUSTOMER) if "ready for pickup" in m.subject]
    assert order.number in message.subject
    return message


def other_than(code: str) -> str:
    return next(wrong for wrong in ("ZZZZZZ", "YYYYYY") if wrong != code)


@pytest.fixture
def pickup(xuhui, tee, at_xuhui):
    """2 of 5 tees at Xuhui, ready for pickup; the customer has the ready email."""
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="pickup", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    make_ready(at_xuhui, fo)
    return order, fo


def test_pickup_is_handed_over_with_the_code_from_the_ready_email(pickup, xuhui, tee, at_xuhui):
    order, fo = pickup
    message = ready_email(order)
    assert "Xuhui store" in message.subject
    code = pickup_code_in(message.body)

    response = act(at_xuhui, fo, "handover", code=code.lower())

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "picked_up"
    assert response.json()["completed_at"] is not None
    assert level(xuhui, tee) == (3, 0)
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert order.lines.get().quantity_fulfilled == 2
    kinds = timeline(order)
    assert kinds.index("ready_for_pickup") < kinds.index("handed_over")
    assert order.events.get(kind=OrderEvent.Kind.HANDED_OVER).data["code"] == "verified"
    assert_stock_consistent()


def test_ready_pickup_has_a_deadline_from_the_location_hold_period(pickup, xuhui):
    _, fo = pickup
    fo.refresh_from_db()

    assert fo.status == "ready_for_pickup"
    assert fo.pickup_deadline - fo.ready_at == timedelta(hours=xuhui.pickup_hold_hours)


def test_pickup_code_is_kept_only_as_a_digest_and_leaves_the_outbox_once_emailed(pickup):
    order, fo = pickup
    code = pickup_code_in(ready_email(order).body)

    [event] = OutboxEvent.objects.filter(topic="fulfillment.ready")
    assert event.processed_at is not None
    assert event.payload == {"fulfillment_order": fo.pk, "round": 1}  # no code in it
    every_payload = json.dumps(list(OutboxEvent.objects.values_list("payload", flat=True)))
    assert code not in every_payload
    fo.refresh_from_db()
    assert code not in fo.pickup_code_hash
    assert len(fo.pickup_code_hash) == 64
    assert all(code not in json.dumps(e.data) + e.message for e in order.events.all())


def test_wrong_pickup_code_is_refused_and_counted(pickup, xuhui, tee, at_xuhui):
    order, fo = pickup
    code = pickup_code_in(ready_email(order).body)

    response = act(at_xuhui, fo, "handover", code=other_than(code))

    assert response.status_code == 409
    assert response.json()["code"] == "pickup_code_invalid"
    assert response.json()["attempts_left"] == 4
    fo.refresh_from_db()
    assert (fo.status, fo.pickup_code_failures) == ("ready_for_pickup", 1)
    assert level(xuhui, tee) == (5, 2)
    assert "handed_over" not in timeline(order)
    assert_stock_consistent()


def test_five_wrong_codes_lock_the_handover_even_for_the_right_code(pickup, xuhui, tee, at_xuhui):
    order, fo = pickup
    code = pickup_code_in(ready_email(order).body)

    left = []
    for _ in range(5):
        response = act(at_xuhui, fo, "handover", code=other_than(code))
        assert response.json()["code"] == "pickup_code_invalid"
        left.append(response.json()["attempts_left"])
    response = act(at_xuhui, fo, "handover", code=code)

    assert left == [4, 3, 2, 1, 0]
    assert response.status_code == 409
    assert response.json()["code"] == "pickup_code_locked"
    fo.refresh_from_db()
    assert (fo.status, fo.pickup_code_failures) == ("ready_for_pickup", 5)
    assert level(xuhui, tee) == (5, 2)
    assert_stock_consistent()


def test_manager_hands_over_a_locked_pickup_with_a_reason(pickup, xuhui, tee, at_xuhui):
    order, fo = pickup
    for _ in range(5):
        act(at_xuhui, fo, "handover", code="ZZZZZZ")
    manager = staff_client(user=staff_member(xuhui, role=StaffMembership.Role.MANAGER))

    response = manager.post(
        f"/api/v1/fulfillment-orders/{fo.pk}/handover",
        {"override_reason": "code email lost; ID checked"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "picked_up"
    assert level(xuhui, tee) == (3, 0)
    handed = order.events.get(kind=OrderEvent.Kind.HANDED_OVER)
    assert handed.data["override_reason"] == "code email lost; ID checked"
    assert handed.actor == manager.user
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert_stock_consistent()


def test_associate_may_not_hand_over_without_the_code(pickup, xuhui, tee, at_xuhui):
    _, fo = pickup

    response = act(at_xuhui, fo, "handover", override_reason="customer in a hurry")

    assert response.status_code == 403
    assert response.json()["code"] == "override_not_allowed"
    fo.refresh_from_db()
    assert fo.status == "ready_for_pickup"
    assert level(xuhui, tee) == (5, 2)
    assert_stock_consistent()


def test_a_manager_elsewhere_is_only_an_associate_here(pickup, xuhui, pudong):
    _, fo = pickup
    user = staff_member(pudong, role=StaffMembership.Role.MANAGER)
    StaffMembership.objects.create(user=user, location=xuhui)

    response = act(staff_client(user=user), fo, "handover", override_reason="I manage Pudong")

    assert response.status_code == 403
    assert response.json()["code"] == "override_not_allowed"


def test_handover_without_code_or_reason_is_400(pickup, at_xuhui):
    _, fo = pickup

    response = act(at_xuhui, fo, "handover")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "code" in response.json()["errors"]


def test_handover_of_a_pickup_not_yet_ready_is_409(xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="pickup", location=xuhui)
    [fo] = fulfillment_orders(order)
    act(at_xuhui, fo, "accept")

    response = act(at_xuhui, fo, "handover", code="ABCDEF")

    assert response.status_code == 409
    assert response.json()["code"] == "transition_not_allowed"
    fo.refresh_from_db()
    assert (fo.status, fo.pickup_code_failures) == ("accepted", 0)
    assert level(xuhui, tee) == (5, 1)
    assert_stock_consistent()


# --- curbside ---------------------------------------------------------------------------------


def test_curbside_arrival_by_the_ordering_channel_alerts_the_store(
    web, xuhui, tee, at_xuhui, xuhui_associate
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="curbside", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    make_ready(at_xuhui, fo)
    assert "curbside pickup" in ready_email(order).body
    mail.outbox.clear()

    response = web.post(f"/api/v1/pickups/{fo.pk}/arrived", {"parking_spot": "B12"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["parking_spot"] == "B12"
    assert response.json()["customer_arrived_at"] is not None
    fo.refresh_from_db()
    assert fo.parking_spot == "B12"
    [alert] = sent_to(xuhui_associate.email)
    assert alert.subject == f"Curbside customer arrived for order {order.number}"
    assert "parking spot B12" in alert.body
    arrived = order.events.get(kind=OrderEvent.Kind.CUSTOMER_ARRIVED)
    assert arrived.data["parking_spot"] == "B12"
    assert arrived.location == xuhui
    assert order.events.filter(
        kind=OrderEvent.Kind.NOTIFIED, data__template="store_arrived"
    ).exists()
    assert_stock_consistent()


def test_curbside_order_is_handed_over_at_the_car_with_the_code(web, xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="curbside", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    make_ready(at_xuhui, fo)
    code = pickup_code_in(ready_email(order).body)
    web.post(f"/api/v1/pickups/{fo.pk}/arrived", {}, format="json")

    response = act(at_xuhui, fo, "handover", code=code)

    assert response.json()["status"] == "picked_up"
    assert level(xuhui, tee) == (4, 0)
    assert_stock_consistent()


def test_arrival_for_a_pickup_that_is_not_curbside_is_409(web, xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="pickup", location=xuhui)
    [fo] = fulfillment_orders(order)
    make_ready(at_xuhui, fo)
    mail.outbox.clear()

    response = web.post(f"/api/v1/pickups/{fo.pk}/arrived", {"parking_spot": "B12"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "not_curbside"
    fo.refresh_from_db()
    assert (fo.customer_arrived_at, fo.parking_spot) == (None, "")
    assert mail.outbox == []
    assert "customer_arrived" not in timeline(order)


def test_another_channel_cannot_announce_an_arrival_for_an_order_it_never_saw(xuhui, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="curbside", location=xuhui)
    [fo] = fulfillment_orders(order)
    make_ready(at_xuhui, fo)

    response = channel_client("app").post(f"/api/v1/pickups/{fo.pk}/arrived", {}, format="json")

    assert response.status_code == 404
    fo.refresh_from_db()
    assert fo.customer_arrived_at is None


def test_a_pickup_handed_over_can_no_longer_be_cancelled(pickup, xuhui, tee, at_xuhui, web):
    order, fo = pickup
    act(at_xuhui, fo, "handover", code=pickup_code_in(ready_email(order).body))

    response = web.post(f"/api/v1/orders/{order.number}/cancel", {}, format="json")

    assert (response.status_code, response.json()["code"]) == (409, "order_not_cancellable")
    assert level(xuhui, tee) == (3, 0)
    order.refresh_from_db()
    assert order.status == "fulfilled"
