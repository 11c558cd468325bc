"""The order timeline: one keyword-only writer per kind of event (as Saleor's order/events.py),
so the message and data each kind carries are written in one place.

Each writer saves its event; with `save=False` it returns it unsaved, for callers that write
several at once with `order_events_write` (checkout's events are one INSERT).
"""

from typing import Any, TypedDict, Unpack

from django.utils.text import Truncator

from orders.models import Order, OrderEvent

Kind = OrderEvent.Kind
MESSAGE_LENGTH = OrderEvent._meta.get_field("message").max_length


def event_message(text: str) -> str:
    """A timeline line short enough to store; the event's data keeps the full detail."""
    return Truncator(text).chars(MESSAGE_LENGTH)


def _event(
    *,
    order: Order,
    kind: str,
    message: str = "",
    data: dict[str, Any] | None = None,
    actor=None,
    location=None,
    save: bool = True,
) -> OrderEvent:
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    event = OrderEvent(
        order=order,
        kind=kind,
        message=event_message(message),
        data=data or {},
        actor=actor,
        location=location,
    )
    if save:
        event.save(force_insert=True)
    return event


def order_events_write(events: list[OrderEvent]) -> list[OrderEvent]:
    """Events built with `save=False`, written in one INSERT."""
    return OrderEvent.objects.bulk_create(events)


def order_event_record(
    *,
    order: Order,
    kind: str,
    message: str = "",
    data: dict[str, Any] | None = None,
    actor=None,
    location=None,
) -> OrderEvent:
    """Any kind of event. Kept for callers not yet on the writer of their kind."""
    return _event(
        order=order, kind=kind, message=message, data=data, actor=actor, location=location
    )


# --- checkout ----------------------------------------------------------------------------


def order_event_placed(*, order: Order, actor=None, lines: int, save: bool = True) -> OrderEvent:
    return _event(
        order=order,
        kind=Kind.PLACED,
        actor=actor,
        location=order.store,
        message=f"Placed on {order.channel} for {order.delivery_method}",
        data={"total": str(order.grand_total), "lines": lines},
        save=save,
    )


def order_event_routed(
    *, order: Order, actor=None, locations: list[str], save: bool = True
) -> OrderEvent:
    """The routing decision stored on the order, kept on the timeline as it was."""
    return _event(
        order=order,
        kind=Kind.ROUTED,
        actor=actor,
        message="Routed to " + ", ".join(locations),
        data=order.routing,
        save=save,
    )


def order_event_reserved(
    *, order: Order, actor=None, reservations: list[dict[str, Any]], save: bool = True
) -> OrderEvent:
    """`reservations`: `{"sku", "location", "quantity"[, "transfer_to"]}` per hold."""
    return _event(
        order=order,
        kind=Kind.RESERVED,
        actor=actor,
        message="Reserved " + ", ".join(_held_where(held) for held in reservations),
        data={"reservations": reservations},
        save=save,
    )


def _held_where(held: dict[str, Any]) -> str:
    where = f"{held['quantity']} x {held['sku']} at {held['location']}"
    return f"{where}, to be sent to {held['transfer_to']}" if "transfer_to" in held else where


def order_event_fulfilled(
    *, order: Order, actor=None, location=None, message: str = "Fulfilled", save: bool = True
) -> OrderEvent:
    return _event(
        order=order, kind=Kind.FULFILLED, actor=actor, location=location, message=message,
        save=save,
    )  # fmt: skip


# --- status, cancel ----------------------------------------------------------------------


def order_event_status_changed(
    *,
    order: Order,
    before: str,
    actor=None,
    location=None,
    why: str = "",
    data: dict[str, Any] | None = None,
    save: bool = True,
) -> OrderEvent:
    """The order moved from `before` to its status now; `why` ends the message."""
    after = order.status
    return _event(
        order=order,
        kind=Kind.STATUS_CHANGED,
        actor=actor,
        location=location,
        message=f"{before} -> {after}" + (f": {why}" if why else ""),
        data={"from": str(before), "to": str(after), **(data or {})},
        save=save,
    )


def order_event_cancelled(
    *, order: Order, actor=None, reason: str = "", released: list[dict[str, Any]]
) -> OrderEvent:
    """`released`: `{"location", "sku", "quantity"}` per reservation given back."""
    return _event(
        order=order,
        kind=Kind.CANCELLED,
        actor=actor,
        message=f"Cancelled{': ' + reason if reason else ''}",
        data={"reason": reason, "released": released},
    )


