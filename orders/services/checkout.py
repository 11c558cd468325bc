"""Checkout: one transaction that writes the order and reserves every line, or nothing."""

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from common.bulk import insert_rows
from common.codes import readable_code
from common.idempotency import IdempotentCall
from common.logging import order_bind
from common.outbox import outbox_deliver_after_commit, outbox_event
from customers.services import customer_get_or_create
from inventory.errors import InsufficientStock
from inventory.models import DeliveryMethod, Reservation, Sku
from inventory.services import StockRequest, stock_reserve
from inventory.snapshot import sourcing_candidates
from inventory.sourcing import Demand, RoutingDecision, route
from orders.errors import DuplicateLines, NoShippingCoordinates
from orders.events import (
    order_event_fulfilled,
    order_event_placed,
    order_event_reserved,
    order_event_routed,
)
from orders.models import Order, OrderEvent, OrderLine
from orders.services.points import (
    order_points_earn_event,
    order_points_pending_event,
    order_points_redeem,
)
from orders.services.pricing import CheckoutMoney, Discount, checkout_price
from payments.models import Payment
from payments.services import Tender, has_ledger, payments_insert, payments_new
from stores.models import Location

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckoutLine:
    sku: Sku
    quantity: int
    discount: Decimal = Decimal("0.00")  # the line's own, as the storefront or till gave it


@dataclass(frozen=True)
class CheckoutRequest:
    channel: str
    method: str
    lines: list[CheckoutLine]
    email: str | None = None
    phone: str | None = None
    name: str = ""
    member_id: str = ""  # finds the member; unknown: UnknownMember (400)
    enrol: bool = False  # a customer who is no member gets a member id
    location: Location | None = None  # pickup, curbside or carry-out store
    address: dict[str, Any] | None = None  # ship: with latitude and longitude
    store: Location | None = None  # the store that took a store-channel order
    ship_to_store: bool = False  # pickup: what the store lacks may be sent there first
    discounts: tuple[Discount, ...] = ()  # order level, spread over the lines
    payments: tuple[Tender, ...] = ()  # none: one pending payment of the total
    payment_currencies: tuple[str, ...] = ()  # as each tender named it, if it did


NUMBER_ATTEMPTS = 5
PLACE_ATTEMPTS = 2  # a checkout whose stock was taken under it routes and tries once more


def _new_number() -> str:
    return "OM" + readable_code(8)


class _NumberTaken(Exception):
    """The order's number was drawn before: the checkout's transaction is tried again."""


def _order_insert(order: Order) -> None:
    """Insert the new order under the number drawn for this attempt. No savepoint: a number
    already taken (odds of 32^-8 an order) ends the attempt's transaction, and the checkout
    tries again under a new number."""
    try:
        insert_rows([order])
    except IntegrityError as exc:
        raise _NumberTaken(order.number) from exc


def _check_lines(request: CheckoutRequest) -> None:
    """Raises DuplicateLines (400): routing and reserving go by SKU, one line each."""
    counts = Counter(line.sku.code for line in request.lines)
    repeated = sorted(code for code, times in counts.items() if times > 1)
    if repeated:
        raise DuplicateLines(skus=repeated)


def _demand(request: CheckoutRequest) -> Demand:
    address = request.address or {}
    point = (address["latitude"], address["longitude"]) if "latitude" in address else None
    if request.method == DeliveryMethod.SHIP and point is None:
        # Routing by distance needs the customer's point; intake locates one or says 400.
        raise NoShippingCoordinates(
            "The request has invalid fields.",
            errors={"delivery": {"address": {"latitude": ["Give latitude and longitude."]}}},
        )
    return Demand(
        method=request.method,
        lines={line.sku.pk: line.quantity for line in request.lines},
        location_id=request.location.pk if request.location else None,
        point=point,
        prefer=settings.OMS_SHIP_PREFERENCE,
        allow_safety_stock=request.method == DeliveryMethod.CARRY_OUT,
        allow_transfer=request.ship_to_store,
    )


def _route(request: CheckoutRequest) -> RoutingDecision:
    demand = _demand(request)
    candidates = sourcing_candidates(
        sku_ids=demand.lines,
        method=demand.method,
        location_id=demand.location_id,
        demand=demand,
    )
    decision = route(demand, candidates)
    if not decision.ok:
        codes = {line.sku.pk: line.sku.code for line in request.lines}
        extra = {}
        if request.method in (DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE):
            # The storefront may offer to send the missing items to the store instead.
            extra["ship_to_store_available"] = decision.transfer_possible
        raise InsufficientStock(
            lines=[
                {"sku": codes[sku], "requested": requested, "available": available}
                for sku, (requested, available) in sorted(decision.shortages.items())
            ],
            alternatives=decision.alternatives,
            **extra,
        )
    return decision


