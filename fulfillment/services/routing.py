"""Fulfillment orders out of reservations: release after checkout, re-route after a rejection.

One module past ~400 lines on purpose: the release (one order or a batch) and the re-route
make fulfillment orders the same way, and read best beside each other.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.bulk import insert_rows
from common.logging import order_bind
from common.outbox import outbox_deliver_after_commit, outbox_event, outbox_publish
from fulfillment.models import FULFILLMENT_KINDS, FulfillmentOrder, FulfillmentOrderLine
from inventory.errors import InsufficientStock
from inventory.models import DeliveryMethod, Reservation
from inventory.services import StockRequest, stock_reserve
from inventory.snapshot import sourcing_candidates
from inventory.sourcing import Candidate, Demand, RoutingDecision, route
from orders.events import order_event_released, order_event_rerouted
from orders.models import Order, OrderEvent, OrderLine
from orders.references import LineReference
from orders.services.lifecycle import (
    order_cancel,
    order_get_for_update,
    order_line_cancel,
    orders_start_processing,
)
from orders.services.points import order_points_lock
from stores.hours import location_open_deadline
from stores.models import Location

logger = logging.getLogger(__name__)


def fulfillment_kind_for_method(method: str) -> DeliveryMethod:
    """The kind of the fulfillment orders that bring an order delivered by `method` to its
    customer: the method itself. ValueError for a carry-out, fulfilled at the till."""
    kind = DeliveryMethod(method)
    if kind not in FULFILLMENT_KINDS or kind == DeliveryMethod.TRANSFER:
        raise ValueError(f"no fulfillment order delivers a {method!r} order")
    return kind


def _is_transfer(order: Order, location_id: int) -> bool:
    """Units of a pickup held away from its store travel there first (ship-to-store)."""
    return order.pickup_location_id is not None and location_id != order.pickup_location_id


def _bound_for(order: Order, location_id: int) -> dict:
    """The kind and destination of a fulfillment order of `order` at `location_id`: a
    transfer to the pickup store, or the order's own delivery method."""
    if _is_transfer(order, location_id):
        return {"kind": DeliveryMethod.TRANSFER, "destination": order.pickup_location}
    return {"kind": fulfillment_kind_for_method(order.delivery_method), "destination": None}


def _fulfillment_order_new(
    *, order: Order, location: Location, now=None, **fields
) -> FulfillmentOrder:
    """An unsaved fulfillment order at `location`, to be accepted within its SLA (counted in
    its opening hours, so work that arrives at night waits for the morning)."""
    accept_by = location_open_deadline(
        location=location, start=now or timezone.now(), minutes=location.accept_sla_minutes
    )
    return FulfillmentOrder(order=order, location=location, accept_by=accept_by, **fields)


def fulfillment_order_create(*, order: Order, location: Location, **fields) -> FulfillmentOrder:
    """A new fulfillment order at `location` (see `_fulfillment_order_new`)."""
    fo = _fulfillment_order_new(order=order, location=location, **fields)
    fo.save(force_insert=True)
    return fo


def _line_id(reservation: Reservation) -> int:
    return LineReference.parse(reservation.reference).line_id


def _lines_for(
    *, fulfillment_order: FulfillmentOrder, reservations: list[Reservation]
) -> list[FulfillmentOrderLine]:
    return [
        FulfillmentOrderLine(
            fulfillment_order=fulfillment_order,
            order_line_id=_line_id(r),
            reservation=r,
            quantity=r.quantity,
        )
        for r in reservations
    ]


def fulfillment_lines_add(
    *, fulfillment_order: FulfillmentOrder, reservations: list[Reservation]
) -> list[FulfillmentOrderLine]:
    """A line of `fulfillment_order` for each of `reservations` (of its order's lines)."""
    return FulfillmentOrderLine.objects.bulk_create(
        _lines_for(fulfillment_order=fulfillment_order, reservations=reservations)
    )


