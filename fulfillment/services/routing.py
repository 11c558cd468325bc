"""Fulfillment orders out of reservations: release after checkout, re-route after a rejection."""

import logging
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.outbox import outbox_publish
from fulfillment.models import FulfillmentOrder, FulfillmentOrderLine
from inventory.errors import InsufficientStock
from inventory.models import Reservation
from inventory.selectors import reservations_for_demand, sourcing_candidates
from inventory.services import StockRequest, stock_reserve
from inventory.sourcing import SHIP, Demand, route
from orders.events import order_event_record
from orders.models import DeliveryMethod, Order, OrderEvent, OrderLine
from orders.services.lifecycle import (
    order_get_for_update,
    order_line_cancel,
    order_start_processing,
)

logger = logging.getLogger(__name__)


def _kind(order: Order) -> str:
    return {
        DeliveryMethod.SHIP: FulfillmentOrder.Kind.SHIP,
        DeliveryMethod.PICKUP: FulfillmentOrder.Kind.PICKUP,
        DeliveryMethod.CURBSIDE: FulfillmentOrder.Kind.CURBSIDE,
    }[order.delivery_method]


def _line_id(reservation: Reservation) -> int:
    return int(reservation.reference.rsplit("/", 1)[1])


def _create_for(
    *, order: Order, reservations: list[Reservation], routing: dict, rerouted_from=None
) -> list[FulfillmentOrder]:
    by_location: dict[int, list[Reservation]] = defaultdict(list)
    for reservation in reservations:
        by_location[reservation.location_id].append(reservation)
    created = []
    for location_id, held in sorted(by_location.items()):
        fo = FulfillmentOrder.objects.create(
            order=order,
            location_id=location_id,
            kind=_kind(order),
            routing=routing,
            rerouted_from=rerouted_from,
        )
        FulfillmentOrderLine.objects.bulk_create(
            [
                FulfillmentOrderLine(
                    fulfillment_order=fo,
                    order_line_id=_line_id(r),
                    reservation=r,
                    quantity=r.quantity,
                )
                for r in held
            ]
        )
        order_event_record(
            order=order,
            kind=OrderEvent.Kind.RELEASED,
            location=fo.location,
            message=f"Fulfillment order {fo.pk} released to {fo.location.code}",
            data={
                "fulfillment_order": fo.pk,
                "kind": fo.kind,
                "lines": [{"line": _line_id(r), "quantity": r.quantity} for r in held],
            },
        )
        outbox_publish("fulfillment.released", fulfillment_order=fo.pk)
        created.append(fo)
    return created


@transaction.atomic
def fulfillment_release(*, order_number: str) -> list[FulfillmentOrder]:
    """One fulfillment order per location holding the order's stock. Idempotent."""
    order = order_get_for_update(number=order_number)
    if order.delivery_method == DeliveryMethod.CARRY_OUT or order.status != Order.Status.PLACED:
        return []
    if order.fulfillment_orders.exists():
        return []
    held = [
        r
        for r in reservations_for_demand(demand=order.number)
        if r.status == Reservation.Status.ACTIVE
    ]
    created = _create_for(order=order, reservations=held, routing=order.routing)
    order_start_processing(order=order)
    logger.info("order %s released to %d location(s)", order.number, len(created))
    return created


def _excluded_locations(order: Order) -> frozenset[int]:
    """Every location that already gave up on part of this order."""
    return frozenset(
        order.fulfillment_orders.filter(
            status__in=[FulfillmentOrder.Status.REJECTED, FulfillmentOrder.Status.EXPIRED]
        ).values_list("location_id", flat=True)
    )


def _demand(order: Order, lines: dict[int, int], exclude: frozenset[int]) -> Demand:
    address = order.shipping_address or {}
    point = (address["latitude"], address["longitude"]) if "latitude" in address else None
    return Demand(
        method=SHIP,
        lines=lines,
        point=point,
        exclude=exclude,
        prefer=settings.OMS_SHIP_PREFERENCE,
    )


