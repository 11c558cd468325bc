"""Outbox handlers: the background side of fulfillment, run once per event after commit."""

from django.db.models import Prefetch

from common.models import OutboxEvent
from common.outbox import outbox_batch_handler, outbox_handler
from fulfillment.models import FulfillmentOrder, FulfillmentOrderLine
from fulfillment.notifications import (
    StoreAlert,
    customer_reachable,
    notify_customer,
    notify_store,
    notify_stores,
)
from fulfillment.services.actions import fulfillment_order_lock
from fulfillment.services.pickup_codes import pickup_code_issue
from fulfillment.services.routing import (
    fulfillment_release,
    fulfillment_release_orders,
    fulfillment_reroute,
)
from inventory.models import DeliveryMethod
from inventory.selectors import open_count_requests
from orders.models import Order
from stores.models import StaffMembership


def _fo(event: OutboxEvent) -> FulfillmentOrder:
    return FulfillmentOrder.objects.select_related(
        "order__customer", "location", "destination"
    ).get(pk=event.payload["fulfillment_order"])


@outbox_handler("order.placed")
def release_order(event: OutboxEvent) -> None:
    fulfillment_release(order_number=event.payload["number"])


@outbox_batch_handler("order.placed")
def release_orders(events: list[OutboxEvent]) -> None:
    """A backlog of placed orders, released in one transaction (see fulfillment_release_orders)."""
    fulfillment_release_orders(order_numbers=[event.payload["number"] for event in events])


@outbox_handler("fulfillment.rejected")
def reroute_rejected(event: OutboxEvent) -> None:
    fulfillment_reroute(fulfillment_order_id=event.payload["fulfillment_order"])


@outbox_handler("fulfillment.released")
def tell_store_new(event: OutboxEvent) -> None:
    fo = _fo(event)
    if fo.status != FulfillmentOrder.Status.PENDING:
        return  # already handled by the store, or cancelled: nothing to announce
    notify_stores(alerts=[_announcement(fo, lines=list(fo.lines.select_related("order_line")))])


@outbox_batch_handler("fulfillment.released")
def tell_stores_new(events: list[OutboxEvent]) -> None:
    """Many released fulfillment orders announced in one transaction, read together."""
    # Only what the announcement reads: the order, the location and the lines (the routing
    # decisions, a few kB of JSON each, left unread).
    pending = (
        FulfillmentOrder.objects.select_related("order", "location")
        .defer("routing", "order__routing")
        .prefetch_related(
            Prefetch("lines", queryset=FulfillmentOrderLine.objects.select_related("order_line"))
        )
        .filter(
            pk__in=[event.payload["fulfillment_order"] for event in events],
            status=FulfillmentOrder.Status.PENDING,  # the others: nothing to announce
        )
        .order_by("pk")
    )
    notify_stores(alerts=[_announcement(fo, lines=list(fo.lines.all())) for fo in pending])


def _announcement(fo: FulfillmentOrder, *, lines: list[FulfillmentOrderLine]) -> StoreAlert:
    return StoreAlert(
        order=fo.order,
        location=fo.location,
        template="store_new",
        context={"fulfillment_order": fo, "lines": lines},
    )


@outbox_handler("fulfillment.transfer_shipped")
def tell_store_incoming(event: OutboxEvent) -> None:
    fo = _fo(event)
    notify_store(
        order=fo.order,
        location=fo.destination,
        template="store_incoming",
        context={"fulfillment_order": fo, "lines": list(fo.lines.select_related("order_line"))},
    )


@outbox_handler("fulfillment.count_requested")
def tell_store_to_count(event: OutboxEvent) -> None:
    """Units of a pick were not found: the store is asked to count those shelves (the
    requests wait in the admin's count requests until the count is recorded)."""
    fo = _fo(event)
    requests = open_count_requests(ids=event.payload["count_requests"])
    if not requests:
        return  # counted already
    notify_store(
        order=fo.order,
        location=fo.location,
        template="store_count_requested",
        context={"fulfillment_order": fo, "requests": requests},
    )


@outbox_handler("fulfillment.escalated")
def tell_managers_late(event: OutboxEvent) -> None:
    fo = _fo(event)
    if fo.status != FulfillmentOrder.Status.PENDING:
        return  # accepted meanwhile
    notify_store(
        order=fo.order,
        location=fo.location,
        template="store_late",
        context={"fulfillment_order": fo},
        roles=(StaffMembership.Role.MANAGER,),
    )


@outbox_handler("fulfillment.customer_arrived")
def tell_store_arrived(event: OutboxEvent) -> None:
    fo = _fo(event)
    notify_store(
        order=fo.order,
        location=fo.location,
        template="store_arrived",
        context={"fulfillment_order": fo},
    )


@outbox_handler("fulfillment.ready")
def tell_customer_ready(event: OutboxEvent) -> None:
    """The code is made here, in the transaction that emails it: it is never stored in the
    clear, and a pickup cancelled or collected meanwhile, or whose code was sent again
    since, gets none. Locked as every service locks: the order, then the pickup."""
    fo = fulfillment_order_lock(_fo(event))
    current = event.payload.get("round", fo.pickup_code_round) == fo.pickup_code_round
    if fo.status != FulfillmentOrder.Status.READY_FOR_PICKUP or not current:
        return
    # Whoever can be reached (by email, else SMS) gets a code to collect with.
    reachable = customer_reachable(fo.order)
    notify_customer(
        order=fo.order,
        location=fo.location,
        template="ready",
        context={
            "location": fo.location,
            "code": pickup_code_issue(fulfillment_order=fo) if reachable else None,
            "deadline": fo.pickup_deadline,
            "curbside": fo.kind == DeliveryMethod.CURBSIDE,
            "again": event.payload.get("again", False),
        },
    )


@outbox_handler("fulfillment.shipped")
def tell_customer_shipped(event: OutboxEvent) -> None:
    fo = _fo(event)
    notify_customer(
        order=fo.order,
        location=fo.location,
        template="shipped",
        context={
            "location": fo.location,
            "carrier": fo.carrier,
            "tracking_number": fo.tracking_number,
        },
    )


@outbox_handler("order.lines_cancelled")
def tell_customer_lines_cancelled(event: OutboxEvent) -> None:
    order = Order.objects.select_related("customer").get(number=event.payload["number"])
    notify_customer(
        order=order,
        template="lines_cancelled",
        context={"lines": event.payload["lines"], "reason": event.payload["reason"]},
    )


@outbox_handler("order.cancelled")
def tell_customer_cancelled(event: OutboxEvent) -> None:
    order = Order.objects.select_related("customer").get(number=event.payload["number"])
    cancelled = [
        {"sku": line.sku_code, "quantity": line.quantity_cancelled}
        for line in order.lines.filter(quantity_cancelled__gt=0)
    ]
    notify_customer(
        order=order,
        template="order_cancelled",
        context={"reason": event.payload.get("reason", ""), "lines": cancelled},
    )