def _released_event(
    *, order: Order, fo: FulfillmentOrder, held: list[Reservation], added: bool, save: bool = False
) -> OrderEvent:
    """The timeline's line for a fulfillment order released (or joined by a re-route)."""
    to_store = f" (to send to {fo.destination.code})" if fo.destination_id else ""
    how = "added to" if added else "released to"
    return order_event_released(
        order=order,
        location=fo.location,
        message=f"Fulfillment order {fo.pk} {how} {fo.location.code}{to_store}",
        fulfillment_order=fo.pk,
        data={
            "kind": fo.kind,
            "lines": [{"line": _line_id(r), "quantity": r.quantity} for r in held],
        },
        save=save,
    )


def _create_for(
    *, order: Order, reservations: list[Reservation], routing: dict, rerouted_from=None
) -> list[FulfillmentOrder]:
    """One fulfillment order per location holding `reservations`. A re-route that lands
    where the order already waits to be accepted joins that fulfillment order instead."""
    by_location: dict[int, list[Reservation]] = defaultdict(list)
    for reservation in reservations:
        by_location[reservation.location_id].append(reservation)
    locations = Location.objects.in_bulk(list(by_location))
    created = []
    for location_id, held in sorted(by_location.items()):
        bound = _bound_for(order, location_id)
        waiting = None
        if rerouted_from is not None:
            waiting = (
                order.fulfillment_orders.select_for_update()
                .filter(
                    location_id=location_id,
                    kind=bound["kind"],
                    status=FulfillmentOrder.Status.PENDING,
                )
                .order_by("pk")
                .first()
            )
        fo = waiting or fulfillment_order_create(
            order=order,
            location=locations[location_id],
            routing=routing,
            rerouted_from=rerouted_from,
            **bound,
        )
        fulfillment_lines_add(fulfillment_order=fo, reservations=held)
        _released_event(order=order, fo=fo, held=held, added=waiting is not None, save=True)
        outbox_publish("fulfillment.released", fulfillment_order=fo.pk)
        created.append(fo)
    return created


@transaction.atomic
def fulfillment_release(*, order_number: str) -> list[FulfillmentOrder]:
    """One fulfillment order per location holding the order's stock. Idempotent."""
    order_bind(order_number)
    return fulfillment_release_orders(order_numbers=[order_number]).get(order_number, [])


@transaction.atomic(savepoint=False)  # a failure ends the caller's transaction whole
def fulfillment_release_orders(
    *, order_numbers: Sequence[str]
) -> dict[str, list[FulfillmentOrder]]:
    """`fulfillment_release` of many placed orders at once, in a fixed number of statements
    however many there are: the orders locked (in id order), what they hold read, their
    fulfillment orders in one INSERT, then their lines, events and outbox rows in one more.
    Returns the fulfillment orders made, per order number. Idempotent."""
    orders = [
        order
        for order in Order.objects.select_for_update(of=("self",))
        .filter(number__in=order_numbers)
        .select_related("pickup_location")
        .order_by("pk")
        if order.delivery_method != DeliveryMethod.CARRY_OUT and order.status == Order.Status.PLACED
    ]
    released = set(
        FulfillmentOrder.objects.filter(order__in=orders).values_list("order_id", flat=True)
    )
    orders = [order for order in orders if order.pk not in released]
    if not orders:
        return {}
    held: dict[str, list[Reservation]] = defaultdict(list)
    # What the orders hold, as reservations_for_demand reads it for one order, for all.
    for reservation in Reservation.objects.filter(
        demand__in=[order.number for order in orders], status=Reservation.Status.ACTIVE
    ).order_by("pk"):
        held[reservation.demand].append(reservation)
    locations = Location.objects.in_bulk(
        list({r.location_id for reservations in held.values() for r in reservations})
    )
    now = timezone.now()
    made: list[tuple[Order, FulfillmentOrder, list[Reservation]]] = []
    for order in orders:
        by_location: dict[int, list[Reservation]] = defaultdict(list)
        for reservation in held[order.number]:
            by_location[reservation.location_id].append(reservation)
        for location_id, reservations in sorted(by_location.items()):
            fo = _fulfillment_order_new(
                order=order,
                location=locations[location_id],
                now=now,
                routing=order.routing,
                **_bound_for(order, location_id),
            )
            made.append((order, fo, reservations))
    insert_rows([fo for _, fo, _ in made])
    lines, events, announced = [], [], []
    for order, fo, reservations in made:
        lines += _lines_for(fulfillment_order=fo, reservations=reservations)
        events.append(_released_event(order=order, fo=fo, held=reservations, added=False))
        announced.append(outbox_event("fulfillment.released", fulfillment_order=fo.pk))
    events += orders_start_processing(orders=orders)
    insert_rows(lines, events, announced)
    outbox_deliver_after_commit(announced)
    result: dict[str, list[FulfillmentOrder]] = defaultdict(list)
    for order, fo, _ in made:
        result[order.number].append(fo)
    for order in orders:
        logger.info(
            "order %s released to %d location(s)",
            order.number,
            len(result[order.number]),
            extra={"order": order.number},
        )
    return dict(result)


