"""The one writer of the order timeline, used by every service that touches an order."""

from typing import Any

from django.utils.text import Truncator

from orders.models import Order, OrderEvent

MESSAGE_LENGTH = OrderEvent._meta.get_field("message").max_length


def event_message(text: str) -> str:
    """A timeline line short enough to store; the event's data keeps the full detail."""
    return Truncator(text).chars(MESSAGE_LENGTH)


def order_event_record(
    *,
    order: Order,
    kind: str,
    message: str = "",
    data: dict[str, Any] | None = None,
    actor=None,
    location=None,
) -> OrderEvent:
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return OrderEvent.objects.create(
        order=order,
        kind=kind,
        message=event_message(message),
        data=data or {},
        actor=actor,
        location=location,
    )