def _place_elsewhere(
    *, order: Order, rejected: FulfillmentOrder, wanted: dict[OrderLine, int]
) -> list[FulfillmentOrder]:
    """Route `wanted` again without the locations that gave up, reserve it, create its
    fulfillment orders. Empty when no location (or set of locations) can take all of it."""
    demand = _demand(
        order, {line.sku_id: qty for line, qty in wanted.items()}, _excluded_locations(order)
    )
    decision = route(demand, sourcing_candidates(sku_ids=demand.lines, method=SHIP))
    if not decision.ok:
        return []
    line_of_sku = {line.sku_id: line for line in wanted}
    try:
        with transaction.atomic():
            reservations = stock_reserve(
                requests=[
                    StockRequest(
                        location_id=a.location_id,
                        sku_id=a.sku_id,
                        quantity=a.quantity,
                        reference=f"{order.number}/{line_of_sku[a.sku_id].pk}",
                    )
                    for a in decision.allocations
                ],
                demand=order.number,
                delivery_method=order.delivery_method,
            )
    except InsufficientStock:
        return []  # taken in the meantime; the caller tries smaller parts or cancels
    routing = decision.as_dict({line.sku_id: line.sku_code for line in wanted})
    order_event_record(
        order=order,
        kind=OrderEvent.Kind.REROUTED,
        location=rejected.location,
        message=f"Re-routed from {rejected.location.code} to " + ", ".join(routing["locations"]),
        data={"from": rejected.location.code, "fulfillment_order": rejected.pk, "routing": routing},
    )
    return _create_for(
        order=order, reservations=reservations, routing=routing, rerouted_from=rejected
    )


@transaction.atomic
def fulfillment_reroute(*, fulfillment_order_id: int) -> list[FulfillmentOrder]:
    """Find new locations for what a rejected fulfillment order held. Idempotent.

    Ship orders go to the next best locations (every location that gave up on this order
    is excluded): all lines together if possible, else line by line. What no location can
    take, and a pickup its store could not serve, is cancelled and the customer is told.
    """
    number = FulfillmentOrder.objects.values_list("order__number", flat=True).get(
        pk=fulfillment_order_id
    )
    order = order_get_for_update(number=number)
    fo = FulfillmentOrder.objects.select_for_update().get(pk=fulfillment_order_id)
    if fo.status != FulfillmentOrder.Status.REJECTED or fo.completed_at is not None:
        return []
    remaining = {
        fl.order_line: min(fl.order_line.quantity_open, fl.quantity)
        for fl in fo.lines.select_related("order_line")
    }
    remaining = {line: qty for line, qty in remaining.items() if qty > 0}
    created: list[FulfillmentOrder] = []
    if fo.kind == FulfillmentOrder.Kind.SHIP and remaining:
        attempts = [dict(remaining)]
        if len(remaining) > 1:
            attempts += [{line: qty} for line, qty in remaining.items()]
        for attempt in attempts:
            wanted = {line: qty for line, qty in attempt.items() if line in remaining}
            placed = _place_elsewhere(order=order, rejected=fo, wanted=wanted) if wanted else []
            if placed:
                created += placed
                for line in wanted:
                    del remaining[line]
    for line, qty in remaining.items():
        order_line_cancel(
            order=order,
            line_id=line.pk,
            quantity=qty,
            reason="no location can fulfil it",
            release_stock=False,
        )
    if remaining:
        outbox_publish(
            "order.lines_cancelled",
            number=order.number,
            lines=[{"sku": line.sku_code, "quantity": qty} for line, qty in remaining.items()],
            reason=f"{fo.location.code} could not fulfil it and no other location can",
        )
    fo.completed_at = timezone.now()
    fo.save(update_fields=["completed_at", "updated_at"])
    return created
