"""An order after checkout: cancel (whole or part of a line), fulfilment progress, closing."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from common.bulk import insert_rows
from common.db import retry_on_conflict
from common.logging import order_bind
from common.models import OutboxEvent
from common.outbox import outbox_deliver_after_commit, outbox_event
from inventory.models import Reservation
from inventory.selectors import reservations_for_demand
from inventory.services import stock_release
from orders.errors import LineNotCancellable, OrderNotCancellable, OrderNotClosable
from orders.events import (
    order_event_cancelled,
    order_event_line_cancelled,
    order_event_payment_captured,
    order_event_payment_voided,
    order_event_refunded,
    order_event_status_changed,
    order_events_write,
)
from orders.models import Order, OrderEvent, OrderLine
from orders.services.points import (
    order_points_earn_publish,
    order_points_lock,
    order_points_pending_event,
)
from orders.services.pricing import ZERO, order_totals, units_paid
from orders.signals import order_cancelled
from payments.services import demand_capture, demand_settle

MONEY_FIELDS = ["subtotal", "discount_total", "shipping_total", "grand_total"]


def order_get_for_update(*, number: str) -> Order:
    """The order, its row locked; its customer and pickup store read with it (not locked)."""
    return (
        Order.objects.select_related("customer", "pickup_location")
        .select_for_update(of=("self",))
        .get(number=number)
    )


def _active_by_line(order: Order) -> dict[str, list[Reservation]]:
    result: dict[str, list[Reservation]] = {}
    for reservation in reservations_for_demand(demand=order.number):
        if reservation.status == Reservation.Status.ACTIVE:
            result.setdefault(reservation.reference, []).append(reservation)
    return result


def order_sync_status(
    *,
    order: Order,
    actor=None,
    lines: list[OrderLine] | None = None,
    also_save: list[str] = (),
    events: list[OrderEvent] = (),
) -> Order:
    """Move the order to where its lines are: partially fulfilled, fulfilled or cancelled.

    `lines`: the order's lines as the caller holds them; `also_save`: fields of the order
    the caller changed, saved with the status; `events`: the caller's unsaved timeline
    events, written with the status change's in one INSERT.
    """
    lines = list(order.lines.all()) if lines is None else lines
    before = order.status
    settled = all(line.quantity_open == 0 for line in lines)
    any_fulfilled = any(line.quantity_fulfilled for line in lines)
    if settled and any_fulfilled and can_proceed(order.fulfil):
        order.fulfil()
        order.fulfilled_at = timezone.now()
    elif settled and not any_fulfilled and can_proceed(order.cancel):
        order.cancel()
    elif (
        any_fulfilled
        and not settled
        and order.status != Order.Status.PARTIALLY_FULFILLED
        and can_proceed(order.fulfil_partially)
    ):
        order.fulfil_partially()
    events = list(events)
    if order.status != before:
        order.save(update_fields=["status", "fulfilled_at", "updated_at", *also_save])
        changed = order_event_status_changed(order=order, before=before, actor=actor, save=False)
        events.append(changed)
    elif also_save:
        order.save(update_fields=[*also_save, "updated_at"])
    if events:
        order_events_write(events)
    return order


def _totals_follow(*, order: Order, lines: list[OrderLine]) -> dict[str, str]:
    """The order's totals set (not saved) from its lines after a cancel; returns what left
    them, for the timeline."""
    was = {name: getattr(order, name) for name in MONEY_FIELDS}
    now = order_totals(lines=lines, shipping_charged=order.shipping_total)
    for name, amount in now.items():
        setattr(order, name, amount)
    return {
        "cancelled": str(was["grand_total"] - now["grand_total"]),
        **{name: str(amount) for name, amount in now.items()},
    }


def _payments_follow(*, order: Order, key: str, reason: str, actor=None) -> None:
    """The order owes its new grand total: what its tenders no longer need is voided, and
    what was taken at the till for units now cancelled is refunded (after commit); the
    timeline says so."""
    settled = demand_settle(
        demand=order.number, owed=order.grand_total, key=key, reason=reason or "cancelled"
    )
    if settled.voided:
        order_event_payment_voided(order=order, amount=settled.voided, actor=actor)
    if settled.refunded:
        order_event_refunded(
            order=order,
            message=f"Refunding {settled.refunded} {order.currency} for cancelled units",
            data={"amount": str(settled.refunded)},
            actor=actor,
        )


def _publish(*events: OutboxEvent) -> None:
    """Outbox events in one INSERT, delivered after commit (a cancel's pending points with
    its own event)."""
    insert_rows(list(events))
    outbox_deliver_after_commit(list(events))


@retry_on_conflict
@transaction.atomic
def order_cancel(*, order: Order, actor=None, reason: str = "") -> Order:
    """Cancel every open line and release its reservations. 409 once all is handed over.

    An order already partly shipped keeps what shipped; the rest is cancelled and the
    order is then fulfilled.
    """
    order_bind(order.number)
    order = order_get_for_update(number=order.number)
    lines = list(order.lines.select_for_update().order_by("pk"))
    open_lines = [line for line in lines if line.quantity_open > 0]
    if not open_lines or order.status in (Order.Status.CANCELLED, Order.Status.CLOSED):
        raise OrderNotCancellable(number=order.number, status=order.status)
    by_line = _active_by_line(order)
    held = [r for line in open_lines for r in by_line.get(line.reservation_reference, [])]
    codes = {r.location_id: r.location.code for r in held}  # loaded with the reservations
    order_points_lock(order=order)  # before the stock rows, as checkout takes them
    released = stock_release(
        reservations=held,
        actor=actor,
        reference=order.number,
        note=reason or "order cancelled",
    )
    for line in open_lines:
        line.quantity_cancelled += line.quantity_open
    OrderLine.objects.bulk_update(open_lines, ["quantity_cancelled"])
    amounts = _totals_follow(order=order, lines=lines)
    event = order_event_cancelled(
        order=order,
        actor=actor,
        reason=reason,
        released=[
            {"location": codes[r.location_id], "sku": r.sku_id, "quantity": r.quantity}
            for r in released
        ],
        totals=amounts,
        save=False,
    )
    order_cancelled.send(
        sender=Order, order=order, actor=actor, line_ids=[line.pk for line in open_lines]
    )
    order_sync_status(order=order, actor=actor, lines=lines, also_save=MONEY_FIELDS, events=[event])
    _payments_follow(order=order, key=f"order-event-{event.pk}", reason=reason, actor=actor)
    _publish(
        order_points_pending_event(number=order.number, source=f"{order.number}/cancel/{event.pk}"),
        outbox_event("order.cancelled", number=order.number, reason=reason),
    )
    return order


@transaction.atomic
def order_line_cancel(
    *,
    order: Order,
    line_id: int,
    quantity: int,
    actor=None,
    reason: str = "",
    release_stock: bool = True,
) -> Order:
    """Cancel `quantity` units of one line; its reservations shrink by as much.

    `release_stock=False` when the caller already released the units it cancels (a
    location that rejected them), so the line's holds elsewhere stay untouched.
    """
    order_bind(order.number)
    order = order_get_for_update(number=order.number)
    line = order.lines.select_for_update().filter(pk=line_id).first()
    if line is None:
        raise OrderLine.DoesNotExist
    if (
        order.status in (Order.Status.CANCELLED, Order.Status.CLOSED)
        or quantity > line.quantity_open
    ):
        raise LineNotCancellable(line=line.pk, requested=quantity, cancellable=line.quantity_open)
    remaining = quantity if release_stock else 0
    amounts = {}
    for reservation in _active_by_line(order).get(line.reservation_reference, []):
        take = min(remaining, reservation.quantity)
        if take:
            amounts[reservation.pk] = take
            remaining -= take
    order_points_lock(order=order)  # before the stock rows, as checkout takes them
    stock_release(
        reservations=list(amounts),
        quantities=amounts,
        actor=actor,
        reference=order.number,
        note=reason or "line cancelled",
    )
    line.quantity_cancelled += quantity
    line.save(update_fields=["quantity_cancelled"])
    lines = [line if other.pk == line.pk else other for other in order.lines.order_by("pk")]
    amounts = _totals_follow(order=order, lines=lines)
    event = order_event_line_cancelled(
        order=order, line=line, quantity=quantity, actor=actor, reason=reason, totals=amounts
    )
    order_cancelled.send(sender=Order, order=order, actor=actor, line_ids=[line.pk])
    order_sync_status(order=order, actor=actor, lines=lines, also_save=MONEY_FIELDS)
    _payments_follow(order=order, key=f"order-event-{event.pk}", reason=reason, actor=actor)
    _publish(
        order_points_pending_event(number=order.number, source=f"{order.number}/cancel/{event.pk}"),
        outbox_event("order.line_cancelled", number=order.number, line=line.pk, quantity=quantity),
    )
    return order


def orders_start_processing(*, orders: list[Order], actor=None) -> list[OrderEvent]:
    """Fulfillment orders went out to their locations: `orders` (the caller has locked them)
    move to processing in one UPDATE. Returns their status events unsaved, for the caller
    to write with its own rows."""
    now = timezone.now()  # update() does not apply auto_now
    moved, events = [], []
    for order in orders:
        if can_proceed(order.start_processing):
            before = order.status
            order.start_processing()
            order.updated_at = now
            moved.append(order)
            events.append(
                order_event_status_changed(order=order, before=before, actor=actor, save=False)
            )
    # One transition, so one status for all, as it set it: a plain UPDATE, cheaper to build
    # than bulk_update's CASE.
    for status in {order.status for order in moved}:
        pks = [order.pk for order in moved if order.status == status]
        Order.objects.filter(pk__in=pks).update(status=status, updated_at=now)
    return events


@transaction.atomic
def order_lines_fulfilled(
    *, order: Order, quantities: dict[int, int], actor=None, capture_key: str = ""
) -> Order:
    """Units of lines were shipped or handed over; the order's status follows.

    With `capture_key` (the fulfillment order that left), what those units paid (and the
    shipping, with the first units to leave) is captured from the order's tenders, once
    per key, at the gateway after commit.
    """
    order = order_get_for_update(number=order.number)
    lines = {line.pk: line for line in order.lines.select_for_update().order_by("pk")}
    first_to_leave = not any(line.quantity_fulfilled for line in lines.values())
    goods = ZERO
    for line_id, qty in quantities.items():
        line = lines[line_id]
        take = min(qty, line.quantity_open)
        goods += units_paid(line, start=line.quantity_fulfilled, count=take)  # from the front
        line.quantity_fulfilled += take
    value = goods + (order.shipping_total if first_to_leave else ZERO)
    OrderLine.objects.bulk_update(list(lines.values()), ["quantity_fulfilled"])
    if capture_key:
        # The units that left earn their points after commit, once per key.
        order_points_earn_publish(number=order.number, key=capture_key, value=goods)
    if capture_key:
        captured = demand_capture(demand=order.number, amount=value, key=capture_key)
        amount = sum((tx.amount for tx in captured), ZERO)
        if amount:
            order_event_payment_captured(
                order=order, amount=amount, fulfillment_order=int(capture_key), actor=actor
            )
    return order_sync_status(order=order, actor=actor, lines=list(lines.values()))


def return_window() -> timedelta:
    """How long after it is fulfilled an order still takes returns (OMS_RETURN_WINDOW_DAYS)."""
    return timedelta(days=settings.OMS_RETURN_WINDOW_DAYS)


CLOSED_BECAUSE = "the return window is over"


@transaction.atomic
def order_close(*, order: Order, actor=None, now: datetime | None = None) -> Order:
    """Close a fulfilled order whose return window is over; 409 for any other order."""
    order = order_get_for_update(number=order.number)
    now = now or timezone.now()
    window_ends = order.fulfilled_at + return_window() if order.fulfilled_at else None
    if not can_proceed(order.close) or window_ends is None or window_ends > now:
        raise OrderNotClosable(
            number=order.number,
            status=order.status,
            closes_after=window_ends.isoformat() if window_ends else None,
        )
    before = order.status
    order.close()
    order.save(update_fields=["status", "updated_at"])
    order_event_status_changed(order=order, before=before, actor=actor, why=CLOSED_BECAUSE)
    return order


@transaction.atomic
def order_close_due(*, limit: int = 500, now: datetime | None = None) -> int:
    """Close up to `limit` fulfilled orders past their return window; returns how many.

    Rows another worker has locked are skipped, not waited for, so workers never collide;
    each order is closed by `order_close`, under the lock taken here.
    """
    now = now or timezone.now()
    due = list(
        Order.objects.select_for_update(skip_locked=True)
        .filter(status=Order.Status.FULFILLED, fulfilled_at__lte=now - return_window())
        .order_by("fulfilled_at", "pk")[:limit]
    )
    for order in due:
        order_close(order=order, now=now)
    return len(due)
