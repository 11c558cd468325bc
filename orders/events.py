"""The order timeline: one keyword-only writer per kind of event (as Saleor's order/events.py),
so the message and data each kind carries are written in one place.

Each writer saves its event; with `save=False` it returns it unsaved, for callers that write
several at once with `order_events_write` (checkout's events are one INSERT).

One module though it passes the house's ~400 lines: one writer per kind, each a few lines,
grouped below by who writes it (checkout, status and cancel, fulfillment, customers,
returns), so the timeline's whole vocabulary (`OrderEvent.Kind`) reads in one place and
every app imports its writers from the same module.
"""

import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict, Unpack
from zoneinfo import ZoneInfo

from django.utils.text import Truncator
from django.utils.timezone import localtime

from common.bulk import insert_rows
from orders.models import Order, OrderEvent

Kind = OrderEvent.Kind
MESSAGE_LENGTH = OrderEvent._meta.get_field("message").max_length


def _local(moment: datetime, location) -> str:
    """A time as the location's staff and customers read it: in its own time zone."""
    return f"{localtime(moment, ZoneInfo(location.timezone)):%Y-%m-%d %H:%M}"


def event_message(text: str) -> str:
    """A timeline line short enough to store; the event's data keeps the full detail."""
    text = unicodedata.normalize("NFC", str(text))
    if len(text) <= MESSAGE_LENGTH:  # as Truncator gives it back (it counts no more characters)
        return text
    # Truncator counts a combining mark as no character; the column counts every one.
    return Truncator(text).chars(MESSAGE_LENGTH)[:MESSAGE_LENGTH]


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
    insert_rows(events)
    return events


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
        message=f"Order {Order.Status(before).label.lower()} → {Order.Status(after).label.lower()}"
        + (f": {why}" if why else ""),
        data={"from": str(before), "to": str(after), **(data or {})},
        save=save,
    )


def order_event_cancelled(
    *,
    order: Order,
    actor=None,
    reason: str = "",
    released: list[dict[str, Any]],
    totals: dict[str, str] | None = None,
    save: bool = True,
) -> OrderEvent:
    """`released`: `{"location", "sku", "quantity"}` per reservation given back; `totals`:
    the order's totals after it, and what was `cancelled`."""
    return _event(
        order=order,
        kind=Kind.CANCELLED,
        actor=actor,
        message=f"Cancelled{': ' + reason if reason else ''}",
        data={"reason": reason, "released": released, **({"totals": totals} if totals else {})},
        save=save,
    )


