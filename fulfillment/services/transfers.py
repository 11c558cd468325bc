"""Ship-to-store: what a pickup store lacked arrives by transfer and joins its pickup."""

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from fulfillment.models import FulfillmentOrder, FulfillmentOrderLine
from fulfillment.selectors import inbound_transfers
from fulfillment.services.actions import (
    fulfillment_accept,
    fulfillment_event_record,
    fulfillment_order_lock,
    fulfillment_pick,
    fulfillment_ready,
)
from fulfillment.services.routing import fulfillment_order_create, pickup_kind
from inventory.models import Reservation
from inventory.services import StockRequest, stock_reserve, stock_transfer_receive
from orders.models import Order, OrderEvent, OrderLine

Status = FulfillmentOrder.Status


def _still_needed(*, order: Order, line: OrderLine, arriving: FulfillmentOrder) -> int:
    """Units of `line` nobody holds or brings any more: open, minus what is held for it,
    minus what other transfers still bring. Zero once the line was cancelled meanwhile."""
    line.refresh_from_db(fields=["quantity", "quantity_cancelled", "quantity_fulfilled"])
    held = Reservation.objects.filter(
        reference=f"{order.number}/{line.pk}", status=Reservation.Status.ACTIVE
    ).aggregate(n=Sum("quantity"))["n"]
    coming = (
        FulfillmentOrderLine.objects.filter(
            order_line=line,
            fulfillment_order__kind=FulfillmentOrder.Kind.TRANSFER,
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
    for line in fo.lines.select_related("transfer", "order_line"):
        if line.transfer is None:
            continue
        stock_transfer_receive(transfer=line.transfer, actor=actor)
        needed = _still_needed(order=order, line=line.order_line, arriving=fo)
        if min(needed, line.transfer.quantity):
            wanted[line.order_line] = min(needed, line.transfer.quantity)
    reservations = stock_reserve(
        requests=[
            StockRequest(
                location_id=store.pk,
                sku_id=line.sku_id,
                quantity=qty,
                reference=f"{order.number}/{line.pk}",
            )
            for line, qty in wanted.items()
        ],
        demand=order.number,
        delivery_method=order.delivery_method,
        # These units came for this order: the store's safety stock is not theirs to guard.
        allow_safety_stock=True,
        actor=actor,
    )
    fulfillment_event_record(
        fo,
        OrderEvent.Kind.TRANSFER_RECEIVED,
        actor,
        f"Received at {store.code} from {fo.location.code}"
        + ("" if reservations else "; nothing is needed any more, so it went on the shelf"),
        destination=store.code,
        held=[{"line": line.pk, "quantity": qty} for line, qty in wanted.items()],
    )
    if reservations:
        _join_pickup(order=order, store=store, reservations=reservations, actor=actor)
    return fo


def _join_pickup(*, order: Order, store, reservations: list[Reservation], actor) -> None:
    """Add the received units to the store's open pickup (one is started, already picked,
    when the store had nothing of its own), and make it ready once nothing is on its way."""
    pickup = (
        order.fulfillment_orders.select_for_update()
        .filter(location=store, status__in=[Status.PENDING, Status.ACCEPTED, Status.PICKED])
        .exclude(kind=FulfillmentOrder.Kind.TRANSFER)
        .order_by("pk")
        .first()
    )
    started = pickup is None
    if started:
        pickup = fulfillment_order_create(
            order=order, location=store, kind=pickup_kind(order), routing=order.routing
        )
    FulfillmentOrderLine.objects.bulk_create(
        [
            FulfillmentOrderLine(
                fulfillment_order=pickup,
                order_line_id=int(r.reference.rsplit("/", 1)[1]),
                reservation=r,
                quantity=r.quantity,
            )
            for r in reservations
        ]
    )
    if started:
        # The received parcel is in the staff's hands: nothing is left to accept or pick.
        pickup = fulfillment_pick(
            fulfillment_order=fulfillment_accept(fulfillment_order=pickup, actor=actor),
            actor=actor,
        )
    if pickup.status == Status.PICKED and not inbound_transfers(order=order, destination=store):
        fulfillment_ready(fulfillment_order=pickup, actor=actor)


__all__ = ["fulfillment_receive"]
