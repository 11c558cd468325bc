"""A location that cannot fulfil gives its stock back; the lines go elsewhere or are cancelled."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.utils import timezone

from fulfillment.models import FulfillmentOrder
from fulfillment.tasks import refresh_rejection_rates
from inventory.errors import InsufficientStock
from inventory.models import CountRequest, StockLevel
from inventory.services import stock_cycle_count
from orders.models import OrderEvent
from stores.models import Location
from tests.factories import (
    assert_stock_consistent,
    checkout,
    place_order,
    staff_client,
    staff_member,
    timeline,
)
from tests.fulfillment.factories import act, fulfillment_orders, level, sent_to, stock_put

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "ada@example.com"


def rejection_rate(location: Location) -> float:
    return Location.objects.get(pk=location.pk).recent_rejection_rate


def test_rejected_ship_order_is_rerouted_to_the_next_location(
    xuhui, pudong, tee, at_xuhui, pudong_associate
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="ship", email=CUSTOMER)
    [first] = fulfillment_orders(order)
    assert first.location == xuhui
    assert rejection_rate(xuhui) == 0.0
    mail.outbox.clear()

    response = act(at_xuhui, first, "reject", reason="not_found", note="shelf empty")

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["rejection_reason"]) == (
        "rejected",
        "not_found",
    )
    rejected, second = fulfillment_orders(order)
    assert (rejected.pk, rejected.status) == (first.pk, "rejected")
    assert (second.location, second.status, second.kind) == (pudong, "pending", "ship")
    assert second.rerouted_from_id == first.pk
    assert [(fl.order_line.sku_code, fl.quantity) for fl in second.lines.all()] == [
        ("TEE-WHITE-M", 2)
    ]
    assert level(xuhui, tee) == (5, 0)
    assert level(pudong, tee) == (5, 2)
    kinds = timeline(order)
    assert kinds.index("rejected") < kinds.index("rerouted")
    assert kinds.count("released") == 2
    rerouted = order.events.get(kind=OrderEvent.Kind.REROUTED)
    assert rerouted.data["from"] == "SH-XUHUI"
    assert rerouted.data["routing"]["locations"] == ["SH-PUDONG"]
    considered = {e["location"]: e for e in second.routing["considered"]}
    assert considered["SH-XUHUI"]["reason"] == "excluded_after_rejection"
    assert rejection_rate(xuhui) > 0.0
    assert rejection_rate(pudong) == 0.0
    order.refresh_from_db()
    assert order.status == "processing"
    [told] = sent_to(pudong_associate.email)
    assert order.number in told.subject
    assert sent_to(CUSTOMER) == []  # nothing the customer needs to know yet
    assert_stock_consistent()


def test_rerouting_skips_every_location_that_already_gave_up(xuhui, pudong, jingan, tee):
    for location in (xuhui, pudong, jingan):
        stock_put(location=location, sku=tee, on_hand=3)
    order = place_order([(tee, 1)], method="ship", email=CUSTOMER)

    visited = []
    for _ in range(3):
        [current] = [fo for fo in fulfillment_orders(order) if fo.status == "pending"]
        visited.append(current.location.code)
        act(staff_client(user=staff_member(current.location)), current, "reject", reason="damaged")

    assert visited == ["SH-XUHUI", "SH-JINGAN", "SH-PUDONG"]
    assert [fo.status for fo in fulfillment_orders(order)] == ["rejected"] * 3
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert [level(loc, tee) for loc in (xuhui, pudong, jingan)] == [(3, 0)] * 3
    assert_stock_consistent()


def test_reject_when_no_other_location_has_stock_cancels_the_order_and_tells_the_customer(
    xuhui, pudong, tee, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=1)  # not enough for the order
    order = place_order([(tee, 2)], method="ship", email=CUSTOMER)
    [fo] = fulfillment_orders(order)

    act(at_xuhui, fo, "reject", reason="not_found")

    assert [f.status for f in fulfillment_orders(order)] == ["rejected"]
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert order.lines.get().quantity_cancelled == 2
    assert level(xuhui, tee) == (5, 0)
    assert level(pudong, tee) == (1, 0)
    [message] = sent_to(CUSTOMER)
    assert message.subject == f"Part of your order {order.number} was cancelled"
    assert "2 x TEE-WHITE-M" in message.body
    assert "SH-XUHUI could not fulfil it" in message.body
    kinds = timeline(order)
    assert "line_cancelled" in kinds
    assert "rerouted" not in kinds
    assert_stock_consistent()


def test_what_no_location_can_take_is_cancelled_and_the_rest_goes_elsewhere(
    xuhui, pudong, tee, mug, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=2)
    stock_put(location=xuhui, sku=mug, on_hand=2)
    stock_put(location=pudong, sku=tee, on_hand=2)
    order = place_order([(tee, 1), (mug, 1)], method="ship", email=CUSTOMER)
    [fo] = fulfillment_orders(order)

    act(at_xuhui, fo, "reject", reason="no_capacity")

    _, elsewhere = fulfillment_orders(order)
    assert (elsewhere.location, elsewhere.status) == (pudong, "pending")
    assert [(fl.order_line.sku_code, fl.quantity) for fl in elsewhere.lines.all()] == [
        ("TEE-WHITE-M", 1)
    ]
    order.refresh_from_db()
    assert order.status == "processing"
    lines = {line.sku_code: line for line in order.lines.all()}
    assert (lines["TEE-WHITE-M"].quantity_cancelled, lines["MUG-BLUE"].quantity_cancelled) == (0, 1)
    [message] = sent_to(CUSTOMER)
    assert "1 x MUG-BLUE" in message.body
    assert "TEE-WHITE-M" not in message.body
    assert level(xuhui, tee) == (2, 0)
    assert level(xuhui, mug) == (2, 0)
    assert level(pudong, tee) == (2, 1)
    assert_stock_consistent()


def test_rerouted_lines_join_the_order_waiting_at_that_location_instead_of_a_second_one(
    xuhui, pudong, tee, mug, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=2)
    stock_put(location=pudong, sku=mug, on_hand=2)
    order = place_order([(tee, 1), (mug, 1)], method="ship", email=CUSTOMER)
    at_xuhui_fo, at_pudong_fo = fulfillment_orders(order)
    assert (at_xuhui_fo.location, at_pudong_fo.location) == (xuhui, pudong)
    stock_put(location=pudong, sku=tee, on_hand=2)  # Pudong's delivery arrives meanwhile

    act(at_xuhui, at_xuhui_fo, "reject", reason="damaged")

    rejected, joined = fulfillment_orders(order)
    assert (rejected.status, joined.pk, joined.status) == ("rejected", at_pudong_fo.pk, "pending")
    assert sorted((fl.order_line.sku_code, fl.quantity) for fl in joined.lines.all()) == [
        ("MUG-BLUE", 1),
        ("TEE-WHITE-M", 1),
    ]
    assert level(pudong, tee) == (2, 1)
    assert_stock_consistent()


def test_rejecting_a_pickup_cancels_it_instead_of_sending_the_customer_elsewhere(
    xuhui, pudong, tee, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="pickup", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    act(at_xuhui, fo, "accept")

    response = act(at_xuhui, fo, "reject", reason="damaged", note="box crushed")

    assert response.status_code == 200
    assert [f.status for f in fulfillment_orders(order)] == ["rejected"]
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert level(xuhui, tee) == (5, 0)
    assert level(pudong, tee) == (5, 0)
    [message] = sent_to(CUSTOMER)
    assert "cancelled" in message.subject
    assert "2 x TEE-WHITE-M" in message.body
    rejected = order.events.get(kind=OrderEvent.Kind.REJECTED)
    assert (rejected.data["reason"], rejected.data["note"]) == ("damaged", "box crushed")
    assert_stock_consistent()


@pytest.mark.parametrize("reason", ["bored", "sla_expired", ""])
def test_rejection_needs_a_reason_staff_may_give(xuhui, tee, at_xuhui, reason):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="ship")
    [fo] = fulfillment_orders(order)

    response = act(at_xuhui, fo, "reject", reason=reason)

    assert response.status_code == 400
    assert "reason" in response.json()["errors"]
    fo.refresh_from_db()
    assert fo.status == "pending"
    assert level(xuhui, tee) == (5, 1)
    assert_stock_consistent()


# --- the order is cancelled ------------------------------------------------------------------


def test_cancelling_the_order_cancels_its_open_fulfillment_orders(
    web, xuhui, pudong, tee, mug, at_xuhui, at_pudong
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=mug, on_hand=5)
    order = place_order([(tee, 2), (mug, 1)], method="ship", email=CUSTOMER)
    at_x, at_p = fulfillment_orders(order)
    act(at_xuhui, at_x, "accept")
    act(at_xuhui, at_x, "pick")

    response = web.post(
        f"/api/v1/orders/{order.number}/cancel", {"reason": "changed my mind"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert [fo.status for fo in fulfillment_orders(order)] == ["cancelled", "cancelled"]
    assert level(xuhui, tee) == (5, 0)
    assert level(pudong, mug) == (5, 0)
    [message] = sent_to(CUSTOMER)
    assert message.subject == f"Your order {order.number} is cancelled"
    assert "changed my mind" in message.body
    assert act(at_xuhui, at_x, "pack").json()["code"] == "transition_not_allowed"
    assert act(at_pudong, at_p, "accept").json()["code"] == "transition_not_allowed"
    assert_stock_consistent()


def test_cancelling_after_one_shipment_cancels_only_what_is_still_open(
    web, xuhui, pudong, tee, mug, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=mug, on_hand=5)
    order = place_order([(tee, 2), (mug, 1)], method="ship")
    at_x, _ = fulfillment_orders(order)
    for step in ("accept", "pick", "pack"):
        act(at_xuhui, at_x, step)
    act(at_xuhui, at_x, "ship", carrier="SF Express", tracking_number="SF1")

    response = web.post(f"/api/v1/orders/{order.number}/cancel", {}, format="json")

    assert response.status_code == 200, response.content
    assert [fo.status for fo in fulfillment_orders(order)] == ["shipped", "cancelled"]
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert level(xuhui, tee) == (3, 0)
    assert level(pudong, mug) == (5, 0)
    assert_stock_consistent()


def test_cancelling_part_of_a_line_shrinks_its_fulfillment_order(web, xuhui, tee, mug, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=xuhui, sku=mug, on_hand=5)
    order = place_order([(tee, 3), (mug, 1)], method="ship")
    [fo] = fulfillment_orders(order)
    tee_line = order.lines.get(sku_code="TEE-WHITE-M")

    response = web.post(
        f"/api/v1/orders/{order.number}/lines/{tee_line.pk}/cancel", {"quantity": 2}, format="json"
    )

    assert response.status_code == 200, response.content
    fo.refresh_from_db()
    assert fo.status == "pending"
    assert {fl.order_line.sku_code: fl.quantity for fl in fo.lines.all()} == {
        "TEE-WHITE-M": 1,
        "MUG-BLUE": 1,
    }
    for step in ("accept", "pick", "pack"):
        act(at_xuhui, fo, step)
    act(at_xuhui, fo, "ship", carrier="SF Express", tracking_number="SF2")
    assert level(xuhui, tee) == (4, 0)
    assert level(xuhui, mug) == (4, 0)
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert_stock_consistent()


def test_rejections_older_than_a_week_stop_ranking_a_store_down(xuhui, pudong, tee, at_xuhui):
    stock_put(location=xuhui, sku=tee, on_hand=5)
    stock_put(location=pudong, sku=tee, on_hand=5)
    order = place_order([(tee, 1)], method="ship", email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    act(at_xuhui, fo, "reject", reason="damaged")
    assert rejection_rate(xuhui) == 1.0
    FulfillmentOrder.objects.filter(location=xuhui).update(
        created_at=timezone.now() - timedelta(days=8)
    )

    assert refresh_rejection_rates() == 1

    assert rejection_rate(xuhui) == 0.0
    assert rejection_rate(pudong) == 0.0


# --- damaged and not found: the units go into the hold ---------------------------------------


def held_at(location: Location, sku) -> tuple[int, int, int]:
    """(on hand, reserved, held) of `sku` at `location`, read now."""
    row = StockLevel.objects.get(location=location, sku=sku)
    return row.on_hand, row.reserved, row.held


def availability_at(client, location: Location, sku) -> dict:
    response = client.get(f"/api/v1/availability?sku={sku.code}&location={location.code}")
    assert response.status_code == 200, response.content
    [row] = response.json()["results"]
    return row


def test_a_damaged_pick_is_held_there_and_never_promised_again(
    web, xuhui, pudong, tee, at_xuhui, pudong_associate
):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    stock_put(location=pudong, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="ship", email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    assert fo.location == xuhui
    act(at_xuhui, fo, "accept")

    response = act(at_xuhui, fo, "reject", reason="damaged", note="box crushed")

    assert response.status_code == 200, response.content
    assert held_at(xuhui, tee) == (3, 0, 2)  # released from the order, held, not on the shelf
    _, elsewhere = fulfillment_orders(order)
    assert (elsewhere.location, elsewhere.status) == (pudong, "pending")
    assert held_at(pudong, tee) == (5, 2, 0)
    rejected = order.events.get(kind=OrderEvent.Kind.REJECTED)
    assert rejected.data == {
        "fulfillment_order": fo.pk,
        "reason": "damaged",
        "note": "box crushed",
        "held": [{"sku": "TEE-WHITE-M", "quantity": 2}],
    }
    assert rejection_rate(xuhui) > 0.0
    row = availability_at(web, xuhui, tee)
    assert (row["on_hand"], row["reserved"], row["held"], row["available"]) == (3, 0, 2, 1)
    # The next order for two ships from Pudong: Xuhui has only one unit it may promise.
    second = place_order([(tee, 2)], method="ship", email="bob@example.com")
    [second_fo] = fulfillment_orders(second)
    assert second_fo.location == pudong
    assert held_at(xuhui, tee) == (3, 0, 2)
    assert_stock_consistent()


def test_a_pickup_rejected_as_damaged_holds_the_units_and_refuses_the_same_pickup_again(
    web, xuhui, tee, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=2)
    order = place_order([(tee, 2)], method="pickup", location=xuhui, email=CUSTOMER)
    [fo] = fulfillment_orders(order)

    act(at_xuhui, fo, "reject", reason="damaged")

    order.refresh_from_db()
    assert order.status == "cancelled"
    assert held_at(xuhui, tee) == (2, 0, 2)
    with pytest.raises(InsufficientStock) as refused:
        checkout([(tee, 1)], method="pickup", location=xuhui, email="bob@example.com")
    assert refused.value.extra["lines"] == [{"sku": "TEE-WHITE-M", "requested": 1, "available": 0}]
    assert_stock_consistent()


def test_units_not_found_are_held_a_count_is_requested_and_the_count_settles_them(
    web, xuhui, pudong, tee, at_xuhui, xuhui_associate
):
    stock_put(location=xuhui, sku=tee, on_hand=2)
    stock_put(location=pudong, sku=tee, on_hand=5)
    order = place_order([(tee, 2)], method="ship", email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    assert fo.location == xuhui
    mail.outbox.clear()

    act(at_xuhui, fo, "reject", reason="not_found", note="shelf empty")

    assert held_at(xuhui, tee) == (2, 0, 2)
    [request] = CountRequest.objects.filter(location=xuhui, sku=tee)
    assert (request.status, request.quantity, request.reference) == ("open", 2, order.number)
    [told] = sent_to(xuhui_associate.email)
    assert told.subject == (f"Count requested at SH-XUHUI: items of order {order.number} not found")
    assert "- TEE-WHITE-M White tee, M: 2 not found" in told.body
    rejected = order.events.get(kind=OrderEvent.Kind.REJECTED)
    assert rejected.data["count_requested"] is True
    assert "notified" in timeline(order)
    assert availability_at(web, xuhui, tee)["available"] == 0
    # The next order is not sent to the empty shelf.
    second = place_order([(tee, 1)], method="ship", email="bob@example.com")
    [second_fo] = fulfillment_orders(second)
    assert second_fo.location == pudong
    assert_stock_consistent()

    # The store counts the shelf: one unit was there after all.
    counter = staff_client(user=_with_permission(xuhui_associate, "add_stockmovement"))
    counted = counter.post(
        "/api/v1/inventory/movements",
        {
            "movements": [
                {
                    "source": "store-app",
                    "external_id": f"count-{request.pk}",
                    "location": "SH-XUHUI",
                    "sku": "TEE-WHITE-M",
                    "reason": "cycle_count",
                    "quantity": 1,
                }
            ]
        },
        format="json",
    )

    assert counted.status_code == 200, counted.content
    assert counted.json()["results"][0]["status"] == "applied"
    assert held_at(xuhui, tee) == (1, 0, 0)
    request.refresh_from_db()
    assert request.status == "counted"
    assert availability_at(web, xuhui, tee)["available"] == 1
    assert_stock_consistent()


def test_a_count_of_an_empty_shelf_writes_the_missing_units_off_the_books(
    xuhui, pudong, tee, at_xuhui
):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    stock_put(location=pudong, sku=tee, on_hand=5)
    order = place_order([(tee, 3)], method="ship", email=CUSTOMER)
    [fo] = fulfillment_orders(order)
    act(at_xuhui, fo, "reject", reason="not_found")

    count = stock_cycle_count(location=xuhui, sku=tee, counted=0)

    assert (count.delta_on_hand, count.delta_held) == (-3, -3)
    assert held_at(xuhui, tee) == (0, 0, 0)
    assert not CountRequest.objects.filter(status="open").exists()
    assert_stock_consistent()


@pytest.mark.parametrize("reason", ["no_capacity", "other"])
def test_other_rejections_give_the_units_back_to_the_shelf(xuhui, pudong, tee, at_xuhui, reason):
    stock_put(location=xuhui, sku=tee, on_hand=3)
    order = place_order([(tee, 2)], method="ship", email=CUSTOMER)
    [fo] = fulfillment_orders(order)

    act(at_xuhui, fo, "reject", reason=reason)

    assert held_at(xuhui, tee) == (3, 0, 0)
    assert not CountRequest.objects.exists()
    assert "held" not in order.events.get(kind=OrderEvent.Kind.REJECTED).data
    assert_stock_consistent()


def _with_permission(user, codename: str):
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return type(user).objects.get(pk=user.pk)  # a fresh user: permissions are cached
