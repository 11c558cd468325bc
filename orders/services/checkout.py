"""Checkout: one transaction that writes the order and reserves every line, or nothing."""

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.codes import readable_code
from common.outbox import outbox_publish
from inventory.errors import InsufficientStock
from inventory.models import DeliveryMethod, Reservation, Sku
from inventory.selectors import sourcing_candidates
from inventory.services import StockRequest, stock_consume, stock_reserve
from inventory.sourcing import Demand, RoutingDecision, route
from orders.errors import (
    DuplicateLines,
    IdempotencyKeyReused,
    OrderTotalTooLarge,
)
from orders.events import event_message
from orders.models import IdempotencyRecord, Order, OrderEvent, OrderLine
from orders.services.customers import customer_get_or_create
from stores.models import Location

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckoutLine:
    sku: Sku
    quantity: int


@dataclass(frozen=True)
class CheckoutRequest:
    channel: str
    method: str
    lines: list[CheckoutLine]
    email: str | None = None
    phone: str | None = None
    name: str = ""
    loyalty_id: str = ""
    location: Location | None = None  # pickup, curbside or carry-out store
    address: dict[str, Any] | None = None  # ship: with latitude and longitude
    placed_at: Location | None = None  # the store where a store-channel order was taken
    ship_to_store: bool = False  # pickup: what the store lacks may be sent there first


