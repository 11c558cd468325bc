"""Ship-to-store: what a pickup store lacked arrives by transfer and joins its pickup."""

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from fulfillment.models import FulfillmentOrder, FulfillmentOrderLine
from fulfillment.selectors import inbound_transfers
from fulfillment.services.actions import (
    fulfillment_accept,
    fulfillment_order_lock,
    fulfillment_pick,
    fulfillment_ready,
)
from fulfillment.services.routing import (
    fulfillment_kind_for_method,
    fulfillment_lines_add,
    fulfillment_order_create,
)
from inventory.models import DeliveryMethod, Reservation
from inventory.services import StockRequest, stock_reserve, stock_transfer_receive
from orders.events import order_event_transfer_received
from orders.models import Order, OrderLine

Status = FulfillmentOrder.Status


def _still_needed(*, line: OrderLine, arriving: FulfillmentOrder) -> int:
    """Units of `line` nobody holds or brings any more: open, minus what is held for it,
    minus what other transfers still bring. Zero once the line was cancelled meanwhile."""
    line.refresh_from_db(fields=["quantity", "quantity_cancelled", "quantity_fulfilled"])
    held = Reservation.objects.filter(
        reference=line.reservation_reference,
        status=Reservation.Status.ACTIVE,
    ).aggregate(n=Sum("quantity"))["n"]
    coming = (
        FulfillmentOrderLine.objects.filter(
            order_line=line,
            fulfillment_order__kind=DeliveryMethod.TRANSFER,
            fulfillment_order__status=Status.SHIPPED,
        )
        .exclude(fulfillment_order=arriving)
        .aggregate(n=Sum("quantity"))["n"]
    )
    return max(0, line.quantity_open - (held or 0) - (coming or 0))


@transaction.atomic
def fulfillment_receive(*, fulfillment_order: FulfillmentOrder, actor=None) -> FulfillmentOrder:
    """The transfer arrived at the pickup store. Its units are held there for the order
    lines that still need them (the rest goes on the shelf) and join the store's pickup,
    which is made ready once nothing else is on its way and the store has picked its part."""
    fo = fulfillment_order_lock(fulfillment_order)
    fo.receive()  # TransitionNotAllowed (409) unless a transfer that was shipped
    fo.completed_at = timezone.now()
    fo.save(update_fields=["status", "completed_at", "updated_at"])
    order, store = fo.order, fo.destination
    wanted: dict[OrderLine, int] = {}
    # In SKU order: the stock rows of the store are locked in the global (location, sku) order.
    lines = fo.lines.select_related("transfer", "order_line__order").filter(transfer__isnull=False)
    for line in lines.order_by("transfer__sku_id", "pk"):
        stock_transfer_receive(transfer=line.transfer, actor=actor)
        needed = _still_needed(line=line.order_line, arriving=fo)
        if min(needed, line.transfer.quantity):
            wanted[line.order_line] = min(needed, line.transfer.quantity)
    reservations = stock_reserve(
        requests=[
            StockRequest(
                location_id=store.pk,
                sku_id=line.sku_id,
                quantity=qty,
                reference=line.reservation_reference,
            )
            for line, qty in wanted.items()
        ],
        demand=order.number,
        delivery_method=order.delivery_method,
        # These units came for this order: the store's safety stock is not theirs to guard.
        allow_safety_stock=True,
        actor=actor,
    )
    order_event_transfer_received(
        order=order,
        fulfillment_order=fo.pk,
        location=fo.location,
        destination=store,
        held=[{"line": line.pk, "quantity": qty} for line, qty in wanted.items()],
        actor=actor,
    )
    pickup = _open_pickup(order=order, store=store)
    if reservations and not _store_gave_up(order=order, store=store):
        pickup = _join_pickup(
            order=order, store=store, pickup=pickup, reservations=reservations, actor=actor
        )
    # Also when nothing was needed any more: the store may have picked the rest already.
    nothing_coming = not inbound_transfers(order=order, destination=store).exists()
    if pickup is not None and pickup.status == Status.PICKED and nothing_coming:
        fulfillment_ready(fulfillment_order=pickup, actor=actor)
    return fo


def _open_pickup(*, order: Order, store) -> FulfillmentOrder | None:
    return (
        order.fulfillment_orders.select_for_update()
        .filter(location=store, status__in=[Status.PENDING, Status.ACCEPTED, Status.PICKED])
        .exclude(kind=DeliveryMethod.TRANSFER)
        .order_by("pk")
        .first()
    )


def _store_gave_up(*, order: Order, store) -> bool:
    """The store rejected this order's pickup: its re-route cancels the order (releasing
    what was just held here), so no new pickup is started for it."""
    return (
        order.fulfillment_orders.filter(location=store, status=Status.REJECTED)
        .exclude(kind=DeliveryMethod.TRANSFER)
        .exists()
    )


def _join_pickup(
    *,
    order: Order,
    store,
    pickup: FulfillmentOrder | None,
    reservations: list[Reservation],
    actor,
) -> FulfillmentOrder:
    """Add the received units to the store's open pickup, or start one, already accepted
    and picked, when the store had nothing of its own. Returns the pickup."""
    started = pickup is None
    if started:
        pickup = fulfillment_order_create(
            order=order,
            location=store,
            kind=fulfillment_kind_for_method(order.delivery_method),
            routing=order.routing,
        )
    fulfillment_lines_add(fulfillment_order=pickup, reservations=reservations)
    if not started:
        return pickup
    # The received parcel is in the staff's hands: nothing is left to accept or pick.
    accepted = fulfillment_accept(fulfillment_order=pickup, actor=actor)
    return fulfillment_pick(fulfillment_order=accepted, actor=actor)


__all__ = ["fulfillment_receive"]