def _write_order(
    *,
    request: CheckoutRequest,
    decision: RoutingDecision,
    totals: CheckoutMoney,
    actor,
    number: str,
) -> tuple[Order, list[OrderLine], list[StockRequest], list[OrderEvent]]:
    """The order and its lines; returns what the lines must hold and the order's events,
    unsaved (they go with the reservations, in one statement).

    No stock row is touched here. A sale at the till is written as it will end, fulfilled:
    its stock is consumed as it is reserved.
    """
    at_till = request.method == DeliveryMethod.CARRY_OUT
    customer = customer_get_or_create(
        email=request.email,
        phone=request.phone,
        name=request.name,
        member_id=request.member_id,
        enrol=request.enrol,
    )
    codes = {line.sku.pk: line.sku.code for line in request.lines}
    order = Order(
        number=number,
        customer=customer,
        channel=request.channel,
        store=request.store,
        delivery_method=request.method,
        pickup_location=request.location if request.method != DeliveryMethod.SHIP else None,
        shipping_address=request.address or {},
        ship_to_store=bool(decision.transfers),
        routing=decision.as_dict(codes),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        **totals.order_fields,
    )
    if at_till:
        order.fulfil()
        order.fulfilled_at = timezone.now()
    _order_insert(order)
    lines = [
        OrderLine(
            order=order,
            sku=line.sku,
            sku_code=line.sku.code,
            name=line.sku.name,
            quantity=line.quantity,
            quantity_fulfilled=line.quantity if at_till else 0,
            unit_price=line.sku.price,
            **priced.fields(),
        )
        for line, priced in zip(request.lines, totals.lines, strict=True)
    ]
    insert_rows(lines)
    line_by_sku = {line.sku_id: line for line in lines}
    holds = [
        StockRequest(
            location_id=a.location_id,
            sku_id=a.sku_id,
            quantity=a.quantity,
            reference=line_by_sku[a.sku_id].reservation_reference,
            delivery_method=DeliveryMethod.TRANSFER if a.transfer_to else "",
        )
        for a in decision.allocations
    ]
    where = [
        {"sku": codes[a.sku_id], "location": a.code, "quantity": a.quantity}
        | ({"transfer_to": a.transfer_to} if a.transfer_to else {})
        for a in decision.allocations
    ]
    by = order.created_by
    events = [
        order_event_placed(order=order, actor=by, lines=len(lines), save=False),
        order_event_routed(
            order=order, actor=by, locations=decision.as_dict()["locations"], save=False
        ),
        order_event_reserved(order=order, actor=by, reservations=where, save=False),
    ]
    if at_till:
        events.append(
            order_event_fulfilled(
                order=order,
                actor=by,
                location=order.pickup_location,
                message="Sold and handed over at the till",
                save=False,
            )
        )
    return order, lines, holds, events


@dataclass(frozen=True)
class PlacedOrder:
    """A new order as checkout left it, in memory: enough to show it without a query.

    `reservations`: per line reference, where the line is held, as stock_reserve writes it.
    """

    order: Order
    lines: list[OrderLine]
    reservations: dict[str, list[dict[str, Any]]]
    payments: list[Payment] = field(default_factory=list)


def _placed(
    order: Order, lines: list[OrderLine], holds: list[StockRequest], decision: RoutingDecision
) -> PlacedOrder:
    """Each hold becomes the reservation stock_reserve writes for it, in the same order (by
    pk): active, or consumed for a sale at the till."""
    held_as = (
        Reservation.Status.CONSUMED
        if order.delivery_method == DeliveryMethod.CARRY_OUT
        else Reservation.Status.ACTIVE
    )
    held: dict[str, list[dict[str, Any]]] = {}
    for hold, allocation in zip(holds, decision.allocations, strict=True):
        held.setdefault(hold.reference, []).append(
            {"location": allocation.code, "quantity": hold.quantity, "status": held_as}
        )
    return PlacedOrder(order=order, lines=lines, reservations=held)


def _hold_stock(*, order: Order, holds: list[StockRequest], with_rows: list[list[Model]]) -> None:
    """The conditional stock UPDATE of every line: last, so each row stays locked only until
    the commit. `with_rows` (the order's events, the outbox event, the recorded answer) are
    written with the reservations, in one statement before it. A sale at the till takes its
    units out at once (the goods left with the customer)."""
    at_till = order.delivery_method == DeliveryMethod.CARRY_OUT
    stock_reserve(
        requests=holds,
        demand=order.number,
        delivery_method=order.delivery_method,
        allow_safety_stock=at_till,
        actor=order.created_by,
        new_demand=True,
        handed_over=at_till,
        savepoint=False,  # a refusal ends the checkout's transaction whole
        with_rows=with_rows,
    )