def order_event_line_cancelled(
    *,
    order: Order,
    line,
    quantity: int,
    actor=None,
    reason: str = "",
    totals: dict[str, str] | None = None,
) -> OrderEvent:
    """`totals`: the order's totals after it, and what was `cancelled`."""
    return _event(
        order=order,
        kind=Kind.LINE_CANCELLED,
        actor=actor,
        message=f"Cancelled {quantity} x {line.sku_code}"
        + (f" ({totals['cancelled']} off, total now {totals['grand_total']})" if totals else ""),
        data={"line": line.pk, "sku": line.sku_code, "quantity": quantity, "reason": reason}
        | ({"totals": totals} if totals else {}),
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


def order_event_rerouted(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    """Rejected lines went to the next best locations."""
    return _step(Kind.REROUTED, order=order, message=message, **step)


def _at(
    kind: str,
    *,
    order: Order,
    fulfillment_order: int,
    location,
    message: str,
    actor=None,
    data: dict[str, Any] | None = None,
) -> OrderEvent:
    """A step a location took with one of its fulfillment orders."""
    return _event(
        order=order, kind=kind, actor=actor, location=location, message=message,
        data={"fulfillment_order": fulfillment_order, **(data or {})},
    )  # fmt: skip


def order_event_accepted(
    *, order: Order, fulfillment_order: int, location, actor=None
) -> OrderEvent:
    return _at(
        Kind.ACCEPTED, order=order, fulfillment_order=fulfillment_order, location=location,
        actor=actor, message=f"Accepted at {location.code}",
    )  # fmt: skip


def order_event_rejected(
    *,
    order: Order,
    fulfillment_order: int,
    location,
    reason: str,
    reason_label: str,
    note: str = "",
    held: list[dict] | None = None,
    count_requested: bool = False,
    actor=None,
) -> OrderEvent:
    """`reason` is the rejection's choice, `reason_label` how it reads. `held`: per SKU
    (`{"sku", "quantity"}`) the units put into the location's hold instead of back on the
    shelf (damaged, not found); `count_requested`: the store was asked to count them."""
    data = {"reason": reason, "note": note}
    if held is not None:
        data["held"] = held
    if count_requested:
        data["count_requested"] = True
    return _at(
        Kind.REJECTED, order=order, fulfillment_order=fulfillment_order, location=location,
        actor=actor, message=f"Rejected at {location.code}: {reason_label}", data=data,
    )  # fmt: skip


def order_event_picked(*, order: Order, fulfillment_order: int, location, actor=None) -> OrderEvent:
    return _at(
        Kind.PICKED, order=order, fulfillment_order=fulfillment_order, location=location,
        actor=actor, message=f"Picked at {location.code}",
    )  # fmt: skip


def order_event_packed(*, order: Order, fulfillment_order: int, location, actor=None) -> OrderEvent:
    return _at(
        Kind.PACKED, order=order, fulfillment_order=fulfillment_order, location=location,
        actor=actor, message=f"Packed at {location.code}",
    )  # fmt: skip


def order_event_shipped(
    *,
    order: Order,
    fulfillment_order: int,
    location,
    carrier: str,
    tracking_number: str,
    actor=None,
) -> OrderEvent:
    return _at(
        Kind.SHIPPED, order=order, fulfillment_order=fulfillment_order, location=location,
        actor=actor, message=f"Shipped from {location.code} with {carrier} {tracking_number}",
        data={"carrier": carrier, "tracking_number": tracking_number},
    )  # fmt: skip


def order_event_transfer_shipped(
    *,
    order: Order,
    fulfillment_order: int,
    location,
    destination,
    carrier: str,
    tracking_number: str,
    actor=None,
) -> OrderEvent:
    """Units left their source (`location`) for the pickup store (`destination`)."""
    return _at(
        Kind.TRANSFER_SHIPPED, order=order, fulfillment_order=fulfillment_order,
        location=location, actor=actor,
        message=f"Sent from {location.code} to {destination.code} with {carrier} "
        f"{tracking_number}",
        data={
            "destination": destination.code, "carrier": carrier, "tracking_number": tracking_number,
        },
    )  # fmt: skip


def order_event_transfer_received(
    *,
    order: Order,
    fulfillment_order: int,
    location,
    destination,
    held: list[dict[str, int]],
    actor=None,
) -> OrderEvent:
    """Units from `location` arrived at the pickup store (`destination`); `held`:
    `{"line", "quantity"}` per order line they are now held for (none: back on the shelf)."""
    return _at(
        Kind.TRANSFER_RECEIVED, order=order, fulfillment_order=fulfillment_order,
        location=location, actor=actor,
        message=f"Received at {destination.code} from {location.code}"
        + ("" if held else "; nothing is needed any more, so it went on the shelf"),
        data={"destination": destination.code, "held": held},
    )  # fmt: skip


def order_event_ready_for_pickup(
    *, order: Order, fulfillment_order: int, location, deadline, actor=None
) -> OrderEvent:
    return _at(
        Kind.READY_FOR_PICKUP, order=order, fulfillment_order=fulfillment_order,
        location=location, actor=actor,
        message=f"Ready for pickup at {location.code} until {_local(deadline, location)}",
        data={"deadline": deadline.isoformat()},
    )  # fmt: skip


def order_event_pickup_code_resent(
    *, order: Order, fulfillment_order: int, location, actor=None
) -> OrderEvent:
    """The code sent so far stopped working; the customer is sent a new one."""
    return _at(
        Kind.PICKUP_CODE_RESENT, order=order, fulfillment_order=fulfillment_order,
        location=location, actor=actor, message=f"Pickup code at {location.code} sent again",
    )  # fmt: skip


def order_event_customer_arrived(
    *, order: Order, fulfillment_order: int, location, parking_spot: str = "", actor=None
) -> OrderEvent:
    """Curbside: the customer is outside."""
    return _at(
        Kind.CUSTOMER_ARRIVED, order=order, fulfillment_order=fulfillment_order,
        location=location, actor=actor,
        message=f"Customer arrived{' at spot ' + parking_spot if parking_spot else ''}",
        data={"parking_spot": parking_spot},
    )  # fmt: skip


def order_event_handed_over(
    *, order: Order, fulfillment_order: int, location, override_reason: str = "", actor=None
) -> OrderEvent:
    """Handed over against the pickup code, or on a manager's `override_reason`."""
    return _at(
        Kind.HANDED_OVER, order=order, fulfillment_order=fulfillment_order, location=location,
        actor=actor, message=f"Handed over at {location.code}",
        data={"override_reason": override_reason} if override_reason else {"code": "verified"},
    )  # fmt: skip


def order_event_expired(*, order: Order, fulfillment_order: int, location, deadline) -> OrderEvent:
    """A pickup was not collected by its `deadline`."""
    return _at(
        Kind.EXPIRED, order=order, fulfillment_order=fulfillment_order, location=location,
        message=f"Not collected at {location.code} by {_local(deadline, location)}",
    )  # fmt: skip


def order_event_fulfillment_order_cancelled(
    *, order: Order, fulfillment_order: int, location, status: str, actor=None
) -> OrderEvent:
    """One location's part of the order was called off (the order's own status may stay);
    `status` is the fulfillment order's now."""
    return _event(
        order=order,
        kind=Kind.STATUS_CHANGED,
        actor=actor,
        location=location,
        message=f"Fulfillment order {fulfillment_order} at {location.code} cancelled",
        data={"fulfillment_order": fulfillment_order, "to": str(status)},
    )


def order_event_customer_notified(
    *,
    order: Order,
    subject: str,
    template: str,
    email: str | None = None,
    phone: str | None = None,
    location=None,
) -> OrderEvent:
    """The customer was emailed, else texted (or had neither to be reached by)."""
    how = "emailed" if email else "texted" if phone else "has no email or phone"
    return _event(
        order=order,
        kind=Kind.NOTIFIED,
        location=location,
        message=f"Customer {how}: {subject}",
        data={
            "to": "customer",
            "template": template,
            "channel": "email" if email else "sms" if phone else "",
            "email": email or "",
            "phone": "" if email else phone or "",
        },
    )


def order_event_store_alerted(
    *, order: Order, subject: str, template: str, recipients: int, location, save: bool = True
) -> OrderEvent:
    return _event(
        order=order,
        kind=Kind.NOTIFIED,
        location=location,
        message=f"Store {location.code} alerted: {subject}",
        data={"to": "store", "template": template, "recipients": recipients},
        save=save,
    )


# --- customers ---------------------------------------------------------------------------


def order_event_customer_merged(
    *, order: Order, survivor, merged, actor=None, save: bool = True
) -> OrderEvent:
    """The order's customer record was merged into another: it belongs to the survivor."""
    return _event(
        order=order,
        kind=Kind.CUSTOMER_MERGED,
        actor=actor,
        message=f"Customer {merged.pk} merged into customer {survivor.pk} ({survivor})",
        data={"from": merged.pk, "to": survivor.pk},
        save=save,
    )


# --- returns (written by the returns app) ------------------------------------------------


def order_event_return_requested(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.RETURN_REQUESTED, order=order, message=message, **step)


def order_event_return_received(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.RETURN_RECEIVED, order=order, message=message, **step)


def order_event_return_inspected(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.RETURN_INSPECTED, order=order, message=message, **step)


def order_event_return_rejected(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.RETURN_REJECTED, order=order, message=message, **step)


def order_event_return_cancelled(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.RETURN_CANCELLED, order=order, message=message, **step)


def order_event_return_completed(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.RETURN_COMPLETED, order=order, message=message, **step)


def order_event_return_exchanged(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    """Returned units swapped for others: `data` names the new order."""
    return _step(Kind.RETURN_EXCHANGED, order=order, message=message, **step)


def order_event_return_code_refused(
    *, order: Order, message: str, **step: Unpack[Step]
) -> OrderEvent:
    """A wrong return code was typed for a return: `data` says the tries left, the lock."""
    return _step(Kind.RETURN_CODE_REFUSED, order=order, message=message, **step)


def order_event_return_code_unlocked(
    *, order: Order, message: str, **step: Unpack[Step]
) -> OrderEvent:
    """A manager cleared a return's wrong code tries (and its lock)."""
    return _step(Kind.RETURN_CODE_UNLOCKED, order=order, message=message, **step)


def order_event_refunded(*, order: Order, message: str, **step: Unpack[Step]) -> OrderEvent:
    return _step(Kind.REFUNDED, order=order, message=message, **step)


def order_event_payment_captured(
    *, order: Order, amount: Decimal, fulfillment_order: int, actor=None
) -> OrderEvent:
    """What a fulfillment order sent is captured from the tenders (at the gateway after
    commit)."""
    return _event(
        order=order, kind=Kind.PAYMENT_CAPTURED, actor=actor,
        message=f"Capturing {amount} {order.currency} for fulfillment order {fulfillment_order}",
        data={"amount": str(amount), "fulfillment_order": fulfillment_order},
    )  # fmt: skip


def order_event_payment_voided(*, order: Order, amount: Decimal, actor=None) -> OrderEvent:
    """What the tenders no longer need (units cancelled) is released (at the gateway after
    commit)."""
    return _event(
        order=order, kind=Kind.PAYMENT_VOIDED, actor=actor,
        message=f"Releasing {amount} {order.currency} of the authorization",
        data={"amount": str(amount)},
    )  # fmt: skip
