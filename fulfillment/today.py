"""The fulfillment queues on "Today at my store" (common.workspace), counted over the user's
locations, each linking to the work board filtered to that queue."""

from django.urls import reverse

from common.workspace import TodayItem, TodayRow, today_row_register
from fulfillment import selectors
from fulfillment.models import FulfillmentOrder
from fulfillment.selectors import Queue

VIEW = "fulfillment.view_fulfillmentorder"


def _queue(request, queue: str):
    base = FulfillmentOrder.objects.all()
    if queue != Queue.INCOMING:
        base = selectors.fulfillment_order_list(user=request.user)
    return selectors.fulfillment_queue(base, queue=queue, user=request.user)


def _board(queue: str):
    def url(request) -> str:
        return reverse("admin:fulfillment_fulfillmentorder_changelist") + f"?queue={queue}"

    return url


def _arrivals(request) -> list[TodayItem]:
    rows = _queue(request, Queue.ARRIVED).select_related("order__customer", "location")[:10]
    return [
        TodayItem(
            text=f"{fo.order.customer.name or fo.order.number}"
            + (f" at bay {fo.parking_spot}" if fo.parking_spot else "")
            + f" ({fo.location.code})",
            url=reverse("admin:fulfillment_fulfillmentorder_change", args=[fo.pk]),
        )
        for fo in rows
    ]


def register() -> None:
    rows = [
        (Queue.ARRIVED, "Curbside customers outside now", 10, True,
         "Waiting at their car: take the order out with its code."),
        (Queue.TO_ACCEPT, "To accept", 20, False, "New orders waiting for you to take on."),
        (Queue.TO_PICK, "To pick", 30, False, "Accepted: take the items from the shelf."),
        (Queue.TO_PACK, "To pack", 40, False, "Picked shipments to pack for the carrier."),
        (Queue.READY, "Ready for pickup", 50, False, "At the counter, soonest deadline first."),
        (Queue.LATE, "Late", 60, True, "Not accepted in time, or not collected by the deadline."),
        (Queue.INCOMING, "Incoming transfers", 70, False, "Stock on its way to this store."),
    ]  # fmt: skip
    for queue, label, position, highlight, help_text in rows:
        today_row_register(
            TodayRow(
                key=f"fulfillment.{queue}",
                label=label,
                count=lambda request, queue=queue: _queue(request, queue).count(),
                url=_board(queue),
                position=position,
                highlight=highlight,
                items=_arrivals if queue == Queue.ARRIVED else None,
                permission=VIEW,
                help_text=help_text,
            )
        )
