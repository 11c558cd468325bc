"""Outbox handlers: the customer hears of a return after its change committed."""

from common.models import OutboxEvent
from common.outbox import outbox_handler
from fulfillment.notifications import notify_customer
from returns.models import Return


def _return(event: OutboxEvent) -> Return:
    return Return.objects.select_related("order__customer", "location", "exchange_order").get(
        rma=event.payload["rma"]
    )


@outbox_handler("return.requested")
def tell_customer_return_code(event: OutboxEvent) -> None:
    ret = _return(event)
    if ret.status != Return.Status.REQUESTED:
        return  # received or withdrawn meanwhile: the code is no longer needed
    notify_customer(
        order=ret.order,
        template="return_requested",
        context={"return": ret, "lines": list(ret.lines.select_related("order_line"))},
    )


@outbox_handler("return.received")
def tell_customer_received(event: OutboxEvent) -> None:
    ret = _return(event)
    notify_customer(
        order=ret.order,
        template="return_received",
        context={"return": ret, "location": ret.location},
        location=ret.location,
    )


@outbox_handler("return.refunded")
def tell_customer_refunded(event: OutboxEvent) -> None:
    ret = _return(event)
    notify_customer(
        order=ret.order, template="return_refunded", context={"return": ret}, location=ret.location
    )
