"""What a location does with a fulfillment order: accept, reject, pick, pack, ship, hand over.

Each service locks the fulfillment order, makes the transition (TransitionNotAllowed, a
409, when its status does not allow it), moves stock through inventory services, records
the order's timeline and queues notifications via the outbox.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from common.db import retry_on_conflict
from common.outbox import outbox_publish
from fulfillment.errors import (
    AwaitingTransfer,
    NotCurbside,
    OverrideNotAllowed,
    PickupCodeInvalid,
    PickupNotReady,
)
from fulfillment.models import FulfillmentOrder, FulfillmentOrderLine
from fulfillment.selectors import inbound_transfers
from fulfillment.services.pickup_codes import (
    pickup_code_attempts_left,
    pickup_code_mismatch_detail,
    pickup_code_revoke,
    pickup_code_verify,
)
from fulfillment.services.rejection_rates import rejection_rate_refresh_on_commit
from inventory.models import DeliveryMethod, Reservation, StockMovement
from inventory.services import (
    stock_consume,
    stock_hold_reserved,
    stock_release,
    stock_transfer_reserved,
)
from orders.events import (
    order_event_accepted,
    order_event_customer_arrived,
    order_event_fulfillment_order_cancelled,
    order_event_handed_over,
    order_event_packed,
    order_event_picked,
    order_event_pickup_code_resent,
    order_event_ready_for_pickup,
    order_event_rejected,
    order_event_shipped,
    order_event_transfer_shipped,
)
from orders.models import Order
from orders.services.lifecycle import order_get_for_update, order_lines_fulfilled
from orders.services.points import order_points_lock
from stores.models import StaffMembership
from stores.selectors import staff_role_at

Status = FulfillmentOrder.Status


def fulfillment_order_lock(fo: FulfillmentOrder) -> FulfillmentOrder:
    # Order first, then the fulfillment order: the same order as checkout and cancel.
    order_get_for_update(number=fo.order.number)
    return (
        FulfillmentOrder.objects.select_related("order", "location")
        .select_for_update(of=("self",))
        .get(pk=fo.pk)
    )


def _where(fo: FulfillmentOrder) -> dict:
    """Who a timeline event of `fo` is about: its order, itself and its location."""
    return {"order": fo.order, "fulfillment_order": fo.pk, "location": fo.location}


def fulfillment_open_lines(fo: FulfillmentOrder) -> list[FulfillmentOrderLine]:
    """The lines that still hold units, with their reservations."""
    lines = fo.lines.select_related("reservation", "order_line")
    return [line for line in lines if line.quantity > 0]


@transaction.atomic
def fulfillment_accept(*, fulfillment_order: FulfillmentOrder, actor=None) -> FulfillmentOrder:
    fo = fulfillment_order_lock(fulfillment_order)
    fo.accept()
    fo.accepted_at = timezone.now()
    fo.save(update_fields=["status", "accepted_at", "updated_at"])
    order_event_accepted(**_where(fo), actor=actor)
    rejection_rate_refresh_on_commit(location_id=fo.location_id)
    return fo


@transaction.atomic
def fulfillment_reject(
    *, fulfillment_order: FulfillmentOrder, reason: str, note: str = "", actor=None
) -> FulfillmentOrder:
    """The location cannot do it: its reservations end and the lines are re-routed.

    Units rejected as damaged or not found go into the hold there (on hand, never promised
    again) instead of back on the shelf; for not found the store is asked for a count,
    which settles them. Any other reason gives them back to the shelf.
    """
    fo = fulfillment_order_lock(fulfillment_order)
    fo.reject()
    fo.rejection_reason, fo.rejection_note = reason, note
    fo.save(update_fields=["status", "rejection_reason", "rejection_note", "updated_at"])
    lines = fulfillment_open_lines(fo)
    ending = {
        "reservations": [line.reservation for line in lines],
        "actor": actor,
        "reference": fo.order.number,
        "note": f"rejected at {fo.location.code}: {reason}",
    }
    hold_reason = _HOLD_REASONS.get(reason)
    count_requests = []
    if hold_reason is None:
        stock_release(**ending)
    else:
        count_requests = stock_hold_reserved(reason=hold_reason, **ending)
    order_event_rejected(
        **_where(fo),
        reason=reason,
        reason_label=fo.get_rejection_reason_display(),
        note=note,
        held=_held_units(lines) if hold_reason else None,
        count_requested=bool(count_requests),
        actor=actor,
    )
    rejection_rate_refresh_on_commit(location_id=fo.location_id)
    outbox_publish("fulfillment.rejected", fulfillment_order=fo.pk)
    if count_requests:
        outbox_publish(
            "fulfillment.count_requested",
            fulfillment_order=fo.pk,
            count_requests=[request.pk for request in count_requests],
        )
    return fo


# What a rejection puts into the hold at its location, by its reason.
_HOLD_REASONS = {
    FulfillmentOrder.RejectReason.DAMAGED: StockMovement.Reason.DAMAGED,
    FulfillmentOrder.RejectReason.NOT_FOUND: StockMovement.Reason.NOT_FOUND,
}


def _held_units(lines: list[FulfillmentOrderLine]) -> list[dict]:
    """Per SKU, the units a rejection put into the hold (for the timeline)."""
    units: dict[str, int] = {}
    for line in lines:
        sku = line.order_line.sku_code
        units[sku] = units.get(sku, 0) + line.quantity
    return [{"sku": sku, "quantity": qty} for sku, qty in sorted(units.items())]


@transaction.atomic
def fulfillment_pick(*, fulfillment_order: FulfillmentOrder, actor=None) -> FulfillmentOrder:
    fo = fulfillment_order_lock(fulfillment_order)
    fo.pick()
    fo.save(update_fields=["status", "updated_at"])
    order_event_picked(**_where(fo), actor=actor)
    return fo


@transaction.atomic
def fulfillment_pack(*, fulfillment_order: FulfillmentOrder, actor=None) -> FulfillmentOrder:
    fo = fulfillment_order_lock(fulfillment_order)
    fo.pack()
    fo.save(update_fields=["status", "updated_at"])
    order_event_packed(**_where(fo), actor=actor)
    return fo


def _complete(fo: FulfillmentOrder, actor) -> None:
    """Stock leaves the building; the order's lines and status follow."""
    lines = fulfillment_open_lines(fo)
    order_points_lock(order=fo.order)  # before the stock rows, as checkout takes them
    stock_consume(
        reservations=[line.reservation for line in lines], actor=actor, reference=fo.order.number
    )
    fo.completed_at = timezone.now()
    quantities: dict[int, int] = {}
    for line in lines:
        quantities[line.order_line_id] = quantities.get(line.order_line_id, 0) + line.quantity
    # What left is captured, once per fulfillment order.
    order_lines_fulfilled(
        order=fo.order, quantities=quantities, actor=actor, capture_key=str(fo.pk)
    )