@dataclass(frozen=True)
class CheckoutResult:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def request_fingerprint(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


NUMBER_ATTEMPTS = 5
PLACE_ATTEMPTS = 2  # a checkout whose stock was taken under it routes and tries once more


def _new_number() -> str:
    return "OM" + readable_code(8)


def _order_insert(order: Order) -> None:
    """Save the new order under a fresh number; a number already taken is drawn again."""
    for attempt in range(NUMBER_ATTEMPTS):
        order.number = _new_number()
        try:
            with transaction.atomic():  # a savepoint: after a clash the checkout goes on
                order.save(force_insert=True)
        except IntegrityError:
            # Only a clash on the number is retried; a number clashing five times running
            # (odds of 32^-40) means the generator is broken, so let it be seen.
            if (
                attempt == NUMBER_ATTEMPTS - 1
                or not Order.objects.filter(number=order.number).exists()
            ):
                raise
        else:
            return


def _check_lines(request: CheckoutRequest) -> None:
    """Raises DuplicateLines (400): routing and reserving go by SKU, one line each."""
    counts = Counter(line.sku.code for line in request.lines)
    repeated = sorted(code for code, times in counts.items() if times > 1)
    if repeated:
        raise DuplicateLines(skus=repeated)


def _demand(request: CheckoutRequest) -> Demand:
    address = request.address or {}
    point = (address["latitude"], address["longitude"]) if "latitude" in address else None
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


def _largest_amount() -> Decimal:
    """What an order's money fields can hold (9,999,999,999.99 at max_digits=12)."""
    field = Order._meta.get_field("grand_total")
    return Decimal(10) ** (field.max_digits - field.decimal_places) - Decimal(1).scaleb(
        -field.decimal_places
    )


def _totals(request: CheckoutRequest) -> dict[str, Decimal]:
    """Raises OrderTotalTooLarge (400) rather than let the database refuse the amount."""
    subtotal = sum((line.sku.price * line.quantity for line in request.lines), Decimal("0"))
    shipping = Decimal("0")
    if request.method == DeliveryMethod.SHIP and subtotal < Decimal(
        settings.OMS_FREE_SHIPPING_FROM
    ):
        shipping = Decimal(settings.OMS_SHIPPING_FEE)
    largest = _largest_amount()
    if subtotal + shipping > largest:
        raise OrderTotalTooLarge(largest=str(largest), field="lines")
    return {
        "subtotal": subtotal,
        "shipping_total": shipping,
        "discount_total": Decimal("0"),
        "grand_total": subtotal + shipping,
    }


def _write_order(
    *, request: CheckoutRequest, decision: RoutingDecision, totals: dict[str, Decimal], actor
) -> tuple[Order, list[OrderLine], list[StockRequest]]:
    """The order, its lines, events and outbox event; returns what the lines must hold.

    No stock row is touched here. A sale at the till is written as it will end, fulfilled:
    its stock is consumed right after it is reserved.
    """
    at_till = request.method == DeliveryMethod.CARRY_OUT
    customer = customer_get_or_create(
        email=request.email, phone=request.phone, name=request.name, loyalty_id=request.loyalty_id
    )
    codes = {line.sku.pk: line.sku.code for line in request.lines}
    order = Order(
        customer=customer,
        channel=request.channel,
        placed_at=request.placed_at,
        delivery_method=request.method,
        pickup_location=request.location if request.method != DeliveryMethod.SHIP else None,
        shipping_address=request.address or {},
        ship_to_store=bool(decision.transfers),
        currency=request.lines[0].sku.currency,
        routing=decision.as_dict(codes),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        **totals,
    )
    if at_till:
        order.fulfil()
        order.fulfilled_at = timezone.now()
    _order_insert(order)
    lines = OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                sku=line.sku,
                sku_code=line.sku.code,
                name=line.sku.name,
                quantity=line.quantity,
                quantity_fulfilled=line.quantity if at_till else 0,
                unit_price=line.sku.price,
            )
            for line in request.lines
        ]
    )
    line_by_sku = {line.sku_id: line for line in lines}
    holds = [
        StockRequest(
            location_id=a.location_id,
            sku_id=a.sku_id,
            quantity=a.quantity,
            reference=f"{order.number}/{line_by_sku[a.sku_id].pk}",
            delivery_method=DeliveryMethod.TRANSFER if a.transfer_to else "",
        )
        for a in decision.allocations
    ]
    where = [
        {"sku": codes[a.sku_id], "location": a.code, "quantity": a.quantity}
        | ({"transfer_to": a.transfer_to} if a.transfer_to else {})
        for a in decision.allocations
    ]
    events = [
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.PLACED,
            actor=order.created_by,
            location=request.placed_at,
            message=f"Placed on {request.channel} for {request.method}",
            data={"total": str(order.grand_total), "lines": len(lines)},
        ),
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.ROUTED,
            actor=order.created_by,
            message=event_message("Routed to " + ", ".join(decision.as_dict()["locations"])),
            data=order.routing,
        ),
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.RESERVED,
            actor=order.created_by,
            message=event_message("Reserved " + ", ".join(_held_where(w) for w in where)),
            data={"reservations": where},
        ),
    ]
    if at_till:
        events.append(
            OrderEvent(
                order=order,
                kind=OrderEvent.Kind.FULFILLED,
                actor=order.created_by,
                location=order.pickup_location,
                message="Sold and handed over at the till",
            )
        )
    OrderEvent.objects.bulk_create(events)
    outbox_publish("order.placed", number=order.number)
    return order, lines, holds


def _held_where(held: dict) -> str:
    where = f"{held['quantity']} x {held['sku']} at {held['location']}"
    return f"{where}, to be sent to {held['transfer_to']}" if "transfer_to" in held else where


def _render_new(
    order: Order, lines: list[OrderLine], holds: list[StockRequest], decision: RoutingDecision
) -> dict[str, Any]:
    """The new order as GET /orders/{number} will show it, from memory: no query.

    Each hold becomes the reservation stock_reserve writes for it, in the same order (by
    pk): active, or consumed for a sale at the till.
    """
    from orders.serializers import OrderOutputSerializer  # it imports this module

    status = (
        Reservation.Status.CONSUMED
        if order.delivery_method == DeliveryMethod.CARRY_OUT
        else Reservation.Status.ACTIVE
    )
    held: dict[str, list[dict]] = {}
    for hold, allocation in zip(holds, decision.allocations, strict=True):
        held.setdefault(hold.reference, []).append(
            {"location": allocation.code, "quantity": hold.quantity, "status": status}
        )
    return OrderOutputSerializer(order, context={"reservations": held, "lines": lines}).data