def order_event_line_cancelled(
    *, order: Order, line, quantity: int, actor=None, reason: str = ""
) -> OrderEvent:
    return _event(
        order=order,
        kind=Kind.LINE_CANCELLED,
        actor=actor,
        message=f"Cancelled {quantity} x {line.sku_code}",
        data={"line": line.pk, "sku": line.sku_code, "quantity": quantity, "reason": reason},
    )


# --- fulfillment (written by the fulfillment app) ----------------------------------------


class Step(TypedDict, total=False):
    """What a step of fulfillment (or of a return) may tell besides its message."""

    fulfillment_order: int
    actor: Any
    location: Any
    data: dict[str, Any]
    save: bool  # False: returned unsaved, for order_events_write


def _step(kind: str, *, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    about = {"fulfillment_order": step["fulfillment_order"]} if "fulfillment_order" in step else {}
    return _event(
        order=order, kind=kind, actor=step.get("actor"), location=step.get("location"),
        message=message, data=about | (step.get("data") or {}), save=step.get("save", True),
    )  # fmt: skip


def order_event_released(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    """A fulfillment order went out to its location."""
    return _step(Kind.RELEASED, order=order, message=message, **step)


def order_event_accepted(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.ACCEPTED, order=order, message=message, **step)


def order_event_rejected(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.REJECTED, order=order, message=message, **step)


def order_event_rerouted(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    """Rejected lines went to the next best locations."""
    return _step(Kind.REROUTED, order=order, message=message, **step)


def order_event_picked(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.PICKED, order=order, message=message, **step)


def order_event_packed(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.PACKED, order=order, message=message, **step)


def order_event_shipped(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.SHIPPED, order=order, message=message, **step)


def order_event_transfer_shipped(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    """Units left their source for the pickup store."""
    return _step(Kind.TRANSFER_SHIPPED, order=order, message=message, **step)


def order_event_transfer_received(
    *, order: Order, message: str, **step: Unpack[Step]
) -> OrderEvent:
    """Units arrived at the pickup store."""
    return _step(Kind.TRANSFER_RECEIVED, order=order, message=message, **step)


def order_event_ready_for_pickup(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.READY_FOR_PICKUP, order=order, message=message, **step)


def order_event_customer_arrived(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    """Curbside: the customer is outside."""
    return _step(Kind.CUSTOMER_ARRIVED, order=order, message=message, **step)


def order_event_handed_over(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.HANDED_OVER, order=order, message=message, **step)


def order_event_expired(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    """A pickup was not collected in time."""
    return _step(Kind.EXPIRED, order=order, message=message, **step)


def order_event_fulfillment_order_cancelled(
    *, order: Order, fulfillment_order: int, location, actor=None
) -> OrderEvent:
    """One location's part of the order was called off (the order's own status may stay)."""
    return _event(
        order=order,
        kind=Kind.STATUS_CHANGED,
        actor=actor,
        location=location,
        message=f"Fulfillment order {fulfillment_order} at {location.code} cancelled",
        data={"fulfillment_order": fulfillment_order, "to": "cancelled"},
    )


def order_event_customer_notified(
    *, order: Order, subject: str, template: str, email: str | None, location=None
) -> OrderEvent:
    """The customer was emailed (or had no email to send it to)."""
    return _event(
        order=order,
        kind=Kind.NOTIFIED,
        location=location,
        message=f"Customer {'emailed' if email else 'has no email'}: {subject}",
        data={"to": "customer", "template": template, "email": email or ""},
    )


def order_event_store_alerted(
    *, order: Order, subject: str, template: str, recipients: int, location
) -> OrderEvent:
    return _event(
        order=order,
        kind=Kind.NOTIFIED,
        location=location,
        message=f"Store {location.code} alerted: {subject}",
        data={"to": "store", "template": template, "recipients": recipients},
    )


# --- returns (written by the returns app) ------------------------------------------------


def order_event_return_requested(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.RETURN_REQUESTED, order=order, message=message, **step)


def order_event_return_received(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.RETURN_RECEIVED, order=order, message=message, **step)


def order_event_refunded(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.REFUNDED, order=order, message=message, **step)