@retry_on_conflict
@transaction.atomic
def fulfillment_ship(
    *, fulfillment_order: FulfillmentOrder, carrier: str, tracking_number: str, actor=None
) -> FulfillmentOrder:
    """Handed to the carrier: to the customer (the order's lines are fulfilled), or, for a
    transfer, to the pickup store (the units are in transit until it receives them)."""
    fo = fulfillment_order_lock(fulfillment_order)
    fo.ship()
    fo.carrier, fo.tracking_number = carrier, tracking_number
    if fo.is_transfer():
        return _send_to_store(fo, actor)
    _complete(fo, actor)
    fo.save(update_fields=["status", "carrier", "tracking_number", "completed_at", "updated_at"])
    order_event_shipped(**_where(fo), carrier=carrier, tracking_number=tracking_number, actor=actor)
    outbox_publish("fulfillment.shipped", fulfillment_order=fo.pk)
    return fo


def _send_to_store(fo: FulfillmentOrder, actor) -> FulfillmentOrder:
    # In SKU order: the stock rows here are locked in the global (location, sku) order.
    lines = sorted(fulfillment_open_lines(fo), key=lambda line: (line.reservation.sku_id, line.pk))
    for line in lines:
        line.transfer = stock_transfer_reserved(
            reservation=line.reservation, to_location=fo.destination, actor=actor
        )
    FulfillmentOrderLine.objects.bulk_update(lines, ["transfer"])
    fo.save(update_fields=["status", "carrier", "tracking_number", "updated_at"])
    order_event_transfer_shipped(
        **_where(fo),
        destination=fo.destination,
        carrier=fo.carrier,
        tracking_number=fo.tracking_number,
        actor=actor,
    )
    outbox_publish("fulfillment.transfer_shipped", fulfillment_order=fo.pk)
    return fo