def _excluded_locations(order: Order) -> frozenset[int]:
    """Every location that already gave up on part of this order, and its pickup store
    (a transfer to it must come from elsewhere)."""
    gave_up = order.fulfillment_orders.filter(
        status__in=[FulfillmentOrder.Status.REJECTED, FulfillmentOrder.Status.EXPIRED]
    ).values_list("location_id", flat=True)
    excluded = set(gave_up)
    if order.pickup_location_id is not None:
        excluded.add(order.pickup_location_id)
    return frozenset(excluded)


def _demand(order: Order, lines: dict[int, int], exclude: frozenset[int]) -> Demand:
    """A ship demand: to the customer's address, or, for a pickup, to its store."""
    if order.pickup_location_id is not None:
        point = (order.pickup_location.latitude, order.pickup_location.longitude)
    else:
        address = order.shipping_address or {}
        point = (address["latitude"], address["longitude"]) if "latitude" in address else None
    return Demand(
        method=DeliveryMethod.SHIP,
        lines=lines,
        point=point,
        exclude=exclude,
        prefer=settings.OMS_SHIP_PREFERENCE,
    )


# How often a re-route plans again when stock it planned with was taken meanwhile.
REROUTE_ATTEMPTS = 3


def _plan(
    *, order: Order, remaining: dict[OrderLine, int]
) -> list[tuple[dict[OrderLine, int], RoutingDecision]]:
    """Where the lines can go, without the locations that gave up: all of them together if
    possible, else line by line. One snapshot, each part routed on what earlier parts left."""
    attempts = [dict(remaining)]
    if len(remaining) > 1:
        attempts += [{line: qty} for line, qty in remaining.items()]
    exclude = _excluded_locations(order)
    candidates = sourcing_candidates(
        sku_ids={line.sku_id for line in remaining}, method=DeliveryMethod.SHIP
    )
    plans, placed = [], set()
    for attempt in attempts:
        wanted = {line: qty for line, qty in attempt.items() if line not in placed}
        if not wanted:
            continue
        decision = route(
            _demand(order, {line.sku_id: qty for line, qty in wanted.items()}, exclude),
            candidates,
        )
        if decision.ok:
            plans.append((wanted, decision))
            placed.update(wanted)
            candidates = _after(candidates, decision)
    return plans


def _after(candidates: list[Candidate], decision: RoutingDecision) -> list[Candidate]:
    """The snapshot once `decision` is reserved: its units taken, a ship order more each."""
    taken: dict[int, dict[int, int]] = defaultdict(dict)
    for a in decision.allocations:
        taken[a.location_id][a.sku_id] = taken[a.location_id].get(a.sku_id, 0) + a.quantity
    left = []
    for c in candidates:
        if c.location_id not in taken:
            left.append(c)
            continue
        stock = {
            sku: (atp - taken[c.location_id].get(sku, 0), free - taken[c.location_id].get(sku, 0))
            for sku, (atp, free) in c.stock.items()
        }
        left.append(replace(c, stock=stock, capacity_left=c.capacity_left - 1))
    return left