def _points_event(order: Order):
    """After commit: a sale at the till earns its points; any other order has them
    pending until its lines leave."""
    if order.delivery_method == DeliveryMethod.CARRY_OUT:
        goods = order.grand_total - order.shipping_total
        return order_points_earn_event(number=order.number, key="till", value=goods)
    return order_points_pending_event(number=order.number)


def checkout(
    *, request: CheckoutRequest, actor, idempotency: IdempotentCall[PlacedOrder] | None = None
) -> PlacedOrder:
    """Place an order: routed, every line reserved, recorded in one transaction, or nothing.

    InsufficientStock (409) with per-line shortages and alternatives when routing finds
    too little; a checkout whose stock is taken under it routes and tries once more.
    Under an Idempotency-Key (`idempotency`, see common.idempotency) the key is claimed and
    the answer recorded in that transaction, before any stock row is locked.
    """
    _check_lines(request)
    totals = checkout_price(
        lines=request.lines,
        method=request.method,
        channel=request.channel,
        discounts=request.discounts,
        payments=request.payments,
        payment_currencies=request.payment_currencies,
    )
    lost = None
    for _ in range(PLACE_ATTEMPTS):
        decision = _route(request)  # a shortage here is the contract's 409, alternatives too
        try:
            return _place_once(
                request=request,
                decision=decision,
                totals=totals,
                actor=actor,
                idempotency=idempotency,
            )
        except InsufficientStock as exc:
            # Another checkout took the stock between the snapshot and the reservation.
            logger.info("checkout re-routing after a concurrent reservation")
            lost = exc
    # Lost every race: routing once more explains the shortage like any other one.
    _route(request)
    raise _lost_every_race(request, lost)


def _lost_every_race(request: CheckoutRequest, lost: InsufficientStock | None) -> InsufficientStock:
    """Stock keeps going to other checkouts although routing finds it: the contract's 409
    (per SKU, no locations) from what stock_reserve found short; the client may retry."""
    requested = {line.sku.code: line.quantity for line in request.lines}
    short: dict[str, int] = {}
    for line in lost.extra.get("lines", []) if lost else []:
        if line.get("sku") in requested:
            short[line["sku"]] = short.get(line["sku"], 0) + line["available"]
    # stock_reserve names no SKU when the stock was back by the time it looked: every line.
    available = short or dict.fromkeys(requested, 0)
    return InsufficientStock(
        lines=[
            {"sku": sku, "requested": requested[sku], "available": units}
            for sku, units in available.items()
        ],
        alternatives=[],
    )


def _place_once(
    *,
    request: CheckoutRequest,
    decision: RoutingDecision,
    totals: CheckoutMoney,
    actor,
    idempotency: IdempotentCall[PlacedOrder] | None,
) -> PlacedOrder:
    """One transaction: every row first, the answer recorded, the stock UPDATE last.

    The Idempotency-Key is claimed with the answer, in the same statement as the outbox row
    and the reservations, so its record is written once (see common.idempotency: a
    concurrent duplicate waits there).
    """
    for attempt in range(NUMBER_ATTEMPTS):
        number = _new_number()
        order_bind(number)
        try:
            with (
                idempotency.transaction(claim_first=False) if idempotency else transaction.atomic()
            ):
                order, lines, holds, order_events = _write_order(
                    request=request, decision=decision, totals=totals, actor=actor, number=number
                )
                payments = payments_new(
                    demand=number, currency=order.currency, tenders=list(totals.tenders)
                )
                if has_ledger(payments):  # its ledger rows need the payments' ids first
                    payments_insert(payments=payments)
                    new_payments = []
                    # Points pay: held off the customer's balance before the stock is.
                    order_points_redeem(order=order, payments=payments)
                else:  # nothing tendered yet: written with the reservations
                    new_payments = payments
                placed = replace(_placed(order, lines, holds, decision), payments=payments)
                events = [outbox_event("order.placed", number=number), _points_event(order)]
                answer = [idempotency.record(placed, save=False)] if idempotency else []
                _hold_stock(
                    order=order,
                    holds=holds,
                    with_rows=[order_events, events, new_payments, answer],
                )
                outbox_deliver_after_commit(events)
        except _NumberTaken as taken:
            # Only a clash on the number is retried; a number clashing five times running
            # means the generator is broken, so let it be seen.
            if attempt == NUMBER_ATTEMPTS - 1 or not Order.objects.filter(number=number).exists():
                raise taken.__cause__ from None
            continue
        logger.info("order %s placed", number)
        return placed
    raise AssertionError("unreachable")  # pragma: no cover