@transaction.atomic
def fulfillment_ready(*, fulfillment_order: FulfillmentOrder, actor=None) -> FulfillmentOrder:
    """Ready for pickup: the hold starts and the customer is sent a pickup code.

    409 while items of the order are still on their way to the store.
    """
    fo = fulfillment_order_lock(fulfillment_order)
    fo.ready()
    if inbound_transfers(order=fo.order, destination=fo.location).exists():
        raise AwaitingTransfer()
    fo.ready_at = timezone.now()
    fo.pickup_deadline = fo.ready_at + timedelta(hours=fo.location.pickup_hold_hours)
    fo.pickup_code_round += 1
    fo.save(
        update_fields=["status", "ready_at", "pickup_deadline", "pickup_code_round", "updated_at"]
    )
    order_event_ready_for_pickup(**_where(fo), deadline=fo.pickup_deadline, actor=actor)
    outbox_publish("fulfillment.ready", fulfillment_order=fo.pk, round=fo.pickup_code_round)
    return fo


@transaction.atomic
def fulfillment_resend_code(*, fulfillment_order: FulfillmentOrder, actor=None) -> FulfillmentOrder:
    """The customer lost the code (or locked it with wrong tries): a new one replaces it."""
    fo = fulfillment_order_lock(fulfillment_order)
    if fo.status != Status.READY_FOR_PICKUP:
        raise PickupNotReady(status=fo.status)
    pickup_code_revoke(fulfillment_order=fo)
    order_event_pickup_code_resent(**_where(fo), actor=actor)
    outbox_publish(
        "fulfillment.ready", fulfillment_order=fo.pk, round=fo.pickup_code_round, again=True
    )
    return fo


@transaction.atomic
def fulfillment_customer_arrived(
    *, fulfillment_order: FulfillmentOrder, parking_spot: str = "", actor=None
) -> FulfillmentOrder:
    """Curbside: the customer is outside; the store is alerted."""
    fo = fulfillment_order_lock(fulfillment_order)
    if fo.kind != DeliveryMethod.CURBSIDE or fo.status not in (
        Status.ACCEPTED,
        Status.PICKED,
        Status.PACKED,
        Status.READY_FOR_PICKUP,
    ):
        raise NotCurbside(status=fo.status, kind=fo.kind)
    fo.customer_arrived_at = timezone.now()
    fo.parking_spot = parking_spot
    fo.save(update_fields=["customer_arrived_at", "parking_spot", "updated_at"])
    order_event_customer_arrived(**_where(fo), parking_spot=parking_spot, actor=actor)
    outbox_publish("fulfillment.customer_arrived", fulfillment_order=fo.pk)
    return fo


@retry_on_conflict
def fulfillment_handover(
    *,
    fulfillment_order: FulfillmentOrder,
    code: str = "",
    override_reason: str = "",
    actor=None,
) -> FulfillmentOrder:
    """Hand the goods over against the pickup code, or a manager's override with a reason.

    A wrong code is counted (and kept) before it is refused; after five, only a manager's
    override can hand over.
    """
    with transaction.atomic():
        fo = fulfillment_order_lock(fulfillment_order)
        if not can_proceed(fo.handover):
            fo.handover()  # raises TransitionNotAllowed (409) before any code is checked
        if override_reason:
            role = staff_role_at(user=actor, location=fo.location) if actor else None
            if role != StaffMembership.Role.MANAGER:
                raise OverrideNotAllowed()
            allowed = True
        else:
            # A wrong try is kept: refused once this transaction committed.
            allowed = pickup_code_verify(fulfillment_order=fo, code=code)
        if allowed:
            fo.handover()
            _complete(fo, actor)
            fo.save(update_fields=["status", "completed_at", "updated_at"])
            order_event_handed_over(**_where(fo), override_reason=override_reason, actor=actor)
    if not allowed:
        left = pickup_code_attempts_left(fo)
        raise PickupCodeInvalid(pickup_code_mismatch_detail(left), attempts_left=left)
    return fo


def fulfillment_orders_follow_order(*, order: Order, line_ids: list[int]) -> None:
    """After a cancel: shrink open fulfillment lines to what their reservations still hold,
    and cancel fulfillment orders left with nothing. Runs in the cancelling transaction."""
    open_fos = order.fulfillment_orders.select_for_update().filter(status__in=FulfillmentOrder.OPEN)
    for fo in open_fos:
        changed = []
        for line in fo.lines.select_related("reservation").filter(order_line_id__in=line_ids):
            active = line.reservation.status == Reservation.Status.ACTIVE
            held = line.reservation.quantity if active else 0
            if held != line.quantity:
                line.quantity = held
                changed.append(line)
        for line in changed:
            line.save(update_fields=["quantity"])
        if changed and not fo.lines.filter(quantity__gt=0).exists():
            fo.cancel()
            fo.completed_at = timezone.now()
            fo.save(update_fields=["status", "completed_at", "updated_at"])
            order_event_fulfillment_order_cancelled(
                order=order, fulfillment_order=fo.pk, location=fo.location, status=fo.status
            )