def _place_elsewhere(
    *, order: Order, rejected: FulfillmentOrder, remaining: dict[OrderLine, int]
) -> tuple[list[FulfillmentOrder], set[OrderLine]]:
    """Reserve what `_plan` found in one go (rows in the global lock order), record each
    part's decision and create its fulfillment orders. Plans again when stock it planned
    with was taken meanwhile. Returns the fulfillment orders and the lines placed."""
    method = DeliveryMethod.TRANSFER if rejected.is_transfer() else order.delivery_method
    for _ in range(REROUTE_ATTEMPTS):
        plans = _plan(order=order, remaining=remaining)
        if not plans:
            return [], set()
        requests = [
            StockRequest(
                location_id=a.location_id,
                sku_id=a.sku_id,
                quantity=a.quantity,
                reference=line.reservation_reference,
            )
            for wanted, decision in plans
            for a in decision.allocations
            for line in wanted
            if line.sku_id == a.sku_id
        ]
        try:
            with transaction.atomic():
                reservations = stock_reserve(
                    requests=requests, demand=order.number, delivery_method=method
                )
            break
        except InsufficientStock:
            logger.info("re-route of order %s planned again: stock was taken", order.number)
    else:
        return [], set()
    created, placed, start = [], set(), 0
    for wanted, decision in plans:
        held = reservations[start : start + len(decision.allocations)]
        start += len(decision.allocations)
        routing = decision.as_dict({line.sku_id: line.sku_code for line in wanted})
        order_event_rerouted(
            order=order,
            location=rejected.location,
            message=f"Re-routed from {rejected.location.code} to "
            + ", ".join(routing["locations"]),
            fulfillment_order=rejected.pk,
            data={"from": rejected.location.code, "routing": routing},
        )
        created += _create_for(
            order=order, reservations=held, routing=routing, rerouted_from=rejected
        )
        placed.update(wanted)
    return created, placed


@transaction.atomic
def fulfillment_reroute(*, fulfillment_order_id: int) -> list[FulfillmentOrder]:
    """Find new locations for what a rejected fulfillment order held. Idempotent.

    Ship orders, and transfers to a pickup store, go to the next best locations (every
    location that gave up on this order is excluded): all lines together if possible, else
    line by line. What no location can take is cancelled and the customer is told; a
    pickup its store could not prepare is cancelled whole.
    """
    number = FulfillmentOrder.objects.values_list("order__number", flat=True).get(
        pk=fulfillment_order_id
    )
    order_bind(number)
    order = order_get_for_update(number=number)
    fo = FulfillmentOrder.objects.select_for_update().get(pk=fulfillment_order_id)
    if fo.status != FulfillmentOrder.Status.REJECTED or fo.completed_at is not None:
        return []
    fo.completed_at = timezone.now()
    fo.save(update_fields=["completed_at", "updated_at"])
    if fo.is_collected_at_store():
        # The customer chose that store: nothing of the order can be picked up anywhere
        # else, so all that is still open goes, what was on its way to the store included.
        # The customer may have cancelled meanwhile.
        if any(line.quantity_open for line in order.lines.all()):
            order_cancel(order=order, reason=f"{fo.location.code} could not prepare the pickup")
        return []
    # One order line may have several lines here (its own units and units that arrived or
    # joined later): what it held is their sum, at most what is still open.
    held: dict[OrderLine, int] = defaultdict(int)
    for fl in fo.lines.select_related("order_line__order"):
        held[fl.order_line] += fl.quantity
    remaining = {
        line: min(line.quantity_open, qty) for line, qty in held.items() if line.quantity_open
    }
    remaining = {line: qty for line, qty in remaining.items() if qty > 0}
    created: list[FulfillmentOrder] = []
    if remaining:
        order_points_lock(order=order)  # before the stock rows, as checkout takes them
        created, placed = _place_elsewhere(order=order, rejected=fo, remaining=remaining)
        remaining = {line: qty for line, qty in remaining.items() if line not in placed}
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
    return created
