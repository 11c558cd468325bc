"""What happens when a location's time runs out: work not accepted within its SLA, and
pickups not collected within its hold period. Run by the beat tasks, each idempotent."""

from django.db import transaction
from django.utils import timezone

from common.outbox import outbox_publish
from fulfillment.models import FulfillmentOrder
from fulfillment.services.actions import (
    fulfillment_open_lines,
    fulfillment_order_lock,
    fulfillment_reject,
)
from inventory.services import stock_release
from orders.events import order_event_expired
from orders.services.lifecycle import order_line_cancel
from orders.services.points import order_points_lock

Status = FulfillmentOrder.Status


@transaction.atomic
def fulfillment_expire(*, fulfillment_order: FulfillmentOrder) -> FulfillmentOrder | None:
    """Not collected in time: the stock goes back on the shelf and the lines are cancelled."""
    fo = fulfillment_order_lock(fulfillment_order)
    if fo.status != Status.READY_FOR_PICKUP or fo.pickup_deadline > timezone.now():
        return None
    order_points_lock(order=fo.order)  # before the stock rows, as checkout takes them
    lines = fulfillment_open_lines(fo)
    fo.expire()
    fo.completed_at = timezone.now()
    fo.save(update_fields=["status", "completed_at", "updated_at"])
    stock_release(
        reservations=[line.reservation for line in lines],
        reference=fo.order.number,
        note="pickup not collected",
    )
    order_event_expired(
        order=fo.order, fulfillment_order=fo.pk, location=fo.location, deadline=fo.pickup_deadline
    )
    for line in lines:
        order_line_cancel(
            order=fo.order,
            line_id=line.order_line_id,
            quantity=line.quantity,
            reason="pickup not collected",
            release_stock=False,
        )
    outbox_publish(
        "order.lines_cancelled",
        number=fo.order.number,
        lines=[{"sku": line.order_line.sku_code, "quantity": line.quantity} for line in lines],
        reason=f"not collected at {fo.location.code} in time",
    )
    return fo


@transaction.atomic
def fulfillment_escalate(*, fulfillment_order: FulfillmentOrder) -> FulfillmentOrder | None:
    """Not accepted within the location's SLA. Shipments and transfers go elsewhere, as
    after a rejection; a pickup cannot (the customer chose the store), so its managers are
    alerted once instead. None when there was nothing to do."""
    # A store accepting right now must win, not be rejected.
    fo = fulfillment_order_lock(fulfillment_order)
    if fo.status != Status.PENDING or fo.accept_by is None or fo.accept_by > timezone.now():
        return None
    if fo.is_collected_at_store():
        if fo.escalated_at is not None:
            return None
        fo.escalated_at = timezone.now()
        fo.save(update_fields=["escalated_at", "updated_at"])
        outbox_publish("fulfillment.escalated", fulfillment_order=fo.pk)
        return fo
    return fulfillment_reject(
        fulfillment_order=fo,
        reason=FulfillmentOrder.RejectReason.SLA_EXPIRED,
        note=f"not accepted within {fo.location.accept_sla_minutes} minutes",
    )