def _hold_stock(*, order: Order, holds: list[StockRequest]) -> None:
    """The conditional stock UPDATEs: last, so each row stays locked only until the commit."""
    at_till = order.delivery_method == DeliveryMethod.CARRY_OUT
    reservations = stock_reserve(
        requests=holds,
        demand=order.number,
        delivery_method=order.delivery_method,
        allow_safety_stock=at_till,
        actor=order.created_by,
    )
    if at_till:  # the goods left with the customer
        stock_consume(reservations=reservations, actor=order.created_by, reference=order.number)


def _replay(record: IdempotencyRecord, fingerprint: str) -> CheckoutResult:
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(key=record.key)
    return CheckoutResult(record.response_status, record.response_body, replayed=True)


def idempotency_keys_purge() -> int:
    """Forget Idempotency-Keys older than OMS_IDEMPOTENCY_TTL_HOURS (never under a day);
    returns how many."""
    hours = max(24, settings.OMS_IDEMPOTENCY_TTL_HOURS)
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def checkout_replay(*, actor, idempotency_key: str, fingerprint: str) -> CheckoutResult | None:
    """The first answer to this (client, key), or None; IdempotencyKeyReused for another body.

    Asked before the input is validated: the first answer stands even once its SKU was
    delisted or its store closed, and a used key with another body is 422 whatever the body.
    """
    record = IdempotencyRecord.objects.filter(user=actor, key=idempotency_key).first()
    return None if record is None else _replay(record, fingerprint)


def checkout(
    *,
    request: CheckoutRequest,
    actor,
    idempotency_key: str,
    fingerprint: str,
    replay_checked: bool = False,
) -> CheckoutResult:
    """Place an order once per (client, Idempotency-Key).

    The same key and body replays the first response; another body is 422. A concurrent
    duplicate waits on the key's row and then replays. A shortage (409) is not recorded,
    so the same key may be retried once stock is back. The recorded response is the order
    as GET /orders/{number} shows it. `replay_checked`: the caller has just asked
    `checkout_replay` and found no first answer.
    """
    if not replay_checked:
        replayed = checkout_replay(
            actor=actor, idempotency_key=idempotency_key, fingerprint=fingerprint
        )
        if replayed is not None:
            return replayed
    _check_lines(request)
    totals = _totals(request)
    lost = None
    try:
        for _ in range(PLACE_ATTEMPTS):
            decision = _route(request)  # a shortage here is the contract's 409, alternatives too
            try:
                return _place_once(
                    request=request,
                    decision=decision,
                    totals=totals,
                    actor=actor,
                    idempotency_key=idempotency_key,
                    fingerprint=fingerprint,
                )
            except InsufficientStock as exc:
                # Another checkout took the stock between the snapshot and the reservation.
                logger.info("checkout re-routing after a concurrent reservation")
                lost = exc
        # Lost every race: routing once more explains the shortage like any other one.
        _route(request)
        raise _lost_every_race(request, lost)
    except InsufficientStock:
        # The one who took the stock may be this request's own duplicate, committed since
        # the key was checked: its order is the answer, not a shortage.
        replayed = checkout_replay(
            actor=actor, idempotency_key=idempotency_key, fingerprint=fingerprint
        )
        if replayed is None:
            raise
        return replayed


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
    totals: dict[str, Decimal],
    actor,
    idempotency_key: str,
    fingerprint: str,
) -> CheckoutResult:
    """One transaction: every row first, the response recorded, the stock UPDATEs last."""
    try:
        with transaction.atomic():
            # Taken first: a concurrent duplicate blocks here until this one commits.
            record = IdempotencyRecord.objects.create(
                user=actor, key=idempotency_key, request_hash=fingerprint
            )
            order, lines, holds = _write_order(
                request=request, decision=decision, totals=totals, actor=actor
            )
            record.order = order
            record.response_status = 201
            record.response_body = _render_new(order, lines, holds, decision)
            record.save(update_fields=["order", "response_status", "response_body"])
            _hold_stock(order=order, holds=holds)
    except IntegrityError:
        replayed = checkout_replay(
            actor=actor, idempotency_key=idempotency_key, fingerprint=fingerprint
        )
        if replayed is None:
            raise
        return replayed
    logger.info("order %s placed", order.number)
    return CheckoutResult(201, record.response_body)
